package samplecrm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// sfEnc writes Salesforce records into a reused buffer.
type sfEnc struct {
	base string // "/services/data/v60.0/"
	all  bool   // queryAll: child subqueries include deleted rows
	b    []byte
}

// record appends one record of the projection.
func (e *sfEnc) record(p *proj, t *table, i int32) {
	r := t.rows[i]
	e.b = append(e.b, `{"attributes":{"type":"`...)
	e.b = append(e.b, p.obj.name...)
	e.b = append(e.b, `","url":"`...)
	e.b = append(e.b, e.base...)
	e.b = append(e.b, "sobjects/"...)
	e.b = append(e.b, p.obj.name...)
	e.b = append(e.b, '/')
	e.b = append(e.b, r.v[0]...)
	e.b = append(e.b, `"}`...)
	for _, it := range p.items {
		e.b = append(e.b, ',', '"')
		switch {
		case it.sub != nil:
			e.b = append(e.b, it.ch.name...)
			e.b = append(e.b, '"', ':')
			e.children(it, t, i)
		case it.rel != nil:
			e.b = append(e.b, it.f.rel...)
			e.b = append(e.b, '"', ':')
			id := r.v[it.f.col]
			pt := it.f.refObj.snapshot()
			j, ok := pt.byID[id]
			if id == "" || !ok {
				e.b = append(e.b, "null"...)
				continue
			}
			e.record(it.rel, pt, j)
		default:
			e.b = append(e.b, it.f.name...)
			e.b = append(e.b, '"', ':')
			e.b = appendValue(e.b, it.f.kind, r.v[it.f.col])
		}
	}
	e.b = append(e.b, '}')
}

// children appends a child subquery result (null when empty, as Salesforce).
func (e *sfEnc) children(it pitem, t *table, i int32) {
	ids := t.children[strings.ToLower(it.ch.name)][i]
	ct := it.ch.obj.snapshot()
	sub := it.sub
	var keep []int32
	for _, ci := range ids {
		r := ct.rows[ci]
		if r.deleted && !e.all || r.v[it.ch.field.col] != t.rows[i].v[0] {
			continue
		}
		if sub.where != nil && !sub.where.eval(r) {
			continue
		}
		keep = append(keep, ci)
	}
	if sub.offset > 0 {
		keep = keep[min(sub.offset, len(keep)):]
	}
	if sub.limit >= 0 && len(keep) > sub.limit {
		keep = keep[:sub.limit]
	}
	if len(keep) == 0 {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, `{"totalSize":`...)
	e.b = strconv.AppendInt(e.b, int64(len(keep)), 10)
	e.b = append(e.b, `,"done":true,"records":[`...)
	for k, ci := range keep {
		if k > 0 {
			e.b = append(e.b, ',')
		}
		e.record(sub.proj, ct, ci)
	}
	e.b = append(e.b, "]}"...)
}

var versionRE = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]$`)

// serveSalesforce routes /services/... requests.
func (s *Server) serveSalesforce(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/services/data")
	if !ok {
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" {
		b := []byte(`[`)
		for i, v := range []string{"58.0", "59.0", "60.0", "61.0", "62.0"} {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"label":"Sample `+v+`","url":"/services/data/v`+v+`","version":"`+v+`"}`...)
		}
		writeJSON(w, http.StatusOK, append(b, ']'))
		return
	}
	ver, rest, _ := strings.Cut(rest, "/")
	if !versionRE.MatchString(ver) {
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	base := "/services/data/" + ver + "/"
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	m := r.Method
	switch segs[0] {
	case "":
		b := []byte(`{`)
		for i, k := range []string{"composite", "graphql", "jobs", "limits", "query", "queryAll", "search", "sobjects", "analytics"} {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, base+k)
		}
		writeJSON(w, http.StatusOK, append(b, '}'))
	case "query", "queryAll":
		if !allow(w, m, "GET") {
			return
		}
		all := segs[0] == "queryAll"
		if len(segs) == 2 && segs[1] != "" {
			s.sfQueryMore(w, r, base, segs[1])
			return
		}
		s.sfQuery(w, r, base, r.URL.Query().Get("q"), all)
	case "sobjects":
		s.sfSObjects(w, r, base, segs[1:])
	case "composite":
		s.sfComposite(w, r, base, segs[1:])
	case "search":
		if !allow(w, m, "GET") {
			return
		}
		s.sfSearch(w, r, base)
	case "graphql":
		if !allow(w, m, "POST") {
			return
		}
		s.sfGraphQL(w, r, base)
	case "analytics":
		if len(segs) != 3 || segs[1] != "reports" {
			sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
			return
		}
		if !allow(w, m, "GET", "POST") {
			return
		}
		s.sfReport(w, r, segs[2])
	case "jobs":
		if len(segs) < 2 || segs[1] != "query" {
			sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist (the sample CRM serves Bulk API 2.0 query jobs only)")
			return
		}
		s.sfBulk(w, r, ver, segs[2:])
	case "limits":
		if !allow(w, m, "GET") {
			return
		}
		n := s.usage.Load()
		b := []byte(`{"DailyApiRequests":{"Max":15000,"Remaining":`)
		b = strconv.AppendInt(b, max(0, 15000-n), 10)
		b = append(b, `},"DailyBulkV2QueryJobs":{"Max":10000,"Remaining":10000},"DailyBulkV2QueryFileStorageMB":{"Max":976562,"Remaining":976562},"DataStorageMB":{"Max":1024,"Remaining":1000},"SingleEmail":{"Max":5000,"Remaining":5000}}`...)
		writeJSON(w, http.StatusOK, b)
	default:
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
}

