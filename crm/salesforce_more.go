package crm

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/vektah/gqlparser/v2/ast"
)

var (
	sfGraphQLShape = ResponseShape{Format: "json", Vendor: vendorSalesforce, Kind: "graphql"}
	sfReport       = ResponseShape{Format: "json", Vendor: vendorSalesforce, Kind: "report"}
	sfUIShape      = ResponseShape{Format: "json", Vendor: vendorSalesforce, Kind: "uiapi"}
)

// ---- search ----

func (c *Classifier) sfSearchClassify(in *input, rest []string, res *Result) {
	m := in.method
	param := strings.EqualFold(rest[0], "parameterizedSearch")
	switch {
	case !param && len(rest) == 1 && isRead(m):
		q, n, ok := queryParam(in.rawQuery, "q")
		if !ok || n != 1 {
			return
		}
		objs, ok := parseSOSL(q)
		if !ok {
			return
		}
		c.searchResult(objs, q, res)
	case !param && len(rest) == 2 && isRead(m) && (strings.EqualFold(rest[1], "scopeOrder") || strings.EqualFold(rest[1], "layout")):
		res.Action = metaAction("", "")
		res.Response = sfMetadata
	case !param && len(rest) == 2 && isRead(m) && strings.EqualFold(rest[1], "suggestions"):
		obj, n, ok := queryParam(in.rawQuery, "sobject")
		if !ok || n != 1 || !isObjectName(obj) {
			return
		}
		res.Action = Action{Operation: OpSearch, Category: CatRead, Object: canonSFObject(obj), Fields: []string{"Id", "Name"}}
		// The suggestions match the term against fields the CRM chooses.
		a := c.searchAction(soqlQuery{Object: obj, Fields: res.Action.Fields}, "")
		res.Action.Objects, res.Action.FieldRoles = a.Objects, a.FieldRoles
		res.Response = sfSearch
	case param && len(rest) == 1 && isRead(m):
		q, n, ok := queryParam(in.rawQuery, "q")
		if !ok || n != 1 {
			return
		}
		obj, n, ok := queryParam(in.rawQuery, "sobject")
		if !ok || n > 1 || (n == 1 && !isObjectName(obj)) {
			return
		}
		sq := soqlQuery{Object: obj}
		f, nf, ok := queryParam(in.rawQuery, "fields")
		if !ok || nf > 1 {
			return
		}
		if nf == 1 {
			sq.Fields = splitList(f)
		}
		sq.AllFields = len(sq.Fields) == 0
		var objs []soqlQuery
		if n == 1 {
			objs = []soqlQuery{sq}
		}
		c.searchResult(objs, q, res)
		if n == 0 {
			res.Action.Fields, res.Action.AllFields = sq.Fields, sq.AllFields
		}
	case param && len(rest) == 1 && m == http.MethodPost:
		var body struct {
			Q        string   `json:"q"`
			Fields   []string `json:"fields"`
			SObjects []struct {
				Name   string   `json:"name"`
				Fields []string `json:"fields"`
			} `json:"sobjects"`
		}
		if !strictObject(in.body, &body, "q", "fields", "sobjects") || body.Q == "" {
			return
		}
		// Per-object members the plan does not read (a where, an orderBy)
		// could filter on a field unseen: the search is then unknown.
		var raw struct {
			SObjects []map[string]jsontext.Value `json:"sobjects"`
		}
		if !decodeJSON(in.body, &raw) {
			return
		}
		for _, o := range raw.SObjects {
			for k := range o {
				if k != "name" && k != "fields" && k != "limit" {
					return
				}
			}
		}
		var objs []soqlQuery
		for _, s := range body.SObjects {
			if !isObjectName(s.Name) {
				return
			}
			f := s.Fields
			if len(f) == 0 {
				f = body.Fields
			}
			objs = append(objs, soqlQuery{Object: s.Name, Fields: f, AllFields: len(f) == 0})
		}
		c.searchResult(objs, body.Q, res)
	}
}

