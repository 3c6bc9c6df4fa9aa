package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

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
