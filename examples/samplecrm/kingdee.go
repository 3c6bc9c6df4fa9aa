package samplecrm

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// The 金蝶云星空 (Kingdee K/3 Cloud) Web API, as its public documentation
// shows it: POST .../Kingdee.BOS.WebApi.ServicesStub.<Service>.<Method>.common.kdsvc
// with {"data": {...}} or {"data": "<JSON text>"}; ExecuteBillQuery answers
// positional rows in FieldKeys order; the session comes from
// AuthService.ValidateUser as the kdservice-sessionid cookie. See
// docs/profiles.md.

// DefaultKingdeeSession is the session id ValidateUser hands out (and the
// only one accepted) unless Options.KingdeeSession is set.
const DefaultKingdeeSession = "kd-session-0001"

var kingdeeForms = map[string][]map[string]any{
	"BD_Customer": {
		{"FNumber": "CUST001", "FName": "华东贸易有限公司", "FTel": "13812345678", "FAddress": "上海市浦东新区世纪大道100号"},
		{"FNumber": "CUST002", "FName": "西部物流集团", "FTel": "13987654321", "FAddress": "成都市高新区天府大道88号"},
		{"FNumber": "CUST003", "FName": "北方机械制造厂", "FTel": "13600001111", "FAddress": "沈阳市铁西区建设路5号"},
	},
	"BD_Supplier": {
		{"FNumber": "VEN001", "FName": "江南原料供应", "FTel": "13500002222", "FAddress": "杭州市余杭区"},
	},
}

func (s *Server) kingdeeSession() string {
	if s.opts.KingdeeSession != "" {
		return s.opts.KingdeeSession
	}
	return DefaultKingdeeSession
}

func kdError(w http.ResponseWriter, msg string) {
	b, _ := json.Marshal(map[string]any{"Result": map[string]any{"ResponseStatus": map[string]any{
		"ErrorCode": 500, "IsSuccess": false, "Errors": []any{map[string]any{"FieldName": "", "Message": msg, "DIndex": 0}}, "MsgCode": 1}}})
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) serveKingdee(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	i := strings.Index(p, "Kingdee.BOS.WebApi.ServicesStub.")
	if i < 0 || !strings.HasSuffix(p, ".common.kdsvc") || r.Method != http.MethodPost {
		kdError(w, "unknown service")
		return
	}
	svc := strings.TrimSuffix(p[i+len("Kingdee.BOS.WebApi.ServicesStub."):], ".common.kdsvc")
	if svc == "AuthService.ValidateUser" {
		b, _ := json.Marshal(map[string]any{"LoginResultType": 1, "KDSVCSessionId": s.kingdeeSession(), "Message": "登录成功"})
		http.SetCookie(w, &http.Cookie{Name: "kdservice-sessionid", Value: s.kingdeeSession()})
		writeJSON(w, http.StatusOK, b)
		return
	}
	if c, err := r.Cookie("kdservice-sessionid"); err != nil || c.Value != s.kingdeeSession() {
		kdError(w, "会话信息已丢失，请重新登录")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		kdError(w, "cannot read body")
		return
	}
	var body struct {
		FormID string          `json:"formid"`
		Data   json.RawMessage `json:"data"`
	}
	if json.Unmarshal(raw, &body) != nil {
		kdError(w, "invalid json")
		return
	}
	data := body.Data
	var text string
	if json.Unmarshal(data, &text) == nil {
		data = json.RawMessage(text)
	}
	var q struct {
		FormID    string `json:"FormId"`
		FieldKeys string `json:"FieldKeys"`
		Number    string `json:"Number"`
		StartRow  int    `json:"StartRow"`
		Limit     int    `json:"Limit"`
	}
	if json.Unmarshal(data, &q) != nil {
		kdError(w, "invalid data")
		return
	}
	form := q.FormID
	if form == "" {
		form = body.FormID
	}
	rows, ok := kingdeeForms[form]
	if !ok {
		kdError(w, "业务对象不存在: "+form)
		return
	}
	switch svc {
	case "DynamicFormService.ExecuteBillQuery":
		keys := strings.Split(q.FieldKeys, ",")
		out := [][]any{}
		for i := q.StartRow; i < len(rows) && (q.Limit <= 0 || len(out) < q.Limit); i++ {
			row := make([]any, len(keys))
			for j, k := range keys {
				row[j] = rows[i][strings.TrimSpace(k)]
			}
			out = append(out, row)
		}
		b, _ := json.Marshal(out)
		writeJSON(w, http.StatusOK, b)
	case "DynamicFormService.View":
		for _, rec := range rows {
			if rec["FNumber"] == q.Number {
				b, _ := json.Marshal(map[string]any{"Result": map[string]any{
					"ResponseStatus": map[string]any{"IsSuccess": true}, "Result": rec}})
				writeJSON(w, http.StatusOK, b)
				return
			}
		}
		kdError(w, "数据不存在")
	case "DynamicFormService.Delete":
		writeJSON(w, http.StatusOK, []byte(`{"Result":{"ResponseStatus":{"IsSuccess":true}}}`))
	default:
		kdError(w, "unsupported service "+svc)
	}
}
