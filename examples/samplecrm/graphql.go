package samplecrm

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// A tiny GraphQL reader for the Salesforce UI API shape:
//
//	query { uiapi { query { Contact(first: 2, after: "..", where: {Email: {like: "%cn"}}) {
//	  edges { node { Id Name { value } Account { Name { value } } } } pageInfo { endCursor hasNextPage } totalCount } } } }

type gval struct {
	kind string // "str", "num", "enum", "var", "obj", "list"
	s    string
	obj  map[string]*gval
	list []*gval
}

type gsel struct {
	alias, name string
	args        map[string]*gval
	sels        []*gsel
}

func (g *gsel) key() string {
	if g.alias != "" {
		return g.alias
	}
	return g.name
}

type gtok struct {
	kind byte // 'n' name, 's' string, '0' number, 'p' punct, 0 EOF
	text string
}

type gparser struct {
	toks []gtok
	i    int
}

func glex(src string) ([]gtok, error) {
	var out []gtok
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == 0xEF || c == 0xBB || c == 0xBF:
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '"':
			j := i + 1
			var b strings.Builder
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, stringError("unterminated string")
			}
			out = append(out, gtok{'s', b.String()})
			i = j + 1
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			out = append(out, gtok{'n', src[i:j]})
			i = j
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == 'e' || src[j] == 'E') {
				j++
			}
			out = append(out, gtok{'0', src[i:j]})
			i = j
		case strings.IndexByte("{}()[]:!$=@|&", c) >= 0:
			out = append(out, gtok{'p', src[i : i+1]})
			i++
		case c == '.' && strings.HasPrefix(src[i:], "..."):
			out = append(out, gtok{'p', "..."})
			i += 3
		default:
			return nil, stringError("Invalid syntax: unexpected character " + strconv.QuoteRune(rune(c)))
		}
	}
	return out, nil
}

func (p *gparser) peek() gtok {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return gtok{}
}
func (p *gparser) next() gtok { t := p.peek(); p.i++; return t }
func (p *gparser) punct(s string) bool {
	if t := p.peek(); t.kind == 'p' && t.text == s {
		p.i++
		return true
	}
	return false
}

func (p *gparser) selectionSet(depth int) ([]*gsel, error) {
	if depth > 20 {
		return nil, stringError("query too deep")
	}
	if !p.punct("{") {
		return nil, stringError("Invalid syntax: expected '{'")
	}
	var out []*gsel
	for !p.punct("}") {
		t := p.next()
		if t.kind != 'n' {
			return nil, stringError("Invalid syntax: expected a field name, got '" + t.text + "'")
		}
		sel := &gsel{name: t.text}
		if p.punct(":") {
			n := p.next()
			if n.kind != 'n' {
				return nil, stringError("Invalid syntax: expected a field name after alias")
			}
			sel.alias, sel.name = t.text, n.text
		}
		if p.punct("(") {
			sel.args = map[string]*gval{}
			for !p.punct(")") {
				n := p.next()
				if n.kind != 'n' || !p.punct(":") {
					return nil, stringError("Invalid syntax in arguments")
				}
				v, err := p.value(0)
				if err != nil {
					return nil, err
				}
				sel.args[n.text] = v
			}
		}
		if t := p.peek(); t.kind == 'p' && t.text == "{" {
			sels, err := p.selectionSet(depth + 1)
			if err != nil {
				return nil, err
			}
			sel.sels = sels
		}
		out = append(out, sel)
	}
	return out, nil
}

