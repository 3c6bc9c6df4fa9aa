package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/examples/samplecrm"
)

// The bypass suite: every way the intern (read-only, no personal data)
// was found to read around the default policies, one row per family, for
// Salesforce and Zoho, through the real gateway to the sample CRM. Each
// row must be refused (403 in the CRM's error shape, the reason naming
// the object or field, nothing forwarded) or answered with every personal
// value masked; the audit event must record the access plan the row
// depends on.
//
// A row depends on the access plan the classifier builds (objects, field
// roles, aliases). Where the audit event shows the plan lacks what the row
// needs, the row is skipped with what is missing ("plan not built for
// this shape"): the rule that refuses it is in decide.go and tested with
// hand-built plans in decide_test.go. Rows whose fix is masking in the
// response (aliases, error bodies) skip with their own message when only
// that is missing.

type bypassRow struct {
	name         string
	method, path string
	body         string
	hdr          []string
	key          string // default: the intern's

	// What the plan must hold for the row to be decided by it.
	planObject string // in crm.objects
	planField  string // a key of crm.field_roles ("" with planRole: any key) ...
	planRole   string // ... with this role
	planAlias  string // a value of crm.aliases holding this field

	// The outcome.
	status int    // 403 or 404: refused before forwarding
	reason string // in the error message and the audit event
	masked bool   // 2xx with no personal value in the body, or refused
	// stream: the masking the row needs is done in the response stage;
	// a leak with the plan present skips with this message.
	stream string
	// crmShape: the sample CRM must speak this shape; an upstream 404 or
	// 400 for an allowed request skips with this message.
	crmShape string

	// setup runs first; its values replace {{NAME}} in path and body.
	setup func(t *testing.T, do doFunc, pv personal) map[string]string
	// secrets are the fields whose values the caller may not see
	// (default: every personal field, as for the intern).
	secrets []string
	// errorBody: the CRM's own error answer is expected, masked.
	errorBody bool
	// operation: the row needs the request classified as this operation;
	// another one skips ("not classified in this build").
	operation string
}

// doFunc sends a request through the gateway with a key and returns the
// answer read whole.
type doFunc func(method, path, key, body string) (*http.Response, []byte)

// personal maps a field to values of it read straight from the CRM.
type personal map[string][]string

func (pv personal) values(fields []string) []string {
	if len(fields) == 0 {
		fields = []string{"MobilePhone", "Email", "Birthdate", "National_ID__c", "Mobile", "Date_of_Birth", "National_ID", "Username"}
	}
	var out []string
	for _, f := range fields {
		out = append(out, pv[f]...)
	}
	return out
}

const (
	sfData = "/services/data/v60.0"
	zoho   = "/zoho/crm/v6"
)

func soql(q string) string { return sfData + "/query?q=" + url.QueryEscape(q) }

func graphql(q string) string {
	b, _ := json.Marshal(map[string]string{"query": q})
	return string(b)
}

