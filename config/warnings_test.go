package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func warningsOf(t *testing.T, y string, vars map[string]string) []*Problem {
	t.Helper()
	if vars == nil {
		vars = map[string]string{}
	}
	vars["SF_TOKEN"] = "tok"
	cfg, err := Parse("/etc/crmgw/crmgw.yaml", []byte(y), env(vars))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Warnings()
}

func hasWarning(ws []*Problem, key string, line int, text string) bool {
	for _, w := range ws {
		if w.Key == key && w.Line == line && strings.Contains(w.Msg, text) {
			return true
		}
	}
	return false
}

// The settings that let any neighbour in the network forge a client
// address, use the admin API or reset quotas: each warns at its line;
// the narrow or protected form of each does not.
func TestWarningsOnUnsafeSettings(t *testing.T) {
	y := minimal + `identity:
  trusted_proxies:
    - 10.0.0.0/8
    - 10.1.0.0/16
    - 192.168.7.1
    - fd00::/32
    - 2001:db8:1::/48
    - ::ffff:10.0.0.0/100
admin:
  listen: 0.0.0.0:9090
ratelimit:
  store: redis
  redis: {url: "redis://redis.internal:6379/0"}
`
	ws := warningsOf(t, y, nil)
	for _, w := range []struct {
		key  string
		line int
		text string
	}{
		{"identity.trusted_proxies[0]", 15, "wider than a /16 (IPv4)"},
		{"identity.trusted_proxies[3]", 18, "wider than a /48 (IPv6)"},
		{"identity.trusted_proxies[5]", 20, "wider than a /16 (IPv4)"},
		{"admin.listen", 22, "admin.token is not set"},
		{"ratelimit.redis.url", 25, "without a password"},
		{"ratelimit.redis.url", 25, "without TLS"},
	} {
		if !hasWarning(ws, w.key, w.line, w.text) {
			t.Errorf("no warning %s:%d %q in:\n%v", w.key, w.line, w.text, ws)
		}
	}
	if len(ws) != 6 {
		t.Errorf("want 6 warnings, got %d: %v", len(ws), ws)
	}
	for _, w := range ws {
		if !strings.HasPrefix(w.Error(), "/etc/crmgw/crmgw.yaml:") {
			t.Errorf("warning without file:line: %s", w)
		}
	}

	safe := minimal + `identity:
  trusted_proxies: [10.1.0.0/16, 192.168.7.1, 2001:db8:1::/48]
admin:
  listen: 0.0.0.0:9090
  token: ${ADMIN_TOKEN}
ratelimit:
  store: redis
  redis: {url: "rediss://redis.internal:6380/0", password: "${REDIS_PASSWORD}"}
`
	if ws := warningsOf(t, safe, map[string]string{"ADMIN_TOKEN": "0123456789abcdef-admin", "REDIS_PASSWORD": "pw"}); len(ws) != 0 {
		t.Errorf("safe settings warned: %v", ws)
	}
	for _, listen := range []string{"127.0.0.1:9090", "[::1]:9090", "localhost:9090"} {
		if ws := warningsOf(t, minimal+"admin: {listen: \""+listen+"\"}\n", nil); len(ws) != 0 {
			t.Errorf("admin on %s warned: %v", listen, ws)
		}
	}
	if ws := warningsOf(t, minimal+"admin: {listen: \":9090\"}\n", nil); len(ws) != 1 {
		t.Errorf("admin on every interface (:9090) did not warn: %v", ws)
	}
}

func TestAdminTokenProblems(t *testing.T) {
	for _, c := range []struct{ y, want string }{
		{"admin: {token: short}\n", "admin.token: must be at least 16"},
		{"admin: {token: 0123456789abcdef-x, token_file: t}\n", "admin.token_file: set either"},
		{"admin: {protect_metrics: true}\n", "admin.protect_metrics: needs admin.token"},
	} {
		_, err := Parse("/etc/crmgw/crmgw.yaml", []byte(minimal+c.y), env(map[string]string{"SF_TOKEN": "tok"}))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.y, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "short") {
			t.Errorf("the token value was echoed: %v", err)
		}
	}
}

// The Kubernetes example is safe as written: it parses and warns about
// nothing.
func TestKubernetesExampleIsSafe(t *testing.T) {
	p := filepath.Join("..", "deploy", "kubernetes", "crmgw.yaml")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var embedded string
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind == "ConfigMap" && doc.Data["crmgw.yaml"] != "" {
			embedded = doc.Data["crmgw.yaml"]
		}
	}
	if embedded == "" {
		t.Fatal("no crmgw.yaml in the example's ConfigMap")
	}
	vars := map[string]string{"SF_CLIENT_ID": "id", "SF_CLIENT_SECRET": "secret", "CRMGW_HMAC_KEY": "hmac-key-0123456789",
		"CRMGW_ADMIN_TOKEN": "admin-token-0123456789", "CRMGW_INGRESS_CIDR": "10.0.12.0/28", "REDIS_PASSWORD": "pw"}
	cfg, err := Parse(p, []byte(embedded), env(vars))
	if err != nil {
		t.Fatal(err)
	}
	if ws := cfg.Warnings(); len(ws) != 0 {
		t.Errorf("the example warns: %v", ws)
	}
	if cfg.Admin.Token == "" || !cfg.Admin.ProtectMetrics || cfg.Ratelimit.Redis.Password == "" || cfg.Identity.TrustedProxies[0] != "10.0.12.0/28" {
		t.Errorf("example: admin %+v, redis password set %v, trusted %v", cfg.Admin, cfg.Ratelimit.Redis.Password != "", cfg.Identity.TrustedProxies)
	}
}
