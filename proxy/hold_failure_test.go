package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A masked body that fails while the gateway still holds all of it
// (malformed JSON, or the CRM cutting its answer short) has sent nothing:
// the caller gets a 502 in the CRM's shape instead of a 200 with a broken
// body, and the event says what was sent: the 502, no records.
func TestBodyFailingInsideTheHoldBecomes502(t *testing.T) {
	for _, tc := range []struct {
		name string
		body func(w http.ResponseWriter)
	}{
		{"malformed JSON", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"totalSize":2,"done":true,"records":[{"attributes":{"type":"Contact"},"Id":"1","MobilePhone":"13800138000"},{"Id":"2","MobilePhone":"13900139000" oops}]}`)
		}},
		{"cut short by the CRM", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "5000")
			fmt.Fprint(w, `{"totalSize":2,"done":true,"records":[{"attributes":{"type":"Contact"},"Id":"1","MobilePhone":"13800138000"}`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tc.body(w) }))
			defer up.Close()
			e := newEnv(t, envOptions{upstream: up.URL})
			// The body fits in the hold; a busy machine must not let the
			// 2ms timer send the header before the CRM's failure arrives.
			e.srv.Gateway.holdNs.Store(int64(time.Minute))
			resp := e.do("GET", "/services/data/v60.0/query?q=SELECT+Id,MobilePhone+FROM+Contact", bearer(internKey), nil)
			body, err := readBody(resp)
			if err != nil {
				t.Fatalf("the 502 must be a complete response: %v", err)
			}
			if resp.StatusCode != http.StatusBadGateway || !strings.HasPrefix(string(body), `[{"errorCode":"CRMGW_UPSTREAM_BAD_RESPONSE"`) ||
				resp.Header.Get("X-Request-Id") == "" {
				t.Fatalf("status %d body %s, want 502 in Salesforce's shape", resp.StatusCode, body)
			}
			if strings.Contains(string(body), "1380013") {
				t.Fatal("record data in the error")
			}
			evs := e.auditEvents(1)
			if len(evs) != 1 || get(evs[0], "status") != "failed" || get(evs[0], "http_response", "code") != float64(502) ||
				get(evs[0], "crm", "records") != float64(0) {
				t.Fatalf("want one failed event with code 502 and no records, got %v", evs)
			}
		})
	}
}

// Malformed composite JSON is the caller's mistake: 400 in the CRM's shape
// naming it, nothing forwarded (it was a 403 "cannot be classified").
func TestMalformedCompositeJSONIs400(t *testing.T) {
	e := newEnv(t, envOptions{})
	before := len(e.crm.Requests())
	resp := e.do("POST", "/services/data/v60.0/composite", bearer(repKey),
		strings.NewReader(`{"compositeRequest":[{"method":"GET","url":"/services/data/v60.0/sobjects/Account/001"`), "Content-Type", "application/json")
	body := string(readAll(t, resp))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "CRMGW_BAD_REQUEST") || !strings.Contains(body, "not valid JSON") {
		t.Fatalf("status %d %s, want 400 naming the invalid JSON", resp.StatusCode, body)
	}
	if n := len(e.crm.Requests()) - before; n != 0 {
		t.Errorf("%d requests forwarded", n)
	}
}