// searchResult turns the searched objects into the action: one object is
// a plain search, none means every searchable object ("*"), several make a
// "*" search with one sub-request per object.
func (c *Classifier) searchResult(objs []soqlQuery, q string, res *Result) {
	res.Response = sfSearch
	switch len(objs) {
	case 0:
		res.Action = Action{Operation: OpSearch, Category: CatRead, Object: "*", AllFields: true, Query: q}
		b := newPlanBuilder(builtinResolver{}, c.dropRole)
		b.addObject("*")
		b.addRole("*.*", RoleSearch)
		b.apply(&res.Action)
	case 1:
		res.Action = c.searchAction(objs[0], q)
	default:
		res.Action = Action{Operation: OpSearch, Category: CatRead, Object: "*", Query: q}
		b := newPlanBuilder(builtinResolver{}, c.dropRole)
		for _, o := range objs {
			res.Subrequests = append(res.Subrequests, c.searchAction(o, q))
			searchPlan(b, o)
		}
		b.apply(&res.Action)
	}
}

func (c *Classifier) searchAction(o soqlQuery, q string) Action {
	a := Action{Operation: OpSearch, Category: CatRead, Object: canonSFObject(o.Object), Fields: o.Fields, AllFields: o.AllFields, Query: q}
	if len(a.Fields) == 0 && !a.AllFields {
		a.Fields = []string{"Id"}
	}
	b := newPlanBuilder(builtinResolver{}, c.dropRole)
	searchPlan(b, o)
	b.apply(&a)
	return a
}

// searchPlan adds one searched object to a plan: every field of it is in
// the search scope ("Object.*": which fields IN ... FIELDS covers is the
// CRM's business), its listed fields are selected, WHERE and ORDER BY
// fields filter and sort.
func searchPlan(b *planBuilder, o soqlQuery) {
	sp := o.plan
	if sp == nil {
		sp = &soqlPlan{object: o.Object}
	}
	sp.search = true
	if len(sp.refs) == 0 {
		for _, f := range o.Fields {
			sp.refs = append(sp.refs, planRef{path: f, role: RoleSelect})
		}
	}
	b.soql(sp, b.r.object(o.Object), "", false)
}

// parseSOSL reads the RETURNING clause of a SOSL search: FIND {term}
// [IN ...] [RETURNING Obj[(fields [WHERE ...])], ...] [WITH ...] [LIMIT n].
func parseSOSL(q string) ([]soqlQuery, bool) {
	s := strings.TrimLeft(q, " \t\r\n")
	if len(s) < 5 || !strings.EqualFold(s[:4], "FIND") {
		return nil, false
	}
	s = strings.TrimLeft(s[4:], " \t\r\n")
	if s == "" {
		return nil, false
	}
	close := byte('}')
	switch s[0] {
	case '{':
	case '\'':
		close = '\''
	default:
		return nil, false
	}
	i := 1
	for ; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == close {
			break
		}
	}
	if i >= len(s) {
		return nil, false
	}
	l := &soqlLexer{s: s[i+1:]}
	l.next()
	var objs []soqlQuery
	returning := false
	// The clauses after the search term, each known by its keyword:
	// IN <scope> FIELDS, RETURNING, WITH ..., LIMIT n, OFFSET n, UPDATE
	// TRACKING|VIEWSTAT. Anything else is not understood.
	for l.tok.kind != tEOF {
		switch {
		case l.isKeyword("IN"):
			l.next()
			if !(l.isKeyword("ALL") || l.isKeyword("NAME") || l.isKeyword("EMAIL") || l.isKeyword("PHONE") || l.isKeyword("SIDEBAR")) {
				return nil, false
			}
			l.next()
			if !l.isKeyword("FIELDS") {
				return nil, false
			}
			l.next()
		case l.isKeyword("RETURNING") && !returning:
			returning = true
			l.next()
			for {
				if l.tok.kind != tIdent || !isObjectName(l.tok.text) {
					return nil, false
				}
				o := soqlQuery{Object: l.tok.text, plan: &soqlPlan{object: l.tok.text, search: true}}
				l.next()
				if l.isPunct("(") {
					l.next()
					if !soslReturning(l, &o) {
						return nil, false
					}
				}
				objs = append(objs, o)
				if !l.isPunct(",") {
					break
				}
				l.next()
			}
		case l.isKeyword("WITH"):
			// DIVISION, DATA CATEGORY, HIGHLIGHT, METADATA, NETWORK,
			// PricebookId, SNIPPET(...), SPELL_CORRECTION: no fields.
			l.next()
			depth := 0
			for l.tok.kind != tEOF && (depth > 0 || !(l.isKeyword("WITH") || l.isKeyword("RETURNING") || l.isKeyword("LIMIT") ||
				l.isKeyword("OFFSET") || l.isKeyword("UPDATE"))) {
				if l.isPunct("(") {
					depth++
				} else if l.isPunct(")") {
					if depth--; depth < 0 {
						return nil, false
					}
				}
				l.next()
			}
			if depth != 0 {
				return nil, false
			}
		case l.isKeyword("LIMIT"), l.isKeyword("OFFSET"):
			l.next()
			if l.tok.kind != tNumber {
				return nil, false
			}
			l.next()
		case l.isKeyword("UPDATE"):
			l.next()
			if !(l.isKeyword("TRACKING") || l.isKeyword("VIEWSTAT")) {
				return nil, false
			}
			l.next()
		default:
			return nil, false
		}
	}
	if l.err != nil {
		return nil, false
	}
	return objs, true
}

