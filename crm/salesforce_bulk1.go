package crm

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"strings"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

// Salesforce Bulk API 1.0: /services/async/{version}/job... (see
// docs/classification.md, the Salesforce table and "Bulk job lifecycle"). A job is created with a jobInfo
// body in XML (what jsforce and the Data Loader send) or JSON; its id comes
// back in the jobInfo of the answer, in the same format, and is bound to
// the caller like a Bulk 2.0 job. Batches, their status and their results
// are then classified with the job's object and operation.

// bulk1Job is what a jobInfo body says.
type bulk1Job struct {
	Operation   string `json:"operation"`
	Object      string `json:"object"`
	ContentType string `json:"contentType"`
	State       string `json:"state"`
}

// captureBulk1Job are the members of a created job's jobInfo (XML child
// elements of jobInfo, or JSON members) the proxy captures for Observe.
var (
	captureBulk1Job     = []string{"/id", "/object", "/operation", "/contentType"}
	captureBulk1JobActs = []int{-1, -1, -1, -1}
)

// bulk1JobInfoNames are the jobInfo members that decide a classification;
// a body that repeats one, or spells one in another case, is refused.
var bulk1JobInfoNames = []string{"operation", "object", "contentType", "state"}

// parseBulk1JobInfo reads a jobInfo body, JSON or XML. It refuses (ok
// false) anything ambiguous: a repeated or case-folded look-alike member,
// nested elements, a root other than jobInfo, trailing content.
func parseBulk1JobInfo(body []byte) (j bulk1Job, isJSON, ok bool) {
	t := bytes.TrimSpace(body)
	if len(t) > 0 && t[0] == '{' {
		return j, true, strictObject(body, &j, bulk1JobInfoNames...)
	}
	// Hand-written over xml.Unmarshal: Unmarshal keeps the last of two
	// <object> elements and accepts any root, which a caller could use to
	// name one object to the gateway and another to the CRM.
	d := xml.NewDecoder(bytes.NewReader(body))
	seen := map[string]bool{}
	depth := 0
	root := false
	var name string
	var text []byte
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return j, false, root && depth == 0
		}
		if err != nil {
			return j, false, false
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && !root && tk.Name.Local == "jobInfo":
				root = true
			case depth == 2:
				name, text = tk.Name.Local, text[:0]
				for _, n := range bulk1JobInfoNames {
					if strings.EqualFold(name, n) && name != n {
						return j, false, false
					}
				}
				if seen[name] {
					return j, false, false
				}
				seen[name] = true
			default:
				return j, false, false
			}
		case xml.CharData:
			if depth == 2 {
				text = append(text, tk...)
			} else if len(bytes.TrimSpace(tk)) > 0 {
				return j, false, false
			}
		case xml.EndElement:
			if depth == 2 {
				switch name {
				case "operation":
					j.Operation = string(text)
				case "object":
					j.Object = string(text)
				case "contentType":
					j.ContentType = string(text)
				case "state":
					j.State = string(text)
				}
			}
			depth--
		case xml.Directive:
			return j, false, false
		}
	}
}

// sfBulk1 classifies /services/async/{ver}/job... (rest after the version).
func (c *Classifier) sfBulk1(ctx context.Context, in *input, rest []string, res *Result) {
	m := in.method
	if !strings.EqualFold(rest[0], "job") {
		return
	}
	switch len(rest) {
	case 1:
		if m != http.MethodPost {
			return
		}
		j, isJSON, ok := parseBulk1JobInfo(in.body)
		if !ok || !isObjectName(j.Object) || j.State != "" {
			return
		}
		a := Action{Object: canonSFObject(j.Object), Mode: j.Operation}
		switch j.Operation {
		case "query", "queryAll":
			a.Operation, a.Category, a.AllFields = OpBulkQuery, CatExport, true
			a.IncludeDeleted = j.Operation == "queryAll"
		case "insert", "update", "upsert", "delete", "hardDelete":
			a.Operation, a.Category = OpBulkIngest, CatBulk
		default:
			return
		}
		res.Action = a
		// XML is the content type of a job whose jobInfo names none; the
		// answer's contentType, when captured, is the one kept (observe.go).
		res.jobFormat = j.ContentType
		if res.jobFormat == "" {
			res.jobFormat = "XML"
		}
		res.Response = ResponseShape{Format: bodyshape.XML, Vendor: vendorSalesforce, Kind: bodyshape.Job}
		if isJSON {
			res.Response.Format = bodyshape.JSON
		}
		res.Capture, res.captureActions = captureBulk1Job, captureBulk1JobActs
	case 2:
		// Job status, close and abort (POST of a state).
		job := rest[1]
		mode := "status"
		if m == http.MethodPost {
			j, _, ok := parseBulk1JobInfo(in.body)
			switch {
			case !ok || j.Operation != "" || j.Object != "":
				return
			case j.State == "Aborted":
				mode = "abort"
			case j.State == "Closed":
				mode = "close"
			default:
				return
			}
		} else if !isRead(m) {
			return
		}
		a, _, ok := c.jobAction(ctx, in.subject, "bulk1", memJob1, job, res)
		if !ok {
			res.Action.RecordID = job
			return
		}
		res.Action = jobLifecycle(a, a.Operation == OpBulkQuery, job, mode)
		res.Response = ResponseShape{Format: bodyshape.NoBody, Vendor: vendorSalesforce, Kind: bodyshape.Job}
	default:
		c.sfBulk1Batch(ctx, in, rest, res)
	}
}

