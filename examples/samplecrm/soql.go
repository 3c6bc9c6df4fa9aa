package samplecrm

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file is a small SOQL parser and evaluator: SELECT fields (relationship
// paths, FIELDS(ALL|STANDARD|CUSTOM), child subqueries, COUNT()), FROM,
// WHERE (=, !=, <>, <, <=, >, >=, LIKE, IN, NOT IN, AND, OR, NOT, brackets),
// ORDER BY, LIMIT, OFFSET. It is enough for the sample data, not a full SOQL.

// queryError is a Salesforce error (code and message) from parsing or
// resolving a query.
type queryError struct {
	code string
	msg  string
}

func (e *queryError) Error() string { return e.code + ": " + e.msg }

func malformed(msg string) error { return &queryError{code: "MALFORMED_QUERY", msg: msg} }

func noSuchColumn(name, obj string) error {
	return &queryError{code: "INVALID_FIELD", msg: "No such column '" + name + "' on entity '" + obj +
		"'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. " +
		"Please reference your WSDL or the describe call for the appropriate names."}
}

func noSuchObject(name string) error {
	return &queryError{code: "INVALID_TYPE", msg: "sObject type '" + name + "' is not supported. If you are " +
		"attempting to use a custom object, be sure to append the '__c' after the entity name. " +
		"Please reference your WSDL or the describe call for the appropriate names."}
}

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tPunct
)

type token struct {
	kind tokKind
	text string // identifier, unescaped string, number, punctuation
	pos  int
}

func lex(src string) ([]token, error) {
	var toks []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(src) && src[j] != '\''; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
					switch src[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					default:
						b.WriteByte(src[j])
					}
					continue
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, malformed("unterminated string literal at position " + strconv.Itoa(i))
			}
			toks = append(toks, token{tString, b.String(), i})
			i = j + 1
		case c >= '0' && c <= '9' || (c == '-' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9'):
			j := i + 1
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == '-' || src[j] == ':' || src[j] == 'T' || src[j] == 'Z' || src[j] == '+') {
				j++
			}
			toks = append(toks, token{tNumber, src[i:j], i})
			i = j
		case c == '_' || c < utf8.RuneSelf && unicode.IsLetter(rune(c)):
			j := i + 1
			for j < len(src) && (src[j] == '_' || src[j] == '.' || src[j] == ':' || src[j] < utf8.RuneSelf && (unicode.IsLetter(rune(src[j])) || unicode.IsDigit(rune(src[j])))) {
				j++
			}
			toks = append(toks, token{tIdent, src[i:j], i})
			i = j
		case c == '!' || c == '<' || c == '>':
			if i+1 < len(src) && (src[i+1] == '=' || c == '<' && src[i+1] == '>') {
				toks = append(toks, token{tPunct, src[i : i+2], i})
				i += 2
			} else if c == '!' {
				return nil, malformed("unexpected '!' at position " + strconv.Itoa(i))
			} else {
				toks = append(toks, token{tPunct, src[i : i+1], i})
				i++
			}
		case c == '(' || c == ')' || c == ',' || c == '=':
			toks = append(toks, token{tPunct, src[i : i+1], i})
			i++
		default:
			return nil, malformed("unexpected character " + strconv.QuoteRune(rune(c)) + " at position " + strconv.Itoa(i))
		}
	}
	return append(toks, token{kind: tEOF, pos: len(src)}), nil
}

// path is a field reached from an object, possibly through parents.
type path struct {
	name string   // canonical dotted name, e.g. "Account.Owner.Email"
	refs []*field // reference fields to follow
	f    *field
}

// value returns the field value for row r (empty for null or a broken chain).
func (p *path) value(r *row) string {
	for _, rf := range p.refs {
		id := r.v[rf.col]
		if id == "" {
			return ""
		}
		t := rf.refObj.snapshot()
		i, ok := t.byID[id]
		if !ok {
			return ""
		}
		r = t.rows[i]
	}
	return r.v[p.f.col]
}

