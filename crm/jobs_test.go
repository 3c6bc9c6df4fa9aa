package crm

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Ways around job binding this file tests: polling, aborting, closing or
// deleting another subject's job (not found), naming a job the gateway
// never saw created (not found, the CRM is not even asked), another
// replica that did not see the job created (the shared store answers),
// a state change that is neither abort nor close (unknown), and a store
// that cannot answer (unknown, never allowed).

func TestBulk2QueryJobLifecycleIsBoundToItsOwner(t *testing.T) {
	t.Parallel()
	lookups := 0
	c := newTestClassifier(t, "salesforce", Options{LookupJob: func(context.Context, string, string) (string, error) {
		lookups++
		return "Contact", nil
	}})
	const v = "/services/data/v60.0/jobs/query/"
	const id = "750R0000000zlh9IAA"
	job := classify(t, c, "alice", "POST", "/services/data/v60.0/jobs/query", "", "@salesforce/bulk2_query_create_request.json")
	c.Observe("alice", job, 200, nil, map[string]string{"/id": id, "/object": "Contact", "/operation": "query"})

	steps := []struct {
		method, path, body string
		op                 Operation
		cat                Category
		mode               string
	}{
		{"GET", v + id, "", OpBulkQuery, CatExport, "status"},
		{"GET", v + id + "/results", "", OpBulkResult, CatExport, "results"},
		{"PATCH", v + id, `{"state":"Aborted"}`, OpBulkQuery, CatExport, "abort"},
		{"DELETE", v + id, "", OpBulkQuery, CatExport, "delete"},
	}
	for _, s := range steps {
		res := classify(t, c, "alice", s.method, s.path, "", s.body)
		checkResult(t, res, want{op: s.op, cat: s.cat, object: "Contact", recordID: id, mode: s.mode})
		if res.NotFound {
			t.Errorf("%s %s: owner's request not found", s.method, s.path)
		}
		if s.op != OpBulkResult && res.Response.Kind != "job" {
			t.Errorf("%s %s: response kind %q", s.method, s.path, res.Response.Kind)
		}
		other := classify(t, c, "bob", s.method, s.path, "", s.body)
		if !other.NotFound || other.Action.Object != "" || other.Action.Operation != OpUnknown {
			t.Errorf("%s %s by another subject: NotFound=%v action %+v, want not found", s.method, s.path, other.NotFound, other.Action)
		}
	}
	// A state the gateway does not know is not a lifecycle step.
	for _, body := range []string{`{"state":"Open"}`, `{"state":"Aborted","State":"Open"}`, `not json`, ``} {
		res := classify(t, c, "alice", "PATCH", v+id, "", body)
		if res.Action.Operation != OpUnknown || res.NotFound {
			t.Errorf("PATCH %q: %+v NotFound=%v, want unknown", body, res.Action, res.NotFound)
		}
	}
	// A job never created through the gateway: not found, and the CRM is
	// not asked (LookupJob is configured but adoption is off).
	for _, p := range []string{v + "750R0000000zzzzIAA", v + "750R0000000zzzzIAA/results"} {
		if res := classify(t, c, "alice", "GET", p, "", ""); !res.NotFound || res.Action.Operation != OpUnknown {
			t.Errorf("GET %s: %+v NotFound=%v, want not found", p, res.Action, res.NotFound)
		}
	}
	if lookups != 0 {
		t.Errorf("LookupJob called %d times", lookups)
	}
}

func TestBulk2IngestJobLifecycle(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	const v = "/services/data/v60.0/jobs/ingest/"
	const id = "750R0000000zlhAIAQ"
	job := classify(t, c, "alice", "POST", "/services/data/v60.0/jobs/ingest", "", "@salesforce/bulk2_ingest_create_request.json")
	c.Observe("alice", job, 200, nil, map[string]string{"/id": id, "/object": "Account", "/operation": "insert"})
	for _, s := range []struct{ method, body, mode string }{
		{"GET", "", "status"}, {"PATCH", `{"state":"UploadComplete"}`, "close"}, {"PATCH", `{"state":"Aborted"}`, "abort"}, {"DELETE", "", "delete"},
	} {
		checkResult(t, classify(t, c, "alice", s.method, v+id, "", s.body), want{op: OpBulkIngest, cat: CatBulk, object: "Account", recordID: id, mode: s.mode})
		if res := classify(t, c, "bob", s.method, v+id, "", s.body); !res.NotFound {
			t.Errorf("%s by another subject: %+v, want not found", s.method, res.Action)
		}
	}
	if res := classify(t, c, "bob", "PUT", v+id+"/batches", "", "@salesforce/bulk2_ingest_batch.csv"); !res.NotFound {
		t.Errorf("upload into another subject's job: %+v, want not found", res.Action)
	}
}

func TestJobBindingIsSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	store := NewMemoryJobStore(100, time.Hour, nil)
	a := newTestClassifier(t, "salesforce", Options{Jobs: store})
	b := newTestClassifier(t, "salesforce", Options{Jobs: store})
	job := classify(t, a, "alice", "POST", "/services/data/v60.0/jobs/query", "", "@salesforce/bulk2_query_create_request.json")
	a.Observe("alice", job, 200, nil, map[string]string{"/id": "750R0000000zlh9IAA", "/object": "Contact"})
	checkResult(t, classify(t, b, "alice", "GET", "/services/data/v60.0/jobs/query/750R0000000zlh9IAA/results", "", ""),
		want{op: OpBulkResult, cat: CatExport, object: "Contact", mode: "results", format: "csv", allFields: true})
	if res := classify(t, b, "bob", "GET", "/services/data/v60.0/jobs/query/750R0000000zlh9IAA/results", "", ""); !res.NotFound {
		t.Errorf("another subject on another replica: %+v, want not found", res.Action)
	}
	// A failed creation binds nothing.
	a.Observe("alice", job, 400, nil, map[string]string{"/id": "750R0000000zlhBIAQ", "/object": "Contact"})
	if res := classify(t, b, "alice", "GET", "/services/data/v60.0/jobs/query/750R0000000zlhBIAQ", "", ""); !res.NotFound {
		t.Errorf("job of a failed creation: %+v, want not found", res.Action)
	}
}

