// The sample CRM's Salesforce search: SOSL over the tables
// (docs/samplecrm.md).

package samplecrm

import (
	"net/http"
	"strconv"
	"strings"
)

type searchSpec struct {
	obj   *object
	q     *soql
	limit int
}

func (s *Server) sfSearch(w http.ResponseWriter, r *http.Request, base string) {
	text := strings.TrimSpace(r.URL.Query().Get("q"))
	specs, term, limit, err := s.parseSOSL(text)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	needle := strings.ToLower(strings.NewReplacer("*", "", "?", "", `"`, "").Replace(term))
	e := &sfEnc{base: base, b: []byte(`{"searchRecords":[`)}
	n := 0
	for _, sp := range specs {
		t := sp.obj.snapshot()
		found := 0
		for i, rw := range t.rows {
			if n >= limit || (sp.limit >= 0 && found >= sp.limit) {
				break
			}
			if rw.deleted || (sp.q.where != nil && !sp.q.where.eval(rw)) || !rowContains(sp.obj, rw, needle) {
				continue
			}
			if n > 0 {
				e.b = append(e.b, ',')
			}
			e.record(sp.q.proj, t, int32(i))
			n++
			found++
		}
	}
	e.b = append(e.b, "]}"...)
	writeJSON(w, http.StatusOK, e.b)
}

func rowContains(o *object, r *row, needle string) bool {
	for _, f := range o.fields {
		switch f.kind {
		case kString, kEmail, kPhone, kPicklist:
			v := r.v[f.col]
			if v != "" && strings.Contains(strings.ToLower(v), needle) {
				return true
			}
		}
	}
	return false
}

// parseSOSL parses FIND {term} [IN x FIELDS] [RETURNING Obj[(fields [WHERE] [LIMIT])], ...] [LIMIT n].
func (s *Server) parseSOSL(text string) ([]searchSpec, string, int, error) {
	const bad = "Search string must be FIND {term} [RETURNING Object(fields)]"
	if len(text) < 4 || !strings.EqualFold(text[:4], "FIND") {
		return nil, "", 0, &queryError{code: "MALFORMED_SEARCH", msg: bad}
	}
	rest := strings.TrimSpace(text[4:])
	var term string
	switch {
	case strings.HasPrefix(rest, "{"):
		end := -1
		for i := 1; i < len(rest); i++ {
			if rest[i] == '\\' {
				i++
				continue
			}
			if rest[i] == '}' {
				end = i
				break
			}
		}
		if end < 0 {
			return nil, "", 0, &queryError{code: "MALFORMED_SEARCH", msg: bad}
		}
		term, rest = rest[1:end], rest[end+1:]
	case strings.HasPrefix(rest, "'"):
		end := strings.IndexByte(rest[1:], '\'')
		if end < 0 {
			return nil, "", 0, &queryError{code: "MALFORMED_SEARCH", msg: bad}
		}
		term, rest = rest[1:end+1], rest[end+2:]
	default:
		return nil, "", 0, &queryError{code: "MALFORMED_SEARCH", msg: bad}
	}
	term = strings.ReplaceAll(term, `\`, "")
	if len(strings.TrimSpace(strings.Trim(term, "*?\""))) < 2 {
		return nil, "", 0, &queryError{code: "MALFORMED_SEARCH", msg: "search term must be longer than one character"}
	}
	toks, err := lex(rest)
	if err != nil {
		return nil, "", 0, err
	}
	p := &parser{toks: toks}
	if p.acceptKw("IN") {
		p.next()
		p.acceptKw("FIELDS")
	}
	var specs []searchSpec
	if p.acceptKw("RETURNING") {
		for {
			t := p.next()
			if t.kind != tIdent {
				return nil, "", 0, malformed("expected an object after RETURNING")
			}
			o := s.objects[strings.ToLower(t.text)]
			if o == nil {
				return nil, "", 0, noSuchObject(t.text)
			}
			q := &soql{obj: o, proj: &proj{obj: o}, limit: -1}
			sp := searchSpec{obj: o, q: q, limit: -1}
			if p.acceptPunct("(") {
				for p.peek().kind == tIdent && !p.isKw("WHERE") && !p.isKw("LIMIT") && !p.isKw("ORDER") {
					pth, err := resolvePath(o, p.next().text)
					if err != nil {
						return nil, "", 0, err
					}
					q.addPath(pth)
					if !p.acceptPunct(",") {
						break
					}
				}
				if p.acceptKw("WHERE") {
					c, err := s.parseOr(p, o)
					if err != nil {
						return nil, "", 0, err
					}
					q.where = c
				}
				if p.acceptKw("LIMIT") {
					n, err := strconv.Atoi(p.next().text)
					if err != nil || n < 0 {
						return nil, "", 0, malformed("LIMIT must be a number")
					}
					sp.limit = n
				}
				if err := p.expectPunct(")"); err != nil {
					return nil, "", 0, err
				}
			}
			if len(q.proj.items) == 0 {
				q.addPath(path{name: "Id", f: o.fields[0]})
			}
			specs = append(specs, sp)
			if !p.acceptPunct(",") {
				break
			}
		}
	} else {
		for _, n := range []string{"Account", "Contact", "Lead"} {
			o := s.objects[strings.ToLower(n)]
			q := &soql{obj: o, proj: &proj{obj: o}, limit: -1}
			q.addPath(path{name: "Id", f: o.fields[0]})
			specs = append(specs, searchSpec{obj: o, q: q, limit: -1})
		}
	}
	limit := 2000
	if p.acceptKw("LIMIT") {
		n, err := strconv.Atoi(p.next().text)
		if err != nil || n < 0 {
			return nil, "", 0, malformed("LIMIT must be a number")
		}
		limit = min(n, 2000)
	}
	if p.peek().kind != tEOF {
		return nil, "", 0, p.unexpected("end of search")
	}
	return specs, term, limit, nil
}
