package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/examples/samplecrm"
)

// The tests below run the gateway in front of the sample CRM speaking the
// 纷享销客 (fxiaoke) and 金蝶云星空 (kingdee) APIs, each upstream described by
// its built-in profile, the gateway's credential fetched from the sample
// CRM's own token/login endpoint.

const profilePolicy = `package crmgw.authz

import rego.v1

default decision := {"allow": false, "reason": "denied by default: no rule allowed this request"}

caps := {"sales_rep": 0, "intern": 2}

decision := {
	"allow": true,
	"reason": "reads are allowed",
	"mask": {"AccountObj.tel": "partial", "ContactObj.mobile": "partial", "BD_Customer.FTel": "redact",
	         "customers._widget_1432728651402": "partial", "account.phone": "partial"},
	"max_records": caps[input.subject.roles[0]],
} if {
	input.action.category == "read"
}
`

func newProfileEnv(t *testing.T) *env { return newProfileEnvWith(t, "ratelimit:\n  store: memory\n") }

// newProfileEnvWith takes the ratelimit section.
func newProfileEnvWith(t *testing.T, ratelimit string) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	e.crm = samplecrm.New(samplecrm.Options{Records: 10, Seed: 7})
	crmSrv := httptest.NewServer(e.crm)
	t.Cleanup(crmSrv.Close)
	e.crmURL = crmSrv.URL
	pol := filepath.Join(e.dir, "policies")
	if err := os.MkdirAll(pol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pol, "authz.rego"), []byte(profilePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`server:
  listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
upstreams:
  - name: fxiaoke
    type: generic
    profile: fxiaoke
    url: %[1]s
    match: {path_prefix: /fx}
    auth:
      type: profile
      params: {appId: FSAID_1, appSecret: app-secret, permanentCode: perm-code, currentOpenUserId: %[2]s}
  - name: kingdee
    type: generic
    profile: kingdee
    url: %[1]s
    match: {path_prefix: /kd}
    auth:
      type: profile
      params: {acctid: "5867f8d847e804", username: gateway, password: kd-password}
  - name: jiandaoyun
    type: generic
    profile: jiandaoyun
    url: %[1]s
    match: {path_prefix: /jdy}
    auth: {type: static, token: %[7]s}
  - name: neocrm
    type: generic
    profile: neocrm
    url: %[1]s
    match: {path_prefix: /neo}
    auth: {type: static, token: %[8]s}
identity:
  api_keys:
    - {id: rep, key_sha256: %[3]s, roles: [sales_rep]}
    - {id: intern, key_sha256: %[4]s, roles: [intern]}
policy:
  paths: [%[5]s]
  mode: enforce
masking:
  hmac_key: test-hmac-key-0123456789
%[9]saudit:
  sinks:
    - {type: file, path: %[6]s}
`, crmSrv.URL, samplecrm.DefaultFxiaokeUserID, sha(repKey), sha(internKey), pol, filepath.Join(e.dir, "audit.jsonl"), samplecrm.DefaultJiandaoyunKey, samplecrm.DefaultNeocrmToken, ratelimit)
	e.cfgPath = filepath.Join(e.dir, "crmgw.yaml")
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	e.srv, err = NewServer(context.Background(), c, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := e.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.srv.Shutdown(context.Background()) })
	e.base = "http://" + e.srv.ProxyAddr()
	e.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	return e
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON (%v): %s", err, b)
	}
	return v
}

// lastUpstream returns the last request the sample CRM received on path.
func lastUpstream(e *env, suffix string) *samplecrm.RecordedRequest {
	reqs := e.crm.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if strings.HasSuffix(reqs[i].Path, suffix) {
			return &reqs[i]
		}
	}
	return nil
}

const fxQuery = `{"corpAccessToken":"CALLER-OWN-TOKEN","corpId":"CallerCorp","currentOpenUserId":"FSUID_ADMIN",
 "data":{"dataObjectApiName":"AccountObj","search_query_info":{"offset":0,"limit":10,"filters":[],
 "orders":[{"fieldName":"name","isAsc":true}],"fieldProjection":["_id","name","tel"]}}}`