func (p *gparser) value(depth int) (*gval, error) {
	if depth > 20 {
		return nil, stringError("value too deep")
	}
	t := p.next()
	switch {
	case t.kind == 's':
		return &gval{kind: "str", s: t.text}, nil
	case t.kind == '0':
		return &gval{kind: "num", s: t.text}, nil
	case t.kind == 'n':
		return &gval{kind: "enum", s: t.text}, nil
	case t.kind == 'p' && t.text == "$":
		n := p.next()
		return &gval{kind: "var", s: n.text}, nil
	case t.kind == 'p' && t.text == "{":
		v := &gval{kind: "obj", obj: map[string]*gval{}}
		for !p.punct("}") {
			n := p.next()
			if n.kind != 'n' || !p.punct(":") {
				return nil, stringError("Invalid syntax in object value")
			}
			x, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			v.obj[n.text] = x
		}
		return v, nil
	case t.kind == 'p' && t.text == "[":
		v := &gval{kind: "list"}
		for !p.punct("]") {
			if p.peek().kind == 0 {
				return nil, stringError("Invalid syntax: unterminated list")
			}
			x, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			v.list = append(v.list, x)
		}
		return v, nil
	}
	return nil, stringError("Invalid syntax: unexpected '" + t.text + "'")
}

// parseGraphQL returns the top-level selection set of the (single) query.
func parseGraphQL(src string) ([]*gsel, error) {
	toks, err := glex(src)
	if err != nil {
		return nil, err
	}
	p := &gparser{toks: toks}
	if t := p.peek(); t.kind == 'n' {
		if t.text != "query" {
			return nil, stringError("only query operations are supported by the sample CRM")
		}
		p.next()
		if p.peek().kind == 'n' {
			p.next()
		}
		if p.punct("(") { // variable definitions
			for depth := 1; depth > 0; {
				t := p.next()
				switch {
				case t.kind == 0:
					return nil, stringError("Invalid syntax in variable definitions")
				case t.kind == 'p' && t.text == "(":
					depth++
				case t.kind == 'p' && t.text == ")":
					depth--
				}
			}
		}
	}
	sels, err := p.selectionSet(0)
	if err != nil {
		return nil, err
	}
	if p.peek().kind != 0 {
		return nil, stringError("only one operation per document is supported by the sample CRM")
	}
	return sels, nil
}

func findSel(sels []*gsel, name string) *gsel {
	for _, s := range sels {
		if s.name == name {
			return s
		}
	}
	return nil
}

type gexec struct {
	s    *Server
	vars map[string]any
	b    []byte
}

// member writes the name of an object's i-th member: a comma before all
// but the first, the quoted key and the colon.
func (e *gexec) member(i int, key string) {
	if i > 0 {
		e.b = append(e.b, ',')
	}
	e.b = appendString(e.b, key)
	e.b = append(e.b, ':')
}

func (e *gexec) resolve(v *gval) *gval {
	if v == nil || v.kind != "var" {
		return v
	}
	switch x := e.vars[v.s].(type) {
	case string:
		return &gval{kind: "str", s: x}
	case float64:
		return &gval{kind: "num", s: strconv.FormatFloat(x, 'f', -1, 64)}
	}
	return nil
}

func (s *Server) sfGraphQL(w http.ResponseWriter, r *http.Request, base string) {
	sels, vars, ok := readGraphQL(w, r)
	if !ok {
		return
	}
	ui := findSel(sels, "uiapi")
	if ui == nil || findSel(ui.sels, "query") == nil {
		gqlError(w, "the sample CRM answers uiapi { query { ... } } only")
		return
	}
	qsel := findSel(ui.sels, "query")
	e := &gexec{s: s, vars: vars}
	e.b = append(e.b, `{"data":{"uiapi":{"query":{`...)
	for k, os := range qsel.sels {
		o := s.objects[strings.ToLower(os.name)]
		if o == nil {
			gqlError(w, "Validation error (FieldUndefined@[uiapi/query/"+os.name+"]) : Field '"+os.name+"' in type 'RecordQuery' is undefined")
			return
		}
		e.member(k, os.key())
		if err := e.connection(o, os, nil); err != nil {
			gqlError(w, err.Error())
			return
		}
	}
	e.b = append(e.b, `}}},"errors":[]}`...)
	writeJSON(w, http.StatusOK, e.b)
}

// readGraphQL reads a GraphQL request body (query and variables, as
// Salesforce and Zoho take it) and parses the query; when either fails it
// answers the GraphQL error and returns false.
func readGraphQL(w http.ResponseWriter, r *http.Request) ([]*gsel, map[string]any, bool) {
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		gqlError(w, "Invalid JSON body: "+err.Error())
		return nil, nil, false
	}
	sels, err := parseGraphQL(req.Query)
	if err != nil {
		gqlError(w, err.Error())
		return nil, nil, false
	}
	return sels, req.Variables, true
}

