// The sample CRM's Zoho record writes: insert, update, upsert and delete
// (docs/samplecrm.md).

package samplecrm

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// zohoValues maps a Zoho record to Salesforce field values.
func zohoValues(m *zmodule, rec map[string]any) (map[string]string, string) {
	vals := map[string]string{}
	for k, v := range rec {
		if k == "id" || strings.HasPrefix(k, "$") {
			continue
		}
		f := m.field(k)
		if f == nil || f.col < 0 {
			return nil, k
		}
		sf := m.obj.fields[f.col]
		if readOnly[sf.name] {
			return nil, k
		}
		var s string
		switch x := v.(type) {
		case nil:
		case string:
			s = x
		case json.Number:
			s = x.String()
		case bool:
			s = strconv.FormatBool(x)
		case map[string]any:
			id, _ := x["id"].(string)
			s = id
		default:
			return nil, k
		}
		if f.kind == kLookup && s != "" {
			t := f.lookup.obj.snapshot()
			i, ok := f.lookup.zohoRow(t, s)
			if !ok {
				return nil, k
			}
			s = t.rows[i].v[0]
		}
		vals[sf.name] = s
	}
	return vals, ""
}

func (s *Server) zohoWrite(w http.ResponseWriter, r *http.Request, m *zmodule, pathID string) {
	if m.name == "users" {
		zohoError(w, http.StatusBadRequest, "NOT_SUPPORTED", "the sample CRM does not write users", nil)
		return
	}
	var req struct {
		Data []map[string]any `json:"data"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 10<<20))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil || len(req.Data) == 0 || len(req.Data) > 100 {
		zohoError(w, http.StatusBadRequest, "INVALID_DATA", "the data must hold 1 to 100 records", map[string]string{"param": "data"})
		return
	}
	t := m.obj.snapshot()
	now := time.Now().In(cst).Format("2006-01-02T15:04:05-07:00")
	by := `{"name":"Li Wei","id":"` + zohoID(1, 0) + `"}`
	out := []byte(`{"data":[`)
	ok := 0
	for k, rec := range req.Data {
		if k > 0 {
			out = append(out, ',')
		}
		id, _ := rec["id"].(string)
		if pathID != "" {
			id = pathID
		}
		vals, bad := zohoValues(m, rec)
		fail := func(code, msg, api string) {
			out = append(out, `{"code":"`+code+`","details":{"api_name":`...)
			out = appendString(out, api)
			out = append(out, `},"message":"`+msg+`","status":"error"}`...)
		}
		if bad != "" {
			fail("INVALID_DATA", "invalid data", bad)
			continue
		}
		if r.Method == "POST" {
			var missing string
			for _, n := range required[m.obj.name] {
				if vals[n] == "" {
					for _, zf := range m.fields {
						if zf.col == m.obj.field(n).col && zf.kind != kLookup {
							missing = zf.name
						}
					}
				}
			}
			if missing != "" {
				fail("MANDATORY_NOT_FOUND", "required field not found", missing)
				continue
			}
			sfid := m.obj.create(vals)
			i, _ := m.obj.snapshot().byID[sfid]
			id = zohoID(m.code, i)
		} else {
			i, found := m.zohoRow(t, id)
			if !found || !m.obj.update(t.rows[i].v[0], vals) {
				fail("INVALID_DATA", "the id given seems to be invalid", "id")
				continue
			}
		}
		ok++
		msg := "record updated"
		if r.Method == "POST" {
			msg = "record added"
		}
		out = append(out, `{"code":"SUCCESS","details":{"Modified_Time":"`+now+`","Modified_By":`+by+`,"Created_Time":"`+now+`","id":"`+id+`","Created_By":`+by+`},"message":"`+msg+`","status":"success"}`...)
	}
	out = append(out, "]}"...)
	status := http.StatusOK
	if r.Method == "POST" {
		status = http.StatusCreated
	}
	if ok == 0 {
		status = http.StatusBadRequest
	} else if ok < len(req.Data) {
		status = http.StatusMultiStatus
	}
	writeJSON(w, status, out)
}

func (s *Server) zohoDelete(w http.ResponseWriter, r *http.Request, m *zmodule, ids []string) {
	t := m.obj.snapshot()
	out := []byte(`{"data":[`)
	n := 0
	for _, id := range ids {
		if id == "" {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		n++
		if i, ok := m.zohoRow(t, id); ok && m.obj.remove(t.rows[i].v[0]) {
			out = append(out, `{"code":"SUCCESS","details":{"id":"`+id+`"},"message":"record deleted","status":"success"}`...)
		} else {
			out = append(out, `{"code":"INVALID_DATA","details":{"id":`...)
			out = appendString(out, id)
			out = append(out, `},"message":"record not deleted","status":"error"}`...)
		}
	}
	if n == 0 {
		zohoError(w, http.StatusBadRequest, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", map[string]string{"param": "ids"})
		return
	}
	writeJSON(w, http.StatusOK, append(out, "]}"...))
}
