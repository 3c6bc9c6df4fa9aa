package samplecrm

import (
	"net/http"
	"strconv"
	"strings"
)

// Aggregate queries with GROUP BY, aliases and MAX/MIN: Salesforce answers
// them as AggregateResult records keyed by alias (a grouped field under
// its own name, an aggregate under exprN), which is what a gateway masking
// by field name cannot see through.

// groupCol is one column of an aggregate query's AggregateResult records.
type groupCol struct {
	key string // the response key: alias, field name or exprN
	fn  string // "" (a grouped field), COUNT, MAX or MIN
	p   *path
}

// columnKey is a grouped field's response key: its alias, else its own
// (last) name, as Salesforce writes it.
func columnKey(alias string, p path) string {
	if alias != "" {
		return alias
	}
	if i := strings.LastIndexByte(p.name, '.'); i >= 0 {
		return p.name[i+1:]
	}
	return p.name
}

// parseGroupBy reads BY f1, f2, ... after GROUP.
func (q *soql) parseGroupBy(p *parser) error {
	if !p.acceptKw("BY") {
		return p.unexpected("BY")
	}
	for {
		t := p.next()
		if t.kind != tIdent {
			return malformed("expected a field after GROUP BY")
		}
		pth, err := resolvePath(q.obj, t.text)
		if err != nil {
			return err
		}
		q.group = append(q.group, pth)
		if !p.acceptPunct(",") {
			return nil
		}
	}
}

// checkGrouped holds every plain column of an aggregate query to GROUP BY.
func (q *soql) checkGrouped() error {
	for _, c := range q.cols {
		grouped := false
		for _, g := range q.group {
			grouped = grouped || strings.EqualFold(g.name, c.name)
		}
		if !grouped {
			return malformed("field " + c.name + " must be grouped or aggregated")
		}
	}
	return nil
}

// writeGroups answers an aggregate query: one AggregateResult per group
// (first seen first; one group of every row without GROUP BY), LIMIT and
// OFFSET applied to the groups.
func (s *Server) writeGroups(w http.ResponseWriter, q *soql, all bool) {
	whole := *q
	whole.limit, whole.offset = -1, 0
	rs := whole.run(all)
	type group struct {
		rows []int32
	}
	var order []string
	groups := map[string]*group{}
	for k := 0; k < rs.n; k++ {
		i := rs.at(k)
		var key strings.Builder
		for _, g := range q.group {
			v := g.value(rs.t.rows[i])
			key.WriteString(strconv.Itoa(len(v)))
			key.WriteByte(':')
			key.WriteString(v)
		}
		g := groups[key.String()]
		if g == nil {
			g = &group{}
			groups[key.String()] = g
			order = append(order, key.String())
		}
		g.rows = append(g.rows, i)
	}
	if len(q.group) == 0 && len(order) == 0 {
		order, groups[""] = []string{""}, &group{}
	}
	if q.offset < len(order) {
		order = order[q.offset:]
	} else {
		order = nil
	}
	if q.limit >= 0 && len(order) > q.limit {
		order = order[:q.limit]
	}
	b := []byte(`{"totalSize":`)
	b = strconv.AppendInt(b, int64(len(order)), 10)
	b = append(b, `,"done":true,"records":[`...)
	for n, k := range order {
		g := groups[k]
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"attributes":{"type":"AggregateResult"}`...)
		for _, c := range q.gcols {
			b = append(b, ',')
			b = appendString(b, c.key)
			b = append(b, ':')
			switch c.fn {
			case "COUNT":
				b = strconv.AppendInt(b, int64(len(g.rows)), 10)
				continue
			case "":
				if len(g.rows) == 0 {
					b = append(b, "null"...)
					continue
				}
				b = appendValue(b, c.p.f.kind, c.p.value(rs.t.rows[g.rows[0]]))
				continue
			}
			best := ""
			for _, i := range g.rows {
				v := c.p.value(rs.t.rows[i])
				if v == "" {
					continue
				}
				if best == "" || (c.fn == "MAX") == (compareValues(c.p, v, best) > 0) {
					best = v
				}
			}
			b = appendValue(b, c.p.f.kind, best)
		}
		b = append(b, '}')
	}
	writeJSON(w, http.StatusOK, append(b, "]}"...))
}

// compareValues orders two non-null values of a field (numbers as numbers).
func compareValues(p *path, a, b string) int {
	if p.f.kind == kNumber || p.f.kind == kInt {
		fa, _ := strconv.ParseFloat(a, 64)
		fb, _ := strconv.ParseFloat(b, 64)
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}
