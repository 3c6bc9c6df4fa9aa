package samplecrm

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBulk1QueryJob runs a Bulk 1.0 XML query job against the sample CRM
// directly: the session must be in X-SFDC-Session, the XML result has
// Salesforce's shape (type first, parents nested, nulls as xsi:nil), a
// batch on another object and a batch on a closed job are refused in
// Bulk 1.0's error shape.
func TestBulk1QueryJob(t *testing.T) {
	srv := httptest.NewServer(New(Options{Records: 5, Seed: 1, SalesforceToken: "tok"}))
	defer srv.Close()
	do := func(method, path, session, ctype, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/services/async/60.0/job"+path, strings.NewReader(body))
		if session != "" {
			req.Header.Set("X-SFDC-Session", session)
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const info = `<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload"><operation>query</operation><object>Contact</object><contentType>XML</contentType></jobInfo>`
	for _, s := range []string{"", "wrong"} {
		if code, b := do("POST", "", s, "application/xml", info); code != 400 || !strings.Contains(b, "<exceptionCode>InvalidSessionId</exceptionCode>") {
			t.Errorf("session %q: %d %s", s, code, b)
		}
	}
	code, b := do("POST", "", "tok", "application/xml", info)
	var job struct {
		ID    string `xml:"id"`
		State string `xml:"state"`
	}
	if err := xml.Unmarshal([]byte(b), &job); err != nil || code != 201 || job.State != "Open" {
		t.Fatalf("create: %d %s", code, b)
	}
	if code, b := do("POST", "/"+job.ID+"/batch", "tok", "text/csv", "SELECT Id FROM Account"); code != 400 || !strings.Contains(b, "InvalidBatch") {
		t.Errorf("batch on another object: %d %s", code, b)
	}
	code, b = do("POST", "/"+job.ID+"/batch", "tok", "text/csv", "SELECT Id, Email, Account.Name FROM Contact WHERE Id = '003D000000QV9n3IAD'")
	var batch struct {
		ID    string `xml:"id"`
		State string `xml:"state"`
	}
	if err := xml.Unmarshal([]byte(b), &batch); err != nil || code != 201 || batch.State != "Completed" {
		t.Fatalf("batch: %d %s", code, b)
	}
	_, b = do("GET", "/"+job.ID+"/batch/"+batch.ID+"/result", "tok", "", "")
	var list struct {
		Result []string `xml:"result"`
	}
	if err := xml.Unmarshal([]byte(b), &list); err != nil || len(list.Result) != 1 {
		t.Fatalf("result list %s", b)
	}
	code, b = do("GET", "/"+job.ID+"/batch/"+batch.ID+"/result/"+list.Result[0], "tok", "", "")
	want := `<records xsi:type="sObject"><type>Contact</type><Id>003D000000QV9n3IAD</Id><Email xsi:nil="true"/><Account xsi:nil="true"/></records>`
	if code != 200 || !strings.Contains(b, want) || !strings.HasPrefix(b, `<?xml version="1.0" encoding="UTF-8"?><queryResult`) {
		t.Errorf("result: %d %s", code, b)
	}
	do("POST", "/"+job.ID, "tok", "application/xml", `<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload"><state>Closed</state></jobInfo>`)
	if code, b := do("POST", "/"+job.ID+"/batch", "tok", "text/csv", "SELECT Id FROM Contact"); code != 400 || !strings.Contains(b, "InvalidJobState") {
		t.Errorf("batch on a closed job: %d %s", code, b)
	}
}
