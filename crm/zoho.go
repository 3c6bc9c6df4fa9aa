package crm

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

var (
	zohoResult   = ResponseShape{Format: bodyshape.JSON, Vendor: vendorZoho, Kind: bodyshape.Result}
	zohoMetadata = ResponseShape{Format: bodyshape.JSON, Vendor: vendorZoho, Kind: bodyshape.Metadata}
	zohoUnknown  = ResponseShape{Format: bodyshape.JSON, Vendor: vendorZoho, Kind: bodyshape.Unknown}
	zohoJob      = ResponseShape{Format: bodyshape.JSON, Vendor: vendorZoho, Kind: bodyshape.Job}

	captureZohoPage      = []string{"/info/next_page_token"}
	captureZohoBulkRead  = []string{"/data/0/details/id"}
	captureZohoBulkWrite = []string{"/details/id"}
)

func zohoRecords(module string) ResponseShape {
	return ResponseShape{Format: bodyshape.JSON, Vendor: vendorZoho, Object: module, Kind: bodyshape.Records}
}

// classifyZoho classifies a normalised Zoho CRM request.
func (c *Classifier) classifyZoho(ctx context.Context, in *input, res *Result) error {
	var buf [16]string
	segs := splitSegments(in.path, buf[:0])
	res.Action = unknownAction
	res.Response = zohoUnknown
	if len(segs) < 2 || !strings.EqualFold(segs[0], "crm") {
		if len(segs) >= 1 && (strings.EqualFold(segs[0], "oauth") || (len(segs) >= 2 && strings.EqualFold(segs[1], "oauth"))) {
			return reject("the CRM's OAuth endpoints are not proxied")
		}
		return nil
	}
	switch {
	case len(segs) == 2 && strings.EqualFold(segs[1], "graphql"):
		if in.method == http.MethodPost {
			c.zohoGraphQL(in, res)
		}
	case isZohoVersion(segs[1]):
		c.zohoREST(ctx, in, segs[2:], res)
	case len(segs) < 3:
	case strings.EqualFold(segs[1], "bulk") && len(segs) >= 4 && isZohoVersion(segs[2]):
		c.zohoBulk(ctx, in, segs[3:], res)
	}
	// Everything else: unknown.
	return nil
}

// isZohoVersion matches v2 ... v8 (and v2.1).
func isZohoVersion(s string) bool {
	return len(s) >= 2 && (s[0] == 'v' || s[0] == 'V') && isVersionNumber(s[1:])
}