// sfBulk1Batch classifies job/{job}/batch[/{batch}[/result[/{result}]|/request]].
func (c *Classifier) sfBulk1Batch(ctx context.Context, in *input, rest []string, res *Result) {
	m := in.method
	job := rest[1]
	if !strings.EqualFold(rest[2], "batch") || len(rest) > 6 {
		return
	}
	ja, e, ok := c.jobAction(ctx, in.subject, "bulk1", memJob1, job, res)
	if !ok {
		res.Action.RecordID = job
		return
	}
	query := ja.Operation == OpBulkQuery
	info := ResponseShape{Format: bodyshape.NoBody, Vendor: vendorSalesforce, Kind: bodyshape.Job}
	switch {
	case len(rest) == 3 && m == http.MethodPost && query:
		// A query job's batch is SOQL on the job's object.
		a, ok := c.soqlAction(ctx, strings.TrimSpace(string(in.body)))
		if !ok || a.Object != ja.Object {
			return
		}
		a.Operation, a.Category, a.RecordID, a.Mode = OpBulkQuery, CatExport, job, "batch"
		a.IncludeDeleted = ja.IncludeDeleted
		res.Action = a
		res.Response = info
	case len(rest) == 3 && m == http.MethodPost:
		a := ja
		a.Operation, a.Category, a.RecordID, a.Mode = OpBulkIngest, CatBulk, job, "batch"
		a.Objects, a.FieldRoles, a.Aliases = nil, nil, nil
		a.AllFields = false
		if strings.EqualFold(e.format, "CSV") {
			a.Fields = csvHeader(in.body)
		} else {
			a.AllFields = true
		}
		res.Action = a
		res.Response = info
	case (len(rest) == 3 || len(rest) == 4) && isRead(m):
		res.Action = jobLifecycle(ja, query, job, "status")
		res.Response = info
	case len(rest) >= 5 && isRead(m):
		sub := rest[4]
		isResult, isRequest := strings.EqualFold(sub, "result"), strings.EqualFold(sub, "request")
		a := ja
		a.Operation, a.Category, a.RecordID, a.Mode = OpBulkResult, CatExport, job, "results"
		shape := bulk1ResultShape(e.format, a.Object)
		switch {
		case query && len(rest) == 6 && isResult:
			// A query batch's result file: the records.
		case query && len(rest) == 5 && (isResult || isRequest):
			// The result list of a query batch holds result ids; its
			// request is the SOQL text. Neither holds a record.
			if shape.Format != bodyshape.Unsupported {
				shape = info
			}
		case !query && len(rest) == 5 && (isResult || isRequest):
			// An ingest batch's results (ids, errors) or its uploaded
			// records, in the job's content type.
		default:
			return
		}
		res.Action = a
		res.Response = shape
	}
}

// bulk1ResultShape is the response shape of a Bulk 1.0 result or request
// body in the job's content type: CSV, JSON (an array of records) and XML
// (queryResult/records, results/result, sObjects/sObject) are masked and
// counted; ZIP and unknown content types are refused.
func bulk1ResultShape(format, object string) ResponseShape {
	s := ResponseShape{Format: bodyshape.Unsupported, Vendor: vendorSalesforce, Object: object, Kind: bodyshape.Unknown}
	switch strings.ToUpper(format) {
	case "CSV":
		s.Format, s.Kind = bodyshape.CSV, bodyshape.BulkCSV
	case "JSON":
		s.Format, s.Kind = bodyshape.JSON, bodyshape.Records
	case "XML":
		s.Format, s.Kind = bodyshape.XML, bodyshape.Records
	}
	return s
}