// allow answers 405 unless the method is one of methods.
func allow(w http.ResponseWriter, method string, methods ...string) bool {
	for _, m := range methods {
		if m == method {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ","))
	sfError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "HTTP Method '"+method+"' not allowed. Allowed are "+strings.Join(methods, ","))
	return false
}

func writeQueryError(w http.ResponseWriter, err error) {
	var qe *queryError
	if errors.As(err, &qe) {
		sfError(w, http.StatusBadRequest, qe.code, qe.msg)
		return
	}
	sfError(w, http.StatusBadRequest, "MALFORMED_QUERY", err.Error())
}

// cursor is a query whose further pages can be fetched with a locator.
type cursor struct {
	id   string
	q    *soql
	rs   *rowset
	page int
	all  bool
}

func (s *Server) pageSize(r *http.Request) int {
	page := s.opts.PageSize
	if v := r.Header.Get("Sforce-Query-Options"); v != "" {
		for part := range strings.SplitSeq(v, ",") {
			if n, ok := strings.CutPrefix(strings.TrimSpace(part), "batchSize="); ok {
				if b, err := strconv.Atoi(n); err == nil && b > 0 && b < page {
					page = b
				}
			}
		}
	}
	return page
}

func (s *Server) sfQuery(w http.ResponseWriter, r *http.Request, base, text string, all bool) {
	if strings.TrimSpace(text) == "" {
		sfError(w, http.StatusBadRequest, "MALFORMED_QUERY", "A query string has to be specified")
		return
	}
	q, err := s.parseSOQL(text)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	if len(q.aggs) > 0 || len(q.group) > 0 {
		s.writeGroups(w, q, all)
		return
	}
	rs := q.run(all)
	if q.count || len(q.aggs) > 0 {
		b := []byte(`{"totalSize":`)
		if q.count {
			b = strconv.AppendInt(b, int64(rs.n), 10)
			b = append(b, `,"done":true,"records":[]}`...)
		} else {
			b = append(b, `1,"done":true,"records":[{"attributes":{"type":"AggregateResult"}`...)
			for _, a := range q.aggs {
				b = append(b, ',')
				b = appendString(b, a)
				b = append(b, ':')
				b = strconv.AppendInt(b, int64(rs.n), 10)
			}
			b = append(b, "}]}"...)
		}
		writeJSON(w, http.StatusOK, b)
		return
	}
	s.writeQueryPage(w, r, base, &cursor{q: q, rs: rs, page: s.pageSize(r), all: all}, 0)
}

