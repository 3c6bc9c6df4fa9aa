// Salesforce search: SOSL (/search) and parameterized search.

package crm

import (
	"net/http"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

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
