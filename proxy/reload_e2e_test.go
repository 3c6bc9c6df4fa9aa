package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crmgw/crmgw/examples/samplecrm"
)

// Reload (docs/deploy.md, "Reload"): the tests rewrite the configuration
// file of a running gateway and reload it, as SIGHUP does.

const reloadLimits = `ratelimit:
  store: memory
  limits:
    - {name: per-subject, key: subject, rate: 100000, per: 1s, burst: 100000}
    - {name: zoho-calls, key: subject, rate: 100000, per: 1s, burst: 100000, upstreams: [zoho]}
  preauth:
    per_ip: {rate: 1000000, per: 1s}
    global: {rate: 1000000, per: 1s}
`

const rotatedKey = "intern-rotated-key-0123456789"

// editConfig rewrites the running gateway's configuration file.
func (e *env) editConfig(edit func(string) string) {
	e.t.Helper()
	b, err := os.ReadFile(e.cfgPath)
	if err != nil {
		e.t.Fatal(err)
	}
	next := edit(string(b))
	if next == string(b) {
		e.t.Fatal("the edit changed nothing")
	}
	if err := os.WriteFile(e.cfgPath, []byte(next), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// observe sends the server's log lines at info and above to an observer.
func (e *env) observe() *observer.ObservedLogs {
	core, logs := observer.New(zapcore.InfoLevel)
	e.srv.log = zap.New(core)
	return logs
}

func (e *env) status(method, path, auth string) int {
	e.t.Helper()
	resp := e.do(method, path, auth, nil)
	readAll(e.t, resp)
	return resp.StatusCode
}

const zohoList = "/zoho/crm/v6/Contacts?fields=Last_Name,Email&per_page=3"

// Under a bounded loopback load, a reload replaces an API key and a rate
// limit: the old key stops, the new one works, the lowered limit refuses,
// and no request of the load fails (every one is answered 200: nothing
// the load uses changed).
func TestReloadUnderLoad(t *testing.T) {
	e := newEnv(t, envOptions{limits: reloadLimits})
	internBefore := e.status("GET", contactQuery, bearer(internKey))
	if internBefore == http.StatusUnauthorized {
		t.Fatal("the intern key must authenticate before the reload")
	}
	for i := 0; i < 3; i++ {
		if code := e.status("GET", zohoList, "Zoho-oauthtoken "+managerKey); code != 200 {
			t.Fatalf("zoho request %d before the reload: %d", i, code)
		}
	}

	var stop atomic.Bool
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				req, _ := http.NewRequest("GET", e.base+contactQuery, nil)
				req.Header.Set("Authorization", bearer(repKey))
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					mu.Lock()
					if err != nil {
						failures = append(failures, err.Error())
					} else {
						failures = append(failures, fmt.Sprint(resp.StatusCode))
					}
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	e.editConfig(func(s string) string {
		s = strings.Replace(s, sha(internKey), sha(rotatedKey), 1)
		return strings.Replace(s, "{name: zoho-calls, key: subject, rate: 100000, per: 1s, burst: 100000", "{name: zoho-calls, key: subject, rate: 1, per: 1m, burst: 2", 1)
	})
	for i := 0; i < 3; i++ { // the change, then the same file again under load
		if err := e.srv.Reload(context.Background()); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		time.Sleep(300 * time.Millisecond)
	}

	if code := e.status("GET", contactQuery, bearer(internKey)); code != http.StatusUnauthorized {
		t.Errorf("the replaced key after the reload: %d, want 401", code)
	}
	if code := e.status("GET", contactQuery, bearer(rotatedKey)); code != internBefore {
		t.Errorf("the new key after the reload: %d, want %d as the old key got", code, internBefore)
	}
	var codes []int
	var last *http.Response
	for i := 0; i < 4; i++ {
		last = e.do("GET", zohoList, "Zoho-oauthtoken "+managerKey, nil)
		readAll(t, last)
		codes = append(codes, last.StatusCode)
	}
	if codes[len(codes)-1] != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" ||
		!strings.Contains(last.Header.Get("RateLimit-Policy"), `"zoho-calls";q=2;w=60`) {
		t.Errorf("zoho requests under the lowered limit: %v, headers %v", codes, last.Header)
	}

	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests of the load failed during the reloads: %v", failed.Load(), failed.Load()+ok.Load(), failures[:min(len(failures), 5)])
	}
	if ok.Load() < 20 {
		t.Errorf("only %d requests of the load were answered", ok.Load())
	}
	t.Logf("%d requests answered 200 across 3 reloads", ok.Load())
	if m := e.metricsText(); !strings.Contains(m, `crmgw_config_reloads_total{result="ok"} 3`) ||
		!strings.Contains(m, `crmgw_config_restart_needed 0`) {
		t.Errorf("reload metrics:\n%s", grepLines(m, "crmgw_config_"))
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A broken configuration file is refused with one log line naming
// file:line and key, counted, and the running configuration keeps
// serving.
func TestReloadRefusesBrokenConfig(t *testing.T) {
	e := newEnv(t, envOptions{limits: reloadLimits})
	logs := e.observe()
	good, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(string) string
		want []string // in the error and the log line
	}{
		{"yaml syntax", func(s string) string { return strings.Replace(s, "identity:\n", "identity: [\n", 1) }, []string{e.cfgPath}},
		{"bad key hash", func(s string) string {
			return strings.Replace(s, sha(repKey), "not-a-sha256", 1)
		}, []string{e.cfgPath + ":", "identity.api_keys[0].key_sha256"}},
		{"unknown key", func(s string) string {
			return strings.Replace(s, "  api_keys:\n", "  api_keyz: []\n  api_keys:\n", 1)
		}, []string{e.cfgPath + ":", "identity.api_keyz"}},
		{"unreadable secret file", func(s string) string {
			return strings.Replace(s, "  hmac_key: test-hmac-key-0123456789\n", "  hmac_key_file: "+filepath.Join(e.dir, "missing")+"\n", 1)
		}, []string{e.cfgPath + ":", "masking.hmac_key_file"}},
		{"lower limit with a bad rate", func(s string) string {
			return strings.Replace(s, "rate: 100000, per: 1s, burst: 100000}", "rate: 0, per: 1s, burst: 100000}", 1)
		}, []string{e.cfgPath + ":", "ratelimit.limits[0].rate"}},
	}
	for i, c := range cases {
		e.editConfig(func(string) string { return c.edit(string(good)) })
		err := e.srv.Reload(context.Background())
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		var entries []observer.LoggedEntry
		for _, le := range logs.TakeAll() {
			if strings.Contains(le.Message, "configuration reload refused") {
				entries = append(entries, le)
			}
		}
		if len(entries) != 1 {
			t.Errorf("%s: %d refusal log lines, want 1", c.name, len(entries))
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) || !strings.Contains(entries[0].Message, w) {
				t.Errorf("%s: error %q / log %q lacks %q", c.name, err, entries[0].Message, w)
			}
		}
		if code := e.status("GET", contactQuery, bearer(repKey)); code != 200 {
			t.Errorf("%s: the running configuration must keep serving: %d", c.name, code)
		}
		if m := e.metricsText(); !strings.Contains(m, fmt.Sprintf(`crmgw_config_reloads_total{result="refused"} %d`, i+1)) {
			t.Errorf("%s: refusal not counted:\n%s", c.name, grepLines(m, "crmgw_config_reloads"))
		}
		// /readyz (no token) says a reload was refused, still ready, and
		// names no problem: those, which may quote the file, are in the log.
		code, rep := e.readyz()
		d := rep.Degraded["config_reload"]
		if code != http.StatusOK || !rep.Ready || !strings.Contains(d, "refused") || !strings.Contains(d, "running configuration stays") {
			t.Errorf("%s: /readyz %d ready=%v config_reload=%q", c.name, code, rep.Ready, d)
		}
		if strings.Contains(d, e.cfgPath) || strings.Contains(d, "not-a-sha256") || strings.Contains(d, "api_key") {
			t.Errorf("%s: /readyz repeats the problems: %q", c.name, d)
		}
		if m := e.metricsText(); !strings.Contains(m, `crmgw_degraded{check="config_reload"} 1`) {
			t.Errorf("%s: no degraded metric:\n%s", c.name, grepLines(m, "crmgw_degraded"))
		}
	}
	// A refused file changed nothing, not even what was valid in it: the
	// key rotated next to an error is not applied.
	e.editConfig(func(string) string {
		s := strings.Replace(string(good), sha(internKey), sha(rotatedKey), 1)
		return strings.Replace(s, sha(repKey), "not-a-sha256", 1)
	})
	if err := e.srv.Reload(context.Background()); err == nil {
		t.Fatal("accepted")
	}
	if code := e.status("GET", contactQuery, bearer(rotatedKey)); code != http.StatusUnauthorized {
		t.Errorf("a key from a refused file was applied: %d", code)
	}
	e.editConfig(func(string) string { return string(good) + "\n" })
	if err := e.srv.Reload(context.Background()); err != nil {
		t.Fatalf("the good file again: %v", err)
	}
	if _, rep := e.readyz(); rep.Degraded["config_reload"] != "" || rep.Checks["config_reload"] != "" {
		t.Errorf("an applied reload left /readyz degraded: %+v", rep)
	}
	if m := e.metricsText(); strings.Contains(m, `crmgw_degraded{check="config_reload"}`) {
		t.Errorf("an applied reload left the degraded metric:\n%s", grepLines(m, "crmgw_degraded"))
	}
}

// Settings that only a restart applies are named in one log line and the
// gauge, keep their running values, and the rest of the file is applied.
func TestReloadNamesWhatNeedsARestart(t *testing.T) {
	e := newEnv(t, envOptions{limits: reloadLimits})
	logs := e.observe()
	listen := e.srv.ProxyAddr()
	e.editConfig(func(s string) string {
		s = strings.Replace(s, "  hmac_key: test-hmac-key-0123456789\n", "  hmac_key: another-hmac-key-0123456789\n", 1)
		s = strings.Replace(s, "server:\n  listen: 127.0.0.1:0\n", "server:\n  listen: 127.0.0.1:0\n  max_request_body: 1MiB\n", 1)
		return strings.Replace(s, sha(internKey), sha(rotatedKey), 1)
	})
	if err := e.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries := logs.FilterMessageSnippet("restart needed for:").TakeAll()
	if len(entries) != 1 || !strings.Contains(entries[0].Message, "restart needed for: server.max_request_body, masking.hmac_key") {
		t.Fatalf("restart log lines: %+v", entries)
	}
	if strings.Contains(entries[0].Message, "another-hmac") {
		t.Error("the log line shows a secret")
	}
	if code := e.status("GET", contactQuery, bearer(rotatedKey)); code == http.StatusUnauthorized {
		t.Error("the rotated key was not applied beside the settings that need a restart")
	}
	if e.srv.ProxyAddr() != listen {
		t.Error("the listener changed")
	}
	if m := e.metricsText(); !strings.Contains(m, "crmgw_config_restart_needed 1") {
		t.Errorf("gauge:\n%s", grepLines(m, "crmgw_config_"))
	}
}

// Upstream credentials: a rotated client_secret_file (same configuration
// text, new file contents) is read again and the next token request uses
// it; an upstream whose address changed keeps its running credentials.
func TestReloadRotatesUpstreamSecretFile(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "sf-secret")
	writeFile(t, secretFile, "old-secret\n")
	e := newEnv(t, envOptions{
		crmOpts: func(o *samplecrm.Options) { o.ClientID, o.ClientSecret = "crmgw-app", "new-secret" },
		sfAuth:  "{type: client_credentials, token_url: {{CRM}}/services/oauth2/token, client_id: crmgw-app, client_secret_file: " + secretFile + "}",
	})
	if code := e.status("GET", contactQuery, bearer(repKey)); code < 500 {
		t.Fatalf("with the secret the CRM no longer accepts: %d, want a 5xx", code)
	}
	writeFile(t, secretFile, "new-secret\n")
	if err := e.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := e.status("GET", contactQuery, bearer(repKey)); code != 200 {
		t.Fatalf("after the reload with the rotated secret file: %d", code)
	}
	// Rotated back, and the upstream's address changed in the same file:
	// the address needs a restart, so the credentials in force stay with
	// the address they are for.
	writeFile(t, secretFile, "old-secret\n")
	e.editConfig(func(s string) string {
		return strings.Replace(s, "    url: "+e.crmURL+"\n    auth: {type: client_credentials", "    url: "+e.crmURL+"/\n    auth: {type: client_credentials", 1)
	})
	if err := e.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := e.status("GET", contactQuery, bearer(repKey)); code != 200 {
		t.Errorf("credentials of an upstream that needs a restart were replaced: %d", code)
	}
}

