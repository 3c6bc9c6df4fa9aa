package samplecrm

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// A blocking duplicate rule answers a create with the matching record in
// the error body; without the header the create goes through.
func TestDuplicateRuleCarriesTheMatchingRecord(t *testing.T) {
	srv := httptest.NewServer(New(Options{Records: 20, Seed: 3, SalesforceToken: "tok"}))
	defer srv.Close()
	do := func(method, path, body string, hdr ...string) (*http.Response, []byte) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	_, qb := do("GET", "/services/data/v60.0/query?q="+url.QueryEscape("SELECT Email, MobilePhone FROM Contact WHERE Email != null LIMIT 1"), "")
	var q struct{ Records []map[string]any }
	if err := json.Unmarshal(qb, &q); err != nil || len(q.Records) != 1 {
		t.Fatalf("query: %v %s", err, qb)
	}
	email, phone := q.Records[0]["Email"].(string), q.Records[0]["MobilePhone"].(string)
	body := `{"LastName":"Dup","Email":"` + email + `"}`
	resp, b := do("POST", "/services/data/v60.0/sobjects/Contact", body, "X-Samplecrm-Duplicate-Rule", "block")
	var errs []map[string]any
	if resp.StatusCode != 400 || json.Unmarshal(b, &errs) != nil || len(errs) != 1 || errs[0]["errorCode"] != "DUPLICATES_DETECTED" {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if !strings.Contains(string(b), phone) || !strings.Contains(string(b), `"attributes":{"type":"Contact"`) {
		t.Errorf("the error body does not carry the matching record: %s", b)
	}
	if resp, b := do("POST", "/services/data/v60.0/sobjects/Contact", body); resp.StatusCode != 201 {
		t.Errorf("without the rule: %d %s", resp.StatusCode, b)
	}
}
