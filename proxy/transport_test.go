package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmgw/crmgw/identity/oidctest"
)

// The transport tests attack the gateway at the HTTP level, through the
// whole gateway (docs/hardening.md): floods of bad credentials, tunnels,
// informational answers from the CRM, Expect, forwarding headers and what
// a refused credential is told.

// rawRequest sends one request as written on a fresh connection and
// returns the response (the body read).
func rawRequest(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func auditLines(t *testing.T, e *env) (lines int, size int64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, "audit.jsonl"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n")), int64(len(b))
}

// waitAuditLines waits until the audit file holds want events.
func waitAuditLines(t *testing.T, e *env, want int) (int, int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, size := auditLines(t, e)
		if n >= want || time.Now().After(deadline) {
			return n, size
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An unauthenticated flood from one address: 60 KB user agents, 8
// connections. Ways around the limit it must not leave open: counting only
// after authentication (every 401 free), one big event per request (the
// user agent copied whole), and a limit so broad it also locks out good
// callers elsewhere.
var uaSize = 60 << 10

func TestUnauthenticatedFloodIsRefusedBeforeAuthentication(t *testing.T) {
	// The default pre-authentication limits, but a failure window no run
	// of this test can outlast (a shared machine may take a minute).
	e := newEnv(t, envOptions{limits: `ratelimit:
  store: memory
  preauth:
    failures: {count: 20, window: 1h}
`})
	total := 10000
	if raceEnabled || testing.Short() {
		total = 2000 // the race detector makes each request many times slower
	}
	const workers = 8
	ua := "flood/" + strings.Repeat("A", uaSize)
	flood := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers, DisableCompression: true, WriteBufferSize: 128 << 10}}
	defer flood.CloseIdleConnections()

	// A good caller on another address (127.0.0.2 reaches the loopback
	// listener with a source address of its own).
	good := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
	}}
	defer good.CloseIdleConnections()

	var sent, n401, n429, other atomic.Int64
	var goodStatus atomic.Int64
	var goodOnce sync.Once
	var wg sync.WaitGroup
	goodDone := make(chan struct{})
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= int64(total) {
				req, _ := http.NewRequest("GET", e.base+contactQuery, nil)
				req.Header.Set("User-Agent", ua)
				req.Header.Set("Authorization", "Bearer guessed-key-"+fmt.Sprint(sent.Load()))
				resp, err := flood.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 401:
					n401.Add(1)
				case 429:
					n429.Add(1)
					if resp.Header.Get("Retry-After") == "" {
						other.Add(1)
					}
				default:
					other.Add(1)
				}
				if sent.Load() > int64(total/4) {
					// Mid-flood: an authenticated caller from elsewhere.
					goodOnce.Do(func() {
						go func() {
							defer close(goodDone)
							req, _ := http.NewRequest("GET", e.base+contactQuery, nil)
							req.Header.Set("Authorization", bearer(repKey))
							resp, err := good.Do(req)
							if err != nil {
								goodStatus.Store(-1)
								return
							}
							_, _ = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							goodStatus.Store(int64(resp.StatusCode))
						}()
					})
				}
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	<-goodDone
	t.Logf("flood took %s", time.Since(start))

	if g := goodStatus.Load(); g != 200 {
		t.Errorf("an authenticated caller on another address got %d during the flood, want 200", g)
	}
	if other.Load() != 0 {
		t.Errorf("%d flood requests got neither 401 nor 429 with Retry-After", other.Load())
	}
	// 20 failures per address, plus the requests
	// already past the check when the 20th was counted.
	if n401.Load() > 20+workers {
		t.Errorf("%d requests reached authentication, want at most %d", n401.Load(), 20+workers)
	}
	if n429.Load() < int64(total)-20-workers {
		t.Errorf("only %d of %d flood requests were refused with 429", n429.Load(), total)
	}

	// One event per request, each bounded: the 60 KB user agent is cut;
	// and the start record of the one request forwarded to the CRM.
	want := total + 2
	lines, size := waitAuditLines(t, e, want)
	t.Logf("audit written %s after the flood began", time.Since(start))
	if lines != want {
		t.Fatalf("audit holds %d events, want %d", lines, want)
	}
	// The capped user agent, and the rest of an event (about 900 bytes).
	const perEvent = maxAnonEventString + 64 + 1024
	if bound := int64(want) * perEvent; size > bound {
		t.Errorf("audit grew by %d bytes, more than %d events × %d", size, want, perEvent)
	}
	t.Logf("%d requests: %d × 401, %d × 429; audit %d bytes (%.0f per event)", total, n401.Load(), n429.Load(), size, float64(size)/float64(lines))
	evs := readEvents(t, filepath.Join(e.dir, "audit.jsonl"))
	for _, ev := range evs[:50] {
		got, _ := get(ev, "http_request", "user_agent").(string)
		if len(got) > maxAnonEventString+64 || !strings.HasSuffix(got, "...[truncated, 61446 bytes]") {
			t.Fatalf("user agent in the event: %d bytes, ends %q", len(got), got[max(0, len(got)-40):])
		}
	}
}