// proj is what to write for one record: columns, parent records, subqueries.
type proj struct {
	obj   *object
	items []pitem
}

type pitem struct {
	f   *field // column, or the reference field of a parent record
	rel *proj  // parent record projection
	sub *soql  // child subquery
	ch  *child
}

type orderBy struct {
	p          path
	desc       bool
	nullsFirst bool
}

// soql is a parsed and resolved query; it is immutable and may be cached.
type soql struct {
	obj     *object
	proj    *proj
	cols    []path // flat columns (Bulk CSV, composite refs)
	where   cond
	order   []orderBy
	limit   int // -1: none
	offset  int
	count   bool     // SELECT COUNT()
	aggs    []string // COUNT(field) aliases (AggregateResult)
	hasSub  bool
	fromRel *child // subquery: the child relationship

	group []path     // GROUP BY fields (soql_group.go)
	gcols []groupCol // an aggregate query's response columns, in order
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}
func (p *parser) isKw(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}
func (p *parser) acceptKw(kw string) bool {
	if p.isKw(kw) {
		p.i++
		return true
	}
	return false
}
func (p *parser) isPunct(s string) bool { t := p.peek(); return t.kind == tPunct && t.text == s }
func (p *parser) acceptPunct(s string) bool {
	if p.isPunct(s) {
		p.i++
		return true
	}
	return false
}
func (p *parser) expectPunct(s string) error {
	if !p.acceptPunct(s) {
		return p.unexpected("'" + s + "'")
	}
	return nil
}
func (p *parser) unexpected(want string) error {
	t := p.peek()
	got := t.text
	if t.kind == tEOF {
		got = "end of query"
	}
	return malformed("unexpected token: '" + got + "' at position " + strconv.Itoa(t.pos) + ", expected " + want)
}

// parseSOQL parses and resolves q against the server's objects.
func (s *Server) parseSOQL(q string) (*soql, error) {
	s.qcacheMu.Lock()
	if c, ok := s.qcache[q]; ok {
		s.qcacheMu.Unlock()
		return c, nil
	}
	s.qcacheMu.Unlock()
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	res, err := s.parseSelect(p, nil)
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, p.unexpected("end of query")
	}
	s.qcacheMu.Lock()
	if len(s.qcache) > 1000 {
		clear(s.qcache)
	}
	s.qcache[q] = res
	s.qcacheMu.Unlock()
	return res, nil
}

type selItem struct {
	kind  int // 0 path, 1 fields(), 2 subquery, 3 count() or another aggregate
	name  string
	sub   []token
	alias string
	fn    string // kind 3: COUNT, MAX, MIN; kind 0: TOLABEL, FORMAT, CONVERTCURRENCY or ""
}