type failingJobStore struct{}

func (failingJobStore) Bind(context.Context, string, string, JobBinding) error {
	return errors.New("down")
}
func (failingJobStore) Lookup(context.Context, string, string) (JobBinding, bool, error) {
	return JobBinding{}, false, errors.New("down")
}

func TestJobStoreDownIsUnknown(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{Jobs: failingJobStore{}})
	res := classify(t, c, "alice", "GET", "/services/data/v60.0/jobs/query/750R0000000zlh9IAA", "", "")
	if res.Action.Operation != OpUnknown || res.NotFound {
		t.Errorf("store down: %+v NotFound=%v, want unknown", res.Action, res.NotFound)
	}
}

func TestBulk1JobLifecycle(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	const p = "/services/async/60.0/job/750D000000001SRIAY"
	job := classify(t, c, "alice", "POST", "/services/async/60.0/job", "", `{"operation":"query","object":"Contact","contentType":"CSV"}`)
	c.Observe("alice", job, 201, nil, map[string]string{"/id": "750D000000001SRIAY", "/object": "Contact"})
	checkResult(t, classify(t, c, "alice", "GET", p, "", ""), want{op: OpBulkQuery, object: "Contact", mode: "status", allFields: true})
	checkResult(t, classify(t, c, "alice", "POST", p, "", `<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload"><state>Closed</state></jobInfo>`),
		want{op: OpBulkQuery, object: "Contact", mode: "close", allFields: true})
	checkResult(t, classify(t, c, "alice", "POST", p, "", `{"state":"Aborted"}`), want{op: OpBulkQuery, object: "Contact", mode: "abort", allFields: true})
	checkResult(t, classify(t, c, "alice", "GET", p+"/batch/751D000000005MBIA0", "", ""), want{op: OpBulkQuery, object: "Contact", mode: "status", allFields: true})
	for _, r := range []struct{ method, path, body string }{
		{"GET", p, ""}, {"POST", p, `{"state":"Aborted"}`}, {"GET", p + "/batch", ""},
		{"POST", p + "/batch", "SELECT Id FROM Contact"}, {"GET", p + "/batch/751D000000005MBIA0/result/752D0000000001A", ""},
	} {
		if res := classify(t, c, "bob", r.method, r.path, "", r.body); !res.NotFound {
			t.Errorf("%s %s by another subject: %+v, want not found", r.method, r.path, res.Action)
		}
	}
}

func TestZohoBulkJobLifecycle(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "zoho", Options{})
	read := classify(t, c, "alice", "POST", "/crm/bulk/v8/read", "", "@zoho/bulk_read_create_request.json")
	c.Observe("alice", read, 201, nil, map[string]string{"/data/0/details/id": "554023000000568002"})
	checkResult(t, classify(t, c, "alice", "GET", "/crm/bulk/v8/read/554023000000568002", "", ""),
		want{op: OpBulkQuery, cat: CatExport, object: "Contacts", mode: "status"})
	checkResult(t, classify(t, c, "alice", "GET", "/crm/bulk/v8/read/554023000000568002/result", "", ""),
		want{op: OpBulkResult, cat: CatExport, object: "Contacts", mode: "results", format: "zip_csv"})
	for _, p := range []string{"/crm/bulk/v8/read/554023000000568002", "/crm/bulk/v8/read/554023000000568002/result"} {
		if res := classify(t, c, "bob", "GET", p, "", ""); !res.NotFound {
			t.Errorf("GET %s by another subject: %+v, want not found", p, res.Action)
		}
	}
	write := classify(t, c, "alice", "POST", "/crm/bulk/v8/write", "", "@zoho/bulk_write_request.json")
	c.Observe("alice", write, 201, nil, map[string]string{"/details/id": "554023000000569001"})
	checkResult(t, classify(t, c, "alice", "GET", "/crm/bulk/v8/write/554023000000569001", "", ""), want{op: OpBulkIngest, cat: CatBulk, mode: "status"})
	if res := classify(t, c, "bob", "GET", "/crm/bulk/v8/write/554023000000569001", "", ""); !res.NotFound {
		t.Errorf("write job of another subject: %+v, want not found", res.Action)
	}
}

func TestAdoptedJobBelongsToItsFirstAsker(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{AdoptUnboundJobs: true, LookupJob: func(context.Context, string, string) (string, error) { return "Contact", nil }})
	checkResult(t, classify(t, c, "bob", "GET", "/services/data/v60.0/jobs/query/750R0000000zlh9IAA", "", ""), want{op: OpBulkQuery, object: "Contact", mode: "status", allFields: true})
	if res := classify(t, c, "alice", "GET", "/services/data/v60.0/jobs/query/750R0000000zlh9IAA", "", ""); !res.NotFound {
		t.Errorf("a job adopted by bob, asked by alice: %+v, want not found", res.Action)
	}
}
