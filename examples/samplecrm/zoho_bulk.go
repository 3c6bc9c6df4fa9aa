// The sample CRM's Zoho bulk read jobs and their zipped CSV results
// (docs/samplecrm.md).

package samplecrm

import (
	"archive/zip"
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

type zohoJob struct {
	id      string
	ver     string
	m       *zmodule
	fields  []*zfield
	idx     []int32
	t       *table
	page    int
	created time.Time
}

const zohoBulkPage = 200000

func (s *Server) zohoBulk(w http.ResponseWriter, r *http.Request, ver string, segs []string) {
	if len(segs) == 0 {
		if r.Method != http.MethodPost {
			zohoError(w, http.StatusMethodNotAllowed, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one", nil)
			return
		}
		s.zohoBulkCreate(w, r, ver)
		return
	}
	s.jobMu.Lock()
	j := s.zjobs[segs[0]]
	s.jobMu.Unlock()
	if j == nil || r.Method != http.MethodGet {
		zohoError(w, http.StatusNotFound, "RESOURCE_NOT_FOUND", "The requested resource doesn't exist.", map[string]string{"id": segs[0]})
		return
	}
	start := (j.page - 1) * zohoBulkPage
	count := max(0, min(len(j.idx)-start, zohoBulkPage))
	switch {
	case len(segs) == 1:
		b := []byte(`{"data":[{"id":"` + j.id + `","operation":"read","state":"COMPLETED","query":{"module":{"api_name":`)
		b = appendString(b, j.m.name)
		b = append(b, `,"id":"`+zohoID(9, int32(j.m.code))+`"},"page":`+strconv.Itoa(j.page)+`},"created_by":{"id":"`+zohoID(1, 0)+`","name":"Li Wei"},"created_time":"`+j.created.In(cst).Format("2006-01-02T15:04:05-07:00")+
			`","result":{"page":`+strconv.Itoa(j.page)+`,"count":`+strconv.Itoa(count)+`,"download_url":"/crm/bulk/`+j.ver+`/read/`+j.id+`/result","per_page":200000,"more_records":`+strconv.FormatBool(start+count < len(j.idx))+`}}]}`...)
		writeJSON(w, http.StatusOK, b)
	case len(segs) == 2 && segs[1] == "result":
		s.zohoBulkResult(w, r, j, start, count)
	default:
		zohoError(w, http.StatusNotFound, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one", nil)
	}
}

func (s *Server) zohoBulkCreate(w http.ResponseWriter, r *http.Request, ver string) {
	var req struct {
		Query struct {
			Module struct {
				APIName string `json:"api_name"`
			} `json:"module"`
			Fields []string `json:"fields"`
			Page   int      `json:"page"`
		} `json:"query"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		zohoError(w, http.StatusBadRequest, "INVALID_DATA", "the body is not valid JSON", nil)
		return
	}
	m := s.modules[strings.ToLower(req.Query.Module.APIName)]
	if m == nil || m.name == "users" {
		zohoError(w, http.StatusBadRequest, "INVALID_DATA", "invalid data", map[string]string{"api_name": "module"})
		return
	}
	fields, bad := zohoFields(m, strings.Join(req.Query.Fields, ","))
	if bad != "" {
		zohoError(w, http.StatusBadRequest, "INVALID_DATA", "invalid data", map[string]string{"api_name": bad})
		return
	}
	// The CSV keeps the requested column order (all fields when none).
	var cols []*zfield
	if len(req.Query.Fields) == 0 {
		for _, f := range fields {
			if !strings.HasPrefix(f.name, "$") && f.name != "id" {
				cols = append(cols, f)
			}
		}
	}
	for _, n := range req.Query.Fields {
		if f := m.field(strings.TrimSpace(n)); f != nil && f.name != "id" && !slices.Contains(cols, f) {
			cols = append(cols, f)
		}
	}
	t := m.obj.snapshot()
	var idx []int32
	for i, rw := range t.rows {
		if !rw.deleted {
			idx = append(idx, int32(i))
		}
	}
	page := max(1, req.Query.Page)
	s.jobMu.Lock()
	s.zjobSeq++
	j := &zohoJob{id: zohoID(8, int32(s.zjobSeq)), ver: ver, m: m, fields: cols, idx: idx, t: t, page: page, created: time.Now()}
	if len(s.zjobs) > 10000 {
		clear(s.zjobs)
	}
	s.zjobs[j.id] = j
	s.jobMu.Unlock()
	b := []byte(`{"data":[{"status":"success","code":"ADDED_SUCCESSFULLY","message":"Added successfully.","details":{"id":"` + j.id +
		`","operation":"read","state":"ADDED","created_by":{"id":"` + zohoID(1, 0) + `","name":"Li Wei"},"created_time":"` +
		j.created.In(cst).Format("2006-01-02T15:04:05-07:00") + `"}}],"info":{}}`)
	writeJSON(w, http.StatusCreated, b)
}

// zohoBulkResult streams a ZIP holding {id}.csv.
func (s *Server) zohoBulkResult(w http.ResponseWriter, r *http.Request, j *zohoJob, start, count int) {
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+j.id+`.zip"`)
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	zw := zip.NewWriter(bw)
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: j.id + ".csv", Method: zip.Deflate, Modified: j.created})
	if err != nil {
		return
	}
	cw := csv.NewWriter(fw)
	header := []string{"Id"}
	for _, f := range j.fields {
		header = append(header, f.name)
	}
	_ = cw.Write(header)
	rec := make([]string, len(header))
	idf := j.m.field("id")
	pc := s.newPacer(r, w, bw)
	for k := start; k < start+count; k++ {
		rw := j.t.rows[j.idx[k]]
		rec[0] = idf.raw(rw)
		for c, f := range j.fields {
			rec[c+1] = f.raw(rw)
		}
		if err := cw.Write(rec); err != nil {
			return
		}
		if pc.d > 0 {
			cw.Flush()
			_ = zw.Flush()
		}
		if !pc.next() {
			return
		}
	}
	cw.Flush()
	_ = zw.Close()
	_ = bw.Flush()
}