// parseSelect parses SELECT ... FROM ... [...]; parent is set for subqueries.
func (s *Server) parseSelect(p *parser, parent *object) (*soql, error) {
	if !p.acceptKw("SELECT") {
		return nil, p.unexpected("SELECT")
	}
	var items []selItem
	for {
		switch {
		case p.isPunct("("):
			start := p.i
			depth := 0
			for {
				t := p.next()
				if t.kind == tEOF {
					return nil, malformed("unbalanced parentheses in subquery")
				}
				if t.kind == tPunct && t.text == "(" {
					depth++
				} else if t.kind == tPunct && t.text == ")" {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			sub := append([]token(nil), p.toks[start+1:p.i-1]...)
			items = append(items, selItem{kind: 2, sub: append(sub, token{kind: tEOF})})
		case p.peek().kind == tIdent:
			name := p.next().text
			if p.acceptPunct("(") {
				fn := strings.ToUpper(name)
				var arg string
				if p.peek().kind == tIdent {
					arg = p.next().text
				}
				if err := p.expectPunct(")"); err != nil {
					return nil, err
				}
				switch fn {
				case "FIELDS":
					items = append(items, selItem{kind: 1, name: strings.ToUpper(arg)})
				case "COUNT", "MAX", "MIN":
					it := selItem{kind: 3, name: arg, fn: fn}
					if p.peek().kind == tIdent && !p.isKw("FROM") {
						it.alias = p.next().text
					}
					items = append(items, it)
				case "TOLABEL", "FORMAT", "CONVERTCURRENCY":
					it := selItem{kind: 0, name: arg, fn: fn}
					if p.peek().kind == tIdent && !p.isKw("FROM") {
						it.alias = p.next().text
					}
					items = append(items, it)
				default:
					return nil, malformed("function " + name + " is not supported by the sample CRM")
				}
				break
			}
			if strings.EqualFold(name, "TYPEOF") {
				return nil, malformed("TYPEOF is not supported by the sample CRM")
			}
			it := selItem{kind: 0, name: name}
			if p.peek().kind == tIdent && !p.isKw("FROM") {
				it.alias = p.next().text // an alias, as in aggregate queries
			}
			items = append(items, it)
		default:
			return nil, p.unexpected("a field name")
		}
		if !p.acceptPunct(",") {
			break
		}
	}
	if !p.acceptKw("FROM") {
		return nil, p.unexpected("FROM")
	}
	ft := p.next()
	if ft.kind != tIdent {
		return nil, malformed("expected an object name after FROM")
	}
	q := &soql{limit: -1}
	if parent == nil {
		q.obj = s.objects[strings.ToLower(ft.text)]
		if q.obj == nil {
			return nil, noSuchObject(ft.text)
		}
	} else {
		ch := parent.children[strings.ToLower(ft.text)]
		if ch == nil {
			return nil, &queryError{code: "INVALID_TYPE", msg: "Didn't understand relationship '" + ft.text +
				"' in FROM part of query call. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name."}
		}
		q.obj, q.fromRel = ch.obj, ch
	}
	q.proj = &proj{obj: q.obj}
	unaliased := 0
	for _, it := range items {
		switch it.kind {
		case 0:
			pth, err := resolvePath(q.obj, it.name)
			if err != nil {
				return nil, err
			}
			q.addPath(pth)
			q.gcols = append(q.gcols, groupCol{key: columnKey(it.alias, pth), p: &pth})
		case 1:
			for _, f := range q.obj.fields {
				if it.name == "ALL" || (it.name == "CUSTOM") == f.custom {
					q.addPath(path{name: f.name, f: f})
				}
			}
			if it.name != "ALL" && it.name != "STANDARD" && it.name != "CUSTOM" {
				return nil, malformed("FIELDS() takes ALL, STANDARD or CUSTOM")
			}
		case 2:
			if parent != nil {
				return nil, malformed("nested subqueries are not supported")
			}
			sp := &parser{toks: it.sub}
			sub, err := s.parseSelect(sp, q.obj)
			if err != nil {
				return nil, err
			}
			if sp.peek().kind != tEOF {
				return nil, sp.unexpected("')'")
			}
			q.proj.items = append(q.proj.items, pitem{sub: sub, ch: sub.fromRel})
			q.hasSub = true
		case 3:
			if it.name == "" && it.fn == "COUNT" {
				q.count = true
				continue
			}
			pth, err := resolvePath(q.obj, it.name)
			if err != nil {
				return nil, err
			}
			alias := it.alias
			if alias == "" {
				alias = "expr" + strconv.Itoa(unaliased) // numbered among the unaliased only
				unaliased++
			}
			q.aggs = append(q.aggs, alias)
			q.gcols = append(q.gcols, groupCol{key: alias, fn: it.fn, p: &pth})
		}
	}
	// Optional clauses, in SOQL order.
	if p.acceptKw("USING") {
		p.acceptKw("SCOPE")
		p.next()
	}
	if p.acceptKw("WHERE") {
		c, err := s.parseOr(p, q.obj)
		if err != nil {
			return nil, err
		}
		q.where = c
	}
	if p.acceptKw("WITH") {
		p.next()
	}
	if p.acceptKw("GROUP") {
		if err := q.parseGroupBy(p); err != nil {
			return nil, err
		}
	}
	if (q.count || len(q.aggs) > 0 || len(q.group) > 0) && len(q.cols) > 0 {
		if err := q.checkGrouped(); err != nil {
			return nil, err
		}
	}
	if p.acceptKw("ORDER") {
		if !p.acceptKw("BY") {
			return nil, p.unexpected("BY")
		}
		for {
			t := p.next()
			if t.kind != tIdent {
				return nil, malformed("expected a field after ORDER BY")
			}
			pth, err := resolvePath(q.obj, t.text)
			if err != nil {
				return nil, err
			}
			ob := orderBy{p: pth}
			if p.acceptKw("DESC") {
				ob.desc = true
			} else {
				p.acceptKw("ASC")
			}
			ob.nullsFirst = !ob.desc
			if p.acceptKw("NULLS") {
				switch {
				case p.acceptKw("FIRST"):
					ob.nullsFirst = true
				case p.acceptKw("LAST"):
					ob.nullsFirst = false
				default:
					return nil, p.unexpected("FIRST or LAST")
				}
			}
			q.order = append(q.order, ob)
			if !p.acceptPunct(",") {
				break
			}
		}
	}
	if p.acceptKw("LIMIT") {
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tNumber || err != nil || n < 0 {
			return nil, malformed("LIMIT must be a non-negative integer")
		}
		q.limit = n
	}
	if p.acceptKw("OFFSET") {
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tNumber || err != nil || n < 0 {
			return nil, malformed("OFFSET must be a non-negative integer")
		}
		q.offset = n
	}
	if p.acceptKw("FOR") {
		p.next()
	}
	if len(q.proj.items) == 0 && !q.count && len(q.aggs) == 0 {
		return nil, malformed("SELECT needs at least one field")
	}
	return q, nil
}

// addPath adds a column to the flat list and to the projection tree.
func (q *soql) addPath(p path) {
	for _, c := range q.cols {
		if c.name == p.name {
			return
		}
	}
	q.cols = append(q.cols, p)
	pr := q.proj
	for _, rf := range p.refs {
		var next *proj
		for _, it := range pr.items {
			if it.rel != nil && it.f == rf {
				next = it.rel
				break
			}
		}
		if next == nil {
			next = &proj{obj: rf.refObj}
			pr.items = append(pr.items, pitem{f: rf, rel: next})
		}
		pr = next
	}
	for _, it := range pr.items {
		if it.rel == nil && it.sub == nil && it.f == p.f {
			return
		}
	}
	pr.items = append(pr.items, pitem{f: p.f})
}

// resolvePath resolves "Account.Owner.Email" from obj.
func resolvePath(obj *object, name string) (path, error) {
	segs := strings.Split(name, ".")
	if len(segs) > 1 && strings.EqualFold(segs[0], obj.name) && obj.relLower[strings.ToLower(segs[0])] == nil {
		segs = segs[1:]
	}
	var out path
	cur := obj
	canon := make([]string, 0, len(segs))
	for i, sg := range segs {
		if i == len(segs)-1 {
			f := cur.field(sg)
			if f == nil {
				return path{}, noSuchColumn(sg, cur.name)
			}
			out.f = f
			canon = append(canon, f.name)
			break
		}
		rf := cur.relLower[strings.ToLower(sg)]
		if rf == nil {
			return path{}, &queryError{code: "INVALID_FIELD", msg: "Didn't understand relationship '" + sg +
				"' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name."}
		}
		out.refs = append(out.refs, rf)
		canon = append(canon, rf.rel)
		cur = rf.refObj
	}
	out.name = strings.Join(canon, ".")
	return out, nil
}