// A reloaded certificate (same paths, new files) is served to new
// connections; an established connection keeps its own and keeps working.
func TestReloadServesNewCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "crmgw test CA"}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}, nil)
	serverCert := func(cn string) *testCert {
		return newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca)
	}
	crt, key := serverCert("gateway-2026").write(t, dir, "server")
	e := newEnv(t, envOptions{serverTLS: "  tls: {cert_file: " + crt + ", key_file: " + key + "}\n"})
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	newClient := func() *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	served := func(c *http.Client) string {
		req, _ := http.NewRequest("GET", "https://"+e.srv.ProxyAddr()+contactQuery, nil)
		req.Header.Set("Authorization", bearer(repKey))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	established := newClient()
	if cn := served(established); cn != "gateway-2026" {
		t.Fatalf("before the reload: %q", cn)
	}
	serverCert("gateway-2027").write(t, dir, "server")
	if err := e.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cn := served(newClient()); cn != "gateway-2027" {
		t.Errorf("a new connection after the reload got %q, want gateway-2027", cn)
	}
	if cn := served(established); cn != "gateway-2026" {
		t.Errorf("the established connection got %q (want it kept, with its certificate)", cn)
	}
	// A key file that does not match: refused, the certificate in force stays.
	other := serverCert("gateway-2028")
	otherCrt, _ := other.write(t, t.TempDir(), "other")
	b, _ := os.ReadFile(otherCrt)
	writeFile(t, crt, string(b))
	err := e.srv.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "server.tls") {
		t.Fatalf("a certificate without its key: %v", err)
	}
	if cn := served(newClient()); cn != "gateway-2027" {
		t.Errorf("after the refused reload a new connection got %q", cn)
	}
}

