package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const minimal = `server:
  listen: 127.0.0.1:8080
upstreams:
  - name: salesforce
    type: salesforce
    url: https://acme.my.salesforce.com
    auth: {type: static, token: "${SF_TOKEN}"}
policy:
  paths: [policies]
audit:
  sinks:
    - {type: file, path: audit.jsonl}
`

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseMinimalFillsDefaultsAndResolvesPaths(t *testing.T) {
	cfg, err := Parse("/etc/crmgw/crmgw.yaml", []byte(minimal), env(map[string]string{"SF_TOKEN": "tok"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Upstreams[0].Auth.Token != "tok" {
		t.Errorf("token not expanded: %q", cfg.Upstreams[0].Auth.Token)
	}
	if got := cfg.Policy.Paths[0]; got != "/etc/crmgw/policies" {
		t.Errorf("policy path not resolved against the config dir: %q", got)
	}
	if got := cfg.Audit.Sinks[0].Path; got != "/etc/crmgw/audit.jsonl" {
		t.Errorf("audit path not resolved: %q", got)
	}
	if cfg.Admin.Listen != "127.0.0.1:9090" || cfg.Server.MaxRequestBody != 10<<20 {
		t.Errorf("defaults not filled: admin %q body %d", cfg.Admin.Listen, cfg.Server.MaxRequestBody)
	}
	if cfg.Upstreams[0].Timeouts.ResponseHeader == 0 {
		t.Error("upstream timeouts not defaulted")
	}
}

func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{
			name: "unset environment variable is an error, never an empty string",
			yaml: minimal,
			want: []string{"crmgw.yaml:7: upstreams[0].auth.token: environment variable SF_TOKEN is not set"},
		},
		{
			name: "unknown key with a suggestion",
			yaml: strings.Replace(minimal, "  listen: 127.0.0.1:8080", "  listen: 127.0.0.1:8080\n  max_request_bdy: 1MiB", 1),
			env:  map[string]string{"SF_TOKEN": "x"},
			want: []string{`crmgw.yaml:3: server.max_request_bdy: unknown key (did you mean "max_request_body"?)`},
		},
		{
			name: "unknown top-level section",
			yaml: minimal + "ratelimits: {}\n",
			env:  map[string]string{"SF_TOKEN": "x"},
			want: []string{`crmgw.yaml:13: ratelimits: unknown key (did you mean "ratelimit"?)`},
		},
		{
			name: "bad upstream type and url are both reported",
			yaml: strings.Replace(strings.Replace(minimal, "type: salesforce", "type: sugarcrm", 1), "https://acme.my.salesforce.com", "acme", 1),
			env:  map[string]string{"SF_TOKEN": "x"},
			want: []string{
				`crmgw.yaml:5: upstreams[0].type: want salesforce, zoho or generic, got "sugarcrm"`,
				`crmgw.yaml:6: upstreams[0].url: want an absolute http(s) URL, got "acme"`,
			},
		},
		{
			name: "bad size",
			yaml: strings.Replace(minimal, "  listen: 127.0.0.1:8080", "  listen: 127.0.0.1:8080\n  max_request_body: ten", 1),
			env:  map[string]string{"SF_TOKEN": "x"},
			want: []string{"crmgw.yaml", "invalid size"},
		},
		{
			name: "two default upstreams",
			yaml: strings.Replace(minimal, "policy:", "  - {name: zoho, type: zoho, url: https://www.zohoapis.com, auth: {type: static, token: t}}\npolicy:", 1),
			env:  map[string]string{"SF_TOKEN": "x"},
			want: []string{"upstreams: 2 upstreams have an empty match"},
		},
		{
			name: "audit query text hashed without a key",
			yaml: minimal + "  query_text: hash\n",
			env:  map[string]string{"SF_TOKEN": "x"},
			want: []string{"audit.query_text: hash needs masking.hmac_key"},
		},
		{
			name: "audit query text of another kind",
			yaml: minimal + "  query_text: drop\n",
			env:  map[string]string{"SF_TOKEN": "x"},
			want: []string{"audit.query_text: must be text or hash"},
		},
		{
			name: "admin on the proxy listener",
			yaml: minimal + "admin: {listen: 127.0.0.1:8080}\n",
			env:  map[string]string{"SF_TOKEN": "x"},
			want: []string{"crmgw.yaml:13: admin.listen: must differ from server.listen"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("crmgw.yaml", []byte(tc.yaml), env(tc.env))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestSecretValuesNeverInErrors(t *testing.T) {
	y := strings.Replace(minimal, "type: salesforce\n", "type: nosuch\n", 1)
	_, err := Parse("crmgw.yaml", []byte(y), env(map[string]string{"SF_TOKEN": "s3cr3t-token"}))
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "s3cr3t-token") {
		t.Fatalf("a secret leaked into the error: %v", err)
	}
}

func TestLoadReadsFileAndNamesIt(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(p, []byte("server: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("want an error naming %s, got %v", p, err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("want an error for a missing file")
	}
}

func TestDollarEscape(t *testing.T) {
	y := strings.Replace(minimal, `"${SF_TOKEN}"`, `"$${NOT_A_VAR}"`, 1)
	cfg, err := Parse("crmgw.yaml", []byte(y), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Upstreams[0].Auth.Token; got != "${NOT_A_VAR}" {
		t.Fatalf("escaped reference: got %q", got)
	}
}