// A caller whose address already spent its failure budget is refused
// before its credential is looked at, also with a good one; other
// addresses are not.
func TestFailureBudgetRefusesTheAddressNotTheKey(t *testing.T) {
	e := newEnv(t, envOptions{limits: `ratelimit:
  store: memory
  preauth:
    failures: {count: 3, window: 1h}
`})
	// Requests with no credential at all (health checks, browsers) cost
	// no failure.
	for range 10 {
		readAll(t, e.do("GET", "/", "", nil))
	}
	if resp := e.do("GET", contactQuery, bearer(repKey), nil); resp.StatusCode != 200 {
		t.Fatalf("after 10 requests without a credential: %d", resp.StatusCode)
	} else {
		readAll(t, resp)
	}
	// Each failure claims another client address in X-Forwarded-For: the
	// gateway trusts no proxy here, so they all count against 127.0.0.1.
	for i := range 3 {
		readAll(t, e.do("GET", contactQuery, bearer("wrong-key"), nil, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i)))
	}
	resp := e.do("GET", contactQuery, bearer(repKey), nil, "X-Forwarded-For", "198.51.100.200")
	body := readAll(t, resp)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "CRMGW_RATE_LIMITED") {
		t.Fatalf("after 3 failures: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if n := len(e.crm.Requests()); n != 1 {
		t.Fatalf("%d requests reached the CRM, want the one before the failures", n)
	}
	evs := e.auditEvents(15)
	if len(evs) != 15 || get(evs[14], "status") != "rate_limited" || get(evs[14], "error") != "rate limit preauth-failures exceeded" {
		t.Fatalf("event of the refusal: %v", evs[len(evs)-1])
	}
}

func TestAuditEventCapsCallerStrings(t *testing.T) {
	e := newEnv(t, envOptions{})
	long := "/services/data/v60.0/sobjects/Contact/" + strings.Repeat("x", 8000)
	readAll(t, e.do("GET", long, "", nil, "User-Agent", strings.Repeat("é", 3000)))
	evs := e.auditEvents(1)
	path, _ := get(evs[0], "http_request", "path").(string)
	ua, _ := get(evs[0], "http_request", "user_agent").(string)
	if len(path) > maxAnonEventString+64 || !strings.HasSuffix(path, "...[truncated, 8038 bytes]") {
		t.Errorf("path in the event: %d bytes, ends %q", len(path), path[max(0, len(path)-40):])
	}
	if len(ua) > maxAnonEventString+64 || !strings.HasSuffix(ua, "...[truncated, 6000 bytes]") || !strings.HasPrefix(ua, "éé") {
		t.Errorf("user agent in the event: %d bytes, ends %q", len(ua), ua[max(0, len(ua)-40):])
	}
	if strings.ContainsRune(ua, '\uFFFD') {
		t.Error("the user agent was cut inside a character")
	}

	// An authenticated caller's strings get the larger cap.
	readAll(t, e.do("GET", contactQuery, bearer(repKey), nil, "User-Agent", strings.Repeat("u", 3000)))
	evs = e.auditEvents(2)
	ua, _ = get(evs[1], "http_request", "user_agent").(string)
	// Cut once by the proxy (maxEventString) and bounded again by the audit
	// package's own user-agent cap (docs/audit.md, "Bounded events").
	if !strings.HasPrefix(ua, strings.Repeat("u", 500)) || len(ua) > maxEventString+64 || !strings.Contains(ua, "cut") {
		t.Errorf("authenticated user agent in the event: %d bytes, ends %q", len(ua), ua[max(0, len(ua)-40):])
	}
}

