package profile

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/internal/bodyshape"
	"github.com/crmgw/crmgw/internal/jsonptr"
	"github.com/crmgw/crmgw/internal/queryparams"
)

// Classifier classifies a generic upstream's requests with the current
// profile. Swap replaces the profile (hot reload); a request sees one
// profile from start to end.
type Classifier struct {
	cur atomic.Pointer[Profile]
}

var _ crm.ProfileClassifier = (*Classifier)(nil)

// NewClassifier returns a classifier using p.
func NewClassifier(p *Profile) *Classifier {
	c := &Classifier{}
	c.cur.Store(p)
	return c
}

// Profile is the profile in use.
func (c *Classifier) Profile() *Profile { return c.cur.Load() }

// Swap puts p in use.
func (c *Classifier) Swap(p *Profile) { c.cur.Store(p) }

// ClassifyProfile implements crm.ProfileClassifier.
func (c *Classifier) ClassifyProfile(req crm.Request, res *crm.Result) error {
	return c.cur.Load().Classify(req, res)
}

// maxNameLen bounds an object or field name read from a request.
const maxNameLen = 256

// request is a request being classified.
type request struct {
	params map[string]string
	query  url.Values
	doc    any // the parsed body with embedded JSON documents in place
	hasDoc bool
}

// Classify classifies one request (req.Path decoded and normalised; res
// with Method, Path, DecodedPath and RawQuery set).
func (p *Profile) Classify(req crm.Request, res *crm.Result) error {
	res.Action = crm.UnknownAction()
	res.Response = crm.ResponseShape{Format: bodyshape.JSON, Vendor: "generic", Kind: bodyshape.Unknown}
	// Which endpoints take this method and path?
	var cands []*Endpoint
	var candParams []map[string]string
	for i := range p.Endpoints {
		e := &p.Endpoints[i]
		if e.Match.Method != res.Method {
			continue
		}
		if params, ok := matchPath(e.tmpl, res.DecodedPath); ok {
			cands = append(cands, e)
			candParams = append(candParams, params)
		}
	}
	if len(cands) == 0 {
		return p.strip(req, res, nil) // unknown: still never forward the caller's credential
	}
	r := request{}
	q, err := url.ParseQuery(res.RawQuery)
	if err != nil {
		return crm.Reject("query string cannot be parsed")
	}
	r.query = q
	if len(strings.TrimSpace(string(req.Body))) > 0 {
		doc, err := jsonptr.Parse(req.Body)
		if err != nil {
			return crm.Reject("request body is not one unambiguous JSON document: " + err.Error())
		}
		for _, ptr := range p.EmbeddedJSON {
			v, ok := jsonptr.Get(doc, ptr)
			s, isStr := v.(string)
			if !ok || !isStr {
				continue
			}
			inner, err := jsonptr.Parse([]byte(s))
			if err != nil {
				return crm.Reject("the JSON document in " + ptr + " is not one unambiguous JSON document")
			}
			doc = replaceAt(doc, ptr, inner)
		}
		r.doc, r.hasDoc = doc, true
	}
	var ep *Endpoint
	for i, e := range cands {
		if r.bodyMatches(e.Match.Body) {
			ep, r.params = e, candParams[i]
			break
		}
	}
	if ep == nil {
		return p.strip(req, res, nil)
	}
	a, columns, err := r.action(ep)
	if err != nil {
		return err
	}
	res.Action = a
	shape := crm.ResponseShape{Format: bodyshape.JSON, Vendor: "generic", Kind: bodyshape.Records, Object: a.Object}
	switch {
	case ep.Response.Format == "none":
		shape.Format, shape.Kind = bodyshape.NoBody, bodyshape.None
	case ep.Response.Rows != nil:
		shape.Kind, shape.Columns, shape.Rows = bodyshape.Rows, columns, *ep.Response.Rows
	case ep.Response.Records != nil:
		shape.Records = *ep.Response.Records
	default:
		shape.Kind = bodyshape.Result
	}
	res.Response = shape
	return p.strip(req, res, &r)
}

