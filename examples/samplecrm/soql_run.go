package samplecrm

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Running a parsed SOQL query (soql.go) over the sample data: selecting,
// ordering and paging the rows.

// rowset is the result of a query over one table snapshot.
type rowset struct {
	t   *table
	idx []int32 // nil: rows base..base+n-1
	n   int
}

func (rs *rowset) at(k int) int32 {
	if rs.idx == nil {
		return int32(k)
	}
	return rs.idx[k]
}

// run evaluates the query's WHERE, ORDER BY, LIMIT and OFFSET over a snapshot.
func (q *soql) run(all bool) *rowset {
	t := q.obj.snapshot()
	limit := q.limit
	if limit < 0 {
		limit = len(t.rows)
	}
	if q.where == nil && len(q.order) == 0 && (all || t.deleted == 0) {
		n := max(0, min(limit, len(t.rows)-q.offset))
		if q.offset == 0 || n == 0 {
			return &rowset{t: t, n: n}
		}
		idx := make([]int32, n)
		for k := range idx {
			idx[k] = int32(q.offset + k)
		}
		return &rowset{t: t, idx: idx, n: n}
	}
	stop := len(t.rows)
	if len(q.order) == 0 {
		stop = q.offset + limit
	}
	idx := make([]int32, 0, min(len(t.rows), stop))
	for i, r := range t.rows {
		if len(idx) >= stop {
			break
		}
		if (r.deleted && !all) || (q.where != nil && !q.where.eval(r)) {
			continue
		}
		idx = append(idx, int32(i))
	}
	if len(q.order) > 0 {
		slices.SortStableFunc(idx, func(a, b int32) int { return q.compare(t.rows[a], t.rows[b]) })
	}
	if q.offset >= len(idx) {
		idx = idx[:0]
	} else {
		idx = idx[q.offset:]
	}
	if len(idx) > limit {
		idx = idx[:limit]
	}
	return &rowset{t: t, idx: idx, n: len(idx)}
}

func (q *soql) compare(a, b *row) int {
	for _, o := range q.order {
		va, vb := o.p.value(a), o.p.value(b)
		var d int
		switch {
		case va == "" && vb == "":
			d = 0
		case va == "" || vb == "":
			d = 1
			if (va == "") == o.nullsFirst {
				d = -1
			}
			if o.desc {
				d = -d // undone below: nulls placement ignores direction
			}
		case o.p.f.kind == kNumber || o.p.f.kind == kInt:
			fa, _ := strconv.ParseFloat(va, 64)
			fb, _ := strconv.ParseFloat(vb, 64)
			d = cmp.Compare(fa, fb)
		default:
			d = strings.Compare(strings.ToLower(va), strings.ToLower(vb))
		}
		if o.desc {
			d = -d
		}
		if d != 0 {
			return d
		}
	}
	return 0
}
