package proxy

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBulk2WithCSVAcceptAndCharsetParameters follows what simple-salesforce
// and jsforce send for Bulk API 2.0: Accept: text/csv; charset=UTF-8 on
// every job call and a charset on the JSON body, which Salesforce accepts.
func TestBulk2WithCSVAcceptAndCharsetParameters(t *testing.T) {
	e := newEnv(t, envOptions{})
	claims := e.issuer.Claims("00u-manager", audience)
	claims["roles"] = []string{"sales_manager"}
	claims["amr"] = []string{"mfa"}
	tok := bearer(e.issuer.Sign(claims))
	hdr := []string{"Accept", "text/csv; charset=UTF-8", "Content-Type", "application/json; charset=UTF-8"}
	resp := e.do("POST", "/services/data/v60.0/jobs/query", tok,
		strings.NewReader(`{"operation":"query","query":"SELECT Id, Name, MobilePhone FROM Contact LIMIT 500"}`), hdr...)
	b := readAll(t, resp)
	var job struct{ ID string }
	if resp.StatusCode != 200 || json.Unmarshal(b, &job) != nil || job.ID == "" {
		t.Fatalf("create job with Accept text/csv: %d %s", resp.StatusCode, b)
	}
	resp = e.do("GET", "/services/data/v60.0/jobs/query/"+job.ID, tok, nil, hdr[:2]...)
	if b := readAll(t, resp); resp.StatusCode != 200 {
		t.Fatalf("job status with Accept text/csv: %d %s", resp.StatusCode, b)
	}
	resp = e.do("GET", "/services/data/v60.0/jobs/query/"+job.ID+"/results", tok, nil, hdr[:2]...)
	b = readAll(t, resp)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), `"Id","Name","MobilePhone"`) {
		t.Fatalf("results with Accept text/csv; charset=UTF-8: %d %.200s", resp.StatusCode, b)
	}
	// A JSON REST resource asked for as CSV or XML is still refused: the
	// gateway never hands back a format it did not inspect.
	resp = e.do("GET", contactQuery, bearer(repKey), nil, "Accept", "application/xml")
	if readAll(t, resp); resp.StatusCode != 406 {
		t.Fatalf("query with Accept XML: want 406, got %d", resp.StatusCode)
	}
}

// TestBulk1SessionHeaderIsTheCallersCredential: Bulk API 1.0 clients send
// X-SFDC-Session instead of Authorization. The gateway accepts it as the
// caller's credential and never forwards it.
func TestBulk1SessionHeaderIsTheCallersCredential(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp := e.do("GET", contactQuery, "", nil, "X-SFDC-Session", repKey)
	if b := readAll(t, resp); resp.StatusCode != 200 {
		t.Fatalf("X-SFDC-Session with an API key: %d %s", resp.StatusCode, b)
	}
	reqs := e.crm.Requests()
	if len(reqs) != 1 || reqs[0].Header.Get("X-Sfdc-Session") == repKey || reqs[0].Header.Get("Authorization") != "Bearer "+sfToken {
		t.Fatalf("upstream saw %d requests, headers %v", len(reqs), reqs[0].Header)
	}
	resp = e.do("GET", contactQuery, "", nil, "X-SFDC-Session", "not-a-key")
	if readAll(t, resp); resp.StatusCode != 401 {
		t.Fatalf("a bad X-SFDC-Session: want 401, got %d", resp.StatusCode)
	}
	// Two credentials that disagree are not a choice for the gateway to make.
	resp = e.do("GET", contactQuery, bearer(internKey), nil, "X-SFDC-Session", repKey)
	b := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"MobilePhone":"****"`) {
		t.Fatalf("Authorization wins over X-SFDC-Session (the intern is masked): %d %.300s", resp.StatusCode, b)
	}
}
