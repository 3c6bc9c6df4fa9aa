package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const contactQuery = "/services/data/v60.0/query?q=" + "SELECT+Id,Name,Email,MobilePhone,Account.Owner.Email+FROM+Contact+LIMIT+5"

func TestAllowedReadReachesUpstreamWithGatewayCredentialOnly(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp := e.do("GET", contactQuery, bearer(repKey), nil,
		"Connection", "X-Secret-Hop, keep-alive", "X-Secret-Hop", "must-not-pass", "Keep-Alive", "timeout=5",
		"X-Sfdc-Session", "caller-session", "Cookie", "sid=caller")
	body := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if id := resp.Header.Get("X-Request-Id"); len(id) != 26 {
		t.Errorf("X-Request-Id missing or not a ULID: %q", id)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("response is not JSON: %v", err)
	}
	if n := len(get(doc, "records").([]any)); n != 5 {
		t.Errorf("want 5 records, got %d", n)
	}

	reqs := e.crm.Requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests, want 1", len(reqs))
	}
	got := reqs[0]
	if got.Header.Get("Authorization") != "Bearer "+sfToken {
		t.Errorf("upstream got Authorization %q, want the gateway's token", got.Header.Get("Authorization"))
	}
	for _, h := range []string{"X-Secret-Hop", "Keep-Alive", "X-Sfdc-Session", "Cookie"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("header %s reached the upstream: %q", h, v)
		}
	}
	if got.Header.Get("X-Forwarded-For") != "127.0.0.1" || got.Header.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("X-Forwarded-* not set: %v", got.Header)
	}
	if !strings.HasPrefix(got.Path, "/services/data/v60.0/query") {
		t.Errorf("upstream path %q", got.Path)
	}
}

func TestCallerJWTNeverReachesUpstream(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.issuer.Sign(map[string]any{
		"iss": e.issuer.URL(), "sub": "00u-rep", "aud": audience, "email": "rep@example.com", "roles": []string{"sales_rep"},
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	})
	resp := e.do("GET", contactQuery, bearer(tok), nil)
	body := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for _, r := range e.crm.Requests() {
		for k, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, tok) || strings.Contains(v, strings.Split(tok, ".")[2]) {
					t.Fatalf("caller JWT reached the upstream in header %s", k)
				}
			}
		}
		if r.Header.Get("Authorization") != "Bearer "+sfToken {
			t.Fatalf("upstream Authorization = %q", r.Header.Get("Authorization"))
		}
	}
}

func TestMissingOrBadCredentialIs401InCRMShape(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, auth := range []string{"", "Bearer not-a-key", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."} {
		resp := e.do("GET", contactQuery, auth, nil)
		body := readAll(t, resp)
		if resp.StatusCode != 401 {
			t.Fatalf("auth %q: status %d", auth, resp.StatusCode)
		}
		if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
		}
		var errs []map[string]any
		if err := json.Unmarshal(body, &errs); err != nil || len(errs) != 1 || errs[0]["errorCode"] != "CRMGW_UNAUTHENTICATED" {
			t.Errorf("body is not a Salesforce error array: %s", body)
		}
		if auth != "" && strings.Contains(string(body), strings.TrimPrefix(auth, "Bearer ")) {
			t.Errorf("the token was echoed: %s", body)
		}
	}
	if n := len(e.crm.Requests()); n != 0 {
		t.Fatalf("unauthenticated requests reached the upstream: %d", n)
	}
}

func TestDeniedRequestNeverReachesUpstream(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp := e.do("DELETE", "/services/data/v60.0/sobjects/Contact/003000000000001AAA", bearer(internKey), nil)
	body := readAll(t, resp)
	if resp.StatusCode != 403 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), "CRMGW_FORBIDDEN") || !strings.Contains(string(body), resp.Header.Get("X-Request-Id")) {
		t.Errorf("body: %s", body)
	}
	if n := len(e.crm.Requests()); n != 0 {
		t.Fatalf("denied request reached the upstream")
	}
}

