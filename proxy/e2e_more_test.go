package proxy

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/examples/samplecrm"
)

func TestUpstreamSessionExpiryRefreshesAndRetriesOnce(t *testing.T) {
	e := newEnv(t, envOptions{
		sfAuth: "{type: client_credentials, token_url: '{{CRM}}/services/oauth2/token', client_id: gw-client, client_secret: gw-secret}",
		crmOpts: func(o *samplecrm.Options) {
			o.SalesforceToken = ""
			o.ClientID, o.ClientSecret = "gw-client", "gw-secret"
		},
	})
	tokenRequests := func() int {
		n := 0
		for _, r := range e.crm.Requests() {
			if r.Path == "/services/oauth2/token" {
				n++
			}
		}
		return n
	}
	for i := 0; i < 3; i++ {
		resp := e.do("GET", contactQuery, bearer(repKey), nil)
		if b := readAll(t, resp); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
	}
	if n := tokenRequests(); n != 1 {
		t.Fatalf("the token must be fetched once and cached: %d token requests", n)
	}
	e.crm.ExpireTokens() // the org invalidates the session: next call gets 401 INVALID_SESSION_ID
	resp := e.do("GET", contactQuery, bearer(repKey), nil)
	if b := readAll(t, resp); resp.StatusCode != 200 {
		t.Fatalf("after session expiry: %d %s", resp.StatusCode, b)
	}
	if n := tokenRequests(); n != 2 {
		t.Fatalf("want exactly one refresh after the 401, got %d token requests in all", n)
	}
	// A non-idempotent request is not retried: the caller sees the 401.
	e.crm.ExpireTokens()
	resp = e.do("POST", "/services/data/v60.0/sobjects/Contact", bearer(repKey), strings.NewReader(`{"LastName":"Li"}`), "Content-Type", "application/json")
	readAll(t, resp)
	if resp.StatusCode != 401 {
		t.Fatalf("POST after expiry: want the upstream's 401 (no retry), got %d", resp.StatusCode)
	}
}

func TestRateLimitedGets429InCRMShapeAndIsAudited(t *testing.T) {
	e := newEnv(t, envOptions{limits: "ratelimit:\n  store: memory\n  limits:\n    - {name: per-subject, key: subject, rate: 1, per: 1m, burst: 2}\n"})
	for i := 0; i < 2; i++ {
		resp := e.do("GET", contactQuery, bearer(repKey), nil)
		readAll(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		// An allowed answer says where the caller stands, and is not told to wait.
		want := fmt.Sprintf(`"per-subject";r=%d;t=`, 1-i)
		if got := resp.Header.Get("RateLimit"); !strings.HasPrefix(got, want) ||
			resp.Header.Get("RateLimit-Policy") != `"per-subject";q=2;w=60` || resp.Header.Get("Retry-After") != "" {
			t.Errorf("request %d: RateLimit %q (want %s...), RateLimit-Policy %q, Retry-After %q", i, got, want,
				resp.Header.Get("RateLimit-Policy"), resp.Header.Get("Retry-After"))
		}
	}
	resp := e.do("GET", contactQuery, bearer(repKey), nil)
	body := readAll(t, resp)
	if resp.StatusCode != 429 {
		t.Fatalf("third request: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") == "" || resp.Header.Get("RateLimit-Policy") == "" {
		t.Errorf("429 lacks Retry-After or RateLimit-Policy: %v", resp.Header)
	}
	var errs []map[string]any
	if err := json.Unmarshal(body, &errs); err != nil || errs[0]["errorCode"] != "CRMGW_RATE_LIMITED" {
		t.Errorf("body: %s", body)
	}
	if n := len(e.crm.Requests()); n != 2 {
		t.Errorf("the limited request reached the upstream: %d requests", n)
	}
	// Another subject is not affected.
	resp = e.do("GET", contactQuery, bearer(internKey), nil)
	readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Errorf("another subject: %d", resp.StatusCode)
	}
	evs := e.auditEvents(4)
	if len(evs) != 4 || get(evs[2], "status") != "rate_limited" || get(evs[2], "http_response", "code") != float64(429) {
		t.Fatalf("rate-limited request not audited as such: %v", evs)
	}
}

func TestQuotaCapsRecordsFromRealResponses(t *testing.T) {
	e := newEnv(t, envOptions{limits: "ratelimit:\n  store: memory\n  quotas:\n    - {name: reads, key: subject, records: 7, window: 1h, categories: [read]}\n"})
	q := func() (int, map[string]any) {
		resp := e.do("GET", contactQuery, bearer(repKey), nil) // LIMIT 5
		b := readAll(t, resp)
		var doc map[string]any
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("capped body is not valid JSON: %v\n%s", err, b)
			}
		}
		return resp.StatusCode, doc
	}
	code, doc := q()
	if code != 200 || len(doc["records"].([]any)) != 5 {
		t.Fatalf("first query: %d %v", code, doc)
	}
	code, doc = q()
	if code != 200 || len(doc["records"].([]any)) != 2 {
		t.Fatalf("second query must be cut to the 2 records left in the quota: %d %d", code, len(doc["records"].([]any)))
	}
	if doc["nextRecordsUrl"] != nil {
		t.Errorf("a capped response must not offer the next page")
	}
	if code, _ = q(); code != 429 {
		t.Fatalf("third query: quota used up, want 429, got %d", code)
	}
	evs := e.auditEvents(3)
	if get(evs[1], "crm", "records") != float64(2) || get(evs[1], "crm", "truncated") != true {
		t.Errorf("capped request audit: %v", evs[1]["crm"])
	}
}