// Every way of asking for a tunnel or another protocol, with a valid
// credential: refused in the CRM's shape, audited, nothing forwarded.
func TestUpgradeAndTunnelRequestsAreRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	addr := e.srv.ProxyAddr()
	q := strings.TrimPrefix(contactQuery, "")
	cases := []struct{ name, req string }{
		{"websocket", "GET " + q + " HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"},
		{"h2c", "GET " + q + " HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"},
		{"Upgrade without Connection", "GET " + q + " HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\n"},
		{"Connection: upgrade in another case, among other tokens", "GET " + q + " HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, UPGRADE\r\n"},
		{"Connection: upgrade in a second header line", "GET " + q + " HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive\r\nConnection: upgrade\r\n"},
		{"HTTP2-Settings alone", "GET " + q + " HTTP/1.1\r\nHost: gw\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"},
		{"upgrade on a POST", "POST /services/data/v60.0/sobjects/Contact HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"},
		{"CONNECT", "CONNECT crm.example.com:443 HTTP/1.1\r\nHost: crm.example.com:443\r\n"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := c.req + "Authorization: Bearer " + repKey + "\r\n\r\n"
			if strings.HasPrefix(c.req, "POST") {
				req += "{}"
			}
			resp, body := rawRequest(t, addr, req)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if !strings.Contains(string(body), "CRMGW_BAD_REQUEST") || resp.Header.Get("X-Request-Id") == "" {
				t.Errorf("not in the CRM's shape: %s", body)
			}
			if n := len(e.crm.Requests()); n != 0 {
				t.Fatalf("%d requests reached the CRM", n)
			}
			evs := e.auditEvents(i + 1)
			if len(evs) != i+1 || get(evs[i], "http_response", "code") != float64(400) {
				t.Fatalf("no audit event of the refusal: %v", evs)
			}
		})
	}
}

// upstreamAnswering is a CRM stand-in that answers each request on a raw
// connection with what answer writes.
func upstreamAnswering(t *testing.T, answer func(w *bufio.ReadWriter)) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		answer(rw)
		_ = rw.Flush()
		time.Sleep(100 * time.Millisecond) // let the gateway read what came
	}))
	t.Cleanup(s.Close)
	return s
}

func TestCRMProtocolSwitchIsNotRelayed(t *testing.T) {
	up := upstreamAnswering(t, func(w *bufio.ReadWriter) {
		_, _ = w.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nRAW-TUNNEL-BYTES")
	})
	e := newEnv(t, envOptions{upstream: up.URL})
	resp := e.do("GET", contactQuery, bearer(repKey), nil)
	body := readAll(t, resp)
	if resp.StatusCode != 502 || strings.Contains(string(body), "RAW-TUNNEL-BYTES") || resp.Header.Get("Upgrade") != "" {
		t.Fatalf("status %d, Upgrade %q: %s", resp.StatusCode, resp.Header.Get("Upgrade"), body)
	}
	if resp.Header.Get("X-Request-Id") == "" || !strings.Contains(string(body), "CRMGW_UPSTREAM") {
		t.Errorf("not in the CRM's shape: %s", body)
	}
}

