// Command demo runs crmgw on loopback with nothing external: a sample CRM
// that speaks the Salesforce and Zoho APIs, a test OIDC issuer, and the
// gateway in front of them with the default policies, in-memory limits, a
// file audit trail and a throw-away local CA for https. It prints command
// lines that tell the story: a manager sees what an intern may not, a
// delete is refused, an export is cut at its cap, and the audit trail
// verifies. Ctrl-C stops it and removes its temporary directory.
//
//	go run ./examples/demo
//	go run ./examples/demo verify FILE   (check an audit log's hash chain)
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/examples/samplecrm"
	"github.com/crmgw/crmgw/identity/oidctest"
	"github.com/crmgw/crmgw/internal/run"
	"github.com/crmgw/crmgw/policies"
	"github.com/crmgw/crmgw/proxy"
)

// Demo credentials: printed for newcomers, valid only against the demo's
// own sample CRM on loopback.
const (
	managerKey = "demo-manager-key"
	repKey     = "demo-sales-rep-key"
	internKey  = "demo-intern-key"
	sfToken    = "samplecrm-salesforce-token"
	zohoToken  = "samplecrm-zoho-token"
	audience   = "crmgw-demo"
	// The admin API's token (HR's watch list) and the sales manager who
	// approves exports on the approval page, signing in at the demo IdP.
	adminToken    = "demo-admin-token-not-for-production"
	approverEmail = "ma.li@example.com"
	approverPW    = "demo-manager-password"
)

type options struct {
	listen, http, admin string
	records             int
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "verify" {
		os.Exit(verify(os.Args[2:]))
	}
	var o options
	flag.StringVar(&o.listen, "listen", "127.0.0.1:8443", "gateway https address")
	flag.StringVar(&o.http, "http", "127.0.0.1:8080", "gateway plain http address (for curl without --cacert)")
	flag.StringVar(&o.admin, "admin", "127.0.0.1:9090", "admin address (/healthz /readyz /metrics)")
	flag.IntVar(&o.records, "records", 2500, "contacts in the sample CRM")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runDemo(ctx, o, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// verify checks the hash chain of audit log files, as `crmgw audit verify`.
func verify(files []string) int {
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "usage: demo verify FILE [FILE...]")
		return 2
	}
	rep, err := audit.VerifyFiles(files)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if rep.FirstBadLine > 0 {
		fmt.Fprintf(os.Stderr, "%s:%d: chain broken: %s\n", rep.BadFile, rep.FirstBadLine, rep.Reason)
		return 1
	}
	fmt.Printf("ok: %d events, chain intact, last hash %s\n", rep.Events, rep.LastHash)
	return 0
}

// running is what a test needs to follow the demo.
type running struct {
	https, http, admin, dir string
}

// runDemo starts everything, prints the story to out, calls ready (tests)
// and serves until ctx ends; the temporary directory goes with it.
func runDemo(ctx context.Context, o options, out io.Writer, ready func(running)) error {
	dir, err := os.MkdirTemp("", "crmgw-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	caFile, certFile, keyFile, err := localCA(dir)
	if err != nil {
		return err
	}

	// The sample CRM.
	crmLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	crmSrv := &http.Server{
		Handler: samplecrm.New(samplecrm.Options{
			Records: o.records, Seed: 1, SalesforceToken: sfToken, ZohoToken: zohoToken,
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = crmSrv.Serve(crmLn) }()
	defer crmSrv.Close()

	// A test OIDC issuer: the manager's export needs a token that says MFA.
	iss := oidctest.NewIssuer()
	defer iss.Close()
	iss.AddUser(oidctest.User{Sub: "00u-demo-boss", Email: approverEmail, Name: "Ma Li", Password: approverPW,
		Groups: []string{"sales_managers"}})
	claims := iss.Claims("00u-demo-manager", audience)
	claims["email"] = "li.wei@example.com"
	claims["roles"] = []string{"sales_manager"}
	claims["groups"] = []string{"sales"}
	claims["amr"] = []string{"pwd", "mfa"}
	claims["exp"] = time.Now().Add(12 * time.Hour).Unix()
	jwtFile := filepath.Join(dir, "manager.jwt")
	if err := os.WriteFile(jwtFile, []byte(iss.Sign(claims)), 0o600); err != nil {
		return err
	}

	polDir := filepath.Join(dir, "policies")
	if err := os.CopyFS(polDir, policies.FS); err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "crmgw.yaml")
	cfgText := fmt.Sprintf(configTmpl, o.listen, certFile, keyFile, o.admin, "http://"+crmLn.Addr().String(),
		iss.URL(), audience, sha(managerKey), sha(repKey), sha(internKey), samplecrm.DefaultFxiaokeUserID)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		run.PrintProblems(os.Stderr, err)
		return errors.New("the demo configuration does not load")
	}
	log, err := run.NewLogger(cfg.Log)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	var plain *http.Server
	defer func() {
		if plain != nil {
			_ = plain.Close()
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var startErr error
	err = run.Serve(ctx, cfg, log, func(s *proxy.Server) {
		r := running{https: "https://" + s.ProxyAddr(), admin: "http://" + s.AdminAddr(), dir: dir}
		plain, r.http, startErr = plainListener(o.http, r.https, caFile)
		if startErr != nil {
			cancel() // run.Serve stops
			return
		}
		printStory(out, r)
		if ready != nil {
			ready(r)
		}
	})
	if startErr != nil {
		return startErr
	}
	return err
}

// plainListener serves plain http on addr by passing requests to the https
// gateway (for curl lines without --cacert, and clients that cannot be
// given a CA).
func plainListener(addr, httpsURL, caFile string) (*http.Server, string, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, "", err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	target, _ := url.Parse(httpsURL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, DisableCompression: true}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
}

const configTmpl = `# crmgw demo configuration (generated by go run ./examples/demo)
server:
  listen: %[1]s
  tls: {cert_file: %[2]s, key_file: %[3]s}
admin:
  listen: %[4]s
  token: ` + adminToken + `
log:
  level: warn
  format: console
upstreams:
  - name: salesforce
    type: salesforce
    url: %[5]s
    auth: {type: static, token: ` + sfToken + `}
  - name: zoho
    type: zoho
    url: %[5]s
    match: {path_prefix: /zoho}
    auth: {type: static, token: ` + zohoToken + `}
  - name: fxiaoke
    type: generic
    profile: fxiaoke
    url: %[5]s
    match: {path_prefix: /fxiaoke}
    auth:
      type: profile
      params: {appId: FSAID_demo, appSecret: demo-fxiaoke-app-secret, permanentCode: demo-permanent-code, currentOpenUserId: %[11]s}
identity:
  oidc:
    - issuer: %[6]s
      audience: %[7]s
  api_keys:
    - {id: demo-manager, key_sha256: %[8]s, roles: [sales_manager]}
    - {id: demo-sales-rep, key_sha256: %[9]s, roles: [sales_rep]}
    - {id: demo-intern, key_sha256: %[10]s, roles: [intern]}
policy:
  paths: [policies]
  timeout: 500ms
masking:
  hmac_key: demo-hmac-key-not-for-production
ratelimit:
  store: memory
  limits:
    - {name: per-subject, key: subject, rate: 20, per: 1s, burst: 40}
  quotas:
    - {name: export-per-day, key: subject, records: 10000, window: 24h, categories: [export, bulk]}
audit:
  sinks:
    - {type: file, path: audit.jsonl}
alerts:
  rules: data.crmgw.alerts.alerts
approvals:
  oidc: {issuer: %[6]s, client_id: crmgw-demo-approvals}
`

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
