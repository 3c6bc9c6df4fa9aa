package crm

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func classify(t *testing.T, c *Classifier, subject, method, path, query, body string) Result {
	t.Helper()
	res, err := c.Classify(context.Background(), Request{Method: method, Path: path, RawQuery: query, Header: http.Header{}, Body: loadBody(t, body), Subject: subject})
	if err != nil {
		t.Fatalf("Classify %s %s: %v", method, path, err)
	}
	return res
}

func TestQueryLocatorIsBoundToSubject(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	first := classify(t, c, "alice", "GET", "/services/data/v60.0/query", "q=SELECT+Id,Email+FROM+Contact", "")
	if len(first.Capture) != 1 || first.Capture[0] != "/nextRecordsUrl" {
		t.Fatalf("capture = %q", first.Capture)
	}
	// The proxy captured nextRecordsUrl from query_contacts.json.
	c.Observe("alice", first, 200, http.Header{}, map[string]string{"/nextRecordsUrl": "/services/data/v60.0/query/01gD0000002HU6KIAW-2000"})

	next := classify(t, c, "alice", "GET", "/services/data/v60.0/query/01gD0000002HU6KIAW-2000", "", "")
	checkResult(t, next, want{op: OpQuery, cat: CatRead, object: "Contact", fields: []string{"Id", "Email"}, mode: "next_page", query: "SELECT Id,Email FROM Contact"})

	other := classify(t, c, "mallory", "GET", "/services/data/v60.0/query/01gD0000002HU6KIAW-2000", "", "")
	checkResult(t, other, want{op: OpUnknown})

	// The client may move the offset of a cursor it was handed.
	checkResult(t, classify(t, c, "alice", "GET", "/services/data/v60.0/query/01gD0000002HU6KIAW-4000", "", ""),
		want{op: OpQuery, object: "Contact", fields: []string{"Id", "Email"}, mode: "next_page"})

	// A failed response is not remembered.
	c.Observe("alice", first, 500, http.Header{}, map[string]string{"/nextRecordsUrl": "/services/data/v60.0/query/01gD0000002HV7LIAW-2000"})
	checkResult(t, classify(t, c, "alice", "GET", "/services/data/v60.0/query/01gD0000002HV7LIAW-2000", "", ""), want{op: OpUnknown})
}

func TestQueryLocatorExpires(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	c := newTestClassifier(t, "salesforce", Options{TokenTTL: time.Minute, MaxTokens: 2, Now: func() time.Time { return now }})
	first := classify(t, c, "alice", "GET", "/services/data/v60.0/query", "q=SELECT+Id+FROM+Contact", "")
	c.Observe("alice", first, 200, nil, map[string]string{"/nextRecordsUrl": "/services/data/v60.0/query/L1-2000"})
	now = now.Add(2 * time.Minute)
	checkResult(t, classify(t, c, "alice", "GET", "/services/data/v60.0/query/L1-2000", "", ""), want{op: OpUnknown})

	// The memory is bounded: the oldest entry goes first.
	for _, l := range []string{"A", "B", "C"} {
		c.Observe("alice", first, 200, nil, map[string]string{"/nextRecordsUrl": "/services/data/v60.0/query/" + l})
	}
	if n := c.mem.len(); n != 2 {
		t.Fatalf("memory holds %d entries, want 2", n)
	}
	checkResult(t, classify(t, c, "alice", "GET", "/services/data/v60.0/query/A", "", ""), want{op: OpUnknown})
	checkResult(t, classify(t, c, "alice", "GET", "/services/data/v60.0/query/C", "", ""), want{op: OpQuery, object: "Contact", fields: []string{"Id"}})
}

func TestCompositeQueryLocatorContinuesTheSubRequest(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	res := classify(t, c, "alice", "POST", "/services/data/v60.0/composite", "", "@salesforce/composite_request.json")
	if len(res.Capture) != 1 || res.Capture[0] != "/compositeResponse/1/body/nextRecordsUrl" {
		t.Fatalf("capture = %q", res.Capture)
	}
	c.Observe("alice", res, 200, nil, map[string]string{res.Capture[0]: "/services/data/v60.0/query/01gX-2"})
	checkResult(t, classify(t, c, "alice", "GET", "/services/data/v60.0/query/01gX-2", "", ""),
		want{op: OpQuery, object: "Contact", fields: []string{"Id", "Email"}, mode: "next_page"})
}

