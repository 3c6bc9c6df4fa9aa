package samplecrm

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Zoho's GraphQL shape, aliases at every level: the response keys are the
// aliases, the values the records' own (a raw mobile number under "m").
func TestZohoGraphQLWithAliases(t *testing.T) {
	srv := httptest.NewServer(New(Options{Records: 20, Seed: 3, ZohoToken: "ztok"}))
	defer srv.Close()
	post := func(query string) (int, map[string]any) {
		body, _ := json.Marshal(map[string]string{"query": query})
		req, _ := http.NewRequest("POST", srv.URL+"/crm/graphql", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Zoho-oauthtoken ztok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("not JSON: %s", b)
		}
		return resp.StatusCode, out
	}
	code, out := post(`{ r: Records { c: Contacts(limit: 3) { d: _data { m: Mobile { v: value } Email { value } acct: Account_Name { Account_Name { value } } } i: _info { more_records count } } } }`)
	if code != 200 {
		t.Fatalf("status %d: %v", code, out)
	}
	c := out["data"].(map[string]any)["r"].(map[string]any)["c"].(map[string]any)
	recs := c["d"].([]any)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3: %v", len(recs), c)
	}
	first := recs[0].(map[string]any)
	if m, _ := first["m"].(map[string]any)["v"].(string); len(m) < 8 {
		t.Errorf("the aliased mobile: %v", first)
	}
	if _, ok := first["acct"].(map[string]any)["Account_Name"].(map[string]any)["value"]; !ok {
		t.Errorf("the lookup's fields: %v", first["acct"])
	}
	if info := c["i"].(map[string]any); info["more_records"] != true || info["count"] != 3.0 {
		t.Errorf("info %v", info)
	}
	if code, out := post(`{ Records { Spaceships { _data { id { value } } } } }`); code == 200 && out["errors"] == nil {
		t.Errorf("an unknown module answered %v", out)
	}
}
