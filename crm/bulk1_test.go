package crm

import (
	"slices"
	"testing"
)

// TestBulk1XMLJobIsBound follows jsforce's Bulk 1.0 query: an XML jobInfo,
// the id captured from the XML answer, a SOQL batch, the result list, the
// result download in the job's content type; another subject gets not
// found at every step.
func TestBulk1XMLJobIsBound(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	const p = "/services/async/60.0/job"
	job := classify(t, c, "alice", "POST", p, "", "@salesforce/bulk1_job_create.xml")
	checkResult(t, job, want{op: OpBulkQuery, cat: CatExport, object: "Contact", allFields: true, format: "xml", kind: "job", mode: "query"})
	if !slices.Equal(job.Capture, []string{"/id", "/object", "/operation", "/contentType"}) {
		t.Fatalf("capture %q", job.Capture)
	}
	c.Observe("alice", job, 201, nil, map[string]string{"/id": "750D000000001SRIAY", "/object": "Contact", "/contentType": "XML"})
	j := p + "/750D000000001SRIAY"
	checkResult(t, classify(t, c, "alice", "POST", j+"/batch", "", "SELECT Id, Email FROM Contact"),
		want{op: OpBulkQuery, object: "Contact", fields: []string{"Id", "Email"}, mode: "batch", format: "none"})
	checkResult(t, classify(t, c, "alice", "GET", j+"/batch/751D000000005MBIA0", "", ""),
		want{op: OpBulkQuery, object: "Contact", allFields: true, mode: "status", format: "none"})
	checkResult(t, classify(t, c, "alice", "GET", j+"/batch/751D000000005MBIA0/result", "", ""),
		want{op: OpBulkResult, cat: CatExport, object: "Contact", allFields: true, mode: "results", format: "none"})
	// The answer said XML although the request asked for CSV: the answer wins.
	res := classify(t, c, "alice", "GET", j+"/batch/751D000000005MBIA0/result/752D0000000001A", "", "")
	checkResult(t, res, want{op: OpBulkResult, cat: CatExport, object: "Contact", allFields: true, mode: "results", format: "xml", kind: "records", recordID: "750D000000001SRIAY"})
	if res.Response.Object != "Contact" {
		t.Errorf("result object %q", res.Response.Object)
	}
	checkResult(t, classify(t, c, "alice", "POST", j, "", `<?xml version="1.0"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload"><state>Closed</state></jobInfo>`),
		want{op: OpBulkQuery, object: "Contact", allFields: true, mode: "close"})
	for _, r := range []struct{ method, path, body string }{
		{"GET", j, ""}, {"POST", j + "/batch", "SELECT Id FROM Contact"},
		{"GET", j + "/batch/751D000000005MBIA0/result", ""},
		{"GET", j + "/batch/751D000000005MBIA0/result/752D0000000001A", ""},
	} {
		if res := classify(t, c, "bob", r.method, r.path, "", r.body); !res.NotFound || res.Action.Operation != OpUnknown {
			t.Errorf("%s %s by another subject: %+v, want not found", r.method, r.path, res.Action)
		}
	}
}

func TestBulk1ResultFormats(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	for i, tc := range []struct {
		body, ct, format, kind string
	}{
		{`{"operation":"query","object":"Contact","contentType":"JSON"}`, "", "json", "records"},
		{`<jobInfo><operation>query</operation><object>Contact</object><contentType>CSV</contentType></jobInfo>`, "", "csv", "bulk_csv"},
		{`<jobInfo><operation>query</operation><object>Contact</object></jobInfo>`, "", "xml", "records"}, // XML by default
		{`<jobInfo><operation>query</operation><object>Contact</object><contentType>ZIP_XML</contentType></jobInfo>`, "", "unsupported", "unknown"},
		{`<jobInfo><operation>query</operation><object>Contact</object><contentType>CSV</contentType></jobInfo>`, "PARQUET", "unsupported", "unknown"},
	} {
		id := "750D00000000" + string(rune('A'+i)) + "SRIAY"
		job := classify(t, c, "alice", "POST", "/services/async/60.0/job", "", tc.body)
		if job.Action.Operation != OpBulkQuery {
			t.Fatalf("%s: %+v", tc.body, job.Action)
		}
		c.Observe("alice", job, 201, nil, map[string]string{"/id": id, "/object": "Contact", "/contentType": tc.ct})
		res := classify(t, c, "alice", "GET", "/services/async/60.0/job/"+id+"/batch/751D000000005MBIA0/result/752D0000000001A", "", "")
		if string(res.Response.Format) != tc.format || string(res.Response.Kind) != tc.kind || res.Action.Operation != OpBulkResult {
			t.Errorf("%s (answer %q): result shape %+v, want %s/%s", tc.body, tc.ct, res.Response, tc.format, tc.kind)
		}
	}
}

// A jobInfo that could be read two ways is not classified.
func TestBulk1AmbiguousJobInfoIsUnknown(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	for _, body := range []string{
		`<jobInfo><operation>query</operation><object>Contact</object><object>Account</object></jobInfo>`,
		`<jobInfo><operation>query</operation><object>Contact</object><Object>Account</Object></jobInfo>`,
		`<batchInfo><operation>query</operation><object>Contact</object></batchInfo>`,
		`<jobInfo><operation>query</operation><object><x>Contact</x></object></jobInfo>`,
		`<jobInfo><operation>query</operation><object>Contact</object></jobInfo><jobInfo><object>Account</object></jobInfo>`,
		`<jobInfo><operation>query</operation><object>Contact</object>`,
		`<jobInfo><operation>export</operation><object>Contact</object></jobInfo>`,
		`<jobInfo><operation>query</operation><object>Contact</object><state>Closed</state></jobInfo>`,
		`{"operation":"query","object":"Contact","Object":"Account"}`,
		`<!DOCTYPE jobInfo [<!ENTITY o "Account">]><jobInfo><operation>query</operation><object>&o;</object></jobInfo>`,
	} {
		res := classify(t, c, "alice", "POST", "/services/async/60.0/job", "", body)
		checkResult(t, res, want{op: OpUnknown})
	}
	// A state change that is neither Closed nor Aborted, or names an object.
	job := classify(t, c, "alice", "POST", "/services/async/60.0/job", "", `{"operation":"query","object":"Contact","contentType":"CSV"}`)
	c.Observe("alice", job, 201, nil, map[string]string{"/id": "750D000000009SRIAY"})
	for _, body := range []string{
		`<jobInfo><state>Open</state></jobInfo>`,
		`<jobInfo><state>Closed</state><state>Aborted</state></jobInfo>`,
		`<jobInfo><state>Closed</state><object>Account</object></jobInfo>`,
	} {
		checkResult(t, classify(t, c, "alice", "POST", "/services/async/60.0/job/750D000000009SRIAY", "", body), want{op: OpUnknown})
	}
}
