// Salesforce Bulk API 2.0 (/jobs/ingest, /jobs/query); Bulk API 1.0
// (/services/async) is in salesforce_bulk1.go.

package crm

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

// sfJobs classifies /services/data/{ver}/jobs/ingest... and jobs/query...
// (rest after "jobs").
func (c *Classifier) sfJobs(ctx context.Context, in *input, rest []string, res *Result) {
	m := in.method
	if len(rest) == 0 {
		return
	}
	query := strings.EqualFold(rest[0], "query")
	if !query && !strings.EqualFold(rest[0], "ingest") {
		return
	}
	kind, memKind := "bulk2_ingest", memJob2Ingest
	if query {
		kind, memKind = "bulk2_query", memJob2Query
	}
	switch len(rest) {
	case 1:
		switch {
		case isRead(m):
			res.Action = metaAction("", "")
			res.Response = sfJob
		case m == http.MethodPost && query:
			var body struct {
				Operation string `json:"operation"`
				Query     string `json:"query"`
			}
			if !strictObject(in.body, &body, "operation", "query", "contentType", "columnDelimiter", "lineEnding") {
				return
			}
			if body.Operation != "query" && body.Operation != "queryAll" {
				return
			}
			a, ok := c.soqlAction(ctx, body.Query)
			if !ok {
				return
			}
			a.Operation, a.Category = OpBulkQuery, CatExport
			if body.Operation == "queryAll" {
				a.IncludeDeleted, a.Mode = true, "queryAll"
			}
			res.Action = a
			res.Response = sfJob
			res.Capture, res.captureActions = captureJob, captureJobActs
		case m == http.MethodPost:
			var body struct {
				Object    string `json:"object"`
				Operation string `json:"operation"`
				ExtID     string `json:"externalIdFieldName"`
			}
			if !strictObject(in.body, &body, "object", "operation", "externalIdFieldName", "contentType", "columnDelimiter", "lineEnding", "assignmentRuleId") || !isObjectName(body.Object) {
				return
			}
			switch body.Operation {
			case "insert", "update", "upsert", "delete", "hardDelete":
			default:
				return
			}
			res.Action = Action{Operation: OpBulkIngest, Category: CatBulk, Object: canonSFObject(body.Object), Mode: body.Operation}
			if body.ExtID != "" {
				res.Action.Fields = []string{body.ExtID}
			}
			res.Response = sfJob
			res.Capture, res.captureActions = captureJob, captureJobActs
		}
	case 2:
		// Job status, abort, close (ingest: upload complete) and delete.
		job := rest[1]
		mode := ""
		switch {
		case isRead(m):
			mode = "status"
		case m == http.MethodDelete:
			mode = "delete"
		case m == http.MethodPatch:
			mode = jobStateMode(in.body)
			if mode == "" || (query && mode == "close") {
				return
			}
		default:
			return
		}
		a, _, ok := c.jobAction(ctx, in.subject, kind, memKind, job, res)
		if !ok {
			res.Action.RecordID = job
			return
		}
		res.Action = jobLifecycle(a, query, job, mode)
		res.Response = sfJob
	case 3:
		job, sub := rest[1], rest[2]
		switch {
		case query && isRead(m) && strings.EqualFold(sub, "results"):
			a, _, ok := c.jobAction(ctx, in.subject, kind, memKind, job, res)
			if !ok {
				res.Action.RecordID = job
				return
			}
			// A result page (locator) must have been handed to this subject.
			if loc, n, ok := queryParam(in.rawQuery, "locator"); !ok || n > 1 || (n == 1 && loc != "" && !c.seenLocator(in.subject, job, loc)) {
				return
			}
			a.Operation, a.Category, a.RecordID, a.Mode = OpBulkResult, CatExport, job, "results"
			res.Action = a
			res.Response = ResponseShape{Format: bodyshape.CSV, Vendor: vendorSalesforce, Object: a.Object, Kind: bodyshape.BulkCSV}
		case query && isRead(m) && strings.EqualFold(sub, "resultPages"):
			a, _, ok := c.jobAction(ctx, in.subject, kind, memKind, job, res)
			if !ok {
				res.Action.RecordID = job
				return
			}
			a.Operation, a.Category, a.RecordID, a.Mode = OpBulkResult, CatExport, job, "results"
			res.Action = a
			res.Response = sfJob
		case !query && m == http.MethodPut && strings.EqualFold(sub, "batches"):
			a, _, ok := c.jobAction(ctx, in.subject, kind, memKind, job, res)
			if !ok {
				res.Action.RecordID = job
				return
			}
			a.Operation, a.Category, a.RecordID = OpBulkIngest, CatBulk, job
			a.Fields = csvHeader(in.body)
			res.Action = a
			res.Response = sfResult
		case !query && isRead(m) && (strings.EqualFold(sub, "successfulResults") || strings.EqualFold(sub, "failedResults") || strings.EqualFold(sub, "unprocessedrecords")):
			a, _, ok := c.jobAction(ctx, in.subject, kind, memKind, job, res)
			if !ok {
				res.Action.RecordID = job
				return
			}
			a.Operation, a.Category, a.RecordID, a.Mode = OpBulkResult, CatExport, job, "results"
			res.Action = a
			res.Response = ResponseShape{Format: bodyshape.CSV, Vendor: vendorSalesforce, Object: a.Object, Kind: bodyshape.BulkCSV}
		}
	}
}

