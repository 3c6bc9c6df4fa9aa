package samplecrm

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// The 纷享销客 (Fxiaoke) open platform's object data API v2, as its public
// documentation shows it: POST JSON bodies carrying corpAccessToken,
// corpId and currentOpenUserId, the object in data.dataObjectApiName,
// records under data.dataList, errors as {errorCode, errorMessage} with
// HTTP 200. See docs/profiles.md.

// Fxiaoke credentials the sample CRM accepts (Options.FxiaokeToken etc.
// override them).
const (
	DefaultFxiaokeToken  = "fx-corp-access-token"
	DefaultFxiaokeCorpID = "FSCorp0001"
	DefaultFxiaokeUserID = "FSUID_GATEWAY"
)

var fxiaokeData = struct {
	sync.Mutex
	objects map[string][]map[string]any
}{objects: map[string][]map[string]any{
	"AccountObj": {
		{"_id": "acc001", "name": "华东贸易有限公司", "tel": "13812345678", "address": "上海市浦东新区世纪大道100号", "owner": []any{"1000"}},
		{"_id": "acc002", "name": "西部物流集团", "tel": "13987654321", "address": "成都市高新区天府大道88号", "owner": []any{"1001"}},
		{"_id": "acc003", "name": "北方机械制造厂", "tel": "13600001111", "address": "沈阳市铁西区建设路5号", "owner": []any{"1000"}},
		{"_id": "acc004", "name": "南方电子科技", "tel": "13722223333", "address": "深圳市南山区科技园", "owner": []any{"1002"}},
	},
	"ContactObj": {
		{"_id": "con001", "name": "王芳", "mobile": "13911112222", "email": "wang.fang@huadong.example.cn", "account_id": "acc001"},
		{"_id": "con002", "name": "李强", "mobile": "13833334444", "email": "li.qiang@xibu.example.cn", "account_id": "acc002"},
		{"_id": "con003", "name": "张伟", "mobile": "13755556666", "email": "zhang.wei@beifang.example.cn", "account_id": "acc003"},
	},
}}

func (s *Server) fxiaokeCreds() (token, corp, user string) {
	token, corp, user = s.opts.FxiaokeToken, DefaultFxiaokeCorpID, DefaultFxiaokeUserID
	if token == "" {
		token = DefaultFxiaokeToken
	}
	return token, corp, user
}

func fxError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]any{"errorCode": code, "errorMessage": msg, "errorDescription": msg, "traceId": "E-O.sample"})
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) serveFxiaoke(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/cgi/corpAccessToken/get/V2" {
		token, corp, _ := s.fxiaokeCreds()
		b, _ := json.Marshal(map[string]any{"errorCode": 0, "errorMessage": "success", "corpAccessToken": token, "corpId": corp, "expiresIn": 7200})
		writeJSON(w, http.StatusOK, b)
		return
	}
	if r.Method != http.MethodPost {
		fxError(w, 10003, "method not allowed")
		return
	}
	var body struct {
		CorpAccessToken   string         `json:"corpAccessToken"`
		CorpID            string         `json:"corpId"`
		CurrentOpenUserID string         `json:"currentOpenUserId"`
		Data              map[string]any `json:"data"`
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(raw, &body) != nil {
		fxError(w, 10001, "invalid json")
		return
	}
	token, corp, user := s.fxiaokeCreds()
	if body.CorpAccessToken != token || body.CorpID != corp {
		fxError(w, 20016, "corpAccessToken is invalid")
		return
	}
	if body.CurrentOpenUserID != user {
		fxError(w, 20017, "currentOpenUserId is invalid")
		return
	}
	op := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	obj, _ := body.Data["dataObjectApiName"].(string)
	if od, ok := body.Data["object_data"].(map[string]any); ok && obj == "" {
		obj, _ = od["dataObjectApiName"].(string)
	}
	fxiaokeData.Lock()
	defer fxiaokeData.Unlock()
	records, ok := fxiaokeData.objects[obj]
	if !ok {
		fxError(w, 320001401, "object not found: "+obj)
		return
	}
	switch op {
	case "query":
		sq, _ := body.Data["search_query_info"].(map[string]any)
		offset, limit := intOf(sq["offset"], 0), intOf(sq["limit"], 20)
		var proj []string
		if p, ok := sq["fieldProjection"].([]any); ok {
			for _, f := range p {
				if s, ok := f.(string); ok {
					proj = append(proj, s)
				}
			}
		}
		list := []map[string]any{}
		for i := offset; i < len(records) && len(list) < limit; i++ {
			list = append(list, project(records[i], proj))
		}
		b, _ := json.Marshal(map[string]any{"errorCode": 0, "errorMessage": "OK", "traceId": "E-O.sample",
			"data": map[string]any{"dataList": list, "total": len(records), "offset": offset, "limit": limit}})
		writeJSON(w, http.StatusOK, b)
	case "get":
		id, _ := body.Data["objectDataId"].(string)
		for _, rec := range records {
			if rec["_id"] == id {
				b, _ := json.Marshal(map[string]any{"errorCode": 0, "errorMessage": "OK", "data": map[string]any{"data": rec}})
				writeJSON(w, http.StatusOK, b)
				return
			}
		}
		fxError(w, 320002404, "data not found")
	case "invalid", "delete":
		id, _ := body.Data["object_data_id"].(string)
		for i, rec := range records {
			if rec["_id"] == id {
				fxiaokeData.objects[obj] = append(records[:i:i], records[i+1:]...)
				writeJSON(w, http.StatusOK, []byte(`{"errorCode":0,"errorMessage":"OK"}`))
				return
			}
		}
		fxError(w, 320002404, "data not found")
	case "create":
		od, _ := body.Data["object_data"].(map[string]any)
		rec := map[string]any{}
		for k, v := range od {
			if k != "dataObjectApiName" {
				rec[k] = v
			}
		}
		rec["_id"] = "new" + strconv.Itoa(len(records)+1)
		fxiaokeData.objects[obj] = append(records, rec)
		b, _ := json.Marshal(map[string]any{"errorCode": 0, "errorMessage": "OK", "dataId": rec["_id"]})
		writeJSON(w, http.StatusOK, b)
	default:
		fxError(w, 10004, "unsupported operation "+op)
	}
}

func project(rec map[string]any, fields []string) map[string]any {
	if len(fields) == 0 {
		return rec
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if v, ok := rec[f]; ok {
			out[f] = v
		}
	}
	return out
}

func intOf(v any, def int) int {
	if f, ok := v.(float64); ok && f >= 0 {
		return int(f)
	}
	return def
}