// A 103 Early Hints (or 102) from the CRM, carrying a cookie: the caller
// sees no informational answer, no cookie, and the final answer keeps
// X-Request-Id and the RateLimit headers.
func TestCRMInformationalAnswersAreNotRelayed(t *testing.T) {
	up := upstreamAnswering(t, func(w *bufio.ReadWriter) {
		body := `{"totalSize":0,"done":true,"records":[]}`
		_, _ = w.WriteString("HTTP/1.1 102 Processing\r\nSet-Cookie: sid=crm-102\r\n\r\n" +
			"HTTP/1.1 103 Early Hints\r\nSet-Cookie: sid=crm-session\r\nLink: </x>; rel=preload\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body)
	})
	e := newEnv(t, envOptions{upstream: up.URL, limits: `ratelimit:
  store: memory
  limits: [{name: per-subject, key: subject, rate: 10, per: 1s}]
`})
	var infos []int
	var infoHeaders []textproto.MIMEHeader
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			infos = append(infos, code)
			infoHeaders = append(infoHeaders, h)
			return nil
		},
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", e.base+contactQuery, nil)
	req.Header.Set("Authorization", bearer(repKey))
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if len(infos) != 0 {
		t.Errorf("informational answers relayed: %v %v", infos, infoHeaders)
	}
	if resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("the CRM's cookie reached the caller: %q", resp.Header.Get("Set-Cookie"))
	}
	if resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("RateLimit") == "" || resp.Header.Get("RateLimit-Policy") == "" {
		t.Errorf("final answer lost X-Request-Id or RateLimit headers: %v", resp.Header)
	}
}

// Expect: 100-continue is the gateway's business: the 100 comes from the
// gateway once the caller is authenticated, the CRM never sees Expect, and
// the final answer carries X-Request-Id and the RateLimit headers. An
// unauthenticated caller is never invited to send its body.
func TestExpectContinueIsAnsweredByTheGateway(t *testing.T) {
	e := newEnv(t, envOptions{limits: `ratelimit:
  store: memory
  limits: [{name: per-subject, key: subject, rate: 10, per: 1s}]
`})
	body := `{"LastName":"Expect"}`
	head := "POST /services/data/v60.0/sobjects/Contact HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n" +
		"Expect: 100-continue\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n"

	c, err := net.Dial("tcp", e.srv.ProxyAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, head+"Authorization: Bearer "+repKey+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	interim, err := http.ReadResponse(br, nil)
	if err != nil || interim.StatusCode != 100 {
		t.Fatalf("want 100 Continue first, got %v %v", interim, err)
	}
	if _, err := io.WriteString(c, body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("status %d: %s", resp.StatusCode, rb)
	}
	if resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("RateLimit") == "" {
		t.Errorf("final answer lost X-Request-Id or RateLimit: %v", resp.Header)
	}
	reqs := e.crm.Requests()
	if len(reqs) != 1 || reqs[0].Header.Get("Expect") != "" {
		t.Fatalf("the CRM saw Expect (or not one request): %d requests", len(reqs))
	}

	// Without a credential: the final 401 comes at once, no 100 before it.
	resp, _ = rawRequest(t, e.srv.ProxyAddr(), head+"\r\n")
	if resp.StatusCode != 401 || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("unauthenticated Expect: got %d, want the 401 at once", resp.StatusCode)
	}
}

// The caller's own forwarding headers never reach the CRM: it gets the
// gateway's X-Forwarded-For/-Host/-Proto and nothing else of the kind,
// nor any connection header.
func TestCallerForwardingHeadersNeverReachTheCRM(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp := e.do("GET", contactQuery, bearer(repKey), nil,
		"X-Real-IP", "6.6.6.6", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-Host", "evil.example",
		"X-Forwarded-Proto", "https", "X-Forwarded-Port", "443", "X-Forwarded-Server", "evil",
		"Forwarded", "for=6.6.6.6;host=evil.example", "True-Client-IP", "6.6.6.6", "X-Client-IP", "6.6.6.6",
		"X-Original-URL", "/services/data/v60.0/sobjects/User", "Proxy-Foo", "x", "TE", "trailers")
	readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	reqs := e.crm.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests at the CRM", len(reqs))
	}
	h := reqs[0].Header
	for _, k := range []string{"X-Real-Ip", "X-Forwarded-Port", "X-Forwarded-Server", "Forwarded", "True-Client-Ip",
		"X-Client-Ip", "X-Original-Url", "Proxy-Foo", "Te", "Upgrade", "Connection", "Expect"} {
		if v := h.Values(k); len(v) > 0 {
			t.Errorf("%s reached the CRM: %q", k, v)
		}
	}
	gwHost := strings.TrimPrefix(e.base, "http://")
	if h.Values("X-Forwarded-For")[0] != "127.0.0.1" || len(h.Values("X-Forwarded-For")) != 1 ||
		h.Get("X-Forwarded-Host") != gwHost || h.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("forwarding headers: XFF %q XFH %q XFP %q", h.Values("X-Forwarded-For"), h.Get("X-Forwarded-Host"), h.Get("X-Forwarded-Proto"))
	}
}

