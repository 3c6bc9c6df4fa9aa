package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestJSForceUnchanged drives the demo over https with jsforce (npm, pinned
// in examples/clients/package-lock.json): REST query, autoFetch through
// nextRecordsUrl, a masked read and a refused delete surfacing as jsforce
// errors, a Bulk API 2.0 query (create, poll, results) cut at the export
// cap, and a person's export waiting for approval. CI installs the modules (.ci/run); elsewhere the test skips
// when they are missing, and fails under CI=true.
func TestJSForceUnchanged(t *testing.T) {
	needNodeModule(t, "jsforce")
	r := startDemo(t)
	jwt, err := os.ReadFile(filepath.Join(r.dir, "manager.jwt"))
	if err != nil {
		t.Fatal(err)
	}
	out := runNode(t, r, "jsforce.mjs", "GW="+r.https, "KEY="+managerKey, "INTERN="+internKey, "JWT="+string(jwt))
	var got struct {
		REST struct {
			TotalSize, Records int
			Phone              string
		} `json:"rest"`
		AutoFetch struct{ TotalSize, Records int } `json:"autoFetch"`
		Intern    struct{ Phone string }           `json:"intern"`
		Delete    string                           `json:"internDelete"`
		Bulk2     struct{ Rows int }               `json:"bulk2"`
		Person    string                           `json:"personExport"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("jsforce output %q: %v", out, err)
	}
	if got.REST.Records != 3 || got.REST.Phone == "" || got.REST.Phone == "****" {
		t.Errorf("REST query: %+v", got.REST)
	}
	if got.AutoFetch.Records != 2500 {
		t.Errorf("autoFetch over nextRecordsUrl: %+v, want all 2500 contacts", got.AutoFetch)
	}
	if got.Intern.Phone != "****" {
		t.Errorf("intern's phone through jsforce: %q", got.Intern.Phone)
	}
	if got.Delete != "CRMGW_FORBIDDEN" {
		t.Errorf("intern's delete surfaced as %q, want the CRMGW_FORBIDDEN errorCode", got.Delete)
	}
	if got.Bulk2.Rows != 2000 {
		t.Errorf("bulk2.query rows %d, want the export cap of 2000", got.Bulk2.Rows)
	}
	if got.Person != "APPROVAL_REQUIRED" {
		t.Errorf("a person's export of every contact surfaced as %q, want jsforce's APPROVAL_REQUIRED error", got.Person)
	}
}

// TestZohoSDKUnchanged drives the demo's Zoho upstream with the official
// Zoho CRM Node.js SDK (v8): it reads settings/fields first, then the
// records, which come back with the intern's masks.
func TestZohoSDKUnchanged(t *testing.T) {
	needNodeModule(t, "@zohocrm/nodejs-sdk-8.0")
	r := startDemo(t)
	out := runNode(t, r, "zoho.mjs", "GW="+r.https+"/zoho", "KEY="+internKey, "DIR="+t.TempDir())
	var got struct {
		Status, Records      int
		Mobile, Email, Error string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("zoho sdk output %q: %v", out, err)
	}
	if got.Status != 200 || got.Records != 3 || got.Mobile != "****" || got.Email != "****" {
		t.Fatalf("Zoho SDK getRecords through the gateway: %+v", got)
	}
}

// needNodeModule skips without node and the module (fails under CI=true,
// where .ci/run installs them with npm ci).
func needNodeModule(t *testing.T, module string) {
	t.Helper()
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join("..", "clients", "node_modules", module))
	if nodeErr != nil || modErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs node and examples/clients/node_modules (npm ci --prefix examples/clients): %v %v", nodeErr, modErr)
		}
		t.Skip("node or examples/clients/node_modules missing: npm ci --prefix examples/clients")
	}
}

// startDemo runs the demo on free ports until the test ends.
func startDemo(t *testing.T) running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	readyc := make(chan running, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- runDemo(ctx, options{listen: "127.0.0.1:0", http: "127.0.0.1:0", admin: "127.0.0.1:0", records: 2500}, &syncBuffer{},
			func(r running) { readyc <- r })
	}()
	t.Cleanup(func() {
		cancel()
		<-errc
	})
	select {
	case r := <-readyc:
		return r
	case err := <-errc:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("demo did not start")
	}
	return running{}
}

// runNode runs a script of examples/clients against the demo, trusting
// the demo's CA, and returns its standard output.
func runNode(t *testing.T, r running, script string, env ...string) []byte {
	t.Helper()
	cmd := exec.Command("node", script)
	cmd.Dir = filepath.Join("..", "clients")
	cmd.Env = append(append(os.Environ(), "NODE_EXTRA_CA_CERTS="+filepath.Join(r.dir, "ca.pem")), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s\n%s", script, err, out, stderr.Bytes())
	}
	return out
}