// bodyMatches reports whether every body condition holds.
func (r *request) bodyMatches(conds []BodyCond) bool {
	for _, c := range conds {
		var v any
		ok := false
		if r.hasDoc {
			v, ok = jsonptr.Get(r.doc, c.Pointer)
		}
		if c.Present != nil {
			if ok != *c.Present {
				return false
			}
			continue
		}
		s, isText := scalarText(v)
		if !ok || !isText || s != c.Equals {
			return false
		}
	}
	return true
}

// action builds the action of a matched request; columns are the first
// field source's names in request order (with duplicates), the columns of
// positional rows.
func (r *request) action(ep *Endpoint) (crm.Action, []string, error) {
	spec := &ep.Action
	a := crm.Action{Operation: crm.Operation(spec.Operation), Category: crm.Category(spec.Category), Mode: spec.Mode}
	// The object: every source present must name the same single object.
	for _, s := range spec.Object {
		vals, ok, err := r.read(s)
		if err != nil {
			return a, nil, err
		}
		if !ok {
			continue
		}
		if len(vals) != 1 || vals[0] == "" {
			return a, nil, crm.Reject("the request names more than one object (or none) where one is expected")
		}
		if a.Object != "" && a.Object != vals[0] {
			return a, nil, crm.Reject("the request names two objects: " + a.Object + " and " + vals[0])
		}
		a.Object = vals[0]
		if s.SQL != "" {
			a.Query = r.rawText(s) // the query itself, for policies that read it
		}
	}
	if a.Object == "" {
		return a, nil, crm.Reject("the request names no object")
	}
	if !validName(a.Object) {
		return a, nil, crm.Reject("object name is not valid")
	}
	a.Objects = []string{a.Object}
	roles := map[string][]string{}
	addRole := func(f, role string) {
		k := a.Object + "." + f
		if !slices.Contains(roles[k], role) {
			roles[k] = append(roles[k], role)
		}
	}
	var columns []string
	fieldsSeen := false
	for _, s := range spec.Fields {
		vals, ok, err := r.read(s)
		if err != nil {
			return a, nil, err
		}
		if !ok {
			continue
		}
		if !fieldsSeen {
			columns = vals
		}
		fieldsSeen = true
		for _, f := range vals {
			if !validName(f) {
				return a, nil, crm.Reject("field name is not valid")
			}
			if !slices.Contains(a.Fields, f) {
				a.Fields = append(a.Fields, f)
			}
			addRole(f, crm.RoleSelect)
		}
	}
	// A read without a field list: every field may come back.
	a.AllFields = !fieldsSeen && (a.Category == crm.CatRead || a.Category == crm.CatExport)
	if fieldsSeen && len(columns) == 0 && ep.Response.Rows != nil {
		return a, nil, crm.Reject("an empty field list where the columns of the answer come from it")
	}
	for _, g := range []struct {
		s    Sources
		role string
	}{{spec.Filters, crm.RoleFilter}, {spec.Sorts, crm.RoleSort}} {
		for _, s := range g.s {
			vals, ok, err := r.read(s)
			if err != nil {
				return a, nil, err
			}
			if !ok {
				continue
			}
			for _, f := range vals {
				if !validName(f) {
					return a, nil, crm.Reject("field name in a filter or sort is not valid")
				}
				addRole(f, g.role)
			}
		}
	}
	for _, s := range spec.Written {
		vals, ok, err := r.read(s)
		if err != nil {
			return a, nil, err
		}
		if ok {
			for _, f := range vals {
				if !slices.Contains(a.Fields, f) {
					a.Fields = append(a.Fields, f)
				}
			}
		}
	}
	if len(roles) > 0 {
		a.FieldRoles = roles
	}
	id, err := r.single(spec.RecordID, "record id")
	if err != nil {
		return a, nil, err
	}
	a.RecordID = id
	cur, err := r.single(spec.Cursor, "page cursor")
	if err != nil {
		return a, nil, err
	}
	if cur != "" && cur != "0" && a.Mode == "" {
		a.Mode = "next_page"
	}
	if ep.Response.Rows == nil {
		columns = nil
	}
	return a, columns, nil
}

