package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/identity"
	"github.com/crmgw/crmgw/masking"
)

// The event records the plan of the request and of each sub-request.
func TestAuditEventRecordsThePlan(t *testing.T) {
	e := engineFor(t, "enforce")
	g := &Gateway{decider: e}
	plan := crm.Action{Operation: crm.OpQuery, Category: crm.CatRead, Object: "Contact",
		Query:      "SELECT Id FROM Contact WHERE MobilePhone LIKE '138%'",
		Objects:    []string{"Contact", "Account"},
		FieldRoles: map[string][]string{"Contact.Id": {"select"}, "Contact.MobilePhone": {"filter"}},
		Aliases:    map[string]string{"expr0": "MAX(Contact.Email)"},
	}
	x := &exchange{id: "01J", start: time.Now(), up: &upstream{name: "salesforce", typ: "salesforce", target: mustURL(t, "http://crm")},
		subject: &identity.Subject{ID: "k"}, outcome: outcomeDenied,
		result: crm.Result{Action: plan, Subrequests: []crm.Action{plan}}}
	ev := g.event(httptest.NewRequest("GET", "/services/data/v60.0/query", nil), x, 403, 0, &masking.Stats{})
	for i, c := range []audit.CRM{ev.CRM, ev.Subrequests[0]} {
		if !reflect.DeepEqual(c.Objects, plan.Objects) || !reflect.DeepEqual(c.FieldRoles, plan.FieldRoles) ||
			!reflect.DeepEqual(c.Aliases, plan.Aliases) || c.Query != plan.Query {
			t.Errorf("part %d: %+v", i, c)
		}
	}
	g.hashQueries, g.hmacKey = true, []byte("test-hmac-key-0123456789")
	ev = g.event(httptest.NewRequest("GET", "/", nil), x, 403, 0, &masking.Stats{})
	m := hmac.New(sha256.New, g.hmacKey)
	m.Write([]byte(plan.Query))
	if want := "hmac-sha256:" + hex.EncodeToString(m.Sum(nil)); ev.CRM.Query != want {
		t.Errorf("hashed query %q, want %q", ev.CRM.Query, want)
	}
}

// End to end: the query text (or its keyed hash with audit.query_text:
// hash) is in the event, and the chain of a log with plans verifies.
func TestAuditQueryTextThroughTheGateway(t *testing.T) {
	for _, hashed := range []bool{false, true} {
		extra := ""
		if hashed {
			extra = "  query_text: hash\n"
		}
		e := newEnv(t, envOptions{extraYAML: extra})
		readAll(t, e.do("GET", contactQuery, bearer(repKey), nil))
		readAll(t, e.do("GET", soql("SELECT Id FROM Opportunity"), bearer(internKey), nil))
		evs := e.auditEvents(2)
		if len(evs) != 2 {
			t.Fatalf("want 2 events, got %d", len(evs))
		}
		text := "SELECT Id,Name,Email,MobilePhone,Account.Owner.Email FROM Contact LIMIT 5"
		want := text
		if hashed {
			m := hmac.New(sha256.New, []byte("test-hmac-key-0123456789"))
			m.Write([]byte(text))
			want = "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
		}
		if got := get(evs[0], "crm", "query"); got != want {
			t.Errorf("hashed %v: crm.query %v, want %q", hashed, got, want)
		}
		if got, _ := get(evs[1], "crm", "query").(string); got == "" || (hashed && got == "SELECT Id FROM Opportunity") {
			t.Errorf("hashed %v: the denied request's crm.query is %q", hashed, got)
		}
		rep, err := audit.VerifyFile(e.dir + "/audit.jsonl")
		// Two completions and the start record of the one forwarded request.
		if err != nil || !rep.OK() || rep.Events != 3 {
			t.Fatalf("chain: %+v %v", rep, err)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
