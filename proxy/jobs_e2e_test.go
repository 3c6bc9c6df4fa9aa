package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A bulk job is its creator's: another caller polling, aborting or
// deleting it gets the CRM's not-found answer and the CRM never sees the
// request; the creator's jsforce-style flow (create, poll, results,
// delete) goes through.
func TestBulkJobOfAnotherCallerIsNotFound(t *testing.T) {
	e := newEnv(t, envOptions{})
	const jobs = "/services/data/v60.0/jobs/query"
	resp := e.do("POST", jobs, bearer(managerKey), strings.NewReader(`{"operation":"query","query":"SELECT Id, Name FROM Contact"}`),
		"Content-Type", "application/json")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var job struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &job); err != nil || job.ID == "" {
		t.Fatalf("create answer %s: %v", body, err)
	}
	status := func(key, method, path, body string) (int, string) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		resp := e.do(method, path, bearer(key), r, "Content-Type", "application/json")
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := status(managerKey, "GET", jobs+"/"+job.ID, ""); code != http.StatusOK {
		t.Fatalf("owner's status poll: %d %s", code, b)
	}
	for _, r := range []struct{ key, method, path, body string }{
		{internKey, "GET", jobs + "/" + job.ID, ""},
		{internKey, "GET", jobs + "/" + job.ID + "/results", ""},
		{repKey, "PATCH", jobs + "/" + job.ID, `{"state":"Aborted"}`},
		{repKey, "DELETE", jobs + "/" + job.ID, ""},
		{managerKey, "GET", jobs + "/750R0000000zzzzIAA", ""}, // never created through the gateway
	} {
		code, b := status(r.key, r.method, r.path, r.body)
		if code != http.StatusNotFound || !strings.Contains(b, `"errorCode":"NOT_FOUND"`) {
			t.Errorf("%s %s: %d %s, want 404 NOT_FOUND", r.method, r.path, code, b)
		}
	}
	// The job was neither aborted nor deleted by the others.
	code, b := status(managerKey, "GET", jobs+"/"+job.ID, "")
	if code != http.StatusOK || strings.Contains(b, "Aborted") {
		t.Fatalf("owner's status after the others tried: %d %s", code, b)
	}
	if code, b := status(managerKey, "GET", jobs+"/"+job.ID+"/results", ""); code != http.StatusOK {
		t.Errorf("owner's results: %d %s", code, b)
	}
	if code, b := status(managerKey, "DELETE", jobs+"/"+job.ID, ""); code/100 != 2 {
		t.Errorf("owner's delete: %d %s", code, b)
	}
}

// With upstreams[].describe, the classifier asks the CRM for the objects a
// query walks, once each, with the gateway's own credential; without it
// (every other test) the CRM sees only the forwarded request.
func TestDescribeIsFetchedOnceWithTheGatewayCredential(t *testing.T) {
	e := newEnv(t, envOptions{sfAuth: "{type: static, token: " + sfToken + "}\n    describe: true"})
	q := "/services/data/v60.0/query?q=" + url.QueryEscape("SELECT Name, (SELECT LastName FROM Contacts) FROM Account LIMIT 2")
	for range 2 {
		resp := e.do("GET", q, bearer(repKey), nil)
		if b := readAll(t, resp); resp.StatusCode != http.StatusOK {
			t.Fatalf("query: %d %s", resp.StatusCode, b)
		}
	}
	describes, queries := 0, 0
	for _, r := range e.crm.Requests() {
		switch {
		case strings.HasSuffix(r.Path, "/describe"):
			describes++
			if got := r.Header.Get("Authorization"); got != "Bearer "+sfToken {
				t.Errorf("describe sent with Authorization %q", got)
			}
		case strings.HasSuffix(r.Path, "/query"):
			queries++
		}
	}
	if queries != 2 || describes == 0 || describes > 2 {
		t.Errorf("CRM saw %d queries and %d describe calls; want 2 queries and the describe of Account (and Contact) once", queries, describes)
	}
}
