package proxy

import (
	"net/http/httptest"
	"testing"
)

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
