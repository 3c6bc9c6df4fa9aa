package proxy

import (
	"strings"
	"testing"

	"github.com/crmgw/crmgw/examples/samplecrm"
)

func TestUpstreamSessionExpiryRefreshesAndRetriesOnce(t *testing.T) {
	e := newEnv(t, envOptions{
		sfAuth: "{type: client_credentials, token_url: '{{CRM}}/services/oauth2/token', client_id: gw-client, client_secret: gw-secret}",
		crmOpts: func(o *samplecrm.Options) {
			o.SalesforceToken = ""
			o.ClientID, o.ClientSecret = "gw-client", "gw-secret"
		},
	})
	tokenRequests := func() int {
		n := 0
		for _, r := range e.crm.Requests() {
			if r.Path == "/services/oauth2/token" {
				n++
			}
		}
		return n
	}
	for i := 0; i < 3; i++ {
		resp := e.do("GET", contactQuery, bearer(repKey), nil)
		if b := readAll(t, resp); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
	}
	if n := tokenRequests(); n != 1 {
		t.Fatalf("the token must be fetched once and cached: %d token requests", n)
	}
	e.crm.ExpireTokens() // the org invalidates the session: next call gets 401 INVALID_SESSION_ID
	resp := e.do("GET", contactQuery, bearer(repKey), nil)
	if b := readAll(t, resp); resp.StatusCode != 200 {
		t.Fatalf("after session expiry: %d %s", resp.StatusCode, b)
	}
	if n := tokenRequests(); n != 2 {
		t.Fatalf("want exactly one refresh after the 401, got %d token requests in all", n)
	}
	// A non-idempotent request is not retried: the caller sees the 401.
	e.crm.ExpireTokens()
	resp = e.do("POST", "/services/data/v60.0/sobjects/Contact", bearer(repKey), strings.NewReader(`{"LastName":"Li"}`), "Content-Type", "application/json")
	readAll(t, resp)
	if resp.StatusCode != 401 {
		t.Fatalf("POST after expiry: want the upstream's 401 (no retry), got %d", resp.StatusCode)
	}
}