func TestMonitorModeAuditsButNeverBlocks(t *testing.T) {
	e := newEnv(t, envOptions{mode: "monitor"})
	resp := e.do("DELETE", "/services/data/v60.0/sobjects/Contact/003000000000001AAA", bearer(internKey), nil)
	readAll(t, resp)
	if resp.StatusCode == 403 {
		t.Fatal("monitor mode blocked a request")
	}
	if n := len(e.crm.Requests()); n != 1 {
		t.Fatalf("monitor mode: the request must reach the CRM, got %d", n)
	}
	evs := e.auditEvents(1)
	if get(evs[0], "decision", "allow") != false || get(evs[0], "decision", "enforced") != false {
		t.Fatalf("monitor-mode event must record the denial as not enforced: %v", evs[0]["decision"])
	}
}

func TestGzipUpstreamIsDecodedMaskedAndCounted(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp := e.do("GET", contactQuery, bearer(internKey), nil, "Accept-Encoding", "gzip")
	body := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if ae := e.crm.Requests()[0].Header.Get("Accept-Encoding"); !strings.Contains(ae, "gzip") {
		t.Fatalf("the gateway did not ask the CRM for gzip: %q", ae)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("response is not plain JSON: %v", err)
	}
	if s, _ := get(doc, "records", 0, "MobilePhone").(string); s != "" && !strings.Contains(s, "*") {
		t.Errorf("intern saw an unmasked phone through gzip: %q", s)
	}
	if evs := e.auditEvents(1); get(evs[0], "crm", "records") != float64(5) {
		t.Errorf("records counted through gzip: %v", get(evs[0], "crm", "records"))
	}
}

func TestUndecodableUpstreamEncodingIsNeverPassedThrough(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "br")
		_, _ = w.Write([]byte("\x1b\x0f\x00\xf8brotli-bytes-with-secrets"))
	}))
	defer up.Close()
	e := newEnv(t, envOptions{upstream: up.URL})
	resp := e.do("GET", contactQuery, bearer(internKey), nil)
	body := readAll(t, resp)
	if resp.StatusCode != 502 || strings.Contains(string(body), "secrets") {
		t.Fatalf("want 502 without the body, got %d %q", resp.StatusCode, body)
	}
}

func TestMalformedUpstreamJSONIsCutOffAndAudited(t *testing.T) {
	// With many records before the bad one, the masked part before it is
	// larger than the hold and net/http's buffers: it reaches the caller,
	// and the cut must too. With few, nothing has left yet: the caller
	// gets a 502 in the CRM's shape instead (TestBodyFailingInsideTheHold).
	for _, filler := range []int{3000} {
		t.Run(fmt.Sprintf("%d records before", filler), func(t *testing.T) { testMalformedUpstreamJSON(t, filler) })
	}
}

