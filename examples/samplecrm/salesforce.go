package samplecrm

import (
	"bufio"
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