func gqlError(w http.ResponseWriter, msg string) {
	b := append([]byte(nil), `{"data":null,"errors":[{"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"locations":[],"extensions":{"ErrorType":"ValidationError","classification":"ValidationError"}}]}`...)
	writeJSON(w, http.StatusOK, b)
}

// connection writes {edges, pageInfo, totalCount} for o; rows limits the
// candidates (child relationships), nil means the whole table.
func (e *gexec) connection(o *object, sel *gsel, rows []int32) error {
	first := 10
	if v := e.resolve(sel.args["first"]); v != nil {
		n, err := strconv.Atoi(v.s)
		if err != nil || n < 0 || n > 2000 {
			return stringError("first must be between 0 and 2000")
		}
		first = n
	}
	offset := 0
	if v := e.resolve(sel.args["after"]); v != nil {
		raw, err := base64.StdEncoding.DecodeString(v.s)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "v1:"))
		if err != nil || err2 != nil || n < 0 {
			return stringError("invalid cursor")
		}
		offset = n + 1
	}
	var where cond
	if v := e.resolve(sel.args["where"]); v != nil {
		c, err := e.where(o, v)
		if err != nil {
			return err
		}
		where = c
	}
	t := o.snapshot()
	var idx []int32
	consider := func(i int32) {
		rw := t.rows[i]
		if !rw.deleted && (where == nil || where.eval(rw)) {
			idx = append(idx, i)
		}
	}
	if rows != nil {
		for _, i := range rows {
			consider(i)
		}
	} else {
		for i := range t.rows {
			consider(int32(i))
		}
	}
	total := len(idx)
	idx = idx[min(offset, len(idx)):]
	more := len(idx) > first
	idx = idx[:min(first, len(idx))]
	e.b = append(e.b, '{')
	for k, s := range sel.sels {
		e.member(k, s.key())
		switch s.name {
		case "edges":
			node := findSel(s.sels, "node")
			e.b = append(e.b, '[')
			for n, i := range idx {
				if n > 0 {
					e.b = append(e.b, ',')
				}
				e.b = append(e.b, '{')
				for m, es := range s.sels {
					e.member(m, es.key())
					switch es.name {
					case "node":
						if err := e.node(o, node, t, i); err != nil {
							return err
						}
					case "cursor":
						e.b = appendString(e.b, cursorFor(offset+n))
					default:
						return stringError("Field '" + es.name + "' in type '" + o.name + "Edge' is undefined")
					}
				}
				e.b = append(e.b, '}')
			}
			e.b = append(e.b, ']')
		case "pageInfo":
			e.b = append(e.b, '{')
			for m, ps := range s.sels {
				e.member(m, ps.key())
				switch ps.name {
				case "hasNextPage":
					e.b = strconv.AppendBool(e.b, more)
				case "hasPreviousPage":
					e.b = strconv.AppendBool(e.b, offset > 0)
				case "endCursor", "startCursor":
					if len(idx) == 0 {
						e.b = append(e.b, "null"...)
					} else if ps.name == "endCursor" {
						e.b = appendString(e.b, cursorFor(offset+len(idx)-1))
					} else {
						e.b = appendString(e.b, cursorFor(offset))
					}
				default:
					return stringError("Field '" + ps.name + "' in type 'PageInfo' is undefined")
				}
			}
			e.b = append(e.b, '}')
		case "totalCount":
			e.b = strconv.AppendInt(e.b, int64(total), 10)
		default:
			return stringError("Field '" + s.name + "' in type '" + o.name + "Connection' is undefined")
		}
	}
	e.b = append(e.b, '}')
	return nil
}

func cursorFor(n int) string {
	return base64.StdEncoding.EncodeToString([]byte("v1:" + strconv.Itoa(n)))
}

