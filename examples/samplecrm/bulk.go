package samplecrm

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// bulkJob is a Bulk API 2.0 query job; it completes as soon as it is created.
type bulkJob struct {
	id      string
	op      string
	q       *soql
	rs      *rowset
	created time.Time
	aborted bool
	apiVer  string
}

func (j *bulkJob) state() string {
	if j.aborted {
		return "Aborted"
	}
	return "JobComplete"
}

func (j *bulkJob) appendJSON(b []byte) []byte {
	ts := j.created.UTC().Format(sfDateTime)
	b = append(b, `{"id":"`+j.id+`","operation":"`+j.op+`","object":"`+j.q.obj.name+`","createdById":"`+liWeiID+
		`","createdDate":"`+ts+`","systemModstamp":"`+ts+`","state":"`+j.state()+
		`","concurrencyMode":"Parallel","contentType":"CSV","apiVersion":`+j.apiVer+
		`,"jobType":"V2Query","lineEnding":"LF","columnDelimiter":"COMMA","numberRecordsProcessed":`...)
	b = strconv.AppendInt(b, int64(j.rs.n), 10)
	return append(b, `,"retries":0,"totalProcessingTime":12}`...)
}

// sfBulk serves jobs/query[/{id}[/results]].
func (s *Server) sfBulk(w http.ResponseWriter, r *http.Request, ver string, segs []string) {
	if len(segs) == 0 || segs[0] == "" {
		switch r.Method {
		case "POST":
			s.sfBulkCreate(w, r, ver)
		case "GET":
			s.jobMu.Lock()
			b := []byte(`{"done":true,"records":[`)
			first := true
			for _, k := range sortedKeys(s.jobs) {
				if !first {
					b = append(b, ',')
				}
				first = false
				b = s.jobs[k].appendJSON(b)
			}
			s.jobMu.Unlock()
			writeJSON(w, http.StatusOK, append(b, `],"nextRecordsUrl":null}`...))
		default:
			allow(w, r.Method, "GET", "POST")
		}
		return
	}
	s.jobMu.Lock()
	j := s.jobs[segs[0]]
	s.jobMu.Unlock()
	if j == nil {
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	switch {
	case len(segs) == 1:
		switch r.Method {
		case "GET":
			writeJSON(w, http.StatusOK, j.appendJSON(nil))
		case "DELETE":
			s.jobMu.Lock()
			delete(s.jobs, j.id)
			s.jobMu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		case "PATCH":
			s.jobMu.Lock()
			j.aborted = true
			b := j.appendJSON(nil)
			s.jobMu.Unlock()
			writeJSON(w, http.StatusOK, b)
		default:
			allow(w, r.Method, "GET", "PATCH", "DELETE")
		}
	case len(segs) == 2 && segs[1] == "results":
		if allow(w, r.Method, "GET") {
			s.sfBulkResults(w, r, j)
		}
	default:
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (s *Server) sfBulkCreate(w http.ResponseWriter, r *http.Request, ver string) {
	var req struct {
		Operation   string `json:"operation"`
		Query       string `json:"query"`
		ContentType string `json:"contentType"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		sfError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not valid: "+err.Error())
		return
	}
	if req.Operation != "query" && req.Operation != "queryAll" {
		sfError(w, http.StatusBadRequest, "INVALIDJOB", "operation must be query or queryAll")
		return
	}
	if req.ContentType != "" && req.ContentType != "CSV" {
		sfError(w, http.StatusBadRequest, "INVALIDJOB", "contentType must be CSV")
		return
	}
	q, err := s.parseSOQL(req.Query)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	if q.hasSub || q.count || len(q.aggs) > 0 {
		sfError(w, http.StatusBadRequest, "INVALIDJOB", "Bulk API 2.0 query jobs do not support subqueries or aggregate functions")
		return
	}
	s.jobMu.Lock()
	s.jobSeq++
	j := &bulkJob{id: sfID("750", int(s.jobSeq)), op: req.Operation, q: q, rs: q.run(req.Operation == "queryAll"),
		created: time.Now(), apiVer: strings.TrimPrefix(ver, "v")}
	s.jobs[j.id] = j
	b := j.appendJSON(nil)
	s.jobMu.Unlock()
	// Salesforce answers a new job with state UploadComplete; ours is done
	// already, which clients handle the same way after their first poll.
	writeJSON(w, http.StatusOK, b)
}

// sfBulkResults streams a page of the job's CSV results.
func (s *Server) sfBulkResults(w http.ResponseWriter, r *http.Request, j *bulkJob) {
	qv := r.URL.Query()
	pos := 0
	if loc := qv.Get("locator"); loc != "" && loc != "null" {
		raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(loc, "="))
		n, err2 := strconv.Atoi(string(raw))
		if err != nil || err2 != nil || n < 0 || n > j.rs.n {
			sfError(w, http.StatusBadRequest, "INVALIDLOCATOR", "the locator is not valid for this job")
			return
		}
		pos = n
	}
	end := j.rs.n
	if v := qv.Get("maxRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			sfError(w, http.StatusBadRequest, "INVALIDPARAMETER", "maxRecords must be a positive integer")
			return
		}
		end = min(end, pos+n)
	}
	next := "null"
	if end < j.rs.n {
		next = base64.RawStdEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv")
	h.Set("Sforce-Locator", next)
	h.Set("Sforce-NumberOfRecords", strconv.Itoa(end-pos))
	w.WriteHeader(http.StatusOK)
	st := getStream(w)
	defer st.put()
	bw, b := st.bw, st.b
	defer func() { st.b = b }()
	for k, c := range j.q.cols {
		if k > 0 {
			b = append(b, ',')
		}
		b = appendCSV(b, c.name)
	}
	b = append(b, '\n')
	pc := s.newPacer(r, w, bw)
	for k := pos; k < end; k++ {
		rw := j.rs.t.rows[j.rs.at(k)]
		for c := range j.q.cols {
			if c > 0 {
				b = append(b, ',')
			}
			b = appendCSV(b, j.q.cols[c].value(rw))
		}
		b = append(b, '\n')
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
	_, _ = bw.Write(b)
	_ = bw.Flush()
}