func (c *Classifier) zohoREST(ctx context.Context, in *input, rest []string, res *Result) {
	m := in.method
	head := rest[0]
	switch {
	case strings.EqualFold(head, "coql"):
		if len(rest) != 1 || m != http.MethodPost {
			return
		}
		var body struct {
			SelectQuery string `json:"select_query"`
		}
		if !strictObject(in.body, &body, "select_query") {
			return
		}
		sq, err := parseSOQL(body.SelectQuery)
		if err != nil || len(sq.Subqueries) > 0 {
			return
		}
		mod := canonZohoModule(sq.Object)
		a := Action{Operation: OpQuery, Category: CatRead, Object: mod, Fields: sq.Fields, AllFields: sq.AllFields, Aggregate: sq.Aggregate, Query: body.SelectQuery}
		if !c.soqlPlanAction(ctx, body.SelectQuery, &a, true) {
			return
		}
		res.Action = a
		res.Response = zohoRecords(mod)
		return
	case strings.EqualFold(head, "settings"), strings.EqualFold(head, "org"):
		if isRead(m) {
			res.Action = metaAction("", "")
			res.Response = zohoMetadata
		}
		return
	case strings.EqualFold(head, "users"):
		// Users carry personal data: a read of "users", not metadata.
		if !isRead(m) || len(rest) > 2 {
			return
		}
		a := Action{Operation: OpList, Category: CatRead, Object: "users", AllFields: true}
		if len(rest) == 2 {
			a.Operation, a.RecordID = OpRead, rest[1]
		}
		res.Action = a
		res.Response = ResponseShape{Format: bodyshape.JSON, Vendor: vendorZoho, Object: "users", Kind: bodyshape.Users}
		return
	case strings.EqualFold(head, "__composite_requests"):
		if len(rest) == 1 && m == http.MethodPost && !in.sub {
			c.zohoComposite(ctx, in, res)
		}
		return
	case strings.EqualFold(head, "upload"):
		if len(rest) == 1 && m == http.MethodPost {
			// The uploaded file's module is named only by the bulk write
			// job that uses it.
			res.Action = Action{Operation: OpBulkIngest, Category: CatBulk, Mode: "upload"}
			res.Response = zohoResult
		}
		return
	case strings.HasPrefix(head, "__"), strings.EqualFold(head, "actions"), strings.EqualFold(head, "files"),
		strings.EqualFold(head, "functions"), strings.EqualFold(head, "notifications"), !isObjectName(head):
		return
	}
	mod := canonZohoModule(head)
	switch len(rest) {
	case 1:
		switch m {
		case http.MethodGet, http.MethodHead:
			a := Action{Operation: OpList, Category: CatRead, Object: mod}
			if !zohoFields(in.rawQuery, &a) || !c.zohoSortPlan(in.rawQuery, &a) {
				return
			}
			if tok, n, ok := queryParam(in.rawQuery, "page_token"); !ok || n > 1 {
				return
			} else if n == 1 {
				// A page token must have been handed to this subject.
				if _, seen := c.mem.get(memZohoPage, in.subject, tok); !seen {
					return
				}
				a.Mode = "next_page"
			}
			res.Action = a
			res.Response = zohoRecords(mod)
			res.Capture, res.captureActions = captureZohoPage, captureSelf
		case http.MethodPost:
			zohoWrite(in, OpCreate, mod, "", res)
		case http.MethodPut:
			zohoWrite(in, OpUpdate, mod, "", res)
		case http.MethodDelete:
			ids, n, ok := queryParam(in.rawQuery, "ids")
			if !ok || n != 1 || ids == "" {
				return
			}
			cat := CatWrite
			if strings.Contains(ids, ",") {
				cat = CatBulk
			}
			res.Action = Action{Operation: OpDelete, Category: cat, Object: mod, RecordID: ids}
			res.Response = zohoResult
		}
	case 2:
		x := rest[1]
		switch {
		case strings.EqualFold(x, "search"):
			if !isRead(m) {
				return
			}
			a := Action{Operation: OpSearch, Category: CatRead, Object: mod}
			if !zohoFields(in.rawQuery, &a) || !c.zohoSearchPlan(in.rawQuery, &a) || !c.zohoSortPlan(in.rawQuery, &a) {
				return
			}
			res.Action = a
			res.Response = zohoRecords(mod)
		case strings.EqualFold(x, "upsert"):
			if m == http.MethodPost {
				zohoWrite(in, OpUpsert, mod, "", res)
			}
		case strings.EqualFold(x, "deleted"):
			if isRead(m) {
				res.Action = Action{Operation: OpList, Category: CatRead, Object: mod, Fields: []string{"id"}}
				res.Response = zohoRecords(mod)
			}
		case strings.EqualFold(x, "actions"):
			// mass actions, count, convert...: unknown.
		default:
			switch m {
			case http.MethodGet, http.MethodHead:
				a := Action{Operation: OpRead, Category: CatRead, Object: mod, RecordID: x}
				if !zohoFields(in.rawQuery, &a) {
					return
				}
				res.Action = a
				res.Response = zohoRecords(mod)
			case http.MethodPut:
				zohoWrite(in, OpUpdate, mod, x, res)
			case http.MethodDelete:
				res.Action = Action{Operation: OpDelete, Category: CatWrite, Object: mod, RecordID: x}
				res.Response = zohoResult
			}
		}
	case 3:
		// Related list: only lists named after a module are mapped.
		rel, ok := zohoKnownModule(rest[2])
		if !ok || !isRead(m) {
			return
		}
		a := Action{Operation: OpList, Category: CatRead, Object: rel, RecordID: rest[1], Mode: "relationship"}
		if !zohoFields(in.rawQuery, &a) || !c.zohoSortPlan(in.rawQuery, &a) {
			return
		}
		res.Action = a
		res.Response = zohoRecords(rel)
	}
}