var bypassRows = []bypassRow{
	// --- GraphQL aliases switch masking off ---------------------------------
	{name: "sf/graphql field alias", method: "POST", path: sfData + "/graphql",
		body:      graphql(`query { uiapi { query { Contact(first: 20) { edges { node { Id m: MobilePhone { value } n: National_ID__c { value } } } } } } }`),
		planAlias: "Contact.MobilePhone", masked: true, stream: "masking by alias (GraphQL field alias)"},
	{name: "sf/graphql node alias", method: "POST", path: sfData + "/graphql",
		body:      graphql(`query { uiapi { query { Contact(first: 20) { edges { n: node { Id MobilePhone { value } Birthdate { value } } } } } } }`),
		planAlias: "node", masked: true, stream: "masking by alias (GraphQL node alias)"},
	{name: "sf/graphql edges alias", method: "POST", path: sfData + "/graphql",
		body:      graphql(`query { uiapi { query { Contact(first: 20) { e: edges { node { Id MobilePhone { value } Email { value } } } } } } }`),
		planAlias: "edges", masked: true, stream: "masking by alias (GraphQL edges alias)"},
	{name: "sf/graphql alias inside composite", method: "POST", path: sfData + "/composite",
		hdr: []string{"Content-Type", "application/json"},
		body: `{"compositeRequest":[{"method":"POST","url":"/services/data/v60.0/graphql","referenceId":"g","body":` +
			graphql(`query { uiapi { query { Contact(first: 20) { edges { node { Id m: MobilePhone { value } } } } } } }`) + `}]}`,
		planAlias: "Contact.MobilePhone", masked: true, stream: "masking by alias (GraphQL inside composite)"},
	{name: "zoho/graphql field alias", method: "POST", path: "/zoho/crm/graphql",
		body:      graphql(`{ Records { Contacts(limit: 20) { _data { m: Mobile { value } } } } }`),
		planAlias: "Contacts.Mobile", masked: true, stream: "masking by alias (Zoho GraphQL)", crmShape: "Zoho /crm/graphql"},

	// --- child subqueries and relationship paths walk around object denials --
	{name: "sf/child subquery into Opportunity", method: "GET",
		path:       soql("SELECT Id, (SELECT Amount, StageName FROM Opportunities) FROM Account"),
		planObject: "Opportunity", status: 403, reason: "role intern may not query Opportunity"},
	{name: "sf/child subquery into Case", method: "GET",
		path:       soql("SELECT Id, (SELECT Subject, Description FROM Cases) FROM Account"),
		planObject: "Case", status: 403, reason: "role intern may not query Case"},
	{name: "sf/relationship path to a denied object", method: "GET", key: repKey,
		path:       soql("SELECT Id, Campaign.Name FROM Opportunity"),
		planObject: "Campaign", status: 403, reason: "role sales_rep may not query Campaign"},
	{name: "sf/relationship path to the owner, masked", method: "GET",
		path:       soql("SELECT Id, Owner.Username, Owner.Email, Owner.MobilePhone FROM Contact LIMIT 50"),
		planObject: "User", masked: true},
	{name: "sf/graphql child connection", method: "POST", path: sfData + "/graphql",
		body:       graphql(`query { uiapi { query { Account(first: 5) { edges { node { Id Opportunities { edges { node { Amount { value } } } } } } } } } }`),
		planObject: "Opportunity", status: 403, reason: "role intern may not query Opportunity"},
	{name: "sf/ui api childRelationships", method: "GET",
		path:       sfData + "/ui-api/records/001000000000001AAA?fields=Account.Name&childRelationships=Account.Cases",
		planObject: "Case", status: 403, reason: "Case"},
	{name: "zoho/related list of a denied module", method: "GET", path: zoho + "/Accounts/554023000000100001/Deals",
		planObject: "Deals", status: 403, reason: "role intern may not"},

	// --- aggregates, aliases and functions ----------------------------------
	{name: "sf/MAX of a masked field", method: "GET",
		path:      soql("SELECT MAX(National_ID__c) FROM Contact"),
		planField: "Contact.National_ID__c", planRole: "aggregate", status: 403,
		reason: "applying a function to masked field Contact.National_ID__c is not allowed"},
	{name: "sf/FORMAT of a masked field under an alias", method: "GET",
		path:      soql("SELECT Id, FORMAT(Birthdate) bd FROM Contact LIMIT 20"),
		planField: "Contact.Birthdate", planRole: "aggregate", status: 403,
		reason: "applying a function to masked field Contact.Birthdate is not allowed"},
	{name: "sf/field aliases", method: "GET",
		path:      soql("SELECT Name n, MobilePhone m FROM Contact GROUP BY Name, MobilePhone LIMIT 20"),
		planAlias: "Contact.MobilePhone", masked: true, stream: "masking by alias (SOQL field alias)",
		crmShape: "SOQL GROUP BY with field aliases"},

	// --- masked values read back through filters ----------------------------
	{name: "sf/LIKE on a masked field", method: "GET",
		path:      soql("SELECT COUNT() FROM Contact WHERE Id = '003000000000001AAA' AND MobilePhone LIKE '138%'"),
		planField: "Contact.MobilePhone", planRole: "filter", status: 403,
		reason: "filtering on masked field Contact.MobilePhone is not allowed"},
	{name: "sf/LIKE on a masked field spelt in lower case", method: "GET",
		path:      soql("SELECT COUNT() FROM Contact WHERE mobilephone LIKE '138%'"),
		planField: "Contact.MobilePhone", planRole: "filter", status: 403, reason: "filtering on masked field"},
	{name: "sf/ORDER BY a masked field", method: "GET",
		path:      soql("SELECT Id FROM Contact ORDER BY MobilePhone LIMIT 5"),
		planField: "Contact.MobilePhone", planRole: "sort", status: 403,
		reason: "sorting on masked field Contact.MobilePhone is not allowed"},
	{name: "sf/graphql where on a masked field", method: "POST", path: sfData + "/graphql",
		body:      graphql(`query { uiapi { query { Contact(first: 5, where: { MobilePhone: { like: "138%" } }) { edges { node { Id } } } } } }`),
		planField: "Contact.MobilePhone", planRole: "filter", status: 403,
		reason: "filtering on masked field Contact.MobilePhone is not allowed"},
	{name: "sf/SOSL IN PHONE FIELDS", method: "GET",
		path:     sfData + "/search?q=" + url.QueryEscape("FIND {138*} IN PHONE FIELDS RETURNING Contact(Id)"),
		planRole: "search", status: 403, reason: "searching all fields of Contact is not allowed"},
	{name: "sf/external id lookup by a masked field", method: "GET",
		path:      sfData + "/sobjects/Contact/MobilePhone/13800000000",
		planField: "Contact.MobilePhone", planRole: "filter", status: 403,
		reason: "filtering on masked field Contact.MobilePhone is not allowed"},
	{name: "zoho/search criteria on a masked field", method: "GET",
		path:      zoho + "/Contacts/search?criteria=" + url.QueryEscape("(Mobile:starts_with:138)"),
		planField: "Contacts.Mobile", planRole: "filter", status: 403,
		reason: "filtering on masked field Contacts.Mobile is not allowed"},
	{name: "zoho/phone search", method: "GET", path: zoho + "/Contacts/search?phone=138",
		planRole: "search", status: 403, reason: "searching all fields of Contacts is not allowed"},
	// --- bulk job control by another subject (refused: 403, or the CRM's
	// not-found answer 404) ---------------------------------------------------
	{name: "sf/abort another subject's bulk query job", method: "PATCH", path: sfData + "/jobs/query/{{JOB}}",
		body: `{"state":"Aborted"}`, setup: managersJob, operation: "bulk_query"},
	{name: "sf/delete another subject's bulk query job", method: "DELETE", path: sfData + "/jobs/query/{{JOB}}",
		setup: managersJob, operation: "bulk_query"},
	{name: "sf/results of another subject's bulk query job", method: "GET", path: sfData + "/jobs/query/{{JOB}}/results",
		setup: managersJob, operation: "bulk_result"},

	// --- error bodies are masked --------------------------------------------
	{name: "sf/duplicate rule error body", method: "POST", path: sfData + "/sobjects/Contact", key: repKey,
		hdr:  []string{"Content-Type", "application/json", "X-Samplecrm-Duplicate-Rule", "block"},
		body: `{"LastName":"Dup","Email":"{{EMAIL}}"}`, setup: anEmail,
		secrets: []string{"MobilePhone", "Birthdate", "National_ID__c"}, errorBody: true, stream: "masking of error bodies"},

	{name: "zoho/COQL where on a masked field", method: "POST", path: zoho + "/coql",
		body:      `{"select_query":"select id from Contacts where Mobile like '138%' limit 5"}`,
		planField: "Contacts.Mobile", planRole: "filter", status: 403,
		reason: "filtering on masked field Contacts.Mobile is not allowed"},
}