// TestProfileFxiaokeMaskedQuery: a query through the gateway answers the
// CRM's records with tel masked; the CRM received the gateway's
// corpAccessToken, corpId and currentOpenUserId and none of the caller's;
// the audit event names the object and counts the records.
func TestProfileFxiaokeMaskedQuery(t *testing.T) {
	e := newProfileEnv(t)
	resp := e.do("POST", "/fx/cgi/crm/v2/data/query?thirdTraceId=t1&CorpAccessToken=CALLER-QUERY-TOKEN", bearer(repKey), strings.NewReader(fxQuery), "Content-Type", "application/json")
	body := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	v := decodeJSON(t, body)
	if code := get(v, "errorCode"); code != float64(0) {
		t.Fatalf("the CRM refused the gateway's credential: %s", body)
	}
	list, _ := get(v, "data", "dataList").([]any)
	if len(list) != 4 {
		t.Fatalf("want 4 accounts, got %d: %s", len(list), body)
	}
	if tel := get(list[0], "tel"); tel != "*******5678" {
		t.Errorf("tel not masked: %v", tel)
	}
	if name := get(list[0], "name"); name != "华东贸易有限公司" {
		t.Errorf("name changed: %v", name)
	}
	up := lastUpstream(e, "/cgi/crm/v2/data/query")
	if up == nil {
		t.Fatal("the query did not reach the CRM")
	}
	if strings.Contains(string(up.Body), "CALLER-OWN-TOKEN") || strings.Contains(string(up.Body), "FSUID_ADMIN") || strings.Contains(string(up.Body), "CallerCorp") {
		t.Errorf("the caller's credential or identity reached the CRM: %s", up.Body)
	}
	fwd := decodeJSON(t, up.Body)
	if get(fwd, "corpAccessToken") != samplecrm.DefaultFxiaokeToken || get(fwd, "corpId") != samplecrm.DefaultFxiaokeCorpID ||
		get(fwd, "currentOpenUserId") != samplecrm.DefaultFxiaokeUserID {
		t.Errorf("the gateway's credential was not written: %s", up.Body)
	}
	if up.RawQuery != "thirdTraceId=t1" {
		t.Errorf("query forwarded: %q (the caller's token must go, the rest stay)", up.RawQuery)
	}
	if up.Header.Get("Authorization") != "" {
		t.Errorf("Authorization forwarded: %q", up.Header.Get("Authorization"))
	}
	evs := e.auditEvents(1)
	if len(evs) != 1 {
		t.Fatalf("want 1 audit event, got %d", len(evs))
	}
	crmEv := evs[0]["crm"]
	if get(crmEv, "object") != "AccountObj" || get(crmEv, "records") != float64(4) || get(crmEv, "operation") != "query" {
		t.Errorf("audit crm: %v", crmEv)
	}
}

// TestProfileFxiaokeCappedList: the policy caps an intern at 2 records:
// the list is cut at a record boundary and stays valid JSON; the audit
// event says 2 records, truncated.
func TestProfileFxiaokeCappedList(t *testing.T) {
	e := newProfileEnv(t)
	resp := e.do("POST", "/fx/cgi/crm/v2/data/query", bearer(internKey), strings.NewReader(fxQuery))
	body := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	list, _ := get(decodeJSON(t, body), "data", "dataList").([]any)
	if len(list) != 2 {
		t.Fatalf("want 2 records, got %d: %s", len(list), body)
	}
	evs := e.auditEvents(1)
	if get(evs[0], "crm", "records") != float64(2) || get(evs[0], "crm", "truncated") != true {
		t.Errorf("audit crm: %v", evs[0]["crm"])
	}
}

