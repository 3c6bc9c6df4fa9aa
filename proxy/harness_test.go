package proxy

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/examples/samplecrm"
	"github.com/crmgw/crmgw/identity/oidctest"
)

// The tests below run the whole gateway: real listeners, the real default
// policies from ../policies, the sample CRM speaking Salesforce and Zoho
// shapes, a real OIDC issuer over HTTP, and the file audit sink.

const (
	sfToken    = "upstream-sf-token"
	zohoToken  = "upstream-zoho-token"
	repKey     = "rep-api-key-0123456789"
	internKey  = "intern-api-key-0123456789"
	managerKey = "manager-api-key-0123456789"
	audience   = "crmgw-test"
)

type env struct {
	t       testing.TB
	crm     *samplecrm.Server
	crmURL  string
	issuer  *oidctest.Issuer
	srv     *Server
	base    string
	admin   string
	dir     string
	client  *http.Client
	cfgPath string
}

type envOptions struct {
	extraYAML string // appended to the config (extra top-level sections)
	upstream  string // override the Salesforce upstream URL
	mode      string // policy mode
	limits    string // ratelimit section
	records   int    // contacts in the sample CRM (default 300)
	sfAuth    string // the Salesforce upstream's auth mapping; {{CRM}} is the sample CRM's URL
	crmOpts   func(*samplecrm.Options)
	serverTLS string // extra lines under server: (indented two spaces)
	identity  string // extra lines under identity: (indented two spaces)
	policies  string // policy directory (default: the repository's policies/)
	oidcExtra string // lines after the test issuer's audience (6 spaces: its keys; "    - issuer:": more issuers); {{ISSUER}} is its URL
	admin     string // extra lines under admin: (indented two spaces)
	auditPath string // the file sink's path (default audit.jsonl in the test's directory)
	policy    string // extra lines under policy: (indented two spaces)
}

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func policiesDir(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "policies")
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	if o.records == 0 {
		o.records = 300
	}
	co := samplecrm.Options{Records: o.records, Seed: 7, SalesforceToken: sfToken, ZohoToken: zohoToken}
	if o.crmOpts != nil {
		o.crmOpts(&co)
	}
	e.crm = samplecrm.New(co)
	crmSrv := httptest.NewServer(e.crm)
	t.Cleanup(crmSrv.Close)
	e.crmURL = crmSrv.URL
	up := crmSrv.URL
	if o.upstream != "" {
		up = o.upstream
	}
	e.issuer = oidctest.NewIssuer()
	t.Cleanup(e.issuer.Close)
	mode := o.mode
	if mode == "" {
		mode = "enforce"
	}
	sfAuth := "{type: static, token: " + sfToken + "}"
	if o.sfAuth != "" {
		sfAuth = strings.ReplaceAll(o.sfAuth, "{{CRM}}", crmSrv.URL)
	}
	policyDir := o.policies
	if policyDir == "" {
		policyDir = policiesDir(t)
	}
	limits := o.limits
	if limits == "" {
		limits = "ratelimit:\n  store: memory\n"
	}
	auditPath := o.auditPath
	if auditPath == "" {
		auditPath = filepath.Join(e.dir, "audit.jsonl")
	}
	cfg := fmt.Sprintf(`server:
  listen: 127.0.0.1:0
%sadmin:
  listen: 127.0.0.1:0
%supstreams:
  - name: salesforce
    type: salesforce
    url: %s
    auth: %s
  - name: zoho
    type: zoho
    url: %s
    match: {path_prefix: /zoho}
    auth: {type: static, token: %s}
identity:
  oidc:
    - issuer: %s
      audience: %s
%s  api_keys:
    - {id: rep, key_sha256: %s, roles: [sales_rep]}
    - {id: intern, key_sha256: %s, roles: [intern]}
    - {id: manager, key_sha256: %s, roles: [sales_manager]}
%spolicy:
  paths: [%s]
  mode: %s
  timeout: 5s
%smasking:
  hmac_key: test-hmac-key-0123456789
%saudit:
  sinks:
    - {type: file, path: %s}
%s`, o.serverTLS, o.admin, up, sfAuth, crmSrv.URL, zohoToken, e.issuer.URL(), audience, strings.ReplaceAll(o.oidcExtra, "{{ISSUER}}", e.issuer.URL()),
		sha(repKey), sha(internKey), sha(managerKey), o.identity, policyDir, mode, o.policy, limits,
		auditPath, strings.ReplaceAll(o.extraYAML, "{{ISSUER}}", e.issuer.URL()))
	e.cfgPath = filepath.Join(e.dir, "crmgw.yaml")
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	e.srv, err = NewServer(context.Background(), c, log)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := e.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.srv.Shutdown(context.Background()) })
	e.base = "http://" + e.srv.ProxyAddr()
	e.admin = "http://" + e.srv.AdminAddr()
	e.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	return e
}

// do sends a request through the gateway with the given credential.
func (e *env) do(method, path, auth string, body io.Reader, hdr ...string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func readAll(t testing.TB, r *http.Response) []byte {
	t.Helper()
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// auditEvents reads the audit file once the auditor has flushed.
func (e *env) auditEvents(want int) []map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := readEvents(e.t, filepath.Join(e.dir, "audit.jsonl"))
		if len(evs) >= want || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readEvents returns the completion events of an audit file (start records
// left out).
func readEvents(t testing.TB, path string) []map[string]any {
	return readAuditLines(t, path, false)
}

// readAuditLines returns every line of an audit file, start records
// included with withStarts.
func readAuditLines(t testing.TB, path string, withStarts bool) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line is not JSON: %v", err)
		}
		checkOCSF(t, sc.Bytes()) // ocsf_e2e_test.go
		if m["status"] == "pending" && !withStarts {
			continue // a start record; its completion follows (docs/audit.md)
		}
		out = append(out, m)
	}
	return out
}

// get walks a decoded JSON value by keys and indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func bearer(k string) string { return "Bearer " + k }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