func TestBypassVariantsAreDeniedBeforeUpstream(t *testing.T) {
	e := newEnv(t, envOptions{})
	cases := []struct {
		name   string
		method string
		path   string
		hdr    []string
		body   string
	}{
		{"encoded slash in the object path", "DELETE", "/services/data/v60.0/sobjects%2FContact%2F003000000000001AAA", nil, ""},
		{"doubled slashes", "DELETE", "/services//data/v60.0//sobjects/Contact/003000000000001AAA", nil, ""},
		{"dot segments", "DELETE", "/services/data/v60.0/query/../sobjects/Contact/003000000000001AAA", nil, ""},
		{"cased fixed segments", "DELETE", "/SERVICES/DATA/v60.0/SObjects/contact/003000000000001AAA", nil, ""},
		{"method override header", "POST", "/services/data/v60.0/sobjects/Contact/003000000000001AAA", []string{"X-HTTP-Method-Override", "DELETE"}, "{}"},
		{"_HttpMethod parameter", "POST", "/services/data/v60.0/sobjects/Contact/003000000000001AAA?_HttpMethod=DELETE", nil, "{}"},
		{"composite hiding a delete", "POST", "/services/data/v60.0/composite", []string{"Content-Type", "application/json"},
			`{"compositeRequest":[{"method":"GET","url":"/services/data/v60.0/sobjects/Contact/003000000000001AAA","referenceId":"a"},{"method":"DELETE","url":"/services/data/v60.0/sobjects/Contact/003000000000001AAA","referenceId":"b"}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body *strings.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			var resp *http.Response
			if body != nil {
				resp = e.do(tc.method, tc.path, bearer(internKey), body, tc.hdr...)
			} else {
				resp = e.do(tc.method, tc.path, bearer(internKey), nil, tc.hdr...)
			}
			b := readAll(t, resp)
			if resp.StatusCode != 403 && resp.StatusCode != 400 {
				t.Fatalf("status %d (want 403 or 400): %s", resp.StatusCode, b)
			}
		})
	}
	if n := len(e.crm.Requests()); n != 0 {
		for _, r := range e.crm.Requests() {
			t.Logf("reached upstream: %s %s", r.Method, r.Path)
		}
		t.Fatalf("%d bypass attempts reached the upstream", n)
	}
}

func TestInternSeesMaskedFields(t *testing.T) {
	e := newEnv(t, envOptions{})
	rep := readAll(t, e.do("GET", contactQuery, bearer(repKey), nil))
	intern := e.do("GET", contactQuery, bearer(internKey), nil)
	ib := readAll(t, intern)
	if intern.StatusCode != 200 {
		t.Fatalf("intern status %d: %s", intern.StatusCode, ib)
	}
	var r, i map[string]any
	if err := json.Unmarshal(rep, &r); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ib, &i); err != nil {
		t.Fatalf("masked body is not valid JSON: %v\n%s", err, ib)
	}
	re, ie := get(r, "records", 0, "Email"), get(i, "records", 0, "Email")
	if re == nil || re == ie {
		t.Fatalf("intern saw the same email as the rep: %v vs %v", re, ie)
	}
	if s, _ := re.(string); s != "" && strings.Contains(string(ib), s) {
		t.Fatalf("the rep's view of the email appears in the intern's body")
	}
}

func TestUpstreamDownIs502InCRMShape(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	e := newEnv(t, envOptions{upstream: dead})
	resp := e.do("GET", contactQuery, bearer(repKey), nil)
	body := readAll(t, resp)
	if resp.StatusCode != 502 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var errs []map[string]any
	if err := json.Unmarshal(body, &errs); err != nil || errs[0]["errorCode"] != "CRMGW_UPSTREAM_UNAVAILABLE" {
		t.Fatalf("body: %s", body)
	}
	if strings.Contains(string(body), ln.Addr().String()) {
		t.Errorf("the upstream address leaked to the caller: %s", body)
	}
}

func TestZohoUpstreamByPrefixAndZohoErrorShape(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp := e.do("GET", "/zoho/crm/v6/Contacts?fields=Last_Name,Email&per_page=3", "Zoho-oauthtoken "+repKey, nil)
	body := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	reqs := e.crm.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/crm/v6/Contacts" || reqs[0].Header.Get("Authorization") != "Zoho-oauthtoken "+zohoToken {
		t.Fatalf("upstream saw %+v", reqs)
	}
	resp = e.do("DELETE", "/zoho/crm/v6/Contacts?ids=1", "Zoho-oauthtoken "+internKey, nil)
	body = readAll(t, resp)
	var zerr map[string]any
	if err := json.Unmarshal(body, &zerr); err != nil || zerr["status"] != "error" || zerr["code"] != "CRMGW_FORBIDDEN" {
		t.Fatalf("want a Zoho error object, got %d %s", resp.StatusCode, body)
	}
}

// TestResponsesStream proves the gateway does not buffer a response: the
// upstream sends the first records, then waits until the caller has read
// them before sending the rest. The first part is small (the gateway
// flushes it) or large (its write puts it on the connection, and the
// gateway skips the flush that would only send the chunk's line end), or
// larger than the masking stage's output chunk (the gateway's read of it
// fills its copy buffer with more than one chunk, and returns when the
// input in hand is used up, not waiting on the upstream to fill the rest).
func TestResponsesStream(t *testing.T) {
	for _, filler := range []int{0, 400, 1500} {
		t.Run(fmt.Sprintf("%d records before", filler), func(t *testing.T) { testResponsesStream(t, filler) })
	}
}

func testResponsesStream(t *testing.T, filler int) {
	firstSeen := make(chan struct{})
	var once sync.Once
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		fmt.Fprintf(w, `{"totalSize":%d,"done":true,"records":[`, filler+2)
		for i := range filler {
			fmt.Fprintf(w, `{"attributes":{"type":"Contact"},"Id":"f%d","Name":"Filler record number %d"},`, i, i)
		}
		fmt.Fprint(w, `{"attributes":{"type":"Contact"},"Id":"1","Name":"First"}`)
		w.(http.Flusher).Flush()
		select {
		case <-firstSeen:
		case <-time.After(10 * time.Second):
			return // the gateway buffered: the caller never saw the first record
		}
		fmt.Fprint(w, `,{"attributes":{"type":"Contact"},"Id":"2","Name":"Second"}]}`)
	}))
	defer up.Close()
	e := newEnv(t, envOptions{upstream: up.URL})
	resp := e.do("GET", "/services/data/v60.0/query?q=SELECT+Id,Name+FROM+Contact", bearer(repKey), nil)
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	var got []byte
	for !strings.Contains(string(got), `"First"`) {
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("stream ended before the first record arrived: %v (%d bytes)", err, len(got))
		}
	}
	if filler > 0 && len(got) < onWire {
		t.Fatalf("the first part is %d bytes: it does not test a write of %d", len(got), onWire)
	}
	once.Do(func() { close(firstSeen) })
	rest := readAll(t, resp)
	got = append(got, rest...)
	var doc map[string]any
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatalf("streamed body is not valid JSON: %v: %s", err, got)
	}
	if n := len(doc["records"].([]any)); n != filler+2 {
		t.Fatalf("want %d records, got %d", filler+2, n)
	}
}

// TestMaskedBodyLength: a masked answer that the CRM sends at once goes to
// the caller whole, with the length of the masked body (the CRM's own
// length no longer applies); one larger than the hold streams chunked.
// Both arrive complete and masked.
func TestMaskedBodyLength(t *testing.T) {
	for _, tc := range []struct {
		records int
		whole   bool
	}{{3, true}, {200, true}, {1000, false}} {
		t.Run(fmt.Sprintf("%d records", tc.records), func(t *testing.T) {
			rec := `{"attributes":{"type":"Contact","url":"/services/data/v60.0/sobjects/Contact/003000000000001AAA"},"Id":"003000000000001AAA","Name":"Wang Fang","MobilePhone":"13800138000"}`
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body := fmt.Sprintf(`{"totalSize":%d,"done":true,"records":[%s]}`, tc.records, strings.TrimSuffix(strings.Repeat(rec+",", tc.records), ","))
				w.Header().Set("Content-Type", "application/json;charset=UTF-8")
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				fmt.Fprint(w, body)
			}))
			defer up.Close()
			e := newEnv(t, envOptions{upstream: up.URL})
			// Held until the body ends however slow this machine is (the
			// timer's release is TestResponsesStream's).
			e.srv.Gateway.holdNs.Store(int64(time.Minute))
			resp := e.do("GET", "/services/data/v60.0/query?q=SELECT+Id,Name,MobilePhone+FROM+Contact", bearer(internKey), nil)
			body, err := readBody(resp)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d, read error %v", resp.StatusCode, err)
			}
			if bytes.Contains(body, []byte("13800138000")) {
				t.Fatal("the intern saw a mobile number")
			}
			var doc struct{ Records []map[string]any }
			if err := json.Unmarshal(body, &doc); err != nil || len(doc.Records) != tc.records {
				t.Fatalf("want %d records in valid JSON, got %d (%v)", tc.records, len(doc.Records), err)
			}
			if tc.whole {
				if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) != 0 {
					t.Fatalf("a %d-byte masked body: Content-Length %d, Transfer-Encoding %v", len(body), resp.ContentLength, resp.TransferEncoding)
				}
			} else if len(body) <= holdMax || resp.ContentLength != -1 {
				t.Fatalf("a %d-byte masked body: Content-Length %d, want it streamed", len(body), resp.ContentLength)
			}
			ev := e.auditEvents(1)[0]
			if got := get(ev, "http_response", "bytes"); fmt.Sprint(got) != strconv.Itoa(len(body)) {
				t.Fatalf("audit event length %v, the caller got %d bytes", got, len(body))
			}
		})
	}
}

// TestLargeResponseIsNotBuffered streams a 64 MiB query result through the
// gateway (masking on) to a client that discards it, sampling the heap while
// it flows: the heap must stay far below the body's size.
func TestLargeResponseIsNotBuffered(t *testing.T) {
	if testing.Short() {
		t.Skip("large body")
	}
	records := 200_000 // ~330 bytes each: ~65 MB from the upstream
	if v, err := strconv.Atoi(os.Getenv("CRMGW_STREAM_RECORDS")); err == nil && v > 0 {
		records = v // e.g. 3300000 for ~1 GiB (see README "Performance")
	}
	rec := []byte(`,{"attributes":{"type":"Contact","url":"/services/data/v60.0/sobjects/Contact/003000000000001AAA"},"Id":"003000000000001AAA","Name":"Wang Fang","Email":"wang.fang@customer-corp.cn","MobilePhone":"13800138000","Account":{"attributes":{"type":"Account"},"Name":"Customer Corp"}}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		fmt.Fprintf(w, `{"totalSize":%d,"done":true,"records":[`, records)
		_, _ = w.Write(rec[1:])
		for i := 1; i < records; i++ {
			_, _ = w.Write(rec)
		}
		fmt.Fprint(w, `]}`)
	}))
	defer up.Close()
	e := newEnv(t, envOptions{upstream: up.URL})

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	resp := e.do("GET", "/services/data/v60.0/query?q=SELECT+Id,Name,Email,MobilePhone,Account.Name+FROM+Contact", bearer(internKey), nil)
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	close(stop)
	wg.Wait()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, err %v", resp.StatusCode, err)
	}
	if n < int64(records)*200 {
		t.Fatalf("only %d bytes streamed", n)
	}
	grow := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("streamed %d MiB; heap in use %d MiB before, peak %d MiB; process peak RSS %s", n>>20, base.HeapInuse>>20, peak.Load()>>20, peakRSS())
	if grow > 32<<20 {
		t.Fatalf("heap grew by %d MiB while %d MiB streamed: the body is being buffered", grow>>20, n>>20)
	}
	evs := e.auditEvents(1)
	if len(evs) != 1 || get(evs[0], "crm", "records") != float64(records) {
		t.Fatalf("audit should count %d records: %v", records, evs)
	}
}