func (s *Server) sfQueryMore(w http.ResponseWriter, r *http.Request, base, locator string) {
	id, off, ok := strings.Cut(locator, "-")
	pos, err := strconv.Atoi(off)
	s.curMu.Lock()
	c := s.cursors[id]
	s.curMu.Unlock()
	if !ok || err != nil || c == nil || pos < 0 || pos > c.rs.n {
		sfError(w, http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	s.writeQueryPage(w, r, base, c, pos)
}

// writeQueryPage streams one page of a query result from position pos.
func (s *Server) writeQueryPage(w http.ResponseWriter, r *http.Request, base string, c *cursor, pos int) {
	end := min(c.rs.n, pos+c.page)
	next := ""
	if end < c.rs.n {
		if c.id == "" {
			s.curMu.Lock()
			s.curSeq++
			c.id = "01g" + "SC" + pad(int(s.curSeq), 10)
			if len(s.cursors) >= 10000 {
				clear(s.cursors)
			}
			s.cursors[c.id] = c
			s.curMu.Unlock()
		}
		next = base + "query/" + c.id + "-" + strconv.Itoa(end)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	st := getStream(w)
	defer st.put()
	bw := st.bw
	e := &sfEnc{base: base, all: c.all, b: st.b}
	defer func() { st.b = e.b }()
	e.b = append(e.b, `{"totalSize":`...)
	e.b = strconv.AppendInt(e.b, int64(c.rs.n), 10)
	if next == "" {
		e.b = append(e.b, `,"done":true,"records":[`...)
	} else {
		e.b = append(e.b, `,"done":false,"nextRecordsUrl":`...)
		e.b = appendString(e.b, next)
		e.b = append(e.b, `,"records":[`...)
	}
	pc := s.newPacer(r, w, bw)
	for k := pos; k < end; k++ {
		if k > pos {
			e.b = append(e.b, ',')
		}
		e.record(c.q.proj, c.rs.t, c.rs.at(k))
		if len(e.b) > 16<<10 || pc.d > 0 {
			var err error
			if e.b, err = flushScratch(bw, e.b); err != nil {
				return
			}
		}
		if !pc.next() {
			return
		}
	}
	e.b = append(e.b, "]}"...)
	_, _ = bw.Write(e.b)
	_ = bw.Flush()
}

func (s *Server) newPacer(r *http.Request, w http.ResponseWriter, bw *bufio.Writer) *pacer {
	return &pacer{ctx: r.Context(), d: s.delay(r), abortAfter: abortAfter(r), flush: func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := http.NewResponseController(w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}}
}

// projFor builds the projection for ?fields=a,b (all columns when empty).
func projFor(o *object, fields string) (*soql, error) {
	q := &soql{obj: o, limit: -1, proj: &proj{obj: o}}
	if strings.TrimSpace(fields) == "" {
		for _, f := range o.fields {
			q.addPath(path{name: f.name, f: f})
		}
		return q, nil
	}
	for name := range strings.SplitSeq(fields, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		p, err := resolvePath(o, name)
		if err != nil {
			return nil, err
		}
		q.addPath(p)
	}
	// Salesforce always returns the Id of a record read with ?fields=.
	q.addPath(path{name: "Id", f: o.fields[0]})
	return q, nil
}

func (s *Server) sfSObjects(w http.ResponseWriter, r *http.Request, base string, segs []string) {
	m := r.Method
	if len(segs) == 0 || segs[0] == "" {
		if !allow(w, m, "GET") {
			return
		}
		b := []byte(`{"encoding":"UTF-8","maxBatchSize":200,"sobjects":[`)
		for i, o := range s.objOrder {
			if i > 0 {
				b = append(b, ',')
			}
			b = s.appendObjectSummary(b, base, o)
		}
		writeJSON(w, http.StatusOK, append(b, "]}"...))
		return
	}
	o := s.objects[strings.ToLower(segs[0])]
	if o == nil {
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	switch len(segs) {
	case 1:
		switch m {
		case "GET":
			b := []byte(`{"objectDescribe":`)
			b = s.appendObjectSummary(b, base, o)
			writeJSON(w, http.StatusOK, append(b, `,"recentItems":[]}`...))
		case "POST":
			vals, ok := s.readRecordBody(w, r, o, true)
			if !ok || s.duplicateRule(w, r, base, o, vals) {
				return
			}
			id := o.create(vals)
			w.Header().Set("Location", base+"sobjects/"+o.name+"/"+id)
			writeJSON(w, http.StatusCreated, []byte(`{"id":"`+id+`","success":true,"errors":[]}`))
		default:
			allow(w, m, "GET", "POST")
		}
		return
	case 2:
		if segs[1] == "describe" {
			if allow(w, m, "GET") {
				writeJSON(w, http.StatusOK, s.describe(base, o))
			}
			return
		}
		id := segs[1]
		switch m {
		case "GET", "HEAD":
			q, err := projFor(o, r.URL.Query().Get("fields"))
			if err != nil {
				writeQueryError(w, err)
				return
			}
			t := o.snapshot()
			i, ok := t.lookup(id)
			if !ok || t.rows[i].deleted {
				sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
				return
			}
			e := &sfEnc{base: base}
			e.record(q.proj, t, i)
			writeJSON(w, http.StatusOK, e.b)
		case "PATCH":
			vals, ok := s.readRecordBody(w, r, o, false)
			if !ok {
				return
			}
			if !o.update(id, vals) {
				sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case "DELETE":
			if !o.remove(id) {
				sfError(w, http.StatusNotFound, "ENTITY_IS_DELETED", "entity is deleted")
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			allow(w, m, "GET", "PATCH", "DELETE")
		}
		return
	case 3:
		t := o.snapshot()
		// sobjects/{Object}/{id}/{relationship}
		if i, ok := t.lookup(segs[1]); ok && !t.rows[i].deleted {
			if !allow(w, m, "GET") {
				return
			}
			e := &sfEnc{base: base}
			if rf := o.relLower[strings.ToLower(segs[2])]; rf != nil {
				pt := rf.refObj.snapshot()
				j, ok := pt.byID[t.rows[i].v[rf.col]]
				if !ok {
					sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
					return
				}
				q, _ := projFor(rf.refObj, r.URL.Query().Get("fields"))
				e.record(q.proj, pt, j)
				writeJSON(w, http.StatusOK, e.b)
				return
			}
			if ch := o.children[strings.ToLower(segs[2])]; ch != nil {
				q, _ := projFor(ch.obj, r.URL.Query().Get("fields"))
				sub := &soql{obj: ch.obj, proj: q.proj, limit: -1}
				e.children(pitem{sub: sub, ch: ch}, t, i)
				if string(e.b) == "null" {
					writeJSON(w, http.StatusOK, []byte(`{"totalSize":0,"done":true,"records":[]}`))
					return
				}
				writeJSON(w, http.StatusOK, e.b)
				return
			}
			sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
			return
		}
		// sobjects/{Object}/{field}/{value}: external id read or upsert.
		f := o.field(segs[1])
		if f == nil {
			sfError(w, http.StatusNotFound, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "+segs[1])
			return
		}
		var found []int32
		for i, rw := range t.rows {
			if !rw.deleted && rw.v[f.col] != "" && strings.EqualFold(rw.v[f.col], segs[2]) {
				found = append(found, int32(i))
			}
		}
		switch m {
		case "GET":
			if len(found) == 0 {
				sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
				return
			}
			if len(found) > 1 {
				sfError(w, http.StatusMultipleChoices, "MULTIPLE_CHOICES", "more than one record found for external id field "+f.name)
				return
			}
			q, err := projFor(o, r.URL.Query().Get("fields"))
			if err != nil {
				writeQueryError(w, err)
				return
			}
			e := &sfEnc{base: base}
			e.record(q.proj, t, found[0])
			writeJSON(w, http.StatusOK, e.b)
		case "PATCH":
			vals, ok := s.readRecordBody(w, r, o, len(found) == 0)
			if !ok {
				return
			}
			switch len(found) {
			case 0:
				vals[f.name] = segs[2]
				id := o.create(vals)
				writeJSON(w, http.StatusCreated, []byte(`{"id":"`+id+`","success":true,"errors":[],"created":true}`))
			case 1:
				id := t.rows[found[0]].v[0]
				o.update(id, vals)
				writeJSON(w, http.StatusOK, []byte(`{"id":"`+id+`","success":true,"errors":[],"created":false}`))
			default:
				sfError(w, http.StatusMultipleChoices, "MULTIPLE_CHOICES", "more than one record found for external id field "+f.name)
			}
		default:
			allow(w, m, "GET", "PATCH")
		}
		return
	}
	sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
}

// readRecordBody decodes and checks a record body for a create or update.
func (s *Server) readRecordBody(w http.ResponseWriter, r *http.Request, o *object, create bool) (map[string]string, bool) {
	var raw map[string]any
	dec := json.NewDecoder(io.LimitReader(r.Body, 10<<20))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		sfError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not a JSON object: "+err.Error())
		return nil, false
	}
	vals, err := recordValues(o, raw, create)
	if err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			sfFieldError(w, http.StatusBadRequest, fe.code, fe.msg, fe.fields)
		} else {
			sfError(w, http.StatusBadRequest, "INVALID_FIELD", err.Error())
		}
		return nil, false
	}
	return vals, true
}

type fieldError struct {
	code, msg string
	fields    []string
}

func (e *fieldError) Error() string { return e.code + ": " + e.msg }

var readOnly = map[string]bool{"Id": true, "IsDeleted": true, "CreatedDate": true, "LastModifiedDate": true, "CaseNumber": true}

var required = map[string][]string{
	"Contact": {"LastName"}, "Lead": {"LastName", "Company"}, "Account": {"Name"},
	"Opportunity": {"Name", "StageName", "CloseDate"}, "User": {"LastName", "Username", "Email"},
}

// recordValues converts a JSON record into stored field values.
func recordValues(o *object, raw map[string]any, create bool) (map[string]string, error) {
	vals := map[string]string{}
	for _, k := range sortedKeys(raw) {
		if k == "attributes" {
			continue
		}
		f := o.field(k)
		if f == nil {
			return nil, &fieldError{"INVALID_FIELD", "No such column '" + k + "' on sobject of type " + o.name, nil}
		}
		if readOnly[f.name] || (f.name == "Name" && o.field("LastName") != nil) {
			return nil, &fieldError{"INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: " + f.name +
				". Please check the security settings of this field and verify that it is read/write for your profile or permission set.", []string{f.name}}
		}
		var v string
		switch x := raw[k].(type) {
		case nil:
		case string:
			v = x
		case json.Number:
			v = x.String()
		case bool:
			v = strconv.FormatBool(x)
		default:
			return nil, &fieldError{"JSON_PARSER_ERROR", "Cannot deserialize instance of " + f.kind.sfType() + " from a JSON object or array for field " + f.name, []string{f.name}}
		}
		switch f.kind {
		case kNumber, kInt:
			if v != "" {
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					return nil, &fieldError{"INVALID_TYPE_ON_FIELD_IN_RECORD", f.name + ": value not of required type: " + v, []string{f.name}}
				}
			}
		case kBool:
			if v != "true" && v != "false" {
				return nil, &fieldError{"INVALID_TYPE_ON_FIELD_IN_RECORD", f.name + ": value not of required type: " + v, []string{f.name}}
			}
		case kRef:
			if v != "" {
				if _, ok := f.refObj.snapshot().lookup(v); !ok {
					return nil, &fieldError{"INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []string{f.name}}
				}
			}
		}
		vals[f.name] = v
	}
	if create {
		var missing []string
		for _, n := range required[o.name] {
			if vals[n] == "" {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return nil, &fieldError{"REQUIRED_FIELD_MISSING", "Required fields are missing: [" + strings.Join(missing, ", ") + "]", missing}
		}
	}
	return vals, nil
}

func (s *Server) appendObjectSummary(b []byte, base string, o *object) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, o.name)
	b = append(b, `,"label":`...)
	b = appendString(b, o.label)
	b = append(b, `,"labelPlural":`...)
	b = appendString(b, o.plural)
	b = append(b, `,"keyPrefix":"`+o.prefix+`","custom":false,"queryable":true,"createable":true,"updateable":true,"deletable":true,"searchable":true,"urls":{"sobject":"`+base+"sobjects/"+o.name+`","describe":"`+base+"sobjects/"+o.name+`/describe","rowTemplate":"`+base+"sobjects/"+o.name+`/{ID}"}}`...)
	return b
}

func (s *Server) describe(base string, o *object) []byte {
	b := append([]byte(nil), `{"name":`...)
	b = appendString(b, o.name)
	b = append(b, `,"label":`...)
	b = appendString(b, o.label)
	b = append(b, `,"labelPlural":`...)
	b = appendString(b, o.plural)
	b = append(b, `,"keyPrefix":"`+o.prefix+`","custom":false,"queryable":true,"createable":true,"updateable":true,"deletable":true,"fields":[`...)
	for i, f := range o.fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, f.name)
		b = append(b, `,"label":`...)
		b = appendString(b, f.label)
		b = append(b, `,"type":"`+f.kind.sfType()+`","custom":`+strconv.FormatBool(f.custom)+`,"nillable":`+strconv.FormatBool(f.name != "Id" && f.kind != kBool)+`,"updateable":`+strconv.FormatBool(!readOnly[f.name])+`,"referenceTo":[`...)
		if f.kind == kRef {
			b = appendString(b, f.target)
			b = append(b, `],"relationshipName":`...)
			b = appendString(b, f.rel)
		} else {
			b = append(b, `],"relationshipName":null`...)
		}
		b = append(b, '}')
	}
	b = append(b, `],"childRelationships":[`...)
	for i, ch := range o.childOrd {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"childSObject":"`+ch.obj.name+`","field":"`+ch.field.name+`","relationshipName":"`+ch.name+`","cascadeDelete":false}`...)
	}
	b = append(b, `],"urls":{"sobject":"`+base+"sobjects/"+o.name+`","describe":"`+base+"sobjects/"+o.name+`/describe","rowTemplate":"`+base+"sobjects/"+o.name+`/{ID}"}}`...)
	return b
}

// ---- composite ----

// memWriter captures a sub-request's response.
type memWriter struct {
	h    http.Header
	code int
	buf  bytes.Buffer
	done bool
}

func (m *memWriter) Header() http.Header { return m.h }
func (m *memWriter) WriteHeader(code int) {
	if !m.done {
		m.code, m.done = code, true
	}
}
func (m *memWriter) Write(p []byte) (int, error) {
	m.done = true
	return m.buf.Write(p)
}

// subRequest runs method+target against this server without recording it.
func (s *Server) subRequest(parent *http.Request, method, target string, body []byte) *memWriter {
	ctx := context.WithValue(parent.Context(), internalKey, true)
	mw := &memWriter{h: http.Header{}, code: http.StatusOK}
	var rd io.Reader = http.NoBody
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/services/data/") {
		sfError(mw, http.StatusBadRequest, "INVALID_URL", "The sub-request URL is not a valid /services/data/ URL: "+target)
		return mw
	}
	req.Host = parent.Host
	req.Header.Set("Authorization", parent.Header.Get("Authorization"))
	req.Header.Set("Content-Type", "application/json")
	s.ServeHTTP(mw, req)
	return mw
}

// rawBody returns the captured body as JSON (null when empty).
func (m *memWriter) rawBody() json.RawMessage {
	b := bytes.TrimSpace(m.buf.Bytes())
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	if !json.Valid(b) {
		q, _ := json.Marshal(string(b))
		return q
	}
	return b
}

var refRE = regexp.MustCompile(`@\{([A-Za-z0-9_]+)\.([^}]+)\}`)

// resolveRef looks up "a.b[0].c" in a decoded JSON body.
func resolveRef(v any, p string) (string, bool) {
	for seg := range strings.SplitSeq(p, ".") {
		name, idx, hasIdx := strings.Cut(seg, "[")
		if m, ok := v.(map[string]any); ok && name != "" {
			v = m[name]
		} else if name != "" {
			return "", false
		}
		if hasIdx {
			n, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			a, ok := v.([]any)
			if err != nil || !ok || n < 0 || n >= len(a) {
				return "", false
			}
			v = a[n]
		}
	}
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

func (s *Server) sfComposite(w http.ResponseWriter, r *http.Request, base string, segs []string) {
	switch {
	case len(segs) == 0 || segs[0] == "":
		if allow(w, r.Method, "POST") {
			s.sfCompositeRequest(w, r)
		}
	case segs[0] == "batch" && len(segs) == 1:
		if allow(w, r.Method, "POST") {
			s.sfCompositeBatch(w, r)
		}
	case segs[0] == "sobjects":
		s.sfCollections(w, r, base, segs[1:])
	default:
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (s *Server) sfCompositeRequest(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AllOrNone        bool `json:"allOrNone"`
		CompositeRequest []struct {
			Method      string          `json:"method"`
			URL         string          `json:"url"`
			ReferenceID string          `json:"referenceId"`
			Body        json.RawMessage `json:"body"`
		} `json:"compositeRequest"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 10<<20)).Decode(&req); err != nil {
		sfError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not valid: "+err.Error())
		return
	}
	if len(req.CompositeRequest) == 0 || len(req.CompositeRequest) > 25 {
		sfError(w, http.StatusBadRequest, "INVALID_BATCH_REQUEST", "compositeRequest must hold 1 to 25 sub-requests")
		return
	}
	type result struct {
		Body           json.RawMessage   `json:"body"`
		HTTPHeaders    map[string]string `json:"httpHeaders"`
		HTTPStatusCode int               `json:"httpStatusCode"`
		ReferenceID    string            `json:"referenceId"`
	}
	refs := map[string]any{}
	out := struct {
		CompositeResponse []result `json:"compositeResponse"`
	}{}
	failed := false
	for _, sr := range req.CompositeRequest {
		if failed && req.AllOrNone {
			out.CompositeResponse = append(out.CompositeResponse, result{
				Body:           json.RawMessage(`[{"errorCode":"PROCESSING_HALTED","message":"The transaction was rolled back since another operation in the same transaction failed."}]`),
				HTTPHeaders:    map[string]string{},
				HTTPStatusCode: http.StatusBadRequest, ReferenceID: sr.ReferenceID})
			continue
		}
		var unresolved string
		subst := func(in string) string {
			return refRE.ReplaceAllStringFunc(in, func(m string) string {
				g := refRE.FindStringSubmatch(m)
				if v, ok := resolveRef(refs[g[1]], g[2]); ok {
					return v
				}
				unresolved = m
				return m
			})
		}
		target := subst(sr.URL)
		var body []byte
		if len(sr.Body) > 0 && string(sr.Body) != "null" {
			body = []byte(subst(string(sr.Body)))
		}
		var res result
		if unresolved != "" {
			res = result{Body: json.RawMessage(`[{"errorCode":"INVALID_REFERENCE","message":"Invalid reference specified. No value for ` + strings.Trim(strconv.Quote(unresolved), `"`) + ` found."}]`),
				HTTPStatusCode: http.StatusBadRequest}
		} else {
			mw := s.subRequest(r, strings.ToUpper(sr.Method), target, body)
			res = result{Body: mw.rawBody(), HTTPStatusCode: mw.code}
			if loc := mw.h.Get("Location"); loc != "" {
				res.HTTPHeaders = map[string]string{"Location": loc}
			}
			var v any
			if json.Unmarshal(res.Body, &v) == nil && sr.ReferenceID != "" {
				refs[sr.ReferenceID] = v
			}
		}
		if res.HTTPHeaders == nil {
			res.HTTPHeaders = map[string]string{}
		}
		res.ReferenceID = sr.ReferenceID
		if res.HTTPStatusCode >= 400 {
			failed = true
		}
		out.CompositeResponse = append(out.CompositeResponse, res)
	}
	b, _ := json.Marshal(out)
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) sfCompositeBatch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		HaltOnError   bool `json:"haltOnError"`
		BatchRequests []struct {
			Method    string          `json:"method"`
			URL       string          `json:"url"`
			RichInput json.RawMessage `json:"richInput"`
		} `json:"batchRequests"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 10<<20)).Decode(&req); err != nil {
		sfError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not valid: "+err.Error())
		return
	}
	if len(req.BatchRequests) == 0 || len(req.BatchRequests) > 25 {
		sfError(w, http.StatusBadRequest, "INVALID_BATCH_REQUEST", "batchRequests must hold 1 to 25 sub-requests")
		return
	}
	type result struct {
		StatusCode int             `json:"statusCode"`
		Result     json.RawMessage `json:"result"`
	}
	out := struct {
		HasErrors bool     `json:"hasErrors"`
		Results   []result `json:"results"`
	}{Results: []result{}}
	for _, br := range req.BatchRequests {
		if out.HasErrors && req.HaltOnError {
			out.Results = append(out.Results, result{StatusCode: http.StatusPreconditionFailed,
				Result: json.RawMessage(`[{"errorCode":"BATCH_PROCESSING_HALTED","message":"Batch processing halted per request"}]`)})
			continue
		}
		u := strings.TrimPrefix(br.URL, "/")
		u = strings.TrimPrefix(u, "services/data/")
		var body []byte
		if len(br.RichInput) > 0 && string(br.RichInput) != "null" {
			body = br.RichInput
		}
		mw := s.subRequest(r, strings.ToUpper(br.Method), "/services/data/"+u, body)
		res := result{StatusCode: mw.code, Result: mw.rawBody()}
		if mw.code >= 400 {
			out.HasErrors = true
		}
		out.Results = append(out.Results, res)
	}
	b, _ := json.Marshal(out)
	writeJSON(w, http.StatusOK, b)
}

// sfCollections serves composite/sobjects (sObject Collections).
func (s *Server) sfCollections(w http.ResponseWriter, r *http.Request, base string, segs []string) {
	if len(segs) == 1 && segs[0] != "" {
		o := s.objects[strings.ToLower(segs[0])]
		if o == nil {
			sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
			return
		}
		var ids []string
		var fields string
		switch r.Method {
		case "GET":
			if v := r.URL.Query().Get("ids"); v != "" {
				ids = strings.Split(v, ",")
			}
			fields = r.URL.Query().Get("fields")
		case "POST":
			var req struct {
				IDs    []string `json:"ids"`
				Fields []string `json:"fields"`
			}
			if err := json.NewDecoder(io.LimitReader(r.Body, 10<<20)).Decode(&req); err != nil {
				sfError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not valid: "+err.Error())
				return
			}
			ids, fields = req.IDs, strings.Join(req.Fields, ",")
		default:
			allow(w, r.Method, "GET", "POST")
			return
		}
		if len(ids) == 0 || len(ids) > 2000 || strings.TrimSpace(fields) == "" {
			sfError(w, http.StatusBadRequest, "INVALID_FIELD", "ids (1 to 2000) and fields are required")
			return
		}
		q, err := projFor(o, fields)
		if err != nil {
			writeQueryError(w, err)
			return
		}
		t := o.snapshot()
		e := &sfEnc{base: base, b: []byte{'['}}
		for k, id := range ids {
			if k > 0 {
				e.b = append(e.b, ',')
			}
			if i, ok := t.lookup(strings.TrimSpace(id)); ok && !t.rows[i].deleted {
				e.record(q.proj, t, i)
			} else {
				e.b = append(e.b, "null"...)
			}
		}
		writeJSON(w, http.StatusOK, append(e.b, ']'))
		return
	}
	if len(segs) > 1 || (len(segs) == 1 && segs[0] != "") {
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	type result struct {
		ID      string            `json:"id,omitempty"`
		Success bool              `json:"success"`
		Errors  []json.RawMessage `json:"errors"`
	}
	var results []result
	fail := func(msg, code string) result {
		e, _ := json.Marshal(map[string]any{"statusCode": code, "message": msg, "fields": []string{}})
		return result{Errors: []json.RawMessage{e}}
	}
	switch r.Method {
	case "DELETE":
		for id := range strings.SplitSeq(r.URL.Query().Get("ids"), ",") {
			if id == "" {
				continue
			}
			res := fail("entity is deleted", "ENTITY_IS_DELETED")
			for _, o := range s.objOrder {
				if strings.HasPrefix(id, o.prefix) && o.remove(id) {
					res = result{ID: id, Success: true, Errors: []json.RawMessage{}}
				}
			}
			results = append(results, res)
		}
	case "POST", "PATCH":
		var req struct {
			AllOrNone bool             `json:"allOrNone"`
			Records   []map[string]any `json:"records"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 10<<20))
		dec.UseNumber()
		if err := dec.Decode(&req); err != nil || len(req.Records) == 0 || len(req.Records) > 200 {
			sfError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "records must hold 1 to 200 records")
			return
		}
		for _, rec := range req.Records {
			attrs, _ := rec["attributes"].(map[string]any)
			typ, _ := attrs["type"].(string)
			o := s.objects[strings.ToLower(typ)]
			if o == nil {
				results = append(results, fail("sObject type '"+typ+"' is not supported", "INVALID_TYPE"))
				continue
			}
			id, _ := rec["id"].(string)
			if id == "" {
				id, _ = rec["Id"].(string)
			}
			delete(rec, "id")
			delete(rec, "Id")
			vals, err := recordValues(o, rec, r.Method == "POST")
			if err != nil {
				var fe *fieldError
				errors.As(err, &fe)
				results = append(results, fail(fe.msg, fe.code))
				continue
			}
			if r.Method == "POST" {
				results = append(results, result{ID: o.create(vals), Success: true, Errors: []json.RawMessage{}})
			} else if o.update(id, vals) {
				results = append(results, result{ID: id, Success: true, Errors: []json.RawMessage{}})
			} else {
				results = append(results, fail("entity is deleted or does not exist", "ENTITY_IS_DELETED"))
			}
		}
	default:
		allow(w, r.Method, "POST", "PATCH", "DELETE")
		return
	}
	if results == nil {
		results = []result{}
	}
	b, _ := json.Marshal(results)
	writeJSON(w, http.StatusOK, b)
}

