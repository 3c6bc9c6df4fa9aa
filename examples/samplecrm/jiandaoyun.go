package samplecrm

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
)

// The 简道云 (Jiandaoyun) open API v5, as its public documentation shows
// it: POST /api/v5/app/entry/data/list|get|create|delete with app_id and
// entry_id in the JSON body, widget ids as field names, records under
// data, the API key as "Authorization: Bearer <key>". See
// docs/profiles.md.

// DefaultJiandaoyunKey is the API key accepted unless
// Options.JiandaoyunKey is set.
const DefaultJiandaoyunKey = "jdy-api-key-0001"

// Widget ids of the sample form "customers" (客户).
const (
	JdyWidgetName  = "_widget_1432728651401"
	JdyWidgetPhone = "_widget_1432728651402"
	JdyWidgetCity  = "_widget_1432728651403"
)

var jdyData = struct {
	sync.Mutex
	forms map[string][]map[string]any
}{forms: map[string][]map[string]any{
	"customers": {
		{"_id": "d001", JdyWidgetName: "华东贸易有限公司", JdyWidgetPhone: "13812345678", JdyWidgetCity: "上海", "creator": map[string]any{"name": "小简", "username": "xiaojian"}},
		{"_id": "d002", JdyWidgetName: "西部物流集团", JdyWidgetPhone: "13987654321", JdyWidgetCity: "成都", "creator": map[string]any{"name": "小简", "username": "xiaojian"}},
		{"_id": "d003", JdyWidgetName: "北方机械制造厂", JdyWidgetPhone: "13600001111", JdyWidgetCity: "沈阳", "creator": map[string]any{"name": "小简", "username": "xiaojian"}},
	},
}}

func jdyError(w http.ResponseWriter, status, code int, msg string) {
	b, _ := json.Marshal(map[string]any{"code": code, "msg": msg})
	writeJSON(w, status, b)
}

func (s *Server) serveJiandaoyun(w http.ResponseWriter, r *http.Request) {
	key := s.opts.JiandaoyunKey
	if key == "" {
		key = DefaultJiandaoyunKey
	}
	if tok, ok := cutScheme(r.Header.Get("Authorization"), "Bearer"); !ok || tok != key {
		jdyError(w, http.StatusUnauthorized, 8301, "invalid API key")
		return
	}
	var body struct {
		EntryID string         `json:"entry_id"`
		DataID  string         `json:"data_id"`
		Fields  []string       `json:"fields"`
		Limit   int            `json:"limit"`
		Data    map[string]any `json:"data"`
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost || json.Unmarshal(raw, &body) != nil {
		jdyError(w, http.StatusBadRequest, 4000, "invalid request")
		return
	}
	jdyData.Lock()
	defer jdyData.Unlock()
	recs, ok := jdyData.forms[body.EntryID]
	if !ok {
		jdyError(w, http.StatusBadRequest, 4001, "form not found")
		return
	}
	switch strings.TrimPrefix(r.URL.Path, "/api/v5/app/entry/data/") {
	case "list":
		limit := body.Limit
		if limit <= 0 || limit > 100 {
			limit = 10
		}
		out := []map[string]any{}
		after := body.DataID == ""
		for _, rec := range recs {
			if !after {
				after = rec["_id"] == body.DataID
				continue
			}
			if len(out) == limit {
				break
			}
			p := project(rec, body.Fields)
			p["_id"] = rec["_id"]
			out = append(out, p)
		}
		b, _ := json.Marshal(map[string]any{"data": out})
		writeJSON(w, http.StatusOK, b)
	case "get":
		for _, rec := range recs {
			if rec["_id"] == body.DataID {
				b, _ := json.Marshal(map[string]any{"data": rec})
				writeJSON(w, http.StatusOK, b)
				return
			}
		}
		jdyError(w, http.StatusBadRequest, 4002, "data not found")
	case "delete":
		for i, rec := range recs {
			if rec["_id"] == body.DataID {
				jdyData.forms[body.EntryID] = append(recs[:i:i], recs[i+1:]...)
				writeJSON(w, http.StatusOK, []byte(`{"status":"success"}`))
				return
			}
		}
		jdyError(w, http.StatusBadRequest, 4002, "data not found")
	default:
		jdyError(w, http.StatusNotFound, 4004, "unsupported endpoint")
	}
}
