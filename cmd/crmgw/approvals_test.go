package main

import (
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
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/examples/samplecrm"
	"github.com/crmgw/crmgw/identity/oidctest"
	"github.com/crmgw/crmgw/policies"
	"github.com/crmgw/crmgw/proxy"
)

// The approvals and subjects commands against a running gateway: the
// sample CRM, the default policies, a test issuer for the approver.
func TestApprovalsAndSubjectsCommands(t *testing.T) {
	crm := httptest.NewServer(samplecrm.New(samplecrm.Options{Records: 100, Seed: 1, SalesforceToken: "sf", ZohoToken: "zo"}))
	defer crm.Close()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "policies"), policies.FS); err != nil {
		t.Fatal(err)
	}
	const adminToken = "cli-admin-token-0123456789"
	const repKey = "cli-rep-key-0123456789abcdef"
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "crmgw.yaml")
	cfgText := fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0", token_file: admin.token}
upstreams:
  - {name: salesforce, type: salesforce, url: %s, auth: {type: static, token: sf}}
identity:
  oidc: [{issuer: %s, audience: crmgw}]
  api_keys:
    - {id: cli-rep, key_sha256: %s, roles: [sales_manager]}
policy: {paths: [policies], timeout: 5s}
masking: {hmac_key: k-0123456789abcdef}
ratelimit: {store: memory}
audit: {sinks: [{type: file, path: audit.jsonl}]}
`, crm.URL, iss.URL(), sha256Hex(repKey))
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.NewServer(context.Background(), cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	admin := "http://" + srv.AdminAddr()
	cli := func(env map[string]string, args ...string) (string, error) {
		t.Helper()
		t.Setenv("CRMGW_ADMIN_TOKEN", "")
		t.Setenv("CRMGW_ADMIN_URL", "")
		out, errOut, err := runCLI(t, env, append(args, "--admin", admin, "--config", cfgPath)...)
		return out + errOut, err
	}
	export := func() (int, string) {
		req, _ := http.NewRequest("POST", "http://"+srv.ProxyAddr()+"/services/data/v60.0/jobs/query",
			strings.NewReader(`{"operation":"query","query":"SELECT Id FROM Contact LIMIT 5"}`))
		req.Header.Set("Authorization", "Bearer "+repKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// The token from the config's admin.token_file.
	if out, err := cli(nil, "subjects", "watch", "cli-rep"); err != nil || !strings.Contains(out, "cli-rep: frozen=false watch=[departing]") {
		t.Fatalf("watch: %v %s", err, out)
	}
	st, body := export()
	m := regexp.MustCompile(`approval (apr_[0-9a-z]+)`).FindStringSubmatch(body)
	if st != 403 || m == nil {
		t.Fatalf("export of a watched subject: %d %s", st, body)
	}
	id := m[1]
	if out, err := cli(nil, "approvals", "list", "--status", "pending"); err != nil || !strings.Contains(out, id) || !strings.Contains(out, "bulk_query Contact") {
		t.Fatalf("list: %v %s", err, out)
	}
	out, err := cli(nil, "approvals", "show", id)
	var shown struct {
		Approval struct{ Status, Reason string }
	}
	if err != nil || json.Unmarshal([]byte(out), &shown) != nil || shown.Approval.Status != "pending" {
		t.Fatalf("show: %v %s", err, out)
	}
	// The admin token names no person: it cannot approve.
	if out, err := cli(nil, "approvals", "approve", id); err == nil || !strings.Contains(out+err.Error(), "NOT_A_PERSON") {
		t.Fatalf("approve with the admin token: %v %s", err, out)
	}
	// The subject's own key cannot either.
	if _, err := cli(map[string]string{"CRMGW_ADMIN_TOKEN": repKey}, "approvals", "approve", id); err == nil || !strings.Contains(err.Error(), "SELF_APPROVAL") {
		t.Fatalf("self-approval: %v", err)
	}
	claims := iss.Claims("00u-boss", "crmgw")
	claims["email"], claims["groups"] = "boss@example.com", []string{"sales_managers"}
	boss := iss.Sign(claims)
	tokFile := filepath.Join(dir, "boss.jwt")
	os.WriteFile(tokFile, []byte(boss), 0o600)
	if out, err := cli(nil, "approvals", "approve", id, "--comment", "fine", "--token-file", tokFile); err != nil || !strings.Contains(out, id+" approved by boss@example.com") {
		t.Fatalf("approve: %v %s", err, out)
	}
	if st, body := export(); st != 200 {
		t.Fatalf("export under the grant: %d %s", st, body)
	}
	if out, err := cli(nil, "subjects", "freeze", "cli-rep", "--reason", "left"); err != nil || !strings.Contains(out, "frozen=true") {
		t.Fatalf("freeze: %v %s", err, out)
	}
	if st, body := export(); st != 403 || !strings.Contains(body, "CRMGW_FROZEN") {
		t.Fatalf("frozen: %d %s", st, body)
	}
	if out, err := cli(nil, "subjects", "list"); err != nil || !strings.Contains(out, `"frozen": true`) {
		t.Fatalf("subjects list: %v %s", err, out)
	}
	if out, err := cli(nil, "subjects", "unfreeze", "cli-rep"); err != nil || !strings.Contains(out, "frozen=false") {
		t.Fatalf("unfreeze: %v %s", err, out)
	}
	if out, err := cli(nil, "subjects", "unwatch", "cli-rep"); err != nil || !strings.Contains(out, "watch=[]") {
		t.Fatalf("unwatch: %v %s", err, out)
	}
	// No token anywhere: a clear error.
	t.Setenv("CRMGW_ADMIN_TOKEN", "")
	if _, _, err := runCLI(t, nil, "approvals", "list", "--admin", admin); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Fatalf("without a token: %v", err)
	}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