func testMalformedUpstreamJSON(t *testing.T, filler int) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"totalSize":%d,"done":true,"records":[`, filler+2)
		for i := range filler {
			fmt.Fprintf(w, `{"attributes":{"type":"Contact"},"Id":"f%d","Name":"Filler record number %d"},`, i, i)
		}
		fmt.Fprint(w, `{"attributes":{"type":"Contact"},"Id":"1","MobilePhone":"13800138000"},{"attributes":{"type":"Contact"},"Id":"2","MobilePhone":"13900139000" oops "Email":"leak@example.com"}]}`)
	}))
	defer up.Close()
	e := newEnv(t, envOptions{upstream: up.URL})
	req, _ := http.NewRequest("GET", e.base+"/services/data/v60.0/query?q=SELECT+Id,MobilePhone,Email+FROM+Contact", nil)
	req.Header.Set("Authorization", bearer(internKey))
	resp, err := e.client.Do(req)
	var got []byte
	if err == nil {
		var rerr error
		got, rerr = readBody(resp)
		// Cut off, not ended: the caller's HTTP client must see the body
		// fail, never a complete response of fewer records.
		if rerr == nil {
			t.Fatalf("a cut-off body read without an error (Content-Length %d): %s", resp.ContentLength, got)
		}
	}
	for _, secret := range []string{"13900139000", "13800138000", "leak@example.com"} {
		if bytes.Contains(got, []byte(secret)) {
			t.Fatalf("unmasked value %q reached the caller: %s", secret, got)
		}
	}
	if json.Valid(got) && len(got) > 0 {
		t.Fatalf("a malformed upstream body must not end as a complete valid document: %s", got)
	}
	evs := e.auditEvents(1)
	if len(evs) != 1 || get(evs[0], "status") != "failed" {
		t.Fatalf("want one failed event, got %v", evs)
	}
}

func readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err := buf.ReadFrom(resp.Body)
	return buf.Bytes(), err
}

func TestCompressedRequestBodyIsClassified(t *testing.T) {
	e := newEnv(t, envOptions{})
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	fmt.Fprint(zw, `{"compositeRequest":[{"method":"DELETE","url":"/services/data/v60.0/sobjects/Contact/003000000000001AAA","referenceId":"d"}]}`)
	zw.Close()
	resp := e.do("POST", "/services/data/v60.0/composite", bearer(internKey), &zb, "Content-Type", "application/json", "Content-Encoding", "gzip")
	body := readAll(t, resp)
	if resp.StatusCode != 403 {
		t.Fatalf("a delete hidden in a gzip body: %d %s", resp.StatusCode, body)
	}
	// HTTP's "deflate" is zlib-wrapped.
	var db bytes.Buffer
	dw := zlib.NewWriter(&db)
	fmt.Fprint(dw, `{"compositeRequest":[{"method":"DELETE","url":"/services/data/v60.0/sobjects/Contact/003000000000001AAA","referenceId":"d"}]}`)
	dw.Close()
	resp = e.do("POST", "/services/data/v60.0/composite", bearer(internKey), &db, "Content-Type", "application/json", "Content-Encoding", "deflate")
	body = readAll(t, resp)
	if resp.StatusCode != 403 {
		t.Fatalf("a delete hidden in a deflate body: %d %s", resp.StatusCode, body)
	}
	resp = e.do("POST", "/services/data/v60.0/composite", bearer(internKey), strings.NewReader("x"), "Content-Encoding", "br")
	readAll(t, resp)
	if resp.StatusCode != 415 {
		t.Fatalf("unknown request encoding: want 415, got %d", resp.StatusCode)
	}
	if n := len(e.crm.Requests()); n != 0 {
		t.Fatalf("%d requests reached the CRM", n)
	}
}

func TestRequestBodyOverLimitIs413(t *testing.T) {
	e := newEnv(t, envOptions{extraYAML: ""})
	big := strings.Repeat("a", 11<<20)
	resp := e.do("POST", "/services/data/v60.0/sobjects/Contact", bearer(repKey), strings.NewReader(`{"LastName":"`+big+`"}`), "Content-Type", "application/json")
	readAll(t, resp)
	if resp.StatusCode != 413 {
		t.Fatalf("want 413, got %d", resp.StatusCode)
	}
}

// TestTwoGatewaysShareOneRedisLimit runs two gateway instances against one
// Redis: a burst of 3 is shared, whichever instance the requests hit.
func TestTwoGatewaysShareOneRedisLimit(t *testing.T) {
	addr := os.Getenv("CRMGW_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		if os.Getenv("CRMGW_REQUIRE_REDIS") != "" || os.Getenv("CI") != "" {
			t.Fatalf("redis at %s is required: %v", addr, err)
		}
		t.Skipf("no redis at %s", addr)
	} else {
		c.Close()
	}
	prefix := fmt.Sprintf("crmgw-e2e-%d:", time.Now().UnixNano())
	limits := fmt.Sprintf("ratelimit:\n  store: redis\n  redis: {url: \"redis://%s/0\", key_prefix: %q}\n  limits:\n    - {name: per-subject, key: subject, rate: 1, per: 1m, burst: 3}\n", addr, prefix)
	a := newEnv(t, envOptions{limits: limits})
	b := newEnv(t, envOptions{limits: limits})
	var ok, limited int
	for i := 0; i < 6; i++ {
		e := a
		if i%2 == 1 {
			e = b
		}
		resp := e.do("GET", contactQuery, bearer(repKey), nil)
		readAll(t, resp)
		switch resp.StatusCode {
		case 200:
			ok++
		case 429:
			limited++
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if ok != 3 || limited != 3 {
		t.Fatalf("two gateways must share one limit of 3: %d allowed, %d limited", ok, limited)
	}
}

func TestAuditChainOfARealRunVerifies(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 0; i < 5; i++ {
		readAll(t, e.do("GET", contactQuery, bearer(repKey), nil))
	}
	readAll(t, e.do("DELETE", "/services/data/v60.0/sobjects/Contact/003000000000001AAA", bearer(internKey), nil))
	if evs := e.auditEvents(6); len(evs) != 6 {
		t.Fatalf("want 6 events, got %d", len(evs))
	}
	rep, err := audit.VerifyFile(e.dir + "/audit.jsonl")
	// 6 completions and the start records of the 5 forwarded requests.
	if err != nil || !rep.OK() || rep.Events != 11 {
		t.Fatalf("chain: %+v %v", rep, err)
	}
}

func TestCompressionNoneAsksTheCRMForIdentity(t *testing.T) {
	e := newEnv(t, envOptions{sfAuth: "{type: static, token: " + sfToken + "}\n    compression: none"})
	resp := e.do("GET", contactQuery, bearer(internKey), nil, "Accept-Encoding", "gzip")
	body := readAll(t, resp)
	if resp.StatusCode != 200 || !json.Valid(body) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if ae := e.crm.Requests()[0].Header.Get("Accept-Encoding"); ae != "identity" {
		t.Fatalf("upstream Accept-Encoding = %q, want identity", ae)
	}
}

// A policy that reads the request's query and headers sees them as sent
// (the query parsed by the engine, escapes decoded), also when its
// decisions come from the cache: a cached allow for one query or agent is
// never handed to another.
func TestPolicyReadsQueryAndHeaders(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(`package crmgw.authz

default decision := {"allow": false, "reason": "debug requests and blocked agents are refused"}

decision := {"allow": true, "reason": "ok"} if {
	not input.request.query.debug
	input.request.headers["user-agent"] != "blocked-agent/1"
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{policies: dir})
	q := "/services/data/v60.0/query?q=SELECT+Id+FROM+Contact+LIMIT+1"
	cases := []struct {
		name, path, agent string
		want              int
	}{
		{"plain", q, "jsforce/3.10", 200},
		{"debug", q + "&debug=1", "jsforce/3.10", 403},
		{"debug, name escaped", q + "&%64ebug=1", "jsforce/3.10", 403},
		{"blocked agent", q, "blocked-agent/1", 403},
		{"other agent", q, "blocked-agent/2", 200},
	}
	for round := range 3 { // rounds 2 and 3 are answered from the decision cache
		for _, c := range cases {
			resp := e.do("GET", c.path, bearer(repKey), nil, "User-Agent", c.agent)
			body := readAll(t, resp)
			if resp.StatusCode != c.want {
				t.Errorf("round %d, %s: status %d, want %d: %s", round, c.name, resp.StatusCode, c.want, body)
			}
		}
	}
}
