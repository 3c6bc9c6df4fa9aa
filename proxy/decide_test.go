package proxy

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/identity"
	"github.com/crmgw/crmgw/policy"
)

// decideWith runs Gateway.decide for a classified result with the real
// default policies (or the policy directory given) and the caller's
// roles, as the request path runs it, and returns the exchange and the
// answer written (status 0: not answered, the request goes on).
func decideWith(t *testing.T, e *policy.Engine, crmType string, roles []string, res crm.Result) (*exchange, *httptest.ResponseRecorder) {
	t.Helper()
	g := &Gateway{log: zap.NewNop(), decider: e}
	x := &exchange{
		id: "01JTESTDECIDE", start: time.Now(),
		up:      &upstream{name: crmType, typ: crmType},
		subject: &identity.Subject{Kind: "client", ID: "k", Issuer: "crmgw:api_key", Roles: roles, ClientID: "k"},
		result:  res,
	}
	rw := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/services/data/v60.0/query", nil)
	if !g.decide(rw, r, x) {
		return x, rw
	}
	rw.Code = 0
	return x, rw
}

func engineFor(t *testing.T, mode string, paths ...string) *policy.Engine {
	t.Helper()
	if len(paths) == 0 {
		paths = []string{policiesDir(t)}
	}
	watch := false
	// A decision the race detector and a busy 2-core machine slow down
	// must not turn into a timeout's deny: these tests are about what the
	// policies decide (the end-to-end harness does the same).
	cfg := policy.Config{Paths: paths, Mode: mode, Watch: &watch, Timeout: 5 * time.Second}
	cfg.SetDefaults()
	e, err := policy.New(context.Background(), cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func query(object, q string, objects []string, roles map[string][]string, aliases map[string]string) crm.Result {
	return crm.Result{Action: crm.Action{
		Operation: crm.OpQuery, Category: crm.CatRead, Object: object, Query: q,
		Objects: objects, FieldRoles: roles, Aliases: aliases,
	}}
}

// sfError decodes a Salesforce error body and returns its code and message.
func sfError(t *testing.T, body []byte) (string, string) {
	t.Helper()
	var errs []struct{ ErrorCode, Message string }
	if err := json.Unmarshal(body, &errs); err != nil || len(errs) != 1 {
		t.Fatalf("not a Salesforce error body: %s", body)
	}
	return errs[0].ErrorCode, errs[0].Message
}

// Every object of the plan is decided; one denial denies the request with
// the denying decision's reason. How a caller would get around an object
// denial: reach the object from an allowed one (child subquery,
// relationship path, GraphQL child connection); each is an object of the
// plan and decided here.
func TestPlanObjectsAreDecidedEachOnItsOwn(t *testing.T) {
	e := engineFor(t, "enforce")
	cases := []struct {
		name    string
		roles   []string
		res     crm.Result
		status  int
		message string
	}{
		{"intern: child subquery into Opportunity", []string{"intern"},
			query("Account", "SELECT Id, (SELECT Amount FROM Opportunities) FROM Account", []string{"Account", "Opportunity"},
				map[string][]string{"Account.Id": {"select"}, "Opportunity.Amount": {"select"}}, nil),
			403, "role intern may not query Opportunity"},
		{"intern: two child subqueries, the second denied", []string{"intern"},
			query("Account", "", []string{"Account", "Contact", "Case"}, nil, nil),
			403, "role intern may not query Case"},
		{"sales rep: relationship path to Campaign", []string{"sales_rep"},
			query("Opportunity", "SELECT Campaign.Name FROM Opportunity", []string{"Opportunity", "Campaign"},
				map[string][]string{"Campaign.Name": {"select"}}, nil),
			403, "role sales_rep may not query Campaign"},
		{"intern: relationship path to User, masked", []string{"intern"},
			query("Contact", "SELECT Owner.Username FROM Contact", []string{"Contact", "User"},
				map[string][]string{"User.Username": {"select"}}, nil),
			0, ""},
		{"intern: filtering on the owner's username", []string{"intern"},
			query("Contact", "", []string{"Contact", "User"},
				map[string][]string{"User.Username": {"filter"}}, nil),
			403, "filtering on masked field User.Username is not allowed"},
		{"sales rep: relationship path to User is allowed", []string{"sales_rep"},
			query("Contact", "SELECT Owner.Name FROM Contact", []string{"Contact", "User"},
				map[string][]string{"User.Name": {"select"}}, nil),
			0, ""},
		{"admin: an unresolved object", []string{"admin"},
			query("Account", "", []string{"Account", "unknown"}, nil, nil),
			403, "could not resolve (unknown)"},
		{"admin: an empty object name counts as unknown", []string{"admin"},
			query("Account", "", []string{"Account", ""}, nil, nil),
			403, "could not resolve (unknown)"},
		{"intern: the own object in another case is not denied", []string{"intern"},
			query("Contact", "", []string{"contact", "CONTACT"}, nil, nil),
			0, ""},
		{"intern: a composite sub-request's plan is decided too", []string{"intern"},
			crm.Result{Action: crm.Action{Operation: crm.OpComposite, Category: crm.CatRead},
				Subrequests: []crm.Action{{Operation: crm.OpQuery, Category: crm.CatRead, Object: "Account",
					Objects: []string{"Account", "Opportunity"}}}},
			403, "role intern may not query Opportunity"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, rw := decideWith(t, e, "salesforce", tc.roles, tc.res)
			if rw.Code != tc.status {
				t.Fatalf("status %d, want %d (%s)", rw.Code, tc.status, rw.Body)
			}
			if tc.status == 0 {
				if !x.decision.Allow {
					t.Fatalf("denied: %s", x.decision.Reason)
				}
				return
			}
			code, msg := sfError(t, rw.Body.Bytes())
			if code != codeForbidden || !strings.Contains(msg, tc.message) || !strings.Contains(msg, x.id) {
				t.Errorf("error %s %q, want %s with %q and the request id", code, msg, codeForbidden, tc.message)
			}
			if x.decision.Allow || x.outcome != outcomeDenied {
				t.Errorf("exchange: allow %v, outcome %s", x.decision.Allow, x.outcome)
			}
		})
	}
}

// Masks imply no inference: a masked field used in a filter, sort, group,
// function or search scope is refused before forwarding, whatever the
// policy says, unless the decision lists it in allow_filter. How a caller
// would get around it: write the field in another case (WHERE
// mobilephone), reach it through a relationship path, search every field
// of the object (SOSL IN ALL FIELDS, "Contact.*"), name a role the
// gateway does not know; each is a row below.
func TestMaskedFieldsCannotBeFilteredOn(t *testing.T) {
	e := engineFor(t, "enforce")
	cases := []struct {
		name    string
		roles   []string
		typ     string
		fields  map[string][]string
		message string // "" allowed
	}{
		{"LIKE on the mobile phone", []string{"intern"}, "salesforce",
			map[string][]string{"Contact.Id": {"select"}, "Contact.MobilePhone": {"filter"}},
			"filtering on masked field Contact.MobilePhone is not allowed"},
		{"another case of the field's name", []string{"intern"}, "salesforce",
			map[string][]string{"contact.mobilephone": {"filter"}},
			"filtering on masked field contact.mobilephone is not allowed"},
		{"ORDER BY", []string{"intern"}, "salesforce",
			map[string][]string{"Contact.Email": {"select", "sort"}},
			"sorting on masked field Contact.Email is not allowed"},
		{"GROUP BY", []string{"sales_rep"}, "salesforce",
			map[string][]string{"Contact.Birthdate": {"group"}},
			"grouping by masked field Contact.Birthdate is not allowed"},
		{"MAX() of a national id", []string{"sales_manager"}, "salesforce",
			map[string][]string{"Contact.National_ID__c": {"aggregate"}},
			"applying a function to masked field Contact.National_ID__c is not allowed"},
		{"SOSL IN PHONE FIELDS", []string{"intern"}, "salesforce",
			map[string][]string{"Contact.Phone": {"search"}},
			"searching in masked field Contact.Phone is not allowed"},
		{"SOSL IN ALL FIELDS", []string{"intern"}, "salesforce",
			map[string][]string{"Contact.*": {"search"}},
			"searching all fields of Contact is not allowed: Contact.Bank_Account is masked"},
		{"Zoho criteria on Mobile", []string{"intern"}, "zoho",
			map[string][]string{"Contacts.Mobile": {"filter"}},
			"filtering on masked field Contacts.Mobile is not allowed"},
		{"SOSL without RETURNING: every field of every object", []string{"sales_rep"}, "salesforce",
			map[string][]string{"*.*": {"search"}},
			"searching all fields of * is not allowed: *.Bank_Account is masked"},
		{"a relationship path left unresolved", []string{"intern"}, "salesforce",
			map[string][]string{"Contact.Account.Phone": {"filter"}},
			"filtering on masked field Contact.Account.Phone is not allowed"},
		{"a role the gateway does not know", []string{"intern"}, "salesforce",
			map[string][]string{"Contact.Email": {"having"}},
			"using (having) masked field Contact.Email is not allowed"},
		{"selecting a masked field is fine (it is masked in the response)", []string{"intern"}, "salesforce",
			map[string][]string{"Contact.MobilePhone": {"select"}, "Contact.Name": {"filter", "sort"}}, ""},
		{"a field the role does not mask may be filtered", []string{"sales_manager"}, "salesforce",
			map[string][]string{"Contact.MobilePhone": {"filter"}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			object := "Contact"
			if tc.typ == "zoho" {
				object = "Contacts"
			}
			x, rw := decideWith(t, e, tc.typ, tc.roles, query(object, "q", nil, tc.fields, nil))
			if tc.message == "" {
				if rw.Code != 0 || !x.decision.Allow {
					t.Fatalf("refused: %d %s", rw.Code, rw.Body)
				}
				return
			}
			if rw.Code != http.StatusForbidden {
				t.Fatalf("status %d, want 403: %s", rw.Code, rw.Body)
			}
			var msg string
			if tc.typ == "zoho" {
				var z struct{ Code, Status, Message string }
				if err := json.Unmarshal(rw.Body.Bytes(), &z); err != nil || z.Code != codeForbidden || z.Status != "error" {
					t.Fatalf("not the Zoho error shape: %s", rw.Body)
				}
				msg = z.Message
			} else {
				_, msg = sfError(t, rw.Body.Bytes())
			}
			if !strings.Contains(msg, tc.message) {
				t.Errorf("message %q, want %q", msg, tc.message)
			}
			if x.decision.Allow || x.decision.Reason != tc.message {
				t.Errorf("decision %v %q, want the refusal recorded", x.decision.Allow, x.decision.Reason)
			}
			// The mutation check: the same plan with the field's role
			// dropped to select is let through, so the refusal rests on
			// the role the plan records and nothing else.
			selected := map[string][]string{}
			for k := range tc.fields {
				selected[k] = []string{crm.RoleSelect}
			}
			if x, rw := decideWith(t, e, tc.typ, tc.roles, query(object, "q", nil, selected, nil)); rw.Code != 0 || !x.decision.Allow {
				t.Errorf("with the role dropped to select: %d %s", rw.Code, rw.Body)
			}
		})
	}
}

// A function over a masked field is refused from the plan's aliases too,
// when the field roles do not say it (a plan that names the function only
// by its response key).
func TestFunctionOfAMaskedFieldSeenInTheAliases(t *testing.T) {
	e := engineFor(t, "enforce")
	cases := []struct {
		aliases map[string]string
		message string
	}{
		{map[string]string{"expr0": "MAX(Contact.National_ID__c)"}, "applying a function to masked field Contact.National_ID__c is not allowed"},
		{map[string]string{"bd": "FORMAT(Contact.Birthdate)"}, "applying a function to masked field Contact.Birthdate is not allowed"},
		{map[string]string{"x": "CONVERTCURRENCY(TOLABEL(contact.mobilephone))"}, "applying a function to masked field contact.mobilephone is not allowed"},
		{map[string]string{"expr0": "COUNT()", "n": "Contact.Name", "m": "Contact.MobilePhone"}, ""},
		{map[string]string{"expr0": "MAX(Contact.CreatedDate)"}, ""},
	}
	for _, tc := range cases {
		x, rw := decideWith(t, e, "salesforce", []string{"intern"}, query("Contact", "q", nil, nil, tc.aliases))
		if tc.message == "" {
			if rw.Code != 0 {
				t.Errorf("%v refused: %s", tc.aliases, rw.Body)
			}
			continue
		}
		if rw.Code != 403 || x.decision.Reason != tc.message {
			t.Errorf("%v: %d %q, want 403 %q", tc.aliases, rw.Code, x.decision.Reason, tc.message)
		}
	}
}

// allow_filter opens exactly the fields it names; a field another part of
// the plan masks without allowing stays closed.
func TestAllowFilterOpensOnlyWhatItNames(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/p.rego", `package crmgw.authz

import rego.v1

decision := {"allow": true, "reason": "ok", "mask": {"*.Email": "email", "*.MobilePhone": "partial"}, "allow_filter": ["Contact.Email"]} if {
	input.action.object == "Contact"
} else := {"allow": true, "reason": "ok", "mask": {"*.Email": "redact"}}
`)
	e := engineFor(t, "enforce", dir)
	cases := []struct {
		name    string
		res     crm.Result
		message string
	}{
		{"the named field", query("Contact", "", nil, map[string][]string{"Contact.Email": {"filter"}}, nil), ""},
		{"the same field in another case", query("Contact", "", nil, map[string][]string{"Contact.email": {"sort"}}, nil), ""},
		{"another masked field", query("Contact", "", nil, map[string][]string{"Contact.MobilePhone": {"filter"}}, nil),
			"filtering on masked field Contact.MobilePhone is not allowed"},
		{"the field on another object", query("Contact", "", []string{"Contact", "Lead"}, map[string][]string{"Lead.Email": {"filter"}}, nil),
			"filtering on masked field Lead.Email is not allowed"},
		// The Account decision masks *.Email without allowing it: merged,
		// the filter on Contact.Email is closed again.
		{"a part of the plan that masks it without allowing", query("Account", "", []string{"Account", "Contact"},
			map[string][]string{"Contact.Email": {"filter"}}, nil),
			"filtering on masked field Contact.Email is not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, rw := decideWith(t, e, "salesforce", []string{"any"}, tc.res)
			if tc.message == "" {
				if rw.Code != 0 {
					t.Fatalf("refused: %s", rw.Body)
				}
				return
			}
			if rw.Code != 403 || x.decision.Reason != tc.message {
				t.Fatalf("status %d, reason %q; want 403 %q", rw.Code, x.decision.Reason, tc.message)
			}
		})
	}
}

// Monitor mode never blocks, but the event records the would-be refusal.
func TestMonitorModeRecordsTheRefusalWithoutBlocking(t *testing.T) {
	e := engineFor(t, "monitor")
	x, rw := decideWith(t, e, "salesforce", []string{"intern"},
		query("Contact", "", []string{"Contact", "Case"}, map[string][]string{"Contact.MobilePhone": {"filter"}}, nil))
	if rw.Code != 0 {
		t.Fatalf("monitor mode answered %d", rw.Code)
	}
	if x.decision.Allow || x.enforced || x.decision.Reason != "role intern may not query Case" {
		t.Errorf("decision %+v enforced %v", x.decision, x.enforced)
	}
	x, _ = decideWith(t, e, "salesforce", []string{"intern"},
		query("Contact", "", nil, map[string][]string{"Contact.MobilePhone": {"filter"}}, nil))
	if x.decision.Allow || x.decision.Reason != "filtering on masked field Contact.MobilePhone is not allowed" {
		t.Errorf("decision %+v", x.decision)
	}
}

func TestPlanSubActions(t *testing.T) {
	top := policy.ActionInput{Operation: "query", Category: "read", Object: "Account", Query: "q",
		Objects:    []string{"Account", "Opportunity", "opportunity", "", "unknown", "User"},
		FieldRoles: map[string][]string{"Opportunity.StageName": {"filter"}, "Opportunity.Amount": {"select"}, "Account.Id": {"select"}},
	}
	subs := planSubActions(&top)
	var names []string
	for _, s := range subs {
		names = append(names, s.Object)
		if s.Operation != "query" || s.Category != "read" || s.Parent == nil || s.Parent.Object != "Account" {
			t.Errorf("sub-action %+v: want the container's operation and category, the container as parent", s)
		}
	}
	if want := []string{"Opportunity", "unknown", "User"}; !reflect.DeepEqual(names, want) {
		t.Errorf("objects %q, want %q", names, want)
	}
	if want := []string{"Amount", "StageName"}; !reflect.DeepEqual(subs[0].Fields, want) {
		t.Errorf("Opportunity's fields %q, want %q", subs[0].Fields, want)
	}
	if len(subs[0].FieldRoles) != 2 || subs[2].FieldRoles != nil {
		t.Errorf("field roles: %v, %v", subs[0].FieldRoles, subs[2].FieldRoles)
	}
}

func TestMergeDecisionKeepsAllowFilterOnlyWhereNoPartMasks(t *testing.T) {
	a := policy.Decision{Allow: true, Mask: map[string]string{"*.Email": "email"}, AllowFilter: []string{"Contact.Email", "Lead.Phone"}}
	b := policy.Decision{Allow: true, Mask: map[string]string{"Contact.Email": "redact"}}
	got := mergeDecision(a, b)
	if !reflect.DeepEqual(got.AllowFilter, []string{"Lead.Phone"}) {
		t.Errorf("allow_filter %q, want only Lead.Phone (b masks Contact.Email without allowing it)", got.AllowFilter)
	}
	if a.AllowFilter[0] != "Contact.Email" {
		t.Error("merging wrote into a decision's allow_filter")
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
