package proxy

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const bulkQueryPath = "/services/data/v60.0/jobs/query"
const bulkQueryBody = `{"operation":"query","query":"SELECT Id, Email FROM Contact LIMIT 500"}` // 500: no second approval needed

func (e *env) managerToken() string {
	return bearer(e.issuer.Sign(map[string]any{
		"iss": e.issuer.URL(), "sub": "00u-mgr", "aud": audience, "email": "mgr@example.com",
		"roles": []string{"sales_manager"}, "amr": []string{"mfa"},
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	}))
}

func TestExportHasItsStartRecordInTheLogBeforeTheCRMAnswers(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp := e.do("POST", bulkQueryPath, e.managerToken(), strings.NewReader(bulkQueryBody), "Content-Type", "application/json")
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: status %d: %s", resp.StatusCode, body)
	}
	e.auditEvents(1)
	all := readAuditLines(t, filepath.Join(e.dir, "audit.jsonl"), true)
	if len(all) != 2 || get(all[0], "status") != "pending" || get(all[1], "status") != "allowed" ||
		get(all[0], "activity") != "export" || get(all[0], "request_id") != resp.Header.Get("X-Request-Id") {
		t.Fatalf("want the export's start record then its completion, got %v", all)
	}
}

// A local audit log that cannot be written (a full disk: /dev/full answers
// every write with ENOSPC) refuses exports before anything reaches the CRM,
// still serves reads, and takes the replica out of /readyz.
func TestExportRefusedWhenTheLocalLogCannotBeWritten(t *testing.T) {
	spool := t.TempDir()
	// The shutdown gives up on the full disk after a second (what it could
	// not write stays in the spool).
	e := newEnv(t, envOptions{auditPath: "/dev/full", extraYAML: "  spool_dir: " + spool + "\n",
		serverTLS: "  shutdown_timeout: 1s\n"})
	before := len(e.crm.Requests())
	resp := e.do("POST", bulkQueryPath, e.managerToken(), strings.NewReader(bulkQueryBody), "Content-Type", "application/json")
	body := string(readAll(t, resp))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "CRMGW_UNAVAILABLE") || !strings.HasPrefix(body, "[") {
		t.Fatalf("export with an unwritable log: status %d %s, want 503 in Salesforce's shape", resp.StatusCode, body)
	}
	if n := len(e.crm.Requests()) - before; n != 0 {
		t.Fatalf("%d requests reached the CRM for a refused export", n)
	}
	resp = e.do("GET", contactQuery, bearer(repKey), nil)
	if readAll(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("a read with an unwritable log: status %d, want 200", resp.StatusCode)
	}
	r, err := http.Get(e.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	rb := string(readAll(t, r))
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(rb, "local audit log") {
		t.Errorf("/readyz with an unwritable log: %d %s", r.StatusCode, rb)
	}
}

// A read is forwarded without waiting for its start record, but the record
// is in the local log before the caller gets the status line: read at the
// moment the header arrives, before the body is read, the log holds it.
func TestReadHasItsStartRecordInTheLogBeforeItsStatusLine(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp := e.do("GET", contactQuery, bearer(repKey), nil)
	id := resp.Header.Get("X-Request-Id")
	var start map[string]any
	for _, ev := range readAuditLines(t, filepath.Join(e.dir, "audit.jsonl"), true) {
		if get(ev, "request_id") == id && get(ev, "status") == "pending" {
			start = ev
		}
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("read: status %d: %s", resp.StatusCode, body)
	}
	if start == nil || get(start, "activity") != "read" {
		t.Fatalf("no start record for request %s in the log when its status line arrived (start %v)", id, start)
	}
	e.auditEvents(1)
	all := readAuditLines(t, filepath.Join(e.dir, "audit.jsonl"), true)
	if len(all) != 2 || get(all[1], "status") != "allowed" || get(all[1], "request_id") != id {
		t.Fatalf("want the read's start record then its completion, got %v", all)
	}
}
