package crm

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

// Observe is called by the proxy after the response finished, with the
// values it captured at the JSON pointers of res.Capture and the response
// headers. It remembers, bound to subject: Salesforce query locators
// (nextRecordsUrl), bulk job ids and their objects, Bulk 2.0 result
// locators (Sforce-Locator), Zoho page tokens and bulk read job ids. Only
// successful (2xx) responses are remembered.
func (c *Classifier) Observe(subject string, res Result, status int, header http.Header, captured map[string]string) {
	if status < 200 || status > 299 {
		return
	}
	a := res.Action
	// Bulk 2.0 result pages: the next locator is a header.
	if a.Operation == OpBulkResult && res.Response.Format == bodyshape.CSV && res.Response.Vendor == vendorSalesforce {
		if loc := header.Get("Sforce-Locator"); loc != "" && loc != "null" {
			c.mem.put(memSfLocator, subject, a.RecordID+"|"+loc, memEntry{})
		}
	}
	// Bulk job creation: id -> object (as the upstream states it).
	if id := captured["/id"]; id != "" && (a.Operation == OpBulkQuery || a.Operation == OpBulkIngest) {
		kind := memJob2Ingest
		switch {
		case strings.Contains(strings.ToLower(res.DecodedPath), "/services/async/"):
			kind = memJob1
		case a.Operation == OpBulkQuery:
			kind = memJob2Query
		}
		job := a
		if obj := captured["/object"]; obj != "" && isObjectName(obj) {
			job.Object = canonSFObject(obj)
		}
		job.RecordID = id
		format := jobFormat(res, captured)
		c.mem.put(kind, subject, id, memEntry{action: job, format: format})
		c.bindJob(subject, jobKinds[kind], id, job, format)
	}
	for i, p := range res.Capture {
		v := captured[p]
		if v == "" || v == "null" || i >= len(res.captureActions) {
			continue
		}
		act := a
		if j := res.captureActions[i]; j >= 0 && j < len(res.Subrequests) {
			act = res.Subrequests[j]
		}
		switch {
		case strings.HasSuffix(p, "/nextRecordsUrl"):
			loc := v[strings.LastIndexByte(v, '/')+1:]
			c.mem.put(memLocator, subject, locatorCursor(loc), memEntry{action: act})
		case strings.HasSuffix(p, "/next_page_token"):
			c.mem.put(memZohoPage, subject, v, memEntry{action: act})
		case p == captureZohoBulkRead[0] && act.Operation == OpBulkQuery:
			act.RecordID = v
			c.mem.put(memZohoBulk, subject, v, memEntry{action: act})
			c.bindJob(subject, "zoho_bulk_read", v, act, "")
		case p == captureZohoBulkWrite[0] && act.Operation == OpBulkIngest:
			act.RecordID = v
			c.mem.put(memZohoWrite, subject, v, memEntry{action: act})
			c.bindJob(subject, "zoho_bulk_write", v, act, "")
		}
	}
}

// jobKinds names the memory kinds of jobs as JobStore kinds.
var jobKinds = map[string]string{memJob2Query: "bulk2_query", memJob2Ingest: "bulk2_ingest", memJob1: "bulk1"}

// bindJob binds a job the subject created in the job store, so that every
// replica answers its later requests for the subject alone. A store that
// fails leaves the job unbound: its owner then gets not found, nobody else
// gains it.
func (c *Classifier) bindJob(subject, kind, id string, a Action, format string) {
	if kind == "" || id == "" || !isObjectName(id) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.jobs.Bind(ctx, kind, id, JobBinding{Owner: subject, Object: a.Object, Operation: a.Operation,
		Mode: a.Mode, Format: format, IncludeDeleted: a.IncludeDeleted})
}

// jobFormat is the content type of a Bulk 1.0 job: as the CRM's answer
// states it, else as the request asked for it.
func jobFormat(res Result, captured map[string]string) string {
	if ct := captured["/contentType"]; res.jobFormat != "" && ct != "" {
		return ct
	}
	return res.jobFormat
}