// jobStateMode reads a job state change body ({"state": "Aborted"} /
// "UploadComplete" / "Closed", JSON or Bulk 1.0 XML): "abort", "close" or
// "" when it is anything else.
func jobStateMode(body []byte) string {
	var j struct {
		State string `json:"state" xml:"state"`
	}
	t := strings.TrimSpace(string(body))
	if strings.HasPrefix(t, "{") {
		if !strictObject(body, &j, "state") {
			return ""
		}
	} else if xml.Unmarshal(body, &j) != nil {
		return ""
	}
	switch j.State {
	case "Aborted":
		return "abort"
	case "UploadComplete", "Closed":
		return "close"
	}
	return ""
}

// jobLifecycle is the action of a request on an existing job: the job's
// object and operation, the lifecycle step in Mode.
func jobLifecycle(a Action, query bool, job, mode string) Action {
	a.Operation, a.Category = OpBulkIngest, CatBulk
	if query {
		a.Operation, a.Category = OpBulkQuery, CatExport
	}
	a.RecordID, a.Mode = job, mode
	return a
}

// jobAction returns the action of a job bound to subject: remembered by
// this replica, or bound in the job store by any replica. A job bound to
// another subject, or never bound through the gateway, sets res.NotFound
// (the proxy answers the CRM's not found) and returns false; so does a
// store that cannot answer, without NotFound (the request is then
// unknown). Only with Options.AdoptUnboundJobs is a job never bound asked
// of the CRM (LookupJob) and taken as the asking subject's.
func (c *Classifier) jobAction(ctx context.Context, subject, kind, memKind, job string, res *Result) (Action, memEntry, bool) {
	if e, ok := c.mem.get(memKind, subject, job); ok {
		return e.action, e, true
	}
	if job == "" || !isObjectName(job) {
		res.NotFound = true
		return Action{}, memEntry{}, false
	}
	b, ok, err := c.jobs.Lookup(ctx, kind, job)
	if err != nil {
		return Action{}, memEntry{}, false
	}
	if ok {
		if b.Owner != subject {
			res.NotFound = true
			return Action{}, memEntry{}, false
		}
		a := Action{Object: b.Object, AllFields: true, Operation: b.Operation, IncludeDeleted: b.IncludeDeleted, Mode: b.Mode}
		e := memEntry{action: a, format: b.Format}
		c.mem.put(memKind, subject, job, e)
		return a, e, true
	}
	if !c.opts.AdoptUnboundJobs || c.opts.LookupJob == nil {
		res.NotFound = true
		return Action{}, memEntry{}, false
	}
	obj, err := c.opts.LookupJob(ctx, kind, job)
	if err != nil || !isObjectName(obj) {
		return Action{}, memEntry{}, false
	}
	if c.vendor == vendorSalesforce {
		obj = canonSFObject(obj)
	} else {
		obj = canonZohoModule(obj)
	}
	a := Action{Object: obj, AllFields: true}
	if c.jobs.Bind(ctx, kind, job, JobBinding{Owner: subject, Object: obj}) != nil {
		return Action{}, memEntry{}, false
	}
	e := memEntry{action: a}
	c.mem.put(memKind, subject, job, e)
	return a, e, true
}

func (c *Classifier) seenLocator(subject, job, loc string) bool {
	_, ok := c.mem.get(memSfLocator, subject, job+"|"+loc)
	return ok
}

// csvHeader returns the column names of a CSV body's first line.
func csvHeader(body []byte) []string {
	line := string(body)
	if i := strings.IndexAny(line, "\r\n"); i >= 0 {
		line = line[:i]
	}
	var out []string
	for f := range strings.SplitSeq(line, ",") {
		f = strings.Trim(strings.TrimSpace(f), `"`)
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}