// ---- search (SOSL) ----

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

// ---- reports ----

func (s *Server) sfReport(w http.ResponseWriter, r *http.Request, id string) {
	if !strings.HasPrefix(id, "00O") || (len(id) != 15 && len(id) != 18) {
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	details := r.Method == "POST" || r.URL.Query().Get("includeDetails") == "true"
	if v := r.URL.Query().Get("includeDetails"); v == "false" {
		details = false
	}
	contacts := s.objects["contact"].snapshot()
	accounts := s.objects["account"]
	c := s.objects["contact"]
	cols := []*field{c.field("FirstName"), c.field("LastName"), c.field("Email"), c.field("MobilePhone")}
	accCol := c.field("AccountId").col
	n := 0
	for _, rw := range contacts.rows {
		if !rw.deleted {
			n++
		}
	}
	shown := min(n, 2000)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	b := make([]byte, 0, 8192)
	b = append(b, `{"attributes":{"reportId":`...)
	b = appendString(b, id)
	b = append(b, `,"reportName":"All Contacts","type":"Report"},"allData":`+strconv.FormatBool(n <= 2000)+`,"hasDetailRows":`+strconv.FormatBool(details)+`,"reportMetadata":{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"name":"All Contacts","reportFormat":"TABULAR","reportType":{"type":"ContactList","label":"Contacts & Accounts"},"detailColumns":["FIRST_NAME","LAST_NAME","EMAIL","PHONE1","ACCOUNT.NAME"]},"factMap":{"T!T":{"rows":[`...)
	pc := s.newPacer(r, w, bw)
	if details {
		k := 0
		at := accounts.snapshot()
		for _, rw := range contacts.rows {
			if rw.deleted {
				continue
			}
			if k >= shown {
				break
			}
			if k > 0 {
				b = append(b, ',')
			}
			k++
			b = append(b, `{"dataCells":[`...)
			for j, f := range cols {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendCell(b, rw.v[f.col], rw.v[f.col])
			}
			b = append(b, ',')
			accID := rw.v[accCol]
			if i, ok := at.byID[accID]; ok && accID != "" {
				b = appendCell(b, at.rows[i].v[2], accID)
			} else {
				b = appendCell(b, "", "")
			}
			b = append(b, "]}"...)
			if len(b) > 16<<10 || pc.d > 0 {
				var err error
				if b, err = flushScratch(bw, b); err != nil {
					return
				}
			}
			if !pc.next() {
				return
			}
		}
	}
	b = append(b, `],"aggregates":[{"label":"`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `","value":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "}]}}}"...)
	_, _ = bw.Write(b)
	_ = bw.Flush()
}

func appendCell(b []byte, label, value string) []byte {
	b = append(b, `{"label":`...)
	if label == "" {
		b = append(b, `"-"`...)
	} else {
		b = appendString(b, label)
	}
	b = append(b, `,"value":`...)
	b = appendValue(b, kString, value)
	return append(b, '}')
}