// TestProfileFxiaokeDeniedDelete: a delete is refused in 纷享销客's own
// error shape (errorCode, errorMessage, traceId = request id) and never
// reaches the CRM.
func TestProfileFxiaokeDeniedDelete(t *testing.T) {
	e := newProfileEnv(t)
	resp := e.do("POST", "/fx/cgi/crm/v2/data/delete", bearer(repKey),
		strings.NewReader(`{"data":{"dataObjectApiName":"AccountObj","object_data_id":"acc001"}}`))
	body := readAll(t, resp)
	if resp.StatusCode != 403 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	v := decodeJSON(t, body)
	if get(v, "errorCode") != float64(403) || !strings.Contains(fmt.Sprint(get(v, "errorMessage")), "denied") ||
		get(v, "traceId") != resp.Header.Get("X-Request-Id") || get(v, "errorDescription") != "CRMGW_FORBIDDEN" {
		t.Errorf("not the fxiaoke error shape: %s", body)
	}
	if up := lastUpstream(e, "/cgi/crm/v2/data/delete"); up != nil {
		t.Error("the delete reached the CRM")
	}
	evs := e.auditEvents(1)
	if get(evs[0], "crm", "operation") != "delete" || get(evs[0], "decision", "allow") != false {
		t.Errorf("audit: %v", evs[0])
	}
}

// TestProfileFxiaokeRefusedBodies: bodies that could be read two ways are
// refused before anything is forwarded.
func TestProfileFxiaokeRefusedBodies(t *testing.T) {
	e := newProfileEnv(t)
	for name, b := range map[string]string{
		"duplicate key":        `{"data":{"dataObjectApiName":"AccountObj","dataObjectApiName":"ContactObj"}}`,
		"case look-alike":      `{"data":{"dataObjectApiName":"AccountObj","DataObjectApiName":"ContactObj"}}`,
		"array for the object": `{"data":{"dataObjectApiName":["AccountObj","ContactObj"]}}`,
		"not JSON":             `dataObjectApiName=AccountObj`,
		"credential look-alike": `{"Corp_Access_Token":"x","data":{"dataObjectApiName":"AccountObj",` +
			`"search_query_info":{"corpAccessToken":"y"}}, "corpaccesstoken":"z"}`,
	} {
		t.Run(name, func(t *testing.T) {
			resp := e.do("POST", "/fx/cgi/crm/v2/data/query", bearer(repKey), strings.NewReader(b))
			body := readAll(t, resp)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if get(decodeJSON(t, body), "errorDescription") != "CRMGW_BAD_REQUEST" {
				t.Errorf("not the fxiaoke error shape: %s", body)
			}
		})
	}
	if up := lastUpstream(e, "/cgi/crm/v2/data/query"); up != nil {
		t.Errorf("a refused body reached the CRM: %s", up.Body)
	}
}

// TestProfileKingdeePositionalRows: ExecuteBillQuery rows are masked by the
// column FieldKeys gives FTel, wherever it is and as often as it appears;
// the session cookie is the gateway's and the caller's signed headers and
// cookie are removed; the audit event counts the rows.
func TestProfileKingdeePositionalRows(t *testing.T) {
	e := newProfileEnv(t)
	const path = "/kd/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc"
	cases := []struct {
		keys   string
		masked []int
	}{
		{"FNumber,FName,FTel", []int{2}},
		{"FTel,FNumber", []int{0}},
		{"FNumber,FTel,FName,FTel", []int{1, 3}},
	}
	for _, c := range cases {
		t.Run(c.keys, func(t *testing.T) {
			inner, _ := json.Marshal(map[string]any{"FormId": "BD_Customer", "FieldKeys": c.keys, "FilterString": "", "Limit": 100})
			reqBody, _ := json.Marshal(map[string]string{"data": string(inner)})
			resp := e.do("POST", path, bearer(repKey), strings.NewReader(string(reqBody)),
				"Cookie", "kdservice-sessionid=CALLER-SESSION", "X-Api-Signature", "caller-signature", "X-Kd-Appkey", "caller-app")
			body := readAll(t, resp)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var rows [][]any
			if err := json.Unmarshal(body, &rows); err != nil {
				t.Fatalf("not rows (%v): %s", err, body)
			}
			if len(rows) != 3 {
				t.Fatalf("want 3 rows, got %d: %s", len(rows), body)
			}
			keys := strings.Split(c.keys, ",")
			for _, row := range rows {
				for i, cell := range row {
					masked := false
					for _, m := range c.masked {
						masked = masked || m == i
					}
					if masked && cell != "****" {
						t.Errorf("column %d (%s) not masked: %v", i, keys[i], cell)
					}
					if !masked && (cell == "****" || strings.HasPrefix(fmt.Sprint(cell), "138")) {
						t.Errorf("column %d (%s) wrongly masked or a phone: %v", i, keys[i], cell)
					}
				}
			}
			up := lastUpstream(e, "ExecuteBillQuery.common.kdsvc")
			if up == nil {
				t.Fatal("the query did not reach the CRM")
			}
			if ck := up.Header.Get("Cookie"); ck != "kdservice-sessionid="+samplecrm.DefaultKingdeeSession {
				t.Errorf("session cookie forwarded: %q", ck)
			}
			if up.Header.Get("X-Api-Signature") != "" || up.Header.Get("X-Kd-Appkey") != "" {
				t.Errorf("caller's signed headers forwarded: %v", up.Header)
			}
		})
	}
	evs := e.auditEvents(3)
	if len(evs) != 3 || get(evs[0], "crm", "records") != float64(3) || get(evs[0], "crm", "object") != "BD_Customer" {
		t.Errorf("audit: %v", evs)
	}
}

