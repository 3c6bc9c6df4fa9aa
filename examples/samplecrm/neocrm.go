package samplecrm

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
)

// The 销售易 (Neocrm) REST API as the gateway's neocrm profile describes it
// (its shapes are marked unverified there): XOQL in the q parameter of GET
// /rest/data/v2.0/query/xoql, records at data.records in a code/msg
// envelope, xobject records at /rest/data/v2.0/xobjects/{object}/{id}, an
// OAuth2 bearer token. See docs/profiles.md.

// DefaultNeocrmToken is the bearer token accepted unless
// Options.NeocrmToken is set.
const DefaultNeocrmToken = "neocrm-access-token"

var neocrmObjects = map[string][]map[string]any{
	"account": {
		{"id": 1001, "accountName": "华东贸易有限公司", "phone": "13812345678", "city": "上海"},
		{"id": 1002, "accountName": "西部物流集团", "phone": "13987654321", "city": "成都"},
		{"id": 1003, "accountName": "北方机械制造厂", "phone": "13600001111", "city": "沈阳"},
	},
	"contact": {
		{"id": 2001, "contactName": "王芳", "mobile": "13911112222", "accountId": 1001},
	},
}

var xoqlRe = regexp.MustCompile(`(?i)^\s*select\s+(.+?)\s+from\s+(\w+)`)

func neoError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]any{"code": "error", "msg": msg, "data": nil})
	writeJSON(w, status, b)
}

func (s *Server) serveNeocrm(w http.ResponseWriter, r *http.Request) {
	tok := s.opts.NeocrmToken
	if tok == "" {
		tok = DefaultNeocrmToken
	}
	if got, ok := cutScheme(r.Header.Get("Authorization"), "Bearer"); !ok || got != tok {
		neoError(w, http.StatusUnauthorized, "invalid access token")
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/rest/data/v2.0/")
	switch {
	case p == "query/xoql" && r.Method == http.MethodGet:
		m := xoqlRe.FindStringSubmatch(r.URL.Query().Get("q"))
		if m == nil {
			neoError(w, http.StatusBadRequest, "invalid xoql")
			return
		}
		recs, ok := neocrmObjects[strings.ToLower(m[2])]
		if !ok {
			neoError(w, http.StatusBadRequest, "unknown object "+m[2])
			return
		}
		var fields []string
		for _, f := range strings.Split(m[1], ",") {
			fields = append(fields, strings.TrimSpace(f))
		}
		out := []map[string]any{}
		for _, rec := range recs {
			out = append(out, project(rec, fields))
		}
		b, _ := json.Marshal(map[string]any{"code": "200", "msg": "OK", "data": map[string]any{"totalSize": len(out), "count": len(out), "records": out}})
		writeJSON(w, http.StatusOK, b)
	case strings.HasPrefix(p, "xobjects/") && r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	default:
		neoError(w, http.StatusNotFound, "unsupported")
	}
}
