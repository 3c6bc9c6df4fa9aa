// The sample CRM's Zoho COQL: parse and run SELECT ... FROM module WHERE
// ... ORDER BY ... LIMIT (docs/samplecrm.md).

package samplecrm

import (
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

type coql struct {
	m      *zmodule
	cols   []*zpath
	where  cond
	order  []*zpath
	desc   bool
	limit  int
	offset int
}

func (s *Server) parseCOQL(text string) (*coql, error) {
	toks, err := lex(text)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if !p.acceptKw("select") {
		return nil, p.unexpected("select")
	}
	var names []string
	for {
		t := p.next()
		if t.kind != tIdent {
			return nil, p.unexpected("a field name")
		}
		names = append(names, t.text)
		if !p.acceptPunct(",") {
			break
		}
	}
	if !p.acceptKw("from") {
		return nil, p.unexpected("from")
	}
	mt := p.next()
	q := &coql{m: s.modules[strings.ToLower(mt.text)], limit: 200}
	if q.m == nil || q.m.name == "users" {
		return nil, stringError("invalid module " + mt.text)
	}
	for _, n := range names {
		zp, ok := q.m.resolve(n)
		if !ok {
			return nil, stringError("invalid column " + n)
		}
		q.cols = append(q.cols, zp)
	}
	if p.acceptKw("where") {
		c, err := q.parseOr(p)
		if err != nil {
			return nil, err
		}
		q.where = c
	}
	if p.acceptKw("order") {
		if !p.acceptKw("by") {
			return nil, p.unexpected("by")
		}
		for {
			zp, ok := q.m.resolve(p.next().text)
			if !ok {
				return nil, stringError("invalid order by column")
			}
			q.order = append(q.order, zp)
			if p.acceptKw("desc") {
				q.desc = true
			} else {
				p.acceptKw("asc")
			}
			if !p.acceptPunct(",") {
				break
			}
		}
	}
	if p.acceptKw("limit") {
		a, err := strconv.Atoi(p.next().text)
		if err != nil || a < 0 {
			return nil, stringError("invalid limit")
		}
		q.limit = a
		if p.acceptPunct(",") { // limit offset, count
			b, err := strconv.Atoi(p.next().text)
			if err != nil || b < 0 {
				return nil, stringError("invalid limit")
			}
			q.offset, q.limit = a, b
		}
		if p.acceptKw("offset") {
			b, err := strconv.Atoi(p.next().text)
			if err != nil || b < 0 {
				return nil, stringError("invalid offset")
			}
			q.offset = b
		}
	}
	if q.limit > 2000 {
		return nil, stringError("limit must not exceed 2000")
	}
	if p.peek().kind != tEOF {
		return nil, p.unexpected("end of query")
	}
	return q, nil
}

func (q *coql) parseOr(p *parser) (cond, error) {
	var out orCond
	for {
		var and andCond
		for {
			c, err := q.parseCmp(p)
			if err != nil {
				return nil, err
			}
			and = append(and, c)
			if !p.acceptKw("and") {
				break
			}
		}
		out = append(out, and)
		if !p.acceptKw("or") {
			break
		}
	}
	return out, nil
}

func (q *coql) parseCmp(p *parser) (cond, error) {
	if p.acceptPunct("(") {
		c, err := q.parseOr(p)
		if err != nil {
			return nil, err
		}
		return c, p.expectPunct(")")
	}
	ft := p.next()
	zp, ok := q.m.resolve(ft.text)
	if ft.kind != tIdent || !ok {
		return nil, stringError("invalid column in where: " + ft.text)
	}
	c := &cmpCond{p: zp, k: zp.f.kind, num: zp.f.kind == kNumber || zp.f.kind == kInt}
	switch {
	case p.acceptKw("is"):
		c.null, c.op = true, "="
		if p.acceptKw("not") {
			c.op = "!="
		}
		if !p.acceptKw("null") {
			return nil, p.unexpected("null")
		}
		return c, nil
	case p.acceptKw("like"):
		c.op = "LIKE"
	case p.acceptKw("in"):
		c.op = "IN"
	case p.acceptKw("not"):
		if !p.acceptKw("in") {
			return nil, p.unexpected("in")
		}
		c.op = "NOT IN"
	case p.peek().kind == tPunct:
		c.op = p.next().text
	default:
		return nil, p.unexpected("an operator")
	}
	if c.op == "IN" || c.op == "NOT IN" {
		if err := p.expectPunct("("); err != nil {
			return nil, err
		}
		for {
			c.vals = append(c.vals, p.next().text)
			if !p.acceptPunct(",") {
				break
			}
		}
		return c, p.expectPunct(")")
	}
	v := p.next()
	if v.kind != tString && v.kind != tNumber && !(v.kind == tIdent && (v.text == "true" || v.text == "false")) {
		return nil, stringError("invalid value in where: " + v.text)
	}
	c.vals = []string{v.text}
	return c, nil
}

func (s *Server) zohoCOQL(w http.ResponseWriter, r *http.Request) {
	var req struct {
		SelectQuery string `json:"select_query"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || strings.TrimSpace(req.SelectQuery) == "" {
		zohoError(w, http.StatusBadRequest, "INVALID_QUERY", "select_query is missing", map[string]string{"param": "select_query"})
		return
	}
	q, err := s.parseCOQL(req.SelectQuery)
	if err != nil {
		msg := err.Error()
		if qe, ok := err.(*queryError); ok {
			msg = qe.msg
		}
		zohoError(w, http.StatusBadRequest, "SYNTAX_ERROR", "error occured while parsing the query: "+msg, nil)
		return
	}
	t := q.m.obj.snapshot()
	var idx []int32
	for i, rw := range t.rows {
		if rw.deleted || (q.where != nil && !q.where.eval(rw)) {
			continue
		}
		idx = append(idx, int32(i))
	}
	if len(q.order) > 0 {
		sortRows(idx, t, q.order, q.desc)
	}
	idx = idx[min(q.offset, len(idx)):]
	more := len(idx) > q.limit
	if more {
		idx = idx[:q.limit]
	}
	if len(idx) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	idf := q.m.field("id")
	b := []byte(`{"data":[`)
	for k, i := range idx {
		if k > 0 {
			b = append(b, ',')
		}
		rw := t.rows[i]
		b = append(b, '{')
		hasID := false
		for _, c := range q.cols {
			b = appendString(b, c.name)
			b = append(b, ':')
			v := c.value(rw)
			switch {
			case c.f.kind == kLookup:
				if v == "" {
					b = append(b, "null"...)
				} else {
					b = append(b, `{"id":"`+v+`"}`...)
				}
			case c.f.kind == kRawJSON:
				b = append(b, v...)
			default:
				b = appendValue(b, c.f.kind, v)
			}
			b = append(b, ',')
			hasID = hasID || (c.f == idf && len(c.hops) == 0)
		}
		if !hasID {
			b = append(b, `"id":"`+idf.raw(rw)+`",`...)
		}
		b[len(b)-1] = '}'
	}
	b = append(b, `],"info":{"count":`...)
	b = strconv.AppendInt(b, int64(len(idx)), 10)
	b = append(b, `,"more_records":`+strconv.FormatBool(more)+`}}`...)
	writeJSON(w, http.StatusOK, b)
}

func sortRows(idx []int32, t *table, order []*zpath, desc bool) {
	less := func(a, b int32) int {
		for _, o := range order {
			va, vb := o.value(t.rows[a]), o.value(t.rows[b])
			var d int
			if o.f.kind == kNumber || o.f.kind == kInt {
				fa, _ := strconv.ParseFloat(va, 64)
				fb, _ := strconv.ParseFloat(vb, 64)
				d = cmp.Compare(fa, fb)
			} else {
				d = strings.Compare(strings.ToLower(va), strings.ToLower(vb))
			}
			if desc {
				d = -d
			}
			if d != 0 {
				return d
			}
		}
		return 0
	}
	slices.SortStableFunc(idx, less)
}