// TestProfileKingdeeDeniedDelete: a delete is refused in 金蝶云星空's error
// shape.
func TestProfileKingdeeDeniedDelete(t *testing.T) {
	e := newProfileEnv(t)
	resp := e.do("POST", "/kd/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Delete.common.kdsvc", bearer(repKey),
		strings.NewReader(`{"formid":"BD_Customer","data":{"Numbers":["CUST001"]}}`))
	body := readAll(t, resp)
	if resp.StatusCode != 403 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	v := decodeJSON(t, body)
	if get(v, "Result", "ResponseStatus", "IsSuccess") != false ||
		!strings.Contains(fmt.Sprint(get(v, "Result", "ResponseStatus", "Errors", 0, "Message")), resp.Header.Get("X-Request-Id")) {
		t.Errorf("not the kingdee error shape: %s", body)
	}
	if up := lastUpstream(e, "Delete.common.kdsvc"); up != nil {
		t.Error("the delete reached the CRM")
	}
}

// TestProfileUnknownEndpointDenied: an endpoint the profile does not
// describe is unknown and denied by default.
func TestProfileUnknownEndpointDenied(t *testing.T) {
	e := newProfileEnv(t)
	resp := e.do("POST", "/fx/cgi/crm/v2/object/describe", bearer(repKey), strings.NewReader(`{"data":{"apiName":"AccountObj"}}`))
	body := readAll(t, resp)
	if resp.StatusCode != 403 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	evs := e.auditEvents(1)
	if get(evs[0], "crm", "operation") != "unknown" {
		t.Errorf("audit: %v", evs[0]["crm"])
	}
}