// single reads a value that must be one string if present.
func (r *request) single(ss Sources, what string) (string, error) {
	for _, s := range ss {
		vals, ok, err := r.read(s)
		if err != nil {
			return "", err
		}
		if !ok {
			continue
		}
		if len(vals) > 1 {
			return "", crm.Reject("the request names more than one " + what + " where one is expected")
		}
		if len(vals) == 1 {
			return vals[0], nil
		}
	}
	return "", nil
}

// read evaluates a source: ok is false when the request does not carry it.
func (r *request) read(s Source) ([]string, bool, error) {
	var v any
	switch {
	case s.Value != "":
		v = s.Value
	case s.Path != "":
		p, ok := r.params[s.Path]
		if !ok {
			return nil, false, nil
		}
		v = p
	case s.Query != "":
		vals, ok := r.query[s.Query]
		if !ok {
			for k := range r.query {
				if strings.EqualFold(k, s.Query) {
					return nil, false, crm.Reject("query parameter " + k + " differs from " + s.Query + " only in case")
				}
			}
			return nil, false, nil
		}
		if len(vals) != 1 {
			return nil, false, crm.Reject("query parameter " + s.Query + " is given more than once")
		}
		v = vals[0]
	default:
		if !r.hasDoc {
			return nil, false, nil
		}
		var ok bool
		v, ok = jsonptr.Get(r.doc, s.Body)
		if !ok || v == nil {
			return nil, false, nil
		}
	}
	out, err := s.values(v)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// rawText is a source's value as the request carries it (a string), ""
// if it is not a string.
func (r *request) rawText(s Source) string {
	switch {
	case s.Query != "":
		return r.query.Get(s.Query)
	case s.Body != "" && r.hasDoc:
		v, _ := jsonptr.Get(r.doc, s.Body)
		str, _ := v.(string)
		return str
	}
	return ""
}

// values turns a value into the list of names the source says it holds.
func (s Source) values(v any) ([]string, error) {
	switch {
	case s.SQL != "":
		q, ok := v.(string)
		if !ok {
			return nil, crm.Reject("expected a query string")
		}
		p, err := parseSQL(q)
		if err != nil {
			return nil, err
		}
		switch s.SQL {
		case "select":
			return p.selectList, nil
		case "from":
			return []string{p.from}, nil
		case "where":
			return identifiers(p.where), nil
		default:
			return identifiers(p.order), nil
		}
	case s.Keys:
		switch x := v.(type) {
		case map[string]any:
			return sortedKeys(x), nil
		case []any:
			var out []string
			for _, e := range x {
				m, ok := e.(map[string]any)
				if !ok {
					return nil, crm.Reject("an element of a record list is not an object")
				}
				for _, k := range sortedKeys(m) {
					if !slices.Contains(out, k) {
						out = append(out, k)
					}
				}
			}
			return out, nil
		}
		return nil, crm.Reject("expected an object of fields")
	case s.Key != "":
		list, ok := v.([]any)
		if !ok {
			if str, isStr := v.(string); isStr && s.Identifiers {
				return identifiers(str), nil
			}
			return nil, crm.Reject("expected a list of conditions")
		}
		var out []string
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, crm.Reject("a condition is not an object")
			}
			f, ok := m[s.Key]
			if !ok {
				continue
			}
			name, ok := f.(string)
			if !ok {
				return nil, crm.Reject("a condition's " + s.Key + " is not a string")
			}
			out = append(out, name)
		}
		return out, nil
	case s.Identifiers:
		str, ok := v.(string)
		if !ok {
			return nil, crm.Reject("expected an expression string")
		}
		return identifiers(str), nil
	case s.Split != "":
		str, ok := v.(string)
		if !ok {
			return nil, crm.Reject("expected a " + strconv.Quote(s.Split) + "-separated string")
		}
		var out []string
		for _, f := range strings.Split(str, s.Split) {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		return out, nil
	}
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			str, ok := scalarText(e)
			if !ok {
				return nil, crm.Reject("a list holds a value that is not a name")
			}
			out = append(out, str)
		}
		return out, nil
	default:
		str, ok := scalarText(v)
		if !ok {
			return nil, crm.Reject("expected a single value, got an object")
		}
		return []string{str}, nil
	}
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// scalarText is the text of a string, number or boolean.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// validName accepts object and field names: letters (any script),
// digits, '_', '.', '-', '#', '$'. Anything else (spaces, quotes,
// parentheses, operators) could make a CRM read an expression or an alias
// where the gateway reads a name, and mask the wrong column.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for _, r := range s {
		switch {
		case r == '_' || r == '.' || r == '-' || r == '#' || r == '$':
		case '0' <= r && r <= '9', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case r >= 0x80 && unicode.IsLetter(r) || unicode.IsDigit(r):
		default:
			return false
		}
	}
	return true
}