// soslReturning reads "f1, toLabel(f2) [WHERE ... ORDER BY ... LIMIT n])"
// into the object's plan (fields, filter and sort roles) and field list.
func soslReturning(l *soqlLexer, o *soqlQuery) bool {
	p := &planParser{l: l}
	if err := p.returning(o.plan); err != nil || !l.isPunct(")") {
		return false
	}
	l.next()
	for _, r := range o.plan.refs {
		if r.role == RoleSelect {
			o.addField(r.path)
		}
	}
	return true
}

// ---- GraphQL ----

var gqlScalarWrappers = [...]string{"value", "displayValue", "format", "label", "__typename"}

// sfGraphQL classifies a UI API GraphQL query: each object under
// uiapi { query { Obj { edges { node { ... } } } } } is a query action.
// Mutations, introspection and anything else are unknown.
func (c *Classifier) sfGraphQL(ctx context.Context, in *input, res *Result) {
	var body struct {
		Query string `json:"query"`
	}
	if !strictObject(in.body, &body, "query", "variables", "operationName") || body.Query == "" {
		return
	}
	vars, ok := gqlVariables(in.body)
	if !ok {
		return
	}
	doc, err := parseGraphQL(body.Query)
	if err != nil || len(doc.Operations) == 0 {
		return
	}
	g := gqlWalker{doc: doc}
	for _, op := range doc.Operations {
		if op.Operation != ast.Query {
			return
		}
		for _, f := range g.fields(op.SelectionSet, 0) {
			if f.Name != "uiapi" {
				return
			}
			for _, k := range g.fields(f.SelectionSet, 0) {
				switch k.Name {
				case "query", "aggregate":
					for _, o := range g.fields(k.SelectionSet, 0) {
						if !isObjectName(o.Name) {
							return
						}
						a := Action{Operation: OpQuery, Category: CatRead, Object: canonSFObject(o.Name), Query: body.Query}
						if k.Name == "aggregate" {
							a.Aggregate, a.AllFields = true, true
						} else if !g.objectFields(o.SelectionSet, "", &a, 0) {
							return
						}
						p := &gqlPlan{g: &g, b: newPlanBuilder(c.resolver(ctx), c.dropRole), vars: vars, defs: op.VariableDefinitions}
						p.alias(f, "", "")
						p.alias(k, "", "")
						p.connection(a.Object, o, k.Name == "aggregate", 0)
						if p.bad {
							return
						}
						p.b.apply(&a)
						g.objs = append(g.objs, a)
					}
				case "__typename":
				default:
					return
				}
			}
		}
	}
	if g.bad || len(g.objs) == 0 {
		return
	}
	res.Response = sfGraphQLShape
	if len(g.objs) == 1 {
		res.Action = g.objs[0]
		return
	}
	res.Action = Action{Operation: OpQuery, Category: CatRead, Object: "*", Query: body.Query}
	res.Subrequests = g.objs
	mergePlans(&res.Action, g.objs)
}

type gqlWalker struct {
	doc  *ast.QueryDocument
	objs []Action
	bad  bool
}

// fields flattens a selection set into its fields, resolving fragments.
func (g *gqlWalker) fields(set ast.SelectionSet, depth int) []*ast.Field {
	if depth > 8 {
		g.bad = true
		return nil
	}
	var out []*ast.Field
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			out = append(out, s)
		case *ast.InlineFragment:
			out = append(out, g.fields(s.SelectionSet, depth+1)...)
		case *ast.FragmentSpread:
			fd := g.doc.Fragments.ForName(s.Name)
			if fd == nil {
				g.bad = true
				return nil
			}
			out = append(out, g.fields(fd.SelectionSet, depth+1)...)
		}
	}
	return out
}

