package crm

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

var (
	sfComposite = ResponseShape{Format: bodyshape.JSON, Vendor: vendorSalesforce, Kind: bodyshape.Composite}
	sfBatch     = ResponseShape{Format: bodyshape.JSON, Vendor: vendorSalesforce, Kind: bodyshape.Batch}
	sfGraph     = ResponseShape{Format: bodyshape.JSON, Vendor: vendorSalesforce, Kind: bodyshape.Graph}
)

type sfSubRequest struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Body      jsontext.Value    `json:"body"`
	RichInput jsontext.Value    `json:"richInput"`
	Headers   map[string]string `json:"httpHeaders"`
}

var sfSubNames = []string{"method", "url", "body", "richInput", "referenceId", "httpHeaders"}

// sfComposite classifies composite, composite/batch, composite/graph,
// composite/tree and sObject collections (rest starts after "composite").
func (c *Classifier) sfComposite(ctx context.Context, in *input, rest []string, res *Result) {
	m := in.method
	if len(rest) == 0 {
		switch {
		case isRead(m):
			res.Action = metaAction("", "")
			res.Response = sfMetadata
		case m == http.MethodPost && !in.sub:
			var body struct {
				CompositeRequest []jsontext.Value `json:"compositeRequest"`
			}
			if !strictObject(in.body, &body, "compositeRequest") {
				return
			}
			c.sfContainer(ctx, in, body.CompositeRequest, false, "/compositeResponse/", "/body/nextRecordsUrl", res)
			res.Response = containerShape(sfComposite, res.subUnsupported)
		}
		return
	}
	switch {
	case strings.EqualFold(rest[0], "batch") && len(rest) == 1 && m == http.MethodPost && !in.sub:
		var body struct {
			BatchRequests []jsontext.Value `json:"batchRequests"`
		}
		if !strictObject(in.body, &body, "batchRequests") {
			return
		}
		c.sfContainer(ctx, in, body.BatchRequests, true, "/results/", "/result/nextRecordsUrl", res)
		res.Response = containerShape(sfBatch, res.subUnsupported)
	case strings.EqualFold(rest[0], "graph") && len(rest) == 1 && m == http.MethodPost && !in.sub:
		var body struct {
			Graphs []struct {
				CompositeRequest []jsontext.Value `json:"compositeRequest"`
			} `json:"graphs"`
		}
		if !strictObject(in.body, &body, "graphs") || len(body.Graphs) == 0 {
			return
		}
		var all Result
		for g, gr := range body.Graphs {
			var one Result
			c.sfContainer(ctx, in, gr.CompositeRequest, false, "/graphs/"+strconv.Itoa(g)+"/graphResponse/compositeResponse/", "/body/nextRecordsUrl", &one)
			if one.Action.Operation != OpComposite {
				return
			}
			all.subUnsupported = all.subUnsupported || one.subUnsupported
			base := len(all.Subrequests)
			all.Subrequests = append(all.Subrequests, one.Subrequests...)
			all.Capture = append(all.Capture, one.Capture...)
			for _, i := range one.captureActions {
				all.captureActions = append(all.captureActions, base+i)
			}
		}
		res.Action = Action{Operation: OpComposite, Category: containerCategory(all.Subrequests)}
		res.Subrequests, res.Capture, res.captureActions = all.Subrequests, all.Capture, all.captureActions
		res.Response = containerShape(sfGraph, all.subUnsupported)
	case strings.EqualFold(rest[0], "tree") && len(rest) == 2 && m == http.MethodPost:
		if !isObjectName(rest[1]) {
			return
		}
		var body struct {
			Records []jsontext.Value `json:"records"`
		}
		if !strictObject(in.body, &body, "records") || len(body.Records) == 0 {
			return
		}
		var g recordGroups
		if !g.addTree(body.Records, canonSFObject(rest[1]), 0) {
			return
		}
		g.result(OpCreate, res)
	case strings.EqualFold(rest[0], "sobjects"):
		sfCollections(in, rest[1:], res)
	}
}