// TestProfileJiandaoyun: a list through the gateway masks the phone
// widget, an intern's list is capped, the API key is the gateway's (the
// caller's Authorization never reaches the CRM), a data_creator the caller
// set is removed, a delete is refused in 简道云's error shape.
func TestProfileJiandaoyun(t *testing.T) {
	e := newProfileEnv(t)
	list := `{"app_id":"app1","entry_id":"customers","data_creator":"boss","fields":["` + samplecrm.JdyWidgetName + `","` + samplecrm.JdyWidgetPhone + `"],"limit":100}`
	resp := e.do("POST", "/jdy/api/v5/app/entry/data/list", bearer(repKey), strings.NewReader(list))
	body := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	recs, _ := get(decodeJSON(t, body), "data").([]any)
	if len(recs) != 3 || get(recs[0], samplecrm.JdyWidgetPhone) != "*******5678" || get(recs[0], samplecrm.JdyWidgetName) != "华东贸易有限公司" {
		t.Fatalf("want 3 records with the phone masked: %s", body)
	}
	up := lastUpstream(e, "/data/list")
	if up.Header.Get("Authorization") != "Bearer "+samplecrm.DefaultJiandaoyunKey {
		t.Errorf("API key not injected: %q", up.Header.Get("Authorization"))
	}
	if strings.Contains(string(up.Body), "data_creator") {
		t.Errorf("data_creator forwarded: %s", up.Body)
	}

	resp = e.do("POST", "/jdy/api/v5/app/entry/data/list", bearer(internKey), strings.NewReader(list))
	body = readAll(t, resp)
	if recs, _ := get(decodeJSON(t, body), "data").([]any); resp.StatusCode != 200 || len(recs) != 2 {
		t.Fatalf("intern: want 2 records: %d %s", resp.StatusCode, body)
	}

	resp = e.do("POST", "/jdy/api/v5/app/entry/data/delete", bearer(repKey), strings.NewReader(`{"app_id":"app1","entry_id":"customers","data_id":"d001"}`))
	body = readAll(t, resp)
	v := decodeJSON(t, body)
	if resp.StatusCode != 403 || get(v, "code") != float64(403) || !strings.Contains(fmt.Sprint(get(v, "msg")), resp.Header.Get("X-Request-Id")) {
		t.Errorf("delete: %d %s", resp.StatusCode, body)
	}
	if lastUpstream(e, "/data/delete") != nil {
		t.Error("the delete reached the CRM")
	}
	evs := e.auditEvents(3)
	if len(evs) != 3 || get(evs[0], "crm", "records") != float64(3) || get(evs[1], "crm", "records") != float64(2) ||
		get(evs[1], "crm", "truncated") != true || get(evs[0], "crm", "object") != "customers" {
		t.Errorf("audit: %v", evs)
	}
}

// TestProfileNeocrm: an XOQL query through the gateway masks phone; a
// query filtering on two objects is refused before the CRM; a delete is
// refused in 销售易's error shape.
func TestProfileNeocrm(t *testing.T) {
	e := newProfileEnv(t)
	q := url.QueryEscape("select id, accountName, phone from account")
	resp := e.do("GET", "/neo/rest/data/v2.0/query/xoql?q="+q, bearer(repKey), nil)
	body := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	recs, _ := get(decodeJSON(t, body), "data", "records").([]any)
	if len(recs) != 3 || get(recs[0], "phone") != "*******5678" || get(recs[0], "accountName") != "华东贸易有限公司" {
		t.Fatalf("want 3 records with phone masked: %s", body)
	}
	if up := lastUpstream(e, "/query/xoql"); up == nil || up.Header.Get("Authorization") != "Bearer "+samplecrm.DefaultNeocrmToken {
		t.Errorf("token not injected: %v", up)
	}
	resp = e.do("GET", "/neo/rest/data/v2.0/query/xoql?q="+url.QueryEscape("select id from account, contact"), bearer(repKey), nil)
	body = readAll(t, resp)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "exactly one object") {
		t.Errorf("two objects: %d %s", resp.StatusCode, body)
	}
	resp = e.do("DELETE", "/neo/rest/data/v2.0/xobjects/account/1001", bearer(repKey), nil)
	body = readAll(t, resp)
	if v := decodeJSON(t, body); resp.StatusCode != 403 || get(v, "code") != "403" {
		t.Errorf("delete: %d %s", resp.StatusCode, body)
	}
	if lastUpstream(e, "/xobjects/account/1001") != nil {
		t.Error("the delete reached the CRM")
	}
}

