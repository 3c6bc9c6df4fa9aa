package samplecrm

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bulk API 1.0 (/services/async/{version}/job...), query jobs: a jobInfo
// in XML or JSON creates a job, each SOQL batch completes at once with one
// result file, results come in the job's content type (CSV, JSON or XML).
// The session is read from X-SFDC-Session, as Salesforce does; errors are
// Bulk 1.0's own {exceptionCode, exceptionMessage} in XML or JSON.

const asyncNS = "http://www.force.com/2009/06/asyncapi/dataload"

// bulk1Jobs holds the Bulk 1.0 jobs (a Server field; the zero value works).
type bulk1Jobs struct {
	mu  sync.Mutex
	m   map[string]*bulk1Job
	seq int
}

type bulk1Job struct {
	id, op, object, contentType, state, apiVer string
	created                                    time.Time
	batches                                    []*bulk1Batch
}

type bulk1Batch struct {
	id, result string
	soql       string
	q          *soql
	rs         *rowset
	all        bool
	created    time.Time
}

func (s *Server) resetBulk1() {
	s.bulk1.mu.Lock()
	s.bulk1.m = nil
	s.bulk1.mu.Unlock()
}

// serveBulk1 answers /services/async/{version}/job[...].
func (s *Server) serveBulk1(w http.ResponseWriter, r *http.Request) {
	jsonReq := mediaIs(r.Header.Get("Content-Type"), "application/json")
	if !s.sfAuthorized("Bearer " + r.Header.Get("X-Sfdc-Session")) {
		bulk1Error(w, jsonReq, http.StatusBadRequest, "InvalidSessionId", "Invalid session id")
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/services/async/")
	ver, rest, _ := strings.Cut(rest, "/")
	if _, err := strconv.ParseFloat(ver, 64); err != nil || !strings.Contains(ver, ".") {
		bulk1Error(w, jsonReq, http.StatusNotFound, "InvalidUrl", "unknown version "+ver)
		return
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if segs[0] != "job" {
		bulk1Error(w, jsonReq, http.StatusNotFound, "InvalidUrl", "unknown resource")
		return
	}
	if len(segs) == 1 {
		if allow(w, r.Method, "POST") {
			s.bulk1Create(w, r, ver, jsonReq)
		}
		return
	}
	s.bulk1.mu.Lock()
	j := s.bulk1.m[segs[1]]
	s.bulk1.mu.Unlock()
	if j == nil {
		bulk1Error(w, jsonReq, http.StatusBadRequest, "InvalidJob", "Invalid job id: "+segs[1])
		return
	}
	asJSON := j.contentType == "JSON"
	switch {
	case len(segs) == 2 && r.Method == "GET":
		s.bulk1.mu.Lock()
		b := j.info(asJSON)
		s.bulk1.mu.Unlock()
		writeBulk1(w, http.StatusOK, asJSON, b)
	case len(segs) == 2 && r.Method == "POST":
		var body struct {
			State string `json:"state" xml:"state"`
		}
		if !decodeBulk1(r, jsonReq, &body) || body.State != "Closed" && body.State != "Aborted" {
			bulk1Error(w, jsonReq, http.StatusBadRequest, "InvalidJobState", "state must be Closed or Aborted")
			return
		}
		s.bulk1.mu.Lock()
		j.state = body.State
		b := j.info(asJSON)
		s.bulk1.mu.Unlock()
		writeBulk1(w, http.StatusOK, asJSON, b)
	case len(segs) == 3 && segs[2] == "batch" && r.Method == "POST":
		s.bulk1AddBatch(w, r, j)
	case len(segs) == 3 && segs[2] == "batch" && r.Method == "GET":
		s.bulk1.mu.Lock()
		b := j.batchList(asJSON)
		s.bulk1.mu.Unlock()
		writeBulk1(w, http.StatusOK, asJSON, b)
	case len(segs) >= 4 && segs[2] == "batch" && r.Method == "GET":
		s.bulk1.mu.Lock()
		var bt *bulk1Batch
		for _, x := range j.batches {
			if x.id == segs[3] {
				bt = x
			}
		}
		s.bulk1.mu.Unlock()
		if bt == nil {
			bulk1Error(w, asJSON, http.StatusBadRequest, "InvalidBatch", "Invalid batch id: "+segs[3])
			return
		}
		switch {
		case len(segs) == 4:
			writeBulk1(w, http.StatusOK, asJSON, j.batchInfo(nil, bt, asJSON))
		case len(segs) == 5 && segs[4] == "result":
			if asJSON {
				writeBulk1(w, http.StatusOK, true, append(appendString([]byte{'['}, bt.result), ']'))
			} else {
				writeBulk1(w, http.StatusOK, false, []byte(`<result-list xmlns="`+asyncNS+`"><result>`+bt.result+`</result></result-list>`))
			}
		case len(segs) == 5 && segs[4] == "request":
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			_, _ = io.WriteString(w, bt.soql)
		case len(segs) == 6 && segs[4] == "result" && segs[5] == bt.result:
			s.bulk1Result(w, r, j, bt)
		default:
			bulk1Error(w, asJSON, http.StatusNotFound, "InvalidUrl", "unknown resource")
		}
	default:
		bulk1Error(w, jsonReq, http.StatusMethodNotAllowed, "InvalidUrl", "method not allowed")
	}
}

func (s *Server) bulk1Create(w http.ResponseWriter, r *http.Request, ver string, jsonReq bool) {
	var req struct {
		Operation   string `json:"operation" xml:"operation"`
		Object      string `json:"object" xml:"object"`
		ContentType string `json:"contentType" xml:"contentType"`
	}
	if !decodeBulk1(r, jsonReq, &req) {
		bulk1Error(w, jsonReq, http.StatusBadRequest, "InvalidJob", "the jobInfo could not be read")
		return
	}
	if req.Operation != "query" && req.Operation != "queryAll" {
		bulk1Error(w, jsonReq, http.StatusBadRequest, "FeatureNotEnabled", "the sample CRM runs Bulk API 1.0 query jobs only")
		return
	}
	o := s.objects[strings.ToLower(req.Object)]
	if o == nil {
		bulk1Error(w, jsonReq, http.StatusBadRequest, "InvalidJob", "Unable to find object: "+req.Object)
		return
	}
	ct := req.ContentType
	switch ct {
	case "":
		ct = "XML"
	case "CSV", "XML", "JSON":
	default:
		bulk1Error(w, jsonReq, http.StatusBadRequest, "InvalidJob", "contentType must be CSV, XML or JSON")
		return
	}
	s.bulk1.mu.Lock()
	if s.bulk1.m == nil {
		s.bulk1.m = map[string]*bulk1Job{}
	}
	s.bulk1.seq++
	j := &bulk1Job{id: sfID("750", 500000+s.bulk1.seq), op: req.Operation, object: o.name, contentType: ct,
		state: "Open", apiVer: ver, created: time.Now()}
	s.bulk1.m[j.id] = j
	b := j.info(jsonReq)
	s.bulk1.mu.Unlock()
	writeBulk1(w, http.StatusCreated, jsonReq, b)
}

func (s *Server) bulk1AddBatch(w http.ResponseWriter, r *http.Request, j *bulk1Job) {
	asJSON := j.contentType == "JSON"
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		bulk1Error(w, asJSON, http.StatusBadRequest, "InvalidBatch", "the batch could not be read")
		return
	}
	text := strings.TrimSpace(string(body))
	q, err := s.parseSOQL(text)
	if err != nil {
		bulk1Error(w, asJSON, http.StatusBadRequest, "InvalidBatch", "Failed to process query: "+err.Error())
		return
	}
	if q.obj.name != j.object || q.hasSub || q.count || len(q.aggs) > 0 || len(q.group) > 0 {
		bulk1Error(w, asJSON, http.StatusBadRequest, "InvalidBatch",
			"the query must read the job's object without subqueries or aggregate functions")
		return
	}
	s.bulk1.mu.Lock()
	defer s.bulk1.mu.Unlock()
	if j.state != "Open" {
		bulk1Error(w, asJSON, http.StatusBadRequest, "InvalidJobState", "Job "+j.id+" is "+j.state)
		return
	}
	s.bulk1.seq++
	bt := &bulk1Batch{id: sfID("751", s.bulk1.seq), result: sfID("752", s.bulk1.seq), soql: text, q: q,
		all: j.op == "queryAll", created: time.Now()}
	bt.rs = q.run(bt.all)
	j.batches = append(j.batches, bt)
	writeBulk1(w, http.StatusCreated, asJSON, j.batchInfo(nil, bt, asJSON))
}

// bulk1Result streams a batch's result file in the job's content type.
func (s *Server) bulk1Result(w http.ResponseWriter, r *http.Request, j *bulk1Job, bt *bulk1Batch) {
	ctype := map[string]string{"CSV": "text/csv; charset=UTF-8", "JSON": "application/json; charset=UTF-8", "XML": "application/xml; charset=UTF-8"}[j.contentType]
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(http.StatusOK)
	st := getStream(w)
	defer st.put()
	bw := st.bw
	e := &sfEnc{base: "/services/data/v" + j.apiVer + "/", all: bt.all, b: st.b}
	defer func() { st.b = e.b }()
	q, rs := bt.q, bt.rs
	switch j.contentType {
	case "CSV":
		for k, c := range q.cols {
			if k > 0 {
				e.b = append(e.b, ',')
			}
			e.b = appendCSV(e.b, c.name)
		}
		e.b = append(e.b, '\n')
	case "JSON":
		e.b = append(e.b, '[')
	case "XML":
		e.b = append(e.b, `<?xml version="1.0" encoding="UTF-8"?><queryResult xmlns="`+asyncNS+`" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`...)
	}
	pc := s.newPacer(r, w, bw)
	for k := 0; k < rs.n; k++ {
		i := rs.at(k)
		switch j.contentType {
		case "CSV":
			rw := rs.t.rows[i]
			for c := range q.cols {
				if c > 0 {
					e.b = append(e.b, ',')
				}
				e.b = appendCSV(e.b, q.cols[c].value(rw))
			}
			e.b = append(e.b, '\n')
		case "JSON":
			if k > 0 {
				e.b = append(e.b, ',')
			}
			e.record(q.proj, rs.t, i)
		case "XML":
			e.b = appendXMLRecord(e.b, "records", q.proj, rs.t, i)
		}
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
	switch j.contentType {
	case "JSON":
		e.b = append(e.b, ']')
	case "XML":
		e.b = append(e.b, "</queryResult>"...)
	}
	_, _ = bw.Write(e.b)
	_ = bw.Flush()
}

// appendXMLRecord appends one record as Bulk 1.0 XML writes it: its type
// first, null fields as xsi:nil, parent records nested with their own type.
func appendXMLRecord(b []byte, elem string, p *proj, t *table, i int32) []byte {
	r := t.rows[i]
	b = append(b, "<"+elem+` xsi:type="sObject"><type>`+p.obj.name+"</type>"...)
	for _, it := range p.items {
		switch {
		case it.rel != nil:
			id := r.v[it.f.col]
			pt := it.f.refObj.snapshot()
			j, ok := pt.byID[id]
			if id == "" || !ok {
				b = append(b, "<"+it.f.rel+` xsi:nil="true"/>`...)
				continue
			}
			b = appendXMLRecord(b, it.f.rel, it.rel, pt, j)
		case it.f != nil:
			b = appendXMLField(b, it.f.name, r.v[it.f.col])
		}
	}
	return append(b, "</"+elem+">"...)
}

func appendXMLField(b []byte, name, v string) []byte {
	if v == "" {
		return append(b, "<"+name+` xsi:nil="true"/>`...)
	}
	b = append(b, "<"+name+">"...)
	var buf bytes.Buffer
	_ = xml.EscapeText(&buf, []byte(v))
	b = append(b, buf.Bytes()...)
	return append(b, "</"+name+">"...)
}

// info is the job's jobInfo (the caller holds the lock).
func (j *bulk1Job) info(asJSON bool) []byte {
	done := 0
	recs := 0
	for _, bt := range j.batches {
		done++
		recs += bt.rs.n
	}
	ts := j.created.UTC().Format(sfDateTime)
	fields := [][2]string{{"id", j.id}, {"operation", j.op}, {"object", j.object}, {"createdById", liWeiID},
		{"createdDate", ts}, {"systemModstamp", ts}, {"state", j.state}, {"concurrencyMode", "Parallel"},
		{"contentType", j.contentType}, {"numberBatchesQueued", "0"}, {"numberBatchesInProgress", "0"},
		{"numberBatchesCompleted", strconv.Itoa(done)}, {"numberBatchesFailed", "0"},
		{"numberBatchesTotal", strconv.Itoa(done)}, {"numberRecordsProcessed", strconv.Itoa(recs)},
		{"numberRetries", "0"}, {"apiVersion", j.apiVer}, {"numberRecordsFailed", "0"},
		{"totalProcessingTime", "12"}, {"apiActiveProcessingTime", "10"}, {"apexProcessingTime", "0"}}
	return appendInfo(nil, "jobInfo", fields, asJSON, true)
}

func (j *bulk1Job) batchInfo(b []byte, bt *bulk1Batch, asJSON bool) []byte {
	ts := bt.created.UTC().Format(sfDateTime)
	fields := [][2]string{{"id", bt.id}, {"jobId", j.id}, {"state", "Completed"}, {"createdDate", ts},
		{"systemModstamp", ts}, {"numberRecordsProcessed", strconv.Itoa(bt.rs.n)}, {"numberRecordsFailed", "0"},
		{"totalProcessingTime", "12"}, {"apiActiveProcessingTime", "10"}, {"apexProcessingTime", "0"}}
	return appendInfo(b, "batchInfo", fields, asJSON, b == nil)
}

func (j *bulk1Job) batchList(asJSON bool) []byte {
	var b []byte
	if asJSON {
		b = append(b, `{"batchInfo":[`...)
	} else {
		b = append(b, `<?xml version="1.0" encoding="UTF-8"?><batchInfoList xmlns="`+asyncNS+`">`...)
	}
	for k, bt := range j.batches {
		if asJSON && k > 0 {
			b = append(b, ',')
		}
		b = j.batchInfo(b, bt, asJSON)
	}
	if asJSON {
		return append(b, "]}"...)
	}
	return append(b, "</batchInfoList>"...)
}

// appendInfo writes a jobInfo or batchInfo: a JSON object (numbers as
// numbers), or an XML element (top: with the declaration and namespace).
func appendInfo(b []byte, elem string, fields [][2]string, asJSON, top bool) []byte {
	if asJSON {
		b = append(b, '{')
		for k, f := range fields {
			if k > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f[0])
			b = append(b, ':')
			if _, err := strconv.ParseFloat(f[1], 64); err == nil && f[0] != "id" && f[0] != "jobId" {
				b = append(b, f[1]...)
			} else {
				b = appendString(b, f[1])
			}
		}
		return append(b, '}')
	}
	if top {
		b = append(b, `<?xml version="1.0" encoding="UTF-8"?><`+elem+` xmlns="`+asyncNS+`">`...)
	} else {
		b = append(b, "<"+elem+">"...)
	}
	for _, f := range fields {
		b = appendXMLField(b, f[0], f[1])
	}
	return append(b, "</"+elem+">"...)
}

func decodeBulk1(r *http.Request, asJSON bool, v any) bool {
	body := io.LimitReader(r.Body, 1<<20)
	if asJSON {
		return json.NewDecoder(body).Decode(v) == nil
	}
	return xml.NewDecoder(body).Decode(v) == nil
}

func writeBulk1(w http.ResponseWriter, status int, asJSON bool, b []byte) {
	if asJSON {
		writeJSON(w, status, b)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func bulk1Error(w http.ResponseWriter, asJSON bool, status int, code, msg string) {
	fields := [][2]string{{"exceptionCode", code}, {"exceptionMessage", msg}}
	if asJSON {
		writeBulk1(w, status, true, appendInfo(nil, "error", fields, true, true))
		return
	}
	writeBulk1(w, status, false, appendInfo(nil, "error", fields, false, true))
}

func mediaIs(ct, want string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), want)
}
