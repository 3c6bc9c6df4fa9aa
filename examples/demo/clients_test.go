package main

import (
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
// errors, and a Bulk API 2.0 query (create, poll, results) cut at the
// export cap. CI installs the modules (.ci/run); elsewhere the test skips
// when they are missing, and fails under CI=true.
func TestJSForceUnchanged(t *testing.T) {
	mods := "../clients/node_modules/jsforce"
	_, nodeErr := exec.LookPath("node")
	if _, err := os.Stat(mods); err != nil || nodeErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs node and examples/clients/node_modules (npm ci --prefix examples/clients): %v %v", err, nodeErr)
		}
		t.Skip("node or examples/clients/node_modules missing: npm ci --prefix examples/clients")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readyc := make(chan running, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- runDemo(ctx, options{listen: "127.0.0.1:0", http: "127.0.0.1:0", admin: "127.0.0.1:0", records: 2500}, &syncBuffer{},
			func(r running) { readyc <- r })
	}()
	var r running
	select {
	case r = <-readyc:
	case err := <-errc:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("demo did not start")
	}
	jwt, err := os.ReadFile(filepath.Join(r.dir, "manager.jwt"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "jsforce.mjs")
	cmd.Dir = "../clients"
	cmd.Env = append(os.Environ(), "GW="+r.https, "KEY="+managerKey, "INTERN="+internKey, "JWT="+string(jwt),
		"NODE_EXTRA_CA_CERTS="+filepath.Join(r.dir, "ca.pem"))
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("jsforce: %v\n%s\n%s", err, out, stderr)
	}
	var got struct {
		REST struct {
			TotalSize, Records int
			Phone              string
		} `json:"rest"`
		AutoFetch struct{ TotalSize, Records int } `json:"autoFetch"`
		Intern    struct{ Phone string }           `json:"intern"`
		Delete    string                           `json:"internDelete"`
		Bulk2     struct{ Rows int }               `json:"bulk2"`
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
}