// zohoFields reads ?fields=; without it every field may come back.
func zohoFields(raw string, a *Action) bool { return fieldsParam(raw, a) }

// zohoWrite classifies a write with a {"data": [records]} body.
func zohoWrite(in *input, op Operation, mod, id string, res *Result) {
	var body struct {
		Data []map[string]jsontext.Value `json:"data"`
	}
	if !strictObject(in.body, &body, "data", "trigger", "duplicate_check_fields", "apply_feature_execution") || len(body.Data) == 0 {
		return
	}
	var fields []string
	for _, r := range body.Data {
		if r == nil {
			return
		}
		fields = addUnique(fields, objectKeys(r)...)
	}
	slices.Sort(fields)
	cat := CatWrite
	if len(body.Data) > 1 {
		cat = CatBulk
	}
	res.Action = Action{Operation: op, Category: cat, Object: mod, RecordID: id, Fields: fields}
	res.Response = zohoResult
}

func (c *Classifier) zohoBulk(ctx context.Context, in *input, rest []string, res *Result) {
	m := in.method
	read := strings.EqualFold(rest[0], "read")
	if !read && !strings.EqualFold(rest[0], "write") {
		return
	}
	switch len(rest) {
	case 1:
		if m != http.MethodPost {
			return
		}
		if read {
			var body struct {
				Query struct {
					Module struct {
						APIName string `json:"api_name"`
					} `json:"module"`
					Fields   []string       `json:"fields"`
					Criteria jsontext.Value `json:"criteria"`
				} `json:"query"`
				FileType string `json:"file_type"`
			}
			if !strictObject(in.body, &body, "query", "callback", "file_type") || !isObjectName(body.Query.Module.APIName) {
				return
			}
			if body.FileType != "" && body.FileType != "csv" {
				return
			}
			mod := canonZohoModule(body.Query.Module.APIName)
			a := Action{Operation: OpBulkQuery, Category: CatExport, Object: mod, Fields: body.Query.Fields, AllFields: len(body.Query.Fields) == 0}
			if !c.zohoCriteriaPlan(body.Query.Criteria, &a) {
				return
			}
			res.Action = a
			res.Response = zohoJob
			res.Capture, res.captureActions = captureZohoBulkRead, captureSelf
			return
		}
		var body struct {
			Operation string `json:"operation"`
			Resource  []struct {
				Module struct {
					APIName string `json:"api_name"`
				} `json:"module"`
				FieldMappings []struct {
					APIName string `json:"api_name"`
				} `json:"field_mappings"`
			} `json:"resource"`
		}
		if !strictObject(in.body, &body, "operation", "resource", "callback", "ignore_empty") || len(body.Resource) == 0 {
			return
		}
		a := Action{Operation: OpBulkIngest, Category: CatBulk, Mode: body.Operation}
		for _, r := range body.Resource {
			if !isObjectName(r.Module.APIName) || (a.Object != "" && canonZohoModule(r.Module.APIName) != a.Object) {
				return
			}
			a.Object = canonZohoModule(r.Module.APIName)
			for _, f := range r.FieldMappings {
				a.Fields = addUnique(a.Fields, f.APIName)
			}
		}
		a.AllFields = len(a.Fields) == 0
		res.Action = a
		res.Response = zohoJob
		res.Capture, res.captureActions = captureZohoBulkWrite, captureSelf
	case 2:
		// Job status, bound to the job's owner.
		if !isRead(m) {
			return
		}
		kind, memKind := "zoho_bulk_read", memZohoBulk
		if !read {
			kind, memKind = "zoho_bulk_write", memZohoWrite
		}
		a, _, ok := c.jobAction(ctx, in.subject, kind, memKind, rest[1], res)
		if !ok {
			res.Action.RecordID = rest[1]
			return
		}
		res.Action = jobLifecycle(a, read, rest[1], "status")
		res.Response = zohoJob
	case 3:
		if read && isRead(m) && strings.EqualFold(rest[2], "result") {
			a, _, ok := c.jobAction(ctx, in.subject, "zoho_bulk_read", memZohoBulk, rest[1], res)
			if !ok {
				res.Action.RecordID = rest[1]
				return
			}
			a.Operation, a.Category, a.RecordID, a.Mode = OpBulkResult, CatExport, rest[1], "results"
			res.Action = a
			res.Response = ResponseShape{Format: bodyshape.ZipCSV, Vendor: vendorZoho, Object: a.Object, Kind: bodyshape.BulkCSV}
		}
	}
}