func TestEveryRequestYieldsOneAuditEvent(t *testing.T) {
	e := newEnv(t, envOptions{})
	readAll(t, e.do("GET", contactQuery, bearer(repKey), nil))                                                     // allowed
	readAll(t, e.do("DELETE", "/services/data/v60.0/sobjects/Contact/003000000000001AAA", bearer(internKey), nil)) // denied
	readAll(t, e.do("GET", contactQuery, "", nil))                                                                 // unauthenticated
	evs := e.auditEvents(3)
	if len(evs) != 3 {
		t.Fatalf("want 3 audit events, got %d", len(evs))
	}
	if get(evs[0], "crm", "records") != float64(5) || get(evs[0], "crm", "object") != "Contact" || get(evs[0], "decision", "allow") != true {
		t.Errorf("allowed event: %v", evs[0])
	}
	if get(evs[1], "decision", "allow") != false || get(evs[1], "http_response", "code") != float64(403) {
		t.Errorf("denied event: %v", evs[1])
	}
	if get(evs[2], "http_response", "code") != float64(401) {
		t.Errorf("unauthenticated event: %v", evs[2])
	}
	// In the chain, only the forwarded request has a start record, written
	// before its completion.
	all := readAuditLines(t, e.dir+"/audit.jsonl", true)
	want := []string{"pending", "allowed", "denied", "denied"}
	if len(all) != len(want) {
		t.Fatalf("chain has %d lines, want %d", len(all), len(want))
	}
	for i, ev := range all {
		if get(ev, "chain", "seq") != float64(i+1) || get(ev, "status") != want[i] {
			t.Errorf("line %d: seq %v status %v, want seq %d status %s", i, get(ev, "chain", "seq"), get(ev, "status"), i+1, want[i])
		}
	}
	if get(all[0], "request_id") != get(all[1], "request_id") {
		t.Error("the start record and the completion must share the request id")
	}
}