// managersJob has the sales manager create a Bulk 2.0 query job (the
// intern then tries to control it).
func managersJob(t *testing.T, do doFunc, _ personal) map[string]string {
	resp, b := do("POST", sfData+"/jobs/query", managerKey, `{"operation":"query","query":"SELECT Id, Email FROM Contact"}`)
	var job struct{ ID string }
	if resp.StatusCode != 200 || json.Unmarshal(b, &job) != nil || job.ID == "" {
		t.Fatalf("the manager's job: %d %s", resp.StatusCode, b)
	}
	return map[string]string{"JOB": job.ID}
}

// anEmail is an existing contact's e-mail (a duplicate to create).
func anEmail(t *testing.T, _ doFunc, pv personal) map[string]string {
	if len(pv["Email"]) == 0 {
		t.Fatal("no e-mail in the sample data")
	}
	return map[string]string{"EMAIL": pv["Email"][0]}
}

// personalValues are values the intern must never see: read straight from
// the sample CRM, with the gateway's upstream credential.
func personalValues(t *testing.T, e *env) personal {
	t.Helper()
	out := personal{}
	var field string
	add := func(v any) {
		if s, ok := v.(string); ok && len(s) >= 6 {
			out[field] = append(out[field], s)
		}
	}
	req, _ := http.NewRequest("GET", e.crmURL+soql("SELECT Id, MobilePhone, Email, Birthdate, National_ID__c FROM Contact LIMIT 200"), nil)
	req.Header.Set("Authorization", "Bearer "+sfToken)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sf struct{ Records []map[string]any }
	if err := json.Unmarshal(readAll(t, resp), &sf); err != nil || len(sf.Records) == 0 {
		t.Fatalf("the sample CRM's contacts: %v", err)
	}
	for _, r := range sf.Records {
		for _, field = range []string{"MobilePhone", "Email", "Birthdate", "National_ID__c"} {
			add(r[field])
		}
	}
	req, _ = http.NewRequest("GET", e.crmURL+soql("SELECT Username, Email, MobilePhone FROM User"), nil)
	req.Header.Set("Authorization", "Bearer "+sfToken)
	if resp, err = e.client.Do(req); err != nil {
		t.Fatal(err)
	}
	var users struct{ Records []map[string]any }
	if err := json.Unmarshal(readAll(t, resp), &users); err != nil || len(users.Records) == 0 {
		t.Fatalf("the sample CRM's users: %v", err)
	}
	for _, r := range users.Records {
		for _, field = range []string{"Username", "Email", "MobilePhone"} {
			add(r[field])
		}
	}
	req, _ = http.NewRequest("GET", e.crmURL+"/crm/v6/Contacts?fields=Mobile,Email,Date_of_Birth,National_ID&per_page=200", nil)
	req.Header.Set("Authorization", "Zoho-oauthtoken "+zohoToken)
	if resp, err = e.client.Do(req); err != nil {
		t.Fatal(err)
	}
	var z struct{ Data []map[string]any }
	if err := json.Unmarshal(readAll(t, resp), &z); err != nil || len(z.Data) == 0 {
		t.Fatalf("the sample CRM's Zoho contacts: %v", err)
	}
	for _, r := range z.Data {
		for _, field = range []string{"Mobile", "Email", "Date_of_Birth", "National_ID"} {
			add(r[field])
		}
	}
	return out
}

