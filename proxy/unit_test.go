package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/crmgw/crmgw/policy"
)

func TestMergeDecisionTakesTheStricterOfEachPart(t *testing.T) {
	a := policy.Decision{Allow: true, Reason: "ok", Mask: map[string]string{"Contact.Email": "partial"}, MaxRecords: 500}
	b := policy.Decision{Allow: false, Reason: "role intern may not read Opportunity", Mask: map[string]string{"Contact.Email": "redact", "*.Phone": "null"}, MaxRecords: 100}
	got := mergeDecision(a, b)
	if got.Allow || got.Reason != b.Reason {
		t.Errorf("one denial must deny the whole request with its reason: %+v", got)
	}
	want := map[string]string{"Contact.Email": "redact", "*.Phone": "null"}
	if !reflect.DeepEqual(got.Mask, want) {
		t.Errorf("mask %v, want %v", got.Mask, want)
	}
	if got.MaxRecords != 100 {
		t.Errorf("cap %d, want the smaller 100", got.MaxRecords)
	}
	if got := mergeDecision(policy.Decision{Allow: true}, policy.Decision{Allow: true, MaxRecords: 7}); got.MaxRecords != 7 {
		t.Errorf("a cap on one part applies to the whole: %d", got.MaxRecords)
	}
}

func TestStripParamsRemovesCredentialParameters(t *testing.T) {
	cases := map[string]string{
		"q=SELECT+Id+FROM+Contact":              "q=SELECT+Id+FROM+Contact",
		"authtoken=abc&q=1":                     "q=1",
		"q=1&ACCESS_TOKEN=abc":                  "q=1",
		"q=1&%61uthtoken=abc":                   "q=1",
		"fields=Email&oauth_token=x&per_page=2": "fields=Email&per_page=2",
		"q=SELECT+authtoken+FROM+X__c":          "q=SELECT+authtoken+FROM+X__c",
		"":                                      "",
	}
	for in, want := range cases {
		if got := stripParams(in, callerCredentialParams); got != want {
			t.Errorf("stripParams(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRouteByHostThenLongestPrefix(t *testing.T) {
	def := &upstream{name: "default"}
	zoho := &upstream{name: "zoho", prefix: "/zoho"}
	zohoEU := &upstream{name: "zoho-eu", prefix: "/zoho/eu"}
	byHost := &upstream{name: "eu-host", host: "crm-eu.example.com"}
	g := &Gateway{upstreams: []*upstream{def, zoho, zohoEU, byHost}}
	cases := []struct{ host, path, want string }{
		{"gw.example.com", "/services/data/v60.0/query", "default"},
		{"gw.example.com", "/zoho/crm/v6/Contacts", "zoho"},
		{"gw.example.com", "/zoho/eu/crm/v6/Contacts", "zoho-eu"},
		{"gw.example.com", "/zohoX/crm", "default"},
		{"CRM-EU.example.com:8443", "/anything", "eu-host"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "http://"+tc.host+tc.path, nil)
		if got := g.route(r); got == nil || got.name != tc.want {
			t.Errorf("%s%s routed to %v, want %s", tc.host, tc.path, got, tc.want)
		}
	}
	g = &Gateway{upstreams: []*upstream{zoho}}
	if got := g.route(httptest.NewRequest("GET", "http://x/services/data", nil)); got != nil {
		t.Errorf("no default upstream: want no route, got %s", got.name)
	}
}

// TestRuleCacheCompilesEachMaskMapOnce: a decision's map is compiled once
// and its rules reused; another map (even with the same keys) is compiled
// on its own, an invalid mask is an error every time, and the cache stays
// bounded.
func TestRuleCacheCompilesEachMaskMapOnce(t *testing.T) {
	var c ruleCache
	mask := map[string]string{"Contact.Email": "redact"}
	r1, err := c.rules(mask)
	if err != nil || r1.Empty() {
		t.Fatalf("rules: %v, %v", r1, err)
	}
	if r2, _ := c.rules(mask); r2 != r1 {
		t.Error("the same map was compiled again")
	}
	other := map[string]string{"Contact.Email": "partial"}
	if r3, _ := c.rules(other); r3 == r1 || !reflect.DeepEqual(r3.Keys(), []string{"Contact.Email"}) {
		t.Error("another map got the first map's rules")
	}
	bad := map[string]string{"Contact.Email": "shred"}
	for range 2 {
		if _, err := c.rules(bad); err == nil {
			t.Fatal("an invalid mask compiled")
		}
	}
	if r, err := c.rules(nil); err != nil || !r.Empty() {
		t.Errorf("no mask: %v, %v", r, err)
	}
	for range maxRuleCache + 10 {
		if _, err := c.rules(map[string]string{"Lead.Phone": "null"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.m); n > maxRuleCache {
		t.Errorf("cache holds %d maps, bound %d", n, maxRuleCache)
	}
}

func TestInputHeaderNamesAreLowerCase(t *testing.T) {
	for _, h := range inputHeaders {
		if h[1] != strings.ToLower(h[0]) || http.CanonicalHeaderKey(h[0]) != h[0] {
			t.Errorf("input header %q as %q", h[0], h[1])
		}
	}
}

// mediaType answers the same from its memory as from the parse, also for
// malformed values, and stops remembering at its bound.
func TestMediaTypeIsRemembered(t *testing.T) {
	cases := map[string]string{
		"application/json;charset=UTF-8":  "application/json",
		"Application/JSON; charset=utf-8": "application/json",
		"text/csv":                        "text/csv",
		"application/json; charset":       "an unknown content type", // malformed parameter
		"":                                "an unknown content type",
		"/":                               "an unknown content type",
	}
	for round := range 3 {
		for ct, want := range cases {
			if got := mediaType(ct); got != want {
				t.Errorf("round %d: mediaType(%q) = %q, want %q", round, ct, got, want)
			}
		}
	}
	for i := range 2 * maxMediaTypes {
		ct := fmt.Sprintf("application/x-kind-%d+json", i)
		if got := mediaType(ct); got != ct {
			t.Fatalf("mediaType(%q) = %q", ct, got)
		}
	}
	if n := len(*mediaTypes.Load()); n > maxMediaTypes {
		t.Errorf("%d media types remembered, bound %d", n, maxMediaTypes)
	}
	if got := mediaType("application/x-kind-100+json"); got != "application/x-kind-100+json" {
		t.Errorf("past the bound: %q", got)
	}
}
