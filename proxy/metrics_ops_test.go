package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmgw/crmgw/internal/buildinfo"
)

func scrape(t *testing.T, e *env) string {
	t.Helper()
	resp, err := e.client.Get(e.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return string(readAll(t, resp))
}

// TestBuildInfoAndInFlight reads /metrics while a request is held at the
// CRM: the in-flight gauge counts it, drops back when it is done, and
// crmgw_build_info names the running binary.
func TestBuildInfoAndInFlight(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"attributes":{"type":"Contact"},"Id":"003000000000001AAA","LastName":"Ng"}`)
	}))
	defer slow.Close()
	e := newEnv(t, envOptions{upstream: slow.URL})

	want := fmt.Sprintf(`crmgw_build_info{commit=%q,goversion=%q,version=%q} 1`, buildinfo.Commit(), runtime.Version(), buildinfo.Version())
	m := scrape(t, e)
	if !strings.Contains(m, want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if !strings.Contains(m, "crmgw_requests_in_flight 0\n") {
		t.Errorf("in-flight is not 0 before any request")
	}

	done := make(chan int)
	go func() {
		req, _ := http.NewRequest("GET", e.base+"/services/data/v60.0/sobjects/Contact/003000000000001AAA", nil)
		req.Header.Set("Authorization", bearer(repKey))
		resp, err := e.client.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the request never reached the CRM")
	}
	if m := scrape(t, e); !strings.Contains(m, "crmgw_requests_in_flight 1\n") {
		t.Errorf("in-flight is not 1 while a request is held:\n%s", regexp.MustCompile(`(?m)^crmgw_requests_in_flight.*$`).FindString(m))
	}
	close(release)
	if code := <-done; code != 200 {
		t.Fatalf("held request ended with %d", code)
	}
	// The gauge drops once the exchange completes (audit handed over),
	// which may be a moment after the client has its last byte.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(scrape(t, e), "crmgw_requests_in_flight 0\n") {
		if time.Now().After(deadline) {
			t.Fatal("in-flight did not return to 0")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A CRM with endless custom objects, or a policy wildcard over all of them,
// must not grow the masked-fields series without bound.
func TestMaskedFieldLabelsAreBounded(t *testing.T) {
	m := newOpsMetrics(prometheus.NewRegistry())
	for i := range maxFieldLabels {
		if got := m.fieldLabel(fmt.Sprintf("Obj%d__c.SSN__c", i)); got != fmt.Sprintf("Obj%d__c.SSN__c", i) {
			t.Fatalf("field %d labelled %q before the bound", i, got)
		}
	}
	if got := m.fieldLabel("OneTooMany__c.SSN__c"); got != "other" {
		t.Errorf("past the bound: %q, want other", got)
	}
	if got := m.fieldLabel("Obj7__c.SSN__c"); got != "Obj7__c.SSN__c" {
		t.Errorf("a known field past the bound: %q", got)
	}
}

// metricValue is the value of one sample line of a scrape, or -1.
func metricValue(m, sample string) float64 {
	for _, line := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return -1
}

// The decision cache's hits and misses, and failed requests for the
// gateway's CRM token, show in /metrics as they happen, with tracing off
// and on (tracing wraps the gateway's policy stage in a decorator).
func TestDecisionCacheAndTokenFailureMetrics(t *testing.T) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer collector.Close()
	for _, tc := range []struct{ name, yaml string }{
		{"tracing off", ""},
		{"tracing on", "tracing:\n  endpoint: " + collector.URL + "\n  insecure: true\n"},
	} {
		t.Run(tc.name, func(t *testing.T) { testDecisionCacheAndTokenFailureMetrics(t, tc.yaml) })
	}
}

func testDecisionCacheAndTokenFailureMetrics(t *testing.T, extraYAML string) {
	refused := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
	}))
	defer refused.Close()
	e := newEnv(t, envOptions{extraYAML: extraYAML,
		sfAuth: "{type: client_credentials, token_url: " + refused.URL + ", client_id: crmgw, client_secret: wrong-secret}"})

	before := scrape(t, e)
	hits0, misses0 := metricValue(before, `crmgw_policy_decision_cache_total{result="hit"}`), metricValue(before, `crmgw_policy_decision_cache_total{result="miss"}`)
	tok0 := metricValue(before, `crmgw_identity_fetch_failures_total{kind="upstream_token"}`)
	if hits0 < 0 || misses0 < 0 || tok0 < 0 {
		t.Fatalf("/metrics lacks the decision cache or fetch failure counters:\n%s", before)
	}
	for range 2 {
		resp := e.do("GET", "/services/data/v60.0/sobjects/Contact/003000000000001AAA", bearer(repKey), nil)
		if body := readAll(t, resp); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("status %d %s, want 502: the CRM refuses the gateway's credential", resp.StatusCode, body)
		}
	}
	after := scrape(t, e)
	if d := metricValue(after, `crmgw_policy_decision_cache_total{result="miss"}`) - misses0; d < 1 {
		t.Errorf("cache misses grew by %v over two identical requests, want at least 1 (the first)", d)
	}
	if d := metricValue(after, `crmgw_policy_decision_cache_total{result="hit"}`) - hits0; d < 1 {
		t.Errorf("cache hits grew by %v over two identical requests, want at least 1 (the second)", d)
	}
	if d := metricValue(after, `crmgw_identity_fetch_failures_total{kind="upstream_token"}`) - tok0; d < 1 {
		t.Errorf("upstream token failures grew by %v after a refused token request, want at least 1", d)
	}
}