// exprWords are the keywords of SQL-like filter and sort expressions
// (Kingdee FilterString, OrderString): never field names.
var exprWords = map[string]bool{
	"and": true, "or": true, "not": true, "like": true, "in": true, "is": true, "null": true,
	"between": true, "asc": true, "desc": true, "exists": true, "true": true, "false": true,
}

// identifiers returns every name an expression mentions outside quoted
// strings: an over-approximation of the fields it filters or sorts on
// (a function name counts too, which only makes the check stricter).
func identifiers(expr string) []string {
	var out []string
	i := 0
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(expr) {
				if expr[j] == c {
					if j+1 < len(expr) && expr[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			i = j + 1
		case c == '_' || c == '#' || c >= 0x80 || ('a' <= c|0x20 && c|0x20 <= 'z'):
			j := i
			for j < len(expr) {
				d := expr[j]
				if d == '_' || d == '.' || d == '#' || d >= 0x80 || ('a' <= d|0x20 && d|0x20 <= 'z') || ('0' <= d && d <= '9') {
					j++
					continue
				}
				break
			}
			w := expr[i:j]
			if !exprWords[strings.ToLower(w)] && !slices.Contains(out, w) {
				out = append(out, w)
			}
			i = j
		case '0' <= c && c <= '9':
			for i < len(expr) && (expr[i] == '.' || ('0' <= expr[i] && expr[i] <= '9') || ('a' <= expr[i]|0x20 && expr[i]|0x20 <= 'z')) {
				i++
			}
		default:
			i++
		}
	}
	return out
}

// replaceAt returns doc with the value at ptr replaced by v.
func replaceAt(doc any, ptr string, v any) any {
	toks := jsonptr.Tokens(ptr)
	if len(toks) == 0 {
		return v
	}
	parent, ok := jsonptr.Get(doc, "/"+strings.Join(escapeAll(toks[:len(toks)-1]), "/"))
	if len(toks) == 1 {
		parent, ok = doc, true
	}
	if m, isMap := parent.(map[string]any); ok && isMap {
		m[toks[len(toks)-1]] = v
	}
	return doc
}

func escapeAll(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
	}
	return out
}

// strip removes the caller's credential members from the forwarded body
// and query: every body pointer and query parameter the profile places
// the gateway's credential at, and those it lists under credential.strip.
func (p *Profile) strip(req crm.Request, res *crm.Result, r *request) error {
	var bodyPtrs, params []string
	for _, pl := range p.Credential.Place {
		if pl.Body != "" {
			bodyPtrs = append(bodyPtrs, pl.Body)
		}
		if pl.Query != "" {
			params = append(params, pl.Query)
		}
	}
	bodyPtrs = append(bodyPtrs, p.Credential.Strip.Body...)
	params = append(params, p.Credential.Strip.Query...)
	if len(params) > 0 && res.RawQuery != "" {
		res.RawQuery = queryparams.Remove(res.RawQuery, params)
	}
	if len(bodyPtrs) == 0 || len(strings.TrimSpace(string(req.Body))) == 0 {
		return nil
	}
	if r == nil || !r.hasDoc {
		// A body the gateway cannot read could carry a credential member
		// it cannot remove: refused, even where a policy allows unknown
		// actions.
		if _, err := jsonptr.Parse(req.Body); err != nil {
			return crm.Reject("request body is not one unambiguous JSON document")
		}
	}
	out, err := jsonptr.Rewrite(req.Body, bodyPtrs, nil)
	if err != nil {
		return crm.Reject("request body cannot be rewritten: " + err.Error())
	}
	res.Body = out
	return nil
}