// sfContainer classifies each sub-request of a composite-family body; the
// container is OpComposite, each sub-request is decided on its own.
func (c *Classifier) sfContainer(ctx context.Context, in *input, subs []jsontext.Value, relative bool, capPrefix, capSuffix string, res *Result) {
	if len(subs) == 0 {
		return
	}
	actions := make([]Action, 0, len(subs))
	var capture []string
	var capActs []int
	unsupported := false
	for i, raw := range subs {
		var sr sfSubRequest
		if !strictObject(raw, &sr, sfSubNames...) {
			actions = append(actions, unknownAction)
			continue
		}
		body := sr.Body
		if relative {
			body = sr.RichInput
		}
		r := c.sfSub(ctx, in, sr.Method, sr.URL, body, sr.Headers, relative)
		if r.Response.Kind == bodyshape.GraphQL && len(r.Action.Aliases) > 0 {
			// The masking stage follows a GraphQL answer's aliases only at
			// the top of a response, not inside a composite part's body:
			// such a part is unknown (denied), never forwarded unmasked.
			actions = append(actions, unknownAction)
			continue
		}
		if r.Response.Format == bodyshape.Unsupported {
			unsupported = true
		}
		if r.Action.Operation == OpQuery {
			capture = append(capture, capPrefix+strconv.Itoa(i)+capSuffix)
			capActs = append(capActs, len(actions))
		}
		actions = append(actions, r.Action)
		for _, s := range r.Subrequests {
			s.Parent = nil
			actions = append(actions, s)
		}
	}
	res.Action = Action{Operation: OpComposite, Category: containerCategory(actions)}
	res.Subrequests = actions
	res.Capture, res.captureActions = capture, capActs
	res.subUnsupported = unsupported
}

// sfSub classifies one sub-request URL (absolute /services/data/... or, in
// a batch, relative vXX.X/...).
func (c *Classifier) sfSub(ctx context.Context, in *input, method, rawURL string, body []byte, headers map[string]string, relative bool) Result {
	path, query, _ := strings.Cut(rawURL, "?")
	if relative && !strings.HasPrefix(path, "/") {
		path = "/services/data/" + path
	}
	if len(path) < 15 || !strings.EqualFold(path[:15], "/services/data/") {
		return Result{Action: unknownAction}
	}
	if body != nil && string(body) == "null" {
		body = nil
	}
	// Sub-request headers go through the same checks (method override,
	// Accept) as the request's own.
	h := make(http.Header, len(headers))
	for k, v := range headers {
		h.Add(k, v)
	}
	r, err := c.classify(ctx, Request{Method: method, Path: path, RawQuery: query, Header: h, Subject: in.subject, Body: body}, true)
	if err != nil || r.Action.Operation == OpComposite {
		return Result{Action: unknownAction}
	}
	return r
}

// containerShape is the container's response shape: unsupported when a
// sub-request asked for a format the gateway cannot mask.
func containerShape(s ResponseShape, unsupported bool) ResponseShape {
	if unsupported {
		s.Format = bodyshape.Unsupported
	}
	return s
}

// containerCategory is the strictest category among the sub-requests.
func containerCategory(subs []Action) Category {
	rank := func(c Category) int {
		switch c {
		case CatMetadata:
			return 1
		case CatRead:
			return 2
		case CatWrite:
			return 3
		case CatBulk:
			return 4
		case CatExport:
			return 5
		case CatUnknown:
			return 6
		}
		return 6
	}
	best := CatMetadata
	for _, s := range subs {
		if rank(s.Category) > rank(best) {
			best = s.Category
		}
	}
	return best
}