func TestBulk2ResultsCarryTheJobObject(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	job := classify(t, c, "alice", "POST", "/services/data/v60.0/jobs/query", "", "@salesforce/bulk2_query_create_request.json")
	// Values the proxy captured from bulk2_query_job.json.
	c.Observe("alice", job, 200, nil, map[string]string{"/id": "750R0000000zlh9IAA", "/object": "Contact", "/operation": "query"})

	res := classify(t, c, "alice", "GET", "/services/data/v60.0/jobs/query/750R0000000zlh9IAA/results", "maxRecords=10000", "")
	checkResult(t, res, want{op: OpBulkResult, cat: CatExport, object: "Contact", fields: []string{"Id", "Name", "Email", "MobilePhone", "Account.Owner.Email"}, format: "csv", kind: "bulk_csv", recordID: "750R0000000zlh9IAA"})
	if res.Response.Object != "Contact" {
		t.Errorf("response object = %q", res.Response.Object)
	}
	// The next page's locator comes in the Sforce-Locator header.
	c.Observe("alice", res, 200, http.Header{"Sforce-Locator": {"MTAwMDA"}}, nil)
	checkResult(t, classify(t, c, "alice", "GET", "/services/data/v60.0/jobs/query/750R0000000zlh9IAA/results", "locator=MTAwMDA", ""),
		want{op: OpBulkResult, cat: CatExport, object: "Contact", fields: []string{"Id", "Name", "Email", "MobilePhone", "Account.Owner.Email"}})
	checkResult(t, classify(t, c, "alice", "GET", "/services/data/v60.0/jobs/query/750R0000000zlh9IAA/results", "locator=Zm9yZ2Vk", ""),
		want{op: OpUnknown})
	// Another subject does not inherit the job (no LookupJob configured).
	checkResult(t, classify(t, c, "bob", "GET", "/services/data/v60.0/jobs/query/750R0000000zlh9IAA/results", "", ""), want{op: OpUnknown})
}

// With AdoptUnboundJobs, a job never seen is asked of the CRM and bound
// to the first subject that asks.
func TestBulkResultsOfUnknownJobsAskTheUpstream(t *testing.T) {
	t.Parallel()
	calls := 0
	c := newTestClassifier(t, "salesforce", Options{AdoptUnboundJobs: true, LookupJob: func(ctx context.Context, kind, id string) (string, error) {
		calls++
		switch {
		case kind == "bulk2_query" && id == "750R0000000zlh9IAA":
			return "contact", nil
		case kind == "bulk2_ingest" && id == "750R0000000zlhAIAQ":
			return "Account", nil
		}
		return "", errors.New("no such job")
	}})
	checkResult(t, classify(t, c, "bob", "GET", "/services/data/v60.0/jobs/query/750R0000000zlh9IAA/results", "", ""),
		want{op: OpBulkResult, cat: CatExport, object: "Contact", allFields: true, format: "csv"})
	checkResult(t, classify(t, c, "bob", "GET", "/services/data/v60.0/jobs/query/750R0000000zlh9IAA/results", "", ""),
		want{op: OpBulkResult, object: "Contact", allFields: true})
	if calls != 1 {
		t.Errorf("LookupJob called %d times, want 1 (cached)", calls)
	}
	checkResult(t, classify(t, c, "bob", "GET", "/services/data/v60.0/jobs/ingest/750R0000000zlhAIAQ/failedResults/", "", ""),
		want{op: OpBulkResult, cat: CatExport, object: "Account", allFields: true, format: "csv"})
	checkResult(t, classify(t, c, "bob", "PUT", "/services/data/v60.0/jobs/ingest/750R0000000zlhAIAQ/batches", "", "@salesforce/bulk2_ingest_batch.csv"),
		want{op: OpBulkIngest, cat: CatBulk, object: "Account", fields: []string{"Id", "Email"}, allFields: true})
	checkResult(t, classify(t, c, "bob", "GET", "/services/data/v60.0/jobs/query/750R0000000zzzzIAA/results", "", ""), want{op: OpUnknown})
}