// The admin token is rotated by a reload: admin.token_file is read again,
// and the old token stops at once on the approvals API and on the guarded
// /metrics, the new one works; a file with no usable token refuses the
// reload and the token in force stays.
func TestReloadRotatesAdminToken(t *testing.T) {
	tokFile := filepath.Join(t.TempDir(), "admin-token")
	const oldTok, newTok = "old-admin-token-0123456789", "new-admin-token-9876543210"
	writeFile(t, tokFile, oldTok+"\n")
	e := newEnv(t, envOptions{admin: "  token_file: " + tokFile + "\n  protect_metrics: true\n"})
	metrics := func(tok string) int {
		req, _ := http.NewRequest("GET", e.admin+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	want := func(when, tok string, code int) {
		t.Helper()
		if st, _ := e.adminCall("GET", "/admin/subjects", tok, ""); st != code {
			t.Errorf("%s: /admin/subjects with %s: %d, want %d", when, tok[:3], st, code)
		}
		if st := metrics(tok); st != code {
			t.Errorf("%s: /metrics with %s: %d, want %d", when, tok[:3], st, code)
		}
	}
	want("before", oldTok, 200)
	want("before", newTok, 401)

	writeFile(t, tokFile, newTok+"\n")
	if err := e.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	want("after the rotation", oldTok, 401)
	want("after the rotation", newTok, 200)

	for _, bad := range []string{"\n", "abcdefg\n"} {
		writeFile(t, tokFile, bad)
		err := e.srv.Reload(context.Background())
		if err == nil || !strings.Contains(err.Error(), "admin.token_file") || strings.Contains(err.Error(), "abcdefg") {
			t.Errorf("file %q: reload error %v, want a refusal naming admin.token_file and not the token", bad, err)
		}
		want("after a refused reload", newTok, 200)
		want("after a refused reload", oldTok, 401)
	}

	// One reading of the file for both checks: its first line is the
	// token, on the approvals API and on /metrics alike; a second line is
	// no second token.
	writeFile(t, tokFile, oldTok+"\n"+newTok+"\n")
	if err := e.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	want("two lines", oldTok, 200)
	want("two lines", newTok, 401)
}