// Every credential failure gets the same answer; which one it was is in
// the audit event. What an attacker would learn from distinct answers:
// which issuers are trusted, whether a guessed API key exists, whether
// only the audience or the expiry of a stolen token was wrong.
func TestEveryCredentialFailureGetsTheSameAnswer(t *testing.T) {
	e := newEnv(t, envOptions{})
	other := oidctest.NewIssuer()
	defer other.Close()
	now := time.Now()
	claims := func(iss, aud string, exp time.Time) map[string]any {
		return map[string]any{"iss": iss, "sub": "00u-x", "aud": aud, "exp": exp.Unix(), "iat": now.Unix()}
	}
	good := e.issuer.Sign(claims(e.issuer.URL(), audience, now.Add(time.Hour)))
	parts := strings.Split(good, ".")
	cases := []struct{ name, auth string }{
		{"no credential", ""},
		{"unknown API key", "Bearer not-a-key-0123456789"},
		{"unsupported scheme", "Basic dXNlcjpwYXNz"},
		{"malformed JWT", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
		{"untrusted issuer", "Bearer " + other.Sign(claims(other.URL(), audience, now.Add(time.Hour)))},
		{"wrong audience", "Bearer " + e.issuer.Sign(claims(e.issuer.URL(), "someone-else", now.Add(time.Hour)))},
		{"expired", "Bearer " + e.issuer.Sign(claims(e.issuer.URL(), audience, now.Add(-time.Hour)))},
		{"bad signature", "Bearer " + parts[0] + "." + parts[1] + ".AAAA" + parts[2][4:]},
	}
	var firstBody, firstChallenge string
	for i, c := range cases {
		resp := e.do("GET", contactQuery, c.auth, nil)
		body := strings.ReplaceAll(string(readAll(t, resp)), resp.Header.Get("X-Request-Id"), "ID")
		if resp.StatusCode != 401 {
			t.Fatalf("%s: status %d", c.name, resp.StatusCode)
		}
		if i == 0 {
			firstBody, firstChallenge = body, resp.Header.Get("WWW-Authenticate")
			if !strings.Contains(body, msgUnauthenticated) {
				t.Fatalf("body %s", body)
			}
		}
		if body != firstBody || resp.Header.Get("WWW-Authenticate") != firstChallenge {
			t.Errorf("%s: answer differs from the first:\n%s %q\n%s %q", c.name, body, resp.Header.Get("WWW-Authenticate"), firstBody, firstChallenge)
		}
	}
	evs := e.auditEvents(len(cases))
	seen := map[string]bool{}
	for i, ev := range evs {
		reason, _ := get(ev, "error").(string)
		if reason == "" || reason == msgUnauthenticated {
			t.Errorf("%s: the event does not say why: %q", cases[i].name, reason)
		}
		seen[reason] = true
	}
	if len(seen) < 5 {
		t.Errorf("events name only %d distinct reasons for %d kinds of failure: %v", len(seen), len(cases), seen)
	}
	if n := len(e.crm.Requests()); n != 0 {
		t.Fatalf("%d requests reached the CRM", n)
	}
}

func TestEventMarshalsCappedStrings(t *testing.T) {
	// capString at its edges.
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefghij...[truncated, 11 bytes]"},
		{"aaaaaaaaaé", 10, "aaaaaaaaa...[truncated, 11 bytes]"},
	} {
		if got := capString(c.in, c.n); got != c.want {
			t.Errorf("capString(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
	b, _ := json.Marshal(capString(strings.Repeat("\xff", 2000), maxEventString))
	if len(b) > 8*maxEventString {
		t.Errorf("capped invalid UTF-8 marshals to %d bytes", len(b))
	}
}

// Trailers, both ways: a caller's request trailer (which could carry a
// session header its headers may not) never reaches the CRM, and a CRM's
// response trailer never reaches the caller.
func TestTrailersAreNotRelayed(t *testing.T) {
	var mu sync.Mutex
	var seen http.Header
	var hit bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		seen, hit = r.Trailer.Clone(), true
		mu.Unlock()
		w.Header().Set("Trailer", "X-Crm-Secret")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"003000000000009AAA","success":true,"errors":[]}`)
		w.Header().Set("X-Crm-Secret", "crm-internal")
	}))
	defer up.Close()
	e := newEnv(t, envOptions{upstream: up.URL})

	body := `{"LastName":"Trailer"}`
	req := "POST /services/data/v60.0/sobjects/Contact HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n" +
		"Authorization: Bearer " + repKey + "\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sfdc-Session\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n0\r\nX-Sfdc-Session: stolen-session\r\n\r\n", len(body), body)
	resp, rb := rawRequest(t, e.srv.ProxyAddr(), req)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("status %d: %s", resp.StatusCode, rb)
	}
	if v := resp.Trailer.Get("X-Crm-Secret"); v != "" {
		t.Errorf("the CRM's trailer reached the caller: %q", v)
	}
	mu.Lock()
	defer mu.Unlock()
	if !hit {
		t.Fatal("the CRM saw no request")
	}
	if v := seen.Get("X-Sfdc-Session"); v != "" {
		t.Errorf("the caller's trailer reached the CRM: %q", v)
	}
}

// HTTP/2 with prior knowledge on the plain listener (h2c without an
// Upgrade): net/http does not speak it there; nothing reaches the CRM.
func TestH2CPriorKnowledgeIsNotServed(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, err := net.DialTimeout("tcp", e.srv.ProxyAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("prior-knowledge h2c answered %d", resp.StatusCode)
		}
	}
	if n := len(e.crm.Requests()); n != 0 {
		t.Fatalf("%d requests reached the CRM", n)
	}
}

// An allow-list refusal must not tell whether the credential was good: a
// key fenced to another network gets exactly the answer of a key that does
// not exist; the gateway-wide allow-list answers 403 whatever the
// credential.
func TestAllowListRefusalsTellNothingAboutTheCredential(t *testing.T) {
	const fencedKey = "fenced-api-key-0123456789"
	e := newEnv(t, envOptions{identity: "    - {id: fenced, key_sha256: " + sha(fencedKey) + ", roles: [sales_rep], allowed_cidrs: [10.9.0.0/16]}\n"})
	answer := func(e *env, auth string) (int, string, string) {
		resp := e.do("GET", contactQuery, auth, nil)
		body := strings.ReplaceAll(string(readAll(t, resp)), resp.Header.Get("X-Request-Id"), "ID")
		return resp.StatusCode, body, resp.Header.Get("WWW-Authenticate")
	}
	c1, b1, w1 := answer(e, bearer(fencedKey))
	c2, b2, w2 := answer(e, bearer("no-such-key-0123456789"))
	if c1 != 401 || c1 != c2 || b1 != b2 || w1 != w2 {
		t.Errorf("fenced key: %d %s %q; unknown key: %d %s %q", c1, b1, w1, c2, b2, w2)
	}
	evs := e.auditEvents(2)
	if reason, _ := get(evs[0], "error").(string); !strings.Contains(reason, "allowed_cidrs") && !strings.Contains(reason, "not allowed") {
		t.Errorf("the event does not say the key's allow-list refused: %q", reason)
	}

	g := newEnv(t, envOptions{identity: "  allowed_cidrs: [10.0.0.0/8]\n"})
	c1, b1, _ = answer(g, bearer(repKey))
	c2, b2, _ = answer(g, bearer("no-such-key-0123456789"))
	if c1 != 403 || c1 != c2 || b1 != b2 || !strings.Contains(b1, msgAddressRefused) {
		t.Errorf("outside the gateway-wide allow-list: good key %d %s; unknown key %d %s", c1, b1, c2, b2)
	}
}