// objectFields collects the fields of an object connection
// (edges { node { ... } }); parent relationships nest with a dot, child
// relationships are connections again.
func (g *gqlWalker) objectFields(set ast.SelectionSet, prefix string, a *Action, depth int) bool {
	if depth > 6 {
		return false
	}
	for _, f := range g.fields(set, 0) {
		switch f.Name {
		case "edges":
			for _, n := range g.fields(f.SelectionSet, 0) {
				switch n.Name {
				case "node":
					if !g.nodeFields(n.SelectionSet, prefix, a, depth) {
						return false
					}
				case "cursor", "__typename":
				default:
					return false
				}
			}
		case "totalCount", "pageInfo", "__typename":
		default:
			return false
		}
	}
	return !g.bad
}

func (g *gqlWalker) nodeFields(set ast.SelectionSet, prefix string, a *Action, depth int) bool {
	for _, f := range g.fields(set, 0) {
		if f.Name == "__typename" {
			continue
		}
		if len(f.SelectionSet) == 0 || isScalarWrapper(g.fields(f.SelectionSet, 0)) {
			a.Fields = addUnique(a.Fields, prefix+f.Name)
			continue
		}
		sub := g.fields(f.SelectionSet, 0)
		if len(sub) > 0 && (sub[0].Name == "edges" || sub[0].Name == "totalCount" || sub[0].Name == "pageInfo") {
			if !g.objectFields(f.SelectionSet, prefix+f.Name+".", a, depth+1) {
				return false
			}
			continue
		}
		if depth > 6 || !g.nodeFields(f.SelectionSet, prefix+f.Name+".", a, depth+1) {
			return false
		}
	}
	return !g.bad
}

