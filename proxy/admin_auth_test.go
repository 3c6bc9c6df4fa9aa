package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/config"
)

const adminTok = "admin-token-0123456789abcdef"

// startAdmin starts a whole server whose admin section is admin (lines
// indented two spaces) and returns the admin base URL.
func startAdmin(t *testing.T, admin string) string {
	t.Helper()
	dir := t.TempDir()
	y := "server: {listen: 127.0.0.1:0}\nadmin:\n  listen: 127.0.0.1:0\n" + admin +
		"upstreams:\n  - {name: sf, type: salesforce, url: https://acme.my.salesforce.com, auth: {type: static, token: t}}\n" +
		"policy: {paths: [" + policiesDir(t) + "]}\nmasking: {hmac_key: test-hmac-key-0123456789}\n" +
		"audit: {sinks: [{type: file, path: " + filepath.Join(dir, "audit.jsonl") + "}]}\n"
	p := filepath.Join(dir, "crmgw.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(context.Background(), cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return "http://" + srv.AdminAddr()
}

func adminGet(t *testing.T, url string, authz ...string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for _, a := range authz {
		req.Header.Add("Authorization", a)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// With a token and protect_metrics: the probes stay open (the kubelet has
// no token), /metrics needs the token. The ways around it: no header, a
// wrong, shorter or longer token, another scheme, two headers.
func TestAdminTokenGuardsAllButTheProbes(t *testing.T) {
	tf := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tf, []byte(adminTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := startAdmin(t, "  token_file: "+tf+"\n  protect_metrics: true\n")
	for _, p := range []string{"/healthz", "/readyz"} {
		if c := adminGet(t, base+p); c != 200 {
			t.Errorf("%s without a token: %d, want 200", p, c)
		}
	}
	for _, c := range []struct {
		name  string
		authz []string
		want  int
	}{
		{"no token", nil, 401},
		{"wrong token", []string{"Bearer wrong-token-0123456789abcdef"}, 401},
		{"token cut short", []string{"Bearer " + adminTok[:len(adminTok)-1]}, 401},
		{"token with more after it", []string{"Bearer " + adminTok + "x"}, 401},
		{"Basic scheme", []string{"Basic " + adminTok}, 401},
		{"two headers, the good one second", []string{"Bearer nope", "Bearer " + adminTok}, 401},
		{"the token", []string{"Bearer " + adminTok}, 200},
		{"the token, scheme in lower case", []string{"bearer " + adminTok}, 200},
	} {
		if got := adminGet(t, base+"/metrics", c.authz...); got != c.want {
			t.Errorf("/metrics, %s: %d, want %d", c.name, got, c.want)
		}
	}
}

// Without protect_metrics, /metrics stays open (the contract); without a
// token, guarded endpoints answer loopback callers only.
func TestAdminWithoutTokenServesLoopbackOnly(t *testing.T) {
	base := startAdmin(t, "")
	if c := adminGet(t, base+"/metrics"); c != 200 {
		t.Errorf("/metrics without protect_metrics: %d", c)
	}
	g := &Gateway{}
	h := g.requireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, c := range []struct {
		remote string
		want   int
	}{
		{"10.0.0.5:41000", 401}, {"192.168.1.1:1", 401}, {"[2001:db8::1]:1", 401}, {"", 401}, {"garbage", 401},
		{"127.0.0.1:41000", 200}, {"127.9.9.9:1", 200}, {"[::1]:1", 200}, {"[::ffff:127.0.0.1]:1", 200},
	} {
		r := httptest.NewRequest("GET", "/admin/thing", nil)
		r.RemoteAddr = c.remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("peer %q: %d, want %d", c.remote, w.Code, c.want)
		}
	}
	// With a token, loopback is not enough.
	a, _ := newAdminAuth(config.AdminConfig{Token: adminTok})
	g.admin.Store(a)
	r := httptest.NewRequest("GET", "/admin/thing", nil)
	r.RemoteAddr = "127.0.0.1:1"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("loopback without the token: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestAdminTokenFileProblems(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	short := filepath.Join(dir, "short")
	_ = os.WriteFile(empty, []byte("\n  \n"), 0o600)
	_ = os.WriteFile(short, []byte("abc\n"), 0o600)
	for _, f := range []string{empty, short, filepath.Join(dir, "missing")} {
		if _, err := newAdminAuth(config.AdminConfig{TokenFile: f}); err == nil {
			t.Errorf("%s: no error", filepath.Base(f))
		} else if strings.Contains(err.Error(), "abc") {
			t.Errorf("the token was echoed: %v", err)
		}
	}
}
