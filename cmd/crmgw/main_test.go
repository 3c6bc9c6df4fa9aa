package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/proxy"
)

// runCLI runs the CLI in-process and captures stdout and stderr.
func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	ro, wo, _ := os.Pipe()
	re, we, _ := os.Pipe()
	os.Stdout, os.Stderr = wo, we
	var bo, be bytes.Buffer
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(&bo, ro); done <- struct{}{} }()
	go func() { _, _ = io.Copy(&be, re); done <- struct{}{} }()
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(wo)
	cmd.SetErr(we)
	err = cmd.ExecuteContext(context.Background())
	wo.Close()
	we.Close()
	<-done
	<-done
	os.Stdout, os.Stderr = oldOut, oldErr
	return bo.String(), be.String(), err
}

func exitCode(err error) int {
	var ex exitError
	if errors.As(err, &ex) {
		return int(ex)
	}
	if err != nil {
		return 1
	}
	return 0
}

func TestValidateQuickstartConfigRunsPolicyTests(t *testing.T) {
	out, errOut, err := runCLI(t, map[string]string{"SF_TOKEN": "x", "CRMGW_HMAC_KEY": "k-0123456789abcdef"},
		"validate", "--config", "../../examples/quickstart/crmgw.yaml")
	if err != nil {
		t.Fatalf("validate failed: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if !strings.Contains(out, "policies: sha256:") || !strings.Contains(out, "PASS") {
		t.Fatalf("validate output lacks the revision or the test summary:\n%s", out)
	}
}

func TestValidateReportsEveryProblemWithFileAndLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	y := "server:\n  listen: nowhere\nupstreams:\n  - {name: sf, type: sugar, url: https://x.example.com, auth: {type: static, token: t}}\npolicy: {paths: [p], mood: enforce}\n"
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runCLI(t, nil, "validate", "-c", p)
	if exitCode(err) != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	for _, want := range []string{p + ":5: policy.mood: unknown key"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// Unknown keys stop before value validation; fix it and see the rest.
	y = strings.Replace(y, "mood", "mode", 1)
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err = runCLI(t, nil, "validate", "-c", p)
	if exitCode(err) != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	for _, want := range []string{p + ":2: server.listen: want host:port", p + ":4: upstreams[0].type:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestExampleConfigurationsParse(t *testing.T) {
	env := func(k string) (string, bool) {
		if strings.HasSuffix(k, "SHA256") {
			return strings.Repeat("ab", 32), true
		}
		return "example-value-0123456789", true
	}
	for _, f := range []string{"quickstart", "salesforce", "zoho"} {
		p := filepath.Join("..", "..", "examples", f, "crmgw.yaml")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.Parse(p, b, env); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, err := runCLI(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "crmgw ") {
		t.Fatalf("version: %q %v", out, err)
	}
}

func TestServeWithoutConfigSaysHow(t *testing.T) {
	t.Setenv("CRMGW_CONFIG", "")
	_, _, err := runCLI(t, nil, "serve")
	if err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("want a hint about --config, got %v", err)
	}
}

// TestDemoShowsAllowedMaskedDenied runs the demo as a newcomer would and
// follows its printed curl lines.
func TestDemoShowsAllowedMaskedDenied(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type ready struct {
		addr, dir, jwt string
	}
	readyc := make(chan ready, 1)
	demoReady = func(s *proxy.Server, dir, jwt string) { readyc <- ready{s.ProxyAddr(), dir, jwt} }
	defer func() { demoReady = nil }()
	errc := make(chan error, 1)
	go func() { errc <- runDemo(ctx, "127.0.0.1:0", "127.0.0.1:0") }()
	var r ready
	select {
	case r = <-readyc:
	case err := <-errc:
		t.Fatalf("demo stopped: %v", err)
	}
	defer os.RemoveAll(r.dir)
	get := func(method, path, auth string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+r.addr+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	q := "/services/data/v60.0/query?q=SELECT+Id,Name,Email,MobilePhone,Account.Owner.Email+FROM+Contact+LIMIT+3"
	code, repBody := get("GET", q, "Bearer "+demoRepKey)
	if code != 200 || !strings.Contains(repBody, `"records"`) {
		t.Fatalf("allowed read: %d %s", code, repBody)
	}
	code, internBody := get("GET", q, "Bearer "+demoInternKey)
	if code != 200 || internBody == repBody {
		t.Fatalf("masked read: %d, identical to the rep's: %v", code, internBody == repBody)
	}
	code, body := get("DELETE", "/services/data/v60.0/sobjects/Contact/003000000000001AAA", "Bearer "+demoInternKey)
	if code != 403 || !strings.Contains(body, "CRMGW_FORBIDDEN") {
		t.Fatalf("denied delete: %d %s", code, body)
	}
	if code, _ := get("GET", q, ""); code != 401 {
		t.Fatalf("no credential: %d", code)
	}
	if code, body := get("GET", "/zoho/crm/v6/Contacts?fields=Last_Name,Email,Mobile&per_page=2", "Bearer "+demoRepKey); code != 200 {
		t.Fatalf("zoho read: %d %s", code, body)
	}
	// 5. The export by the manager signed in with MFA: a Bulk 2.0 job, then its CSV.
	req, _ := http.NewRequest("POST", "http://"+r.addr+"/services/data/v60.0/jobs/query",
		strings.NewReader(`{"operation":"query","query":"SELECT Id, Name, Email FROM Contact"}`))
	req.Header.Set("Authorization", "Bearer "+r.jwt)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var job struct{ ID, Object string }
	if err := json.NewDecoder(resp.Body).Decode(&job); err != nil || resp.StatusCode != 200 || job.ID == "" {
		t.Fatalf("bulk job: %d %v %+v", resp.StatusCode, err, job)
	}
	resp.Body.Close()
	code, csvBody := get("GET", "/services/data/v60.0/jobs/query/"+job.ID+"/results", "Bearer "+r.jwt)
	if code != 200 || !strings.HasPrefix(csvBody, `"Id","Name","Email"`) {
		t.Fatalf("bulk results: %d %.300s", code, csvBody)
	}
	if rows := strings.Count(strings.TrimSpace(csvBody), "\n"); rows < 1 || rows > 2000 {
		t.Fatalf("export rows %d: want between 1 and the manager's cap of 2000", rows)
	}
	// The intern may not export.
	if code, _ := get("GET", "/services/data/v60.0/jobs/query/"+job.ID+"/results", "Bearer "+demoInternKey); code != 403 {
		t.Fatalf("intern export: %d", code)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("demo exit: %v", err)
	}
	out, errOut, err := runCLI(t, nil, "audit", "verify", filepath.Join(r.dir, "audit.jsonl"))
	// 8 completion events and the start records of the 5 requests that
	// were forwarded to the CRM (docs/audit.md "Crash safety").
	if err != nil || !strings.Contains(out, "ok: 13 events") {
		t.Fatalf("audit verify: %v\n%s\n%s", err, out, errOut)
	}
}