// node writes one record of o with the selected fields.
func (e *gexec) node(o *object, sel *gsel, t *table, i int32) error {
	if sel == nil {
		e.b = append(e.b, "null"...)
		return nil
	}
	rw := t.rows[i]
	e.b = append(e.b, '{')
	for k, s := range sel.sels {
		e.member(k, s.key())
		switch {
		case s.name == "Id":
			e.b = appendString(e.b, rw.v[0])
		case s.name == "ApiName" || s.name == "__typename":
			e.b = appendString(e.b, o.name)
		case o.relLower[strings.ToLower(s.name)] != nil && o.relLower[strings.ToLower(s.name)].rel == s.name:
			rf := o.relLower[strings.ToLower(s.name)]
			pt := rf.refObj.snapshot()
			j, ok := pt.byID[rw.v[rf.col]]
			if rw.v[rf.col] == "" || !ok {
				e.b = append(e.b, "null"...)
				continue
			}
			if err := e.node(rf.refObj, s, pt, j); err != nil {
				return err
			}
		case o.children[strings.ToLower(s.name)] != nil:
			ch := o.children[strings.ToLower(s.name)]
			rows := t.children[strings.ToLower(ch.name)][i]
			if rows == nil {
				rows = []int32{}
			}
			if err := e.connection(ch.obj, s, rows); err != nil {
				return err
			}
		default:
			f := o.byLower[strings.ToLower(s.name)]
			if f == nil || f.name != s.name {
				return stringError("Validation error (FieldUndefined@[uiapi/query/" + o.name + "/edges/node/" + s.name + "]) : Field '" + s.name + "' in type '" + o.name + "' is undefined")
			}
			v := rw.v[f.col]
			if len(s.sels) == 0 {
				e.b = appendValue(e.b, f.kind, v)
				continue
			}
			e.b = append(e.b, '{')
			for m, vs := range s.sels {
				e.member(m, vs.key())
				switch vs.name {
				case "value":
					e.b = appendValue(e.b, f.kind, v)
				case "displayValue", "format", "label":
					e.b = append(e.b, "null"...)
				default:
					return stringError("Field '" + vs.name + "' in type 'StringValue' is undefined")
				}
			}
			e.b = append(e.b, '}')
		}
	}
	e.b = append(e.b, '}')
	return nil
}

// where turns {Field: {eq: v}, and: [...], or: [...]} into a condition.
func (e *gexec) where(o *object, v *gval) (cond, error) {
	if v.kind != "obj" {
		return nil, stringError("where must be an object")
	}
	var all andCond
	for _, k := range sortedKeys(v.obj) {
		x := v.obj[k]
		switch k {
		case "and", "or":
			var parts []cond
			for _, item := range x.list {
				c, err := e.where(o, item)
				if err != nil {
					return nil, err
				}
				parts = append(parts, c)
			}
			if k == "and" {
				all = append(all, andCond(parts))
			} else {
				all = append(all, orCond(parts))
			}
		case "not":
			c, err := e.where(o, x)
			if err != nil {
				return nil, err
			}
			all = append(all, notCond{c})
		default:
			pth, err := resolvePath(o, k)
			if err != nil || x.kind != "obj" {
				return nil, stringError("unknown field or bad filter in where: " + k)
			}
			for op, val := range x.obj {
				val = e.resolve(val)
				c := &cmpCond{p: &pth, k: pth.f.kind, num: pth.f.kind == kNumber || pth.f.kind == kInt}
				switch op {
				case "eq":
					c.op = "="
				case "ne":
					c.op = "!="
				case "like":
					c.op = "LIKE"
				case "lt":
					c.op = "<"
				case "lte":
					c.op = "<="
				case "gt":
					c.op = ">"
				case "gte":
					c.op = ">="
				case "in", "nin":
					c.op = "IN"
					if op == "nin" {
						c.op = "NOT IN"
					}
					if val != nil {
						for _, it := range val.list {
							c.vals = append(c.vals, it.s)
						}
					}
					all = append(all, c)
					continue
				default:
					return nil, stringError("unsupported operator " + op)
				}
				if val == nil || val.kind == "enum" && val.s == "null" {
					c.null = true
				} else {
					c.vals = []string{val.s}
				}
				all = append(all, c)
			}
		}
	}
	return all, nil
}