// planParts are the access-plan parts of an event: its crm part and those
// of its sub-requests.
func planParts(ev map[string]any) []map[string]any {
	var out []map[string]any
	if c, ok := ev["crm"].(map[string]any); ok {
		out = append(out, c)
	}
	subs, _ := ev["subrequests"].([]any)
	for _, s := range subs {
		if c, ok := s.(map[string]any); ok {
			out = append(out, c)
		}
	}
	return out
}

// missingPlan says what of the row's plan the event lacks, or "".
func (row *bypassRow) missingPlan(ev map[string]any) string {
	parts := planParts(ev)
	has := func(pred func(c map[string]any) bool) bool { return slices.ContainsFunc(parts, pred) }
	if row.planObject != "" && !has(func(c map[string]any) bool {
		objs, _ := c["objects"].([]any)
		return slices.ContainsFunc(objs, func(o any) bool { s, _ := o.(string); return strings.EqualFold(s, row.planObject) })
	}) {
		return fmt.Sprintf("crm.objects lacks %s", row.planObject)
	}
	if row.planRole != "" && !has(func(c map[string]any) bool {
		roles, _ := c["field_roles"].(map[string]any)
		for k, rs := range roles {
			if row.planField != "" && !strings.EqualFold(k, row.planField) {
				continue
			}
			if l, _ := rs.([]any); slices.Contains(l, any(row.planRole)) {
				return true
			}
		}
		return false
	}) {
		return fmt.Sprintf("crm.field_roles lacks %s with role %s", cmpOr(row.planField, "a field"), row.planRole)
	}
	if row.planAlias != "" && !has(func(c map[string]any) bool {
		aliases, _ := c["aliases"].(map[string]any)
		for _, v := range aliases {
			if s, _ := v.(string); strings.Contains(strings.ToLower(s), strings.ToLower(row.planAlias)) {
				return true
			}
		}
		return false
	}) {
		return fmt.Sprintf("crm.aliases has no key for %s", row.planAlias)
	}
	return ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestBypassSuite(t *testing.T) {
	e := newEnv(t, envOptions{})
	pv := personalValues(t, e)
	e.crm.Reset()
	events := 0
	for _, row := range bypassRows {
		t.Run(row.name, func(t *testing.T) {
			key := row.key
			if key == "" {
				key = internKey
			}
			if row.setup != nil {
				do := func(method, path, key, body string) (*http.Response, []byte) {
					events++ // each is audited too
					resp := e.do(method, path, bearer(key), strings.NewReader(body), "Content-Type", "application/json")
					return resp, readAll(t, resp)
				}
				for k, v := range row.setup(t, do, pv) {
					row.path = strings.ReplaceAll(row.path, "{{"+k+"}}", v)
					row.body = strings.ReplaceAll(row.body, "{{"+k+"}}", v)
				}
			}
			secrets := pv.values(row.secrets)
			reached := len(e.crm.Requests())
			var body *strings.Reader
			hdr := row.hdr
			if row.body != "" {
				body = strings.NewReader(row.body)
				if hdr == nil {
					hdr = []string{"Content-Type", "application/json"}
				}
			}
			var resp *http.Response
			if body != nil {
				resp = e.do(row.method, row.path, bearer(key), body, hdr...)
			} else {
				resp = e.do(row.method, row.path, bearer(key), nil, hdr...)
			}
			b := readAll(t, resp)
			events++
			evs := completeEvents(t, e, events)
			if len(evs) < events {
				t.Fatalf("no audit event for the request (%d events)", len(evs))
			}
			ev := evs[events-1]
			// The caller's request reached the CRM (the gateway's own
			// lookups, such as a bulk job's status, are not it).
			path, _, _ := strings.Cut(strings.TrimPrefix(row.path, "/zoho"), "?")
			forwarded := slices.ContainsFunc(e.crm.Requests()[reached:], func(r samplecrm.RecordedRequest) bool {
				return r.Method == row.method && r.Path == path
			})
			leak := ""
			for _, s := range secrets {
				if strings.Contains(string(b), s) {
					leak = s
					break
				}
			}
			refused := resp.StatusCode == 403 || resp.StatusCode == 404
			if missing := row.missingPlan(ev); missing != "" {
				if refused && !forwarded {
					// Refused already, before the plan: safe, if not for
					// the reason the row names.
					t.Logf("refused without the plan (%s): %d %s", missing, resp.StatusCode, b)
					return
				}
				t.Skipf("plan not built for this shape: %s (status %d, forwarded %v, leak %v; event crm %v)",
					missing, resp.StatusCode, forwarded, leak != "", ev["crm"])
			}
			if op, _ := get(ev, "crm", "operation").(string); row.operation != "" && op != row.operation {
				if refused && !forwarded {
					t.Logf("refused (%d) as operation %q: %s", resp.StatusCode, op, b)
					return
				}
				t.Skipf("not classified in this build: %s %s is operation %q, want %q (status %d, forwarded %v)",
					row.method, row.path, op, row.operation, resp.StatusCode, forwarded)
			}
			if row.crmShape != "" && forwarded && (resp.StatusCode == 404 || resp.StatusCode == 400) {
				t.Skipf("the sample CRM does not speak %s (upstream answered %d)", row.crmShape, resp.StatusCode)
			}
			switch {
			case row.errorBody:
				if refused {
					checkRefusal(t, row, resp, b, ev, forwarded)
					return
				}
				if resp.StatusCode/100 == 2 || !forwarded {
					t.Fatalf("status %d, want the CRM's own error answer: %s", resp.StatusCode, b)
				}
				if leak != "" {
					t.Skipf("%s is not in this build: the error body carried a personal value", row.stream)
				}
			case row.masked:
				if refused {
					checkRefusal(t, row, resp, b, ev, forwarded)
					return
				}
				if resp.StatusCode/100 != 2 {
					t.Fatalf("status %d, want 2xx masked or a refusal: %s", resp.StatusCode, b)
				}
				if leak != "" {
					if row.stream != "" {
						t.Skipf("%s is not in this build: the response carried a personal value", row.stream)
					}
					t.Fatalf("the response carried a personal value the intern may not see")
				}
				if m, _ := get(ev, "decision", "masked").([]any); len(m) == 0 {
					t.Errorf("the audit event names no masked field: %v", ev["decision"])
				}
			default:
				checkRefusal(t, row, resp, b, ev, forwarded)
			}
		})
	}
}

// completeEvents waits for want audit events and returns those whose
// line is complete (the writer may be half-way through the next one).
func completeEvents(t *testing.T, e *env, want int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(e.dir, "audit.jsonl"))
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			b = b[:i+1]
		} else {
			b = nil
		}
		var evs []map[string]any
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("audit line is not JSON: %v", err)
			}
			if m["status"] == "pending" {
				continue // a start record (docs/audit.md, "Crash safety")
			}
			evs = append(evs, m)
		}
		if len(evs) >= want || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkRefusal holds a refused row to the CRM's error shape with the