// zohoComposite classifies POST /crm/v{n}/__composite_requests: each
// sub-request on its own, the container is OpComposite.
func (c *Classifier) zohoComposite(ctx context.Context, in *input, res *Result) {
	var body struct {
		Requests []jsontext.Value `json:"__composite_requests"`
	}
	if !strictObject(in.body, &body, "__composite_requests", "parallel_execution", "rollback_on_fail", "concurrent_execution") || len(body.Requests) == 0 {
		return
	}
	var subs []Action
	var shapes []ResponseShape
	var capture []string
	var capActs []int
	for i, raw := range body.Requests {
		var sr struct {
			Method string                    `json:"method"`
			URI    string                    `json:"uri"`
			Params map[string]jsontext.Value `json:"params"`
			Body   jsontext.Value            `json:"body"`
		}
		r := Result{Action: unknownAction, Response: zohoUnknown}
		if strictObject(raw, &sr, "method", "uri", "params", "body", "sub_request_id", "headers") {
			if q, ok := zohoParams(sr.Params); ok {
				body := []byte(sr.Body)
				if string(body) == "null" {
					body = nil
				}
				path, inline, _ := strings.Cut(sr.URI, "?")
				if inline != "" && q != "" {
					q = inline + "&" + q
				} else if inline != "" {
					q = inline
				}
				got, err := c.classify(ctx, Request{Method: sr.Method, Path: path, RawQuery: q, Subject: in.subject, Body: body}, true)
				if err == nil && got.Action.Operation != OpComposite && len(got.Subrequests) == 0 {
					r = got
				}
			}
		}
		if len(r.Capture) == 1 && r.Capture[0] == captureZohoPage[0] {
			capture = append(capture, "/__composite_requests/"+strconv.Itoa(i)+"/details/response/body/info/next_page_token")
			capActs = append(capActs, len(subs))
		}
		subs = append(subs, r.Action)
		shapes = append(shapes, r.Response)
	}
	res.Action = Action{Operation: OpComposite, Category: containerCategory(subs)}
	res.Subrequests, res.SubResponses = subs, shapes
	res.Capture, res.captureActions = capture, capActs
	res.Response = ResponseShape{Format: bodyshape.JSON, Vendor: vendorZoho, Kind: bodyshape.Composite}
}

// zohoParams turns a sub-request's params object into a raw query.
func zohoParams(p map[string]jsontext.Value) (string, bool) {
	if len(p) == 0 {
		return "", true
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		v := p[k]
		var s string
		switch v.Kind() {
		case '"':
			var str string
			if !decodeJSON(v, &str) {
				return "", false
			}
			s = str
		case '0', 't', 'f':
			s = string(v)
		default:
			return "", false
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(s))
	}
	return b.String(), true
}

var zohoModules = [...]string{
	"Leads", "Contacts", "Accounts", "Deals", "Campaigns", "Tasks", "Events", "Calls", "Products", "Quotes",
	"Sales_Orders", "Purchase_Orders", "Invoices", "Vendors", "Price_Books", "Cases", "Solutions", "Notes",
	"Attachments", "Appointments__s", "Services__s",
}

func zohoKnownModule(s string) (string, bool) {
	for _, m := range zohoModules {
		if len(m) == len(s) && strings.EqualFold(m, s) {
			return m, true
		}
	}
	return "", false
}

// canonZohoModule spells standard modules as Zoho does; custom modules are
// kept as written.
func canonZohoModule(s string) string {
	if m, ok := zohoKnownModule(s); ok {
		return m
	}
	return s
}
