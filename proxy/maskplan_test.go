package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// direct asks the sample CRM itself, with the gateway's upstream token.
func (e *env) direct(method, path, body string) []byte {
	e.t.Helper()
	req, err := http.NewRequest(method, e.crmURL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+sfToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("direct %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

var phoneRE = regexp.MustCompile(`1[3-9][0-9]{9}`)

// TestGraphQLAliasDoesNotSwitchMaskingOff: the intern, whose policy masks
// MobilePhone, renames the field in a GraphQL query. The classifier does
// not name the alias, so the key is one the plan cannot attribute in a
// Contact record: masked with Contact's strictest rule (fail closed).
func TestGraphQLAliasDoesNotSwitchMaskingOff(t *testing.T) {
	e := newEnv(t, envOptions{records: 20})
	q := `{"query":"query { uiapi { query { Contact(first: 10) { edges { node { Id m: MobilePhone { value } Name { value } } } } } } }"}`
	raw := e.direct("POST", "/services/data/v60.0/graphql", q)
	phones := phoneRE.FindAllString(string(raw), -1)
	if len(phones) == 0 {
		t.Fatalf("the sample CRM answered no phone under the alias: %s", raw)
	}
	resp := e.do("POST", "/services/data/v60.0/graphql", bearer(internKey), strings.NewReader(q), "Content-Type", "application/json")
	b := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	for _, p := range phones {
		if strings.Contains(string(b), p) {
			t.Fatalf("the intern read a raw mobile number under a GraphQL alias: %s", b)
		}
	}
	if !json.Valid(b) || !strings.Contains(string(b), `"m"`) {
		t.Fatalf("answer damaged: %s", b)
	}
	ev := e.auditEvents(1)[0]
	if masked, _ := get(ev, "decision", "masked").([]any); len(masked) == 0 {
		t.Errorf("audit event says nothing was masked: %v", get(ev, "decision"))
	}
}

// maskPolicy allows everything and masks Contact's phone and email.
func maskPolicy(t *testing.T) string {
	dir := t.TempDir()
	rego := `package crmgw.authz

import rego.v1

decision := {"allow": true, "reason": "test", "mask": {"Contact.MobilePhone": "redact", "Contact.Email": "email"}, "max_records": 0}
`
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(rego), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestErrorBodiesAreMasked: a DUPLICATES_DETECTED error lists the
// matching records (the Salesforce shape; the sample CRM does not detect
// duplicates, so a stand-in upstream answers it): their masked fields are
// masked like any record's, and the error still reaches the caller.
func TestErrorBodiesAreMasked(t *testing.T) {
	dup := `[{"duplicateResult":{"allowSave":false,"duplicateRule":"Standard_Rule_for_Contacts_with_Duplicate_Leads","duplicateRuleEntityType":"Contact",` +
		`"errorMessage":"You're creating a duplicate record. We recommend you use an existing record instead.",` +
		`"matchResults":[{"entityType":"Contact","errors":[],"matchEngine":"FuzzyMatchEngine","matchRecords":[{"additionalInformation":[],"fieldDiffs":[],` +
		`"matchConfidence":100.0,"record":{"attributes":{"type":"Contact","url":"/services/data/v60.0/sobjects/Contact/003000000000001AAA"},` +
		`"Id":"003000000000001AAA","Email":"wang.fang@customer-corp.cn","MobilePhone":"13800138000"}}],"rule":"Standard_Contact_Match_Rule_v1_1","size":1,"success":true}]},` +
		`"errorCode":"DUPLICATES_DETECTED","message":"You're creating a duplicate record. We recommend you use an existing record instead."}]`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, dup)
	}))
	defer up.Close()
	e := newEnv(t, envOptions{upstream: up.URL, policies: maskPolicy(t)})
	resp := e.do("POST", "/services/data/v60.0/sobjects/Contact", bearer(repKey),
		strings.NewReader(`{"LastName":"Wang","Email":"wang.fang@customer-corp.cn"}`), "Content-Type", "application/json")
	b := readAll(t, resp)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "DUPLICATES_DETECTED") || !json.Valid(b) {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if strings.Contains(string(b), "13800138000") || strings.Contains(string(b), "wang.fang@") {
		t.Fatalf("the matching record in the error body is not masked: %s", b)
	}
	ev := e.auditEvents(1)[0]
	if masked, _ := get(ev, "decision", "masked").([]any); len(masked) != 2 {
		t.Errorf("audit masked %v, want Contact.Email and Contact.MobilePhone", get(ev, "decision", "masked"))
	}
}