// reason, nothing forwarded, and an audit event that says so.
func checkRefusal(t *testing.T, row bypassRow, resp *http.Response, body []byte, ev map[string]any, forwarded bool) {
	t.Helper()
	if row.status != 0 && resp.StatusCode != row.status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, row.status, body)
	}
	if forwarded {
		t.Errorf("the refused request reached the CRM")
	}
	id := resp.Header.Get("X-Request-Id")
	var msg string
	if strings.HasPrefix(row.path, "/zoho/") {
		var z struct{ Code, Status, Message string }
		if err := json.Unmarshal(body, &z); err != nil || z.Status != "error" || z.Code == "" {
			t.Fatalf("not the Zoho error shape: %s", body)
		}
		msg = z.Message
	} else {
		var errs []struct{ ErrorCode, Message string }
		if err := json.Unmarshal(body, &errs); err != nil || len(errs) != 1 || errs[0].ErrorCode == "" {
			t.Fatalf("not the Salesforce error shape: %s", body)
		}
		msg = errs[0].Message
		if !strings.Contains(msg, id) {
			t.Errorf("message %q lacks the request id %s", msg, id)
		}
	}
	if !strings.Contains(msg, row.reason) {
		t.Errorf("message %q, want it to say %q", msg, row.reason)
	}
	if get(ev, "status") != audit.StatusDenied || get(ev, "decision", "allow") != false {
		t.Errorf("audit event: status %v, decision %v", get(ev, "status"), ev["decision"])
	}
	if r, _ := get(ev, "decision", "reason").(string); !strings.Contains(r, row.reason) {
		t.Errorf("audit reason %q, want %q", r, row.reason)
	}
}