func TestAdminEndpoints(t *testing.T) {
	e := newEnv(t, envOptions{})
	readAll(t, e.do("GET", contactQuery, bearer(repKey), nil))
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := e.client.Get(e.admin + p)
		if err != nil {
			t.Fatal(err)
		}
		b := readAll(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, b)
		}
		if p == "/readyz" && !strings.Contains(string(b), `"policy_revision":"sha256:`) {
			t.Errorf("/readyz lacks the policy revision: %s", b)
		}
		if p == "/metrics" && !strings.Contains(string(b), `crmgw_requests_total{code="200",decision="allowed",operation="query",upstream="salesforce"} 1`) {
			t.Errorf("/metrics lacks the request counter:\n%.2000s", b)
		}
	}
	// Never on the proxy listener.
	resp := e.do("GET", "/metrics", bearer(repKey), nil)
	readAll(t, resp)
	if resp.StatusCode == 200 {
		t.Fatal("/metrics answered on the proxy listener")
	}
}

// peakRSS reads the process's peak resident set size (Linux), for the log.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "unknown"
}

// A hold whose timer fires at once (as a slow machine makes a 2 ms hold
// fire before the handler is done setting it up) releases the body whole
// and masked; under -race it also proves the timer reads only what the
// setup wrote before it.
func TestHoldTimerFiringAtOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.srv.Gateway.holdNs.Store(1)
	for i := range 20 {
		resp := e.do("GET", contactQuery, bearer(internKey), nil)
		body, err := readBody(resp)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d, read error %v", i, resp.StatusCode, err)
		}
		var doc struct{ Records []map[string]any }
		if err := json.Unmarshal(body, &doc); err != nil || len(doc.Records) != 5 {
			t.Fatalf("request %d: want 5 records in valid JSON, got %d (%v)", i, len(doc.Records), err)
		}
		for _, r := range doc.Records {
			if m, _ := r["MobilePhone"].(string); strings.Contains(m, "0") && !strings.Contains(m, "*") {
				t.Fatalf("request %d: the intern saw a mobile number %q", i, m)
			}
		}
	}
}