// TestProfileHotReload: a profile file is re-read on Reload; one that does
// not validate is refused (the error names file:line) and the last good
// one stays in force; a valid change takes effect.
func TestProfileHotReload(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("..", "crm", "profile", "builtin", "jiandaoyun.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: t.TempDir()}
	e.crm = samplecrm.New(samplecrm.Options{Records: 10, Seed: 7})
	crmSrv := httptest.NewServer(e.crm)
	t.Cleanup(crmSrv.Close)
	prof := filepath.Join(e.dir, "jdy.yaml")
	if err := os.WriteFile(prof, good, 0o600); err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(e.dir, "policies")
	_ = os.MkdirAll(pol, 0o755)
	if err := os.WriteFile(filepath.Join(pol, "authz.rego"), []byte(profilePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`server: {listen: 127.0.0.1:0}
admin: {listen: 127.0.0.1:0}
upstreams:
  - {name: jdy, type: generic, profile: jdy.yaml, url: %s, auth: {type: static, token: %s}}
identity:
  api_keys:
    - {id: rep, key_sha256: %s, roles: [sales_rep]}
policy: {paths: [%s]}
masking: {hmac_key: test-hmac-key-0123456789}
`, crmSrv.URL, samplecrm.DefaultJiandaoyunKey, sha(repKey), pol)
	e.cfgPath = filepath.Join(e.dir, "crmgw.yaml")
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = NewServer(context.Background(), c, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.srv.Shutdown(context.Background()) })
	e.base = "http://" + e.srv.ProxyAddr()
	e.client = &http.Client{Timeout: 30 * time.Second}
	list := func() int {
		resp := e.do("POST", "/api/v5/app/entry/data/list", bearer(repKey), strings.NewReader(`{"app_id":"a","entry_id":"customers"}`))
		readAll(t, resp)
		return resp.StatusCode
	}
	if code := list(); code != 200 {
		t.Fatalf("before reload: %d", code)
	}
	broken := strings.Replace(string(good), "  - name: list\n", "  - name: list\n    typo: 1\n", 1)
	if err := os.WriteFile(prof, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	err = e.srv.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), prof+":") || !strings.Contains(err.Error(), `unknown key "typo"`) {
		t.Fatalf("want the broken profile refused with file:line, got %v", err)
	}
	if code := list(); code != 200 {
		t.Fatalf("the last good profile must stay: %d", code)
	}
	changed := strings.Replace(string(good), "path: /api/v5/app/entry/data/list}", "path: /api/v5/app/entry/data/list_v2}", 1)
	if changed == string(good) {
		t.Fatal("test did not change the profile")
	}
	if err := os.WriteFile(prof, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := list(); code != 403 {
		t.Fatalf("after a valid reload the list endpoint is unknown: want 403, got %d", code)
	}
}

// TestProfileRecordQuota: a record quota counts the records a profile CRM
// returned: the first list is cut at the quota, the next is refused with
// 429 in 纷享销客's error shape.
func TestProfileRecordQuota(t *testing.T) {
	e := newProfileEnvWith(t, "ratelimit:\n  store: memory\n  quotas:\n    - {name: reads, key: subject, records: 3, window: 1h, categories: [read]}\n")
	resp := e.do("POST", "/fx/cgi/crm/v2/data/query", bearer(repKey), strings.NewReader(fxQuery))
	body := readAll(t, resp)
	list, _ := get(decodeJSON(t, body), "data", "dataList").([]any)
	if resp.StatusCode != 200 || len(list) != 3 {
		t.Fatalf("first query: %d, %d records: %s", resp.StatusCode, len(list), body)
	}
	var code int
	for i := 0; i < 20; i++ { // quota accounting lands after the response
		resp = e.do("POST", "/fx/cgi/crm/v2/data/query", bearer(repKey), strings.NewReader(fxQuery))
		body = readAll(t, resp)
		if code = resp.StatusCode; code == 429 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != 429 || get(decodeJSON(t, body), "errorDescription") != "CRMGW_RATE_LIMITED" {
		t.Fatalf("after the quota: %d %s", code, body)
	}
}

// TestProfileUnauthenticated: no credential is 401 with the Bearer
// challenge, in the profile CRM's error shape.
func TestProfileUnauthenticated(t *testing.T) {
	e := newProfileEnv(t)
	resp := e.do("POST", "/fx/cgi/crm/v2/data/query", "", strings.NewReader(fxQuery))
	body := readAll(t, resp)
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
	if v := decodeJSON(t, body); get(v, "errorCode") != float64(401) || get(v, "errorDescription") != "CRMGW_UNAUTHENTICATED" {
		t.Errorf("not the fxiaoke shape: %s", body)
	}
	if lastUpstream(e, "/data/query") != nil {
		t.Error("an unauthenticated request reached the CRM")
	}
}
