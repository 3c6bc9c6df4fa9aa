package proxy

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

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