func TestBulk1JobFlow(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	job := classify(t, c, "alice", "POST", "/services/async/60.0/job", "", `{"operation":"query","object":"Contact","contentType":"CSV"}`)
	checkResult(t, job, want{op: OpBulkQuery, object: "Contact", allFields: true, format: "json"})
	c.Observe("alice", job, 201, nil, map[string]string{"/id": "750D000000001SRIAY", "/object": "Contact"})
	checkResult(t, classify(t, c, "alice", "POST", "/services/async/60.0/job/750D000000001SRIAY/batch", "", "SELECT Email FROM Contact"),
		want{op: OpBulkQuery, object: "Contact", fields: []string{"Email"}})
	// A batch whose SOQL names another object than the job is unknown.
	checkResult(t, classify(t, c, "alice", "POST", "/services/async/60.0/job/750D000000001SRIAY/batch", "", "SELECT Amount FROM Opportunity"),
		want{op: OpUnknown})
	checkResult(t, classify(t, c, "alice", "GET", "/services/async/60.0/job/750D000000001SRIAY/batch/751D000000005MBIA0/result/752D0000000001A", "", ""),
		want{op: OpBulkResult, cat: CatExport, object: "Contact", allFields: true, format: "csv"})
}

func TestZohoPageTokenAndBulkRead(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "zoho", Options{})
	list := classify(t, c, "alice", "GET", "/crm/v8/Contacts", "fields=Email", "")
	c.Observe("alice", list, 200, nil, map[string]string{"/info/next_page_token": "c8582e7f3a1b"})
	checkResult(t, classify(t, c, "alice", "GET", "/crm/v8/Contacts", "fields=Email&page_token=c8582e7f3a1b", ""),
		want{op: OpList, object: "Contacts", fields: []string{"Email"}, mode: "next_page"})
	checkResult(t, classify(t, c, "bob", "GET", "/crm/v8/Contacts", "fields=Email&page_token=c8582e7f3a1b", ""), want{op: OpUnknown})

	job := classify(t, c, "alice", "POST", "/crm/bulk/v8/read", "", "@zoho/bulk_read_create_request.json")
	c.Observe("alice", job, 201, nil, map[string]string{"/data/0/details/id": "554023000000568002"})
	res := classify(t, c, "alice", "GET", "/crm/bulk/v8/read/554023000000568002/result", "", "")
	checkResult(t, res, want{op: OpBulkResult, cat: CatExport, object: "Contacts", fields: []string{"Last_Name", "Email", "Mobile", "Owner"}, format: "zip_csv"})
	if res.Response.Object != "Contacts" {
		t.Errorf("response object = %q", res.Response.Object)
	}
}

func TestRejectionReasonsAreNamed(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	_, err := c.Classify(context.Background(), Request{Method: "GET", Path: "/services/data/v60.0/sobjects%252FContact"})
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "double-encoded") {
		t.Fatalf("err = %v", err)
	}
	_, err = c.Classify(context.Background(), Request{Method: "TRACE", Path: "/"})
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("TRACE: err = %v", err)
	}
}

func TestConcurrentClassifyAndObserve(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{MaxTokens: 50})
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				res, err := c.Classify(context.Background(), Request{Method: "GET", Path: "/services/data/v60.0/query", RawQuery: "q=SELECT+Id+FROM+Contact", Subject: "s"})
				if err != nil {
					t.Error(err)
					return
				}
				loc := "L" + string(rune('a'+i%26))
				c.Observe("s", res, 200, nil, map[string]string{"/nextRecordsUrl": "/services/data/v60.0/query/" + loc})
				if _, err := c.Classify(context.Background(), Request{Method: "GET", Path: "/services/data/v60.0/query/" + loc, Subject: "s"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}