// sfCollections classifies sObject collections (rest after "sobjects").
func sfCollections(in *input, rest []string, res *Result) {
	m := in.method
	switch {
	case len(rest) == 1 && (isRead(m) || m == http.MethodPost) && isObjectName(rest[0]):
		// Retrieve by ids: GET ?ids=&fields=, or POST {"ids":[],"fields":[]}.
		obj := canonSFObject(rest[0])
		a := Action{Operation: OpList, Category: CatRead, Object: obj}
		if isRead(m) {
			ids, n, ok := queryParam(in.rawQuery, "ids")
			if !ok || n > 1 || !fieldsParam(in.rawQuery, &a) {
				return
			}
			a.RecordID = ids
		} else {
			var body struct {
				IDs    []string `json:"ids"`
				Fields []string `json:"fields"`
			}
			if !strictObject(in.body, &body, "ids", "fields") {
				return
			}
			a.RecordID = strings.Join(body.IDs, ",")
			a.Fields = body.Fields
			a.AllFields = len(body.Fields) == 0
		}
		res.Action = a
		res.Response = sfRecords
	case len(rest) == 0 && (m == http.MethodPost || m == http.MethodPatch):
		var body struct {
			Records []jsontext.Value `json:"records"`
		}
		if !strictObject(in.body, &body, "records", "allOrNone") || len(body.Records) == 0 {
			return
		}
		var g recordGroups
		if !g.addTree(body.Records, "", maxTreeDepth) {
			return
		}
		op := OpCreate
		if m == http.MethodPatch {
			op = OpUpdate
		}
		g.result(op, res)
	case len(rest) == 2 && m == http.MethodPatch && isObjectName(rest[0]) && isObjectName(rest[1]):
		// Upsert by external id field.
		var body struct {
			Records []jsontext.Value `json:"records"`
		}
		if !strictObject(in.body, &body, "records", "allOrNone") || len(body.Records) == 0 {
			return
		}
		var g recordGroups
		if !g.addTree(body.Records, canonSFObject(rest[0]), maxTreeDepth) {
			return
		}
		g.result(OpUpsert, res)
		res.Action.Mode = "external_id:" + rest[1]
	case len(rest) == 0 && m == http.MethodDelete:
		ids, n, ok := queryParam(in.rawQuery, "ids")
		if !ok || n != 1 || ids == "" {
			return
		}
		var g recordGroups
		for _, id := range strings.Split(ids, ",") {
			obj, ok := objectFromID(strings.TrimSpace(id))
			if !ok {
				return
			}
			g.add(obj, nil)
		}
		g.result(OpDelete, res)
		res.Action.RecordID = ids
	}
}

// recordGroups groups the records of a write by object type, in order.
type recordGroups struct {
	types  []string
	fields [][]string
	count  int
}

func (g *recordGroups) add(typ string, fields []string) {
	g.count++
	for i, t := range g.types {
		if t == typ {
			g.fields[i] = addUnique(g.fields[i], fields...)
			return
		}
	}
	g.types = append(g.types, typ)
	g.fields = append(g.fields, addUnique(nil, fields...))
}

const maxTreeDepth = 5

// addTree adds records (with attributes.type); want, when set, is the type
// every top-level record must have. Nested child records ({"records": []}
// members, composite/tree) are added under their own type while depth
// allows; at maxTreeDepth nesting is not allowed (collections).
func (g *recordGroups) addTree(records []jsontext.Value, want string, depth int) bool {
	if depth > maxTreeDepth || g.count > 100000 {
		return false
	}
	for _, raw := range records {
		var rec map[string]jsontext.Value
		if !decodeJSON(raw, &rec) || rec == nil {
			return false
		}
		var attrs struct {
			Type string `json:"type"`
		}
		a, ok := rec["attributes"]
		if ok && !decodeJSON(a, &attrs) {
			return false
		}
		typ := canonSFObject(attrs.Type)
		switch {
		case typ == "" && want != "":
			typ = want
		case typ == "" || !isObjectName(typ):
			return false
		case want != "" && typ != want:
			return false
		}
		fields := make([]string, 0, len(rec))
		var children [][]jsontext.Value
		for k, v := range rec {
			if k == "attributes" {
				continue
			}
			if v.Kind() == '{' {
				var child struct {
					Records []jsontext.Value `json:"records"`
				}
				if decodeJSON(v, &child) && child.Records != nil {
					if depth >= maxTreeDepth {
						return false
					}
					children = append(children, child.Records)
					continue
				}
			}
			fields = append(fields, k)
		}
		g.add(typ, fields)
		for _, ch := range children {
			if !g.addTree(ch, "", depth+1) {
				return false
			}
		}
	}
	return len(g.types) > 0
}

// result writes the grouped write into res: one object is a plain action;
// several make a container ("*") with one sub-request per object.
func (g *recordGroups) result(op Operation, res *Result) {
	cat := CatWrite
	if g.count > 1 {
		cat = CatBulk
	}
	for i := range g.fields {
		sortStrings(g.fields[i])
	}
	res.Response = sfResult
	if len(g.types) == 1 {
		res.Action = Action{Operation: op, Category: cat, Object: g.types[0], Fields: g.fields[0]}
		return
	}
	res.Action = Action{Operation: op, Category: cat, Object: "*"}
	for i, t := range g.types {
		res.Subrequests = append(res.Subrequests, Action{Operation: op, Category: cat, Object: t, Fields: g.fields[i]})
	}
}