func isScalarWrapper(fs []*ast.Field) bool {
	for _, f := range fs {
		ok := false
		for _, w := range gqlScalarWrappers {
			if f.Name == w {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return len(fs) > 0
}

// ---- analytics ----

// sfAnalytics classifies report runs. A report returns rows of whatever
// objects its report type joins, so the action's object is "Report" (with
// the report id); masking works on the report body itself.
func sfAnalytics(in *input, rest []string, res *Result) {
	m := in.method
	if len(rest) == 0 || !strings.EqualFold(rest[0], "reports") {
		return
	}
	report := func(id string) {
		res.Action = Action{Operation: OpReport, Category: CatExport, Object: "Report", RecordID: id, AllFields: true}
		res.Response = sfReport
	}
	switch len(rest) {
	case 1:
		if isRead(m) {
			res.Action = metaAction("Report", "")
			res.Response = sfMetadata
		}
	case 2:
		switch {
		case strings.EqualFold(rest[1], "query") && m == http.MethodPost:
			report("")
		case isRead(m):
			report(rest[1])
			// Without details a report answers summaries only.
			if v, n, ok := queryParam(in.rawQuery, "includeDetails"); ok && n == 1 && strings.EqualFold(v, "false") {
				res.Action.Category = CatRead
			}
		case m == http.MethodPost:
			// A run with metadata may name its detail columns.
			var body struct {
				ReportMetadata struct {
					DetailColumns []string `json:"detailColumns"`
				} `json:"reportMetadata"`
			}
			if len(in.body) > 0 && !strictObject(in.body, &body, "reportMetadata") {
				return
			}
			report(rest[1])
			res.Action.Fields = body.ReportMetadata.DetailColumns
		}
	case 3:
		switch {
		case strings.EqualFold(rest[2], "describe") && isRead(m):
			res.Action = metaAction("Report", rest[1])
			res.Response = sfMetadata
		case strings.EqualFold(rest[2], "instances") && m == http.MethodPost:
			report(rest[1])
		case strings.EqualFold(rest[2], "instances") && isRead(m):
			res.Action = metaAction("Report", rest[1])
			res.Response = sfMetadata
		}
	case 4:
		if strings.EqualFold(rest[2], "instances") && isRead(m) {
			report(rest[1])
		}
	}
}

// ---- UI API ----

func (c *Classifier) sfUIAPI(in *input, rest []string, res *Result) {
	m := in.method
	if len(rest) == 0 {
		return
	}
	switch {
	case strings.EqualFold(rest[0], "records"):
		switch {
		case len(rest) == 1 && m == http.MethodPost:
			var body struct {
				APIName string                    `json:"apiName"`
				Fields  map[string]jsontext.Value `json:"fields"`
			}
			if !strictObject(in.body, &body, "apiName", "fields", "allowSaveOnDuplicate") || !isObjectName(body.APIName) {
				return
			}
			res.Action = Action{Operation: OpCreate, Category: CatWrite, Object: canonSFObject(body.APIName), Fields: objectKeys(body.Fields)}
			res.Response = sfUIShape
		case len(rest) == 2:
			obj, ok := objectFromID(rest[1])
			if !ok {
				return
			}
			switch {
			case isRead(m):
				a := Action{Operation: OpRead, Category: CatRead, Object: obj, RecordID: rest[1]}
				if !uiFields(in.rawQuery, &a) || !c.uiChildRelationships(in.rawQuery, &a) {
					return
				}
				res.Action = a
			case m == http.MethodPatch:
				var body struct {
					Fields map[string]jsontext.Value `json:"fields"`
				}
				if !strictObject(in.body, &body, "fields", "apiName") {
					return
				}
				res.Action = Action{Operation: OpUpdate, Category: CatWrite, Object: obj, RecordID: rest[1], Fields: objectKeys(body.Fields)}
			case m == http.MethodDelete:
				res.Action = Action{Operation: OpDelete, Category: CatWrite, Object: obj, RecordID: rest[1]}
			default:
				return
			}
			res.Response = sfUIShape
		case len(rest) == 3 && strings.EqualFold(rest[1], "batch") && isRead(m):
			obj := ""
			for _, id := range strings.Split(rest[2], ",") {
				o, ok := objectFromID(id)
				if !ok || (obj != "" && o != obj) {
					return
				}
				obj = o
			}
			a := Action{Operation: OpList, Category: CatRead, Object: obj, RecordID: rest[2]}
			if !uiFields(in.rawQuery, &a) || !c.uiChildRelationships(in.rawQuery, &a) {
				return
			}
			res.Action = a
			res.Response = sfUIShape
		}
	case (strings.EqualFold(rest[0], "list-records") || strings.EqualFold(rest[0], "list-ui")) && len(rest) >= 2 && (isRead(m) || m == http.MethodPost):
		if !isObjectName(rest[1]) {
			return
		}
		a := Action{Operation: OpList, Category: CatRead, Object: canonSFObject(rest[1]), AllFields: true}
		if !c.uiListPlan(in, &a) {
			return
		}
		res.Action = a
		res.Response = sfUIShape
	case strings.EqualFold(rest[0], "related-list-records") && len(rest) == 3 && (isRead(m) || m == http.MethodPost):
		obj, ok := relationshipTarget(rest[2])
		if !ok {
			return
		}
		a := Action{Operation: OpList, Category: CatRead, Object: obj, RecordID: rest[1], AllFields: true, Mode: "relationship"}
		if !c.uiListPlan(in, &a) {
			return
		}
		res.Action = a
		res.Response = sfUIShape
	case (strings.EqualFold(rest[0], "object-info") || strings.EqualFold(rest[0], "layout") || strings.EqualFold(rest[0], "list-info")) && isRead(m):
		res.Action = metaAction("", "")
		res.Response = sfMetadata
	}
}

// uiFields reads fields= and optionalFields= ("Contact.Email" style); a
// layout-based request (no list) may return every field.
func uiFields(raw string, a *Action) bool {
	for _, p := range [...]string{"fields", "optionalFields"} {
		v, n, ok := queryParam(raw, p)
		if !ok || n > 1 {
			return false
		}
		for _, f := range splitList(v) {
			if len(f) > len(a.Object)+1 && strings.EqualFold(f[:len(a.Object)+1], a.Object+".") {
				f = f[len(a.Object)+1:]
			}
			a.Fields = addUnique(a.Fields, f)
		}
	}
	if _, n, _ := queryParam(raw, "layoutTypes"); n > 0 || len(a.Fields) == 0 {
		a.AllFields = true
	}
	return true
}

// ---- Bulk API 2.0 ----

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
			res.Response = ResponseShape{Format: "csv", Vendor: vendorSalesforce, Object: a.Object, Kind: "bulk_csv"}
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
			res.Response = ResponseShape{Format: "csv", Vendor: vendorSalesforce, Object: a.Object, Kind: "bulk_csv"}
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
