package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// collector is where a hostile token answer would send crmgw's CRM token and
// the callers' traffic; it records every request that reaches it.
type collector struct {
	*httptest.Server
	hits atomic.Int64
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"from-the-collector","instance_url":"https://acme.my.salesforce.com"}`))
	}))
	t.Cleanup(c.Close)
	return c
}

// sendApplied applies c's credential to a CRM request and, only if Apply
// succeeds, sends it where Apply pointed it: what the proxy's transport does.
func sendApplied(c Credentials, configured string) (*http.Request, error) {
	r, _ := http.NewRequest(http.MethodGet, configured+"/services/data/v60.0/limits", nil)
	if err := c.Apply(context.Background(), r, ""); err != nil {
		return nil, err
	}
	if resp, err := http.DefaultTransport.RoundTrip(r); err == nil {
		resp.Body.Close()
	}
	return r, nil
}

func TestInstanceURLOnlyToAllowedHosts(t *testing.T) {
	t.Parallel()
	crm := newCollector(t)  // the real CRM (loopback in tests)
	evil := newCollector(t) // somewhere else
	crmHost := strings.TrimPrefix(crm.URL, "http://")
	evilPort := evil.URL[strings.LastIndexByte(evil.URL, ':')+1:]

	cases := []struct {
		name     string
		instance string
		allowed  []string
		upType   string
		wantOK   bool
	}{
		{"a Salesforce My Domain over https is used", "https://acme.my.salesforce.com", nil, "salesforce", true},
		{"a Zoho EU api_domain is used", "https://www.zohoapis.eu", nil, "zoho", true},
		{"a configured loopback pattern allows the sample CRM over http", crm.URL, []string{"127.0.0.1:*"}, "salesforce", true},
		{"another host over https is refused", "https://collector.example.net", nil, "salesforce", false},
		{"a look-alike suffix is refused", "https://acme.my.salesforce.com.evil.net", nil, "salesforce", false},
		{"a name merely ending in salesforce.com is refused", "https://evilsalesforce.com", nil, "salesforce", false},
		{"the bare domain does not match its wildcard", "https://salesforce.com", nil, "salesforce", false},
		{"plain http to a vendor host is refused", "http://acme.my.salesforce.com", nil, "salesforce", false},
		{"another port on a vendor host is refused", "https://acme.my.salesforce.com:8443", nil, "salesforce", false},
		{"user info is refused", "https://acme.my.salesforce.com@evil.net", nil, "salesforce", false},
		{"a path is refused", "https://acme.my.salesforce.com/x", nil, "salesforce", false},
		{"a query is refused", "https://acme.my.salesforce.com?x=1", nil, "salesforce", false},
		{"a trailing dot is refused", "https://acme.my.salesforce.com.", nil, "salesforce", false},
		{"a non-ASCII host is refused", "https://acme.my.ſalesforce.com", nil, "salesforce", false},
		{"a Zoho host for a Salesforce upstream is refused", "https://www.zohoapis.com", nil, "salesforce", false},
		{"loopback over http is refused without a configured pattern", evil.URL, nil, "salesforce", false},
		{"loopback on another port than configured is refused", evil.URL, []string{crmHost}, "salesforce", false},
		{"a generic upstream allows nothing by default", "https://crm.example.com", nil, "generic", false},
		{"a configured pattern replaces the defaults", "https://acme.my.salesforce.com", []string{"crm.example.com"}, "salesforce", false},
		{"a javascript: URL is refused", "javascript:alert(1)", nil, "salesforce", false},
		{"a non-loopback address over http is refused even if configured", "http://192.0.2.7:" + evilPort, []string{"192.0.2.7:*"}, "salesforce", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTokenServer(t, func(w http.ResponseWriter, _ map[string][]string, n int64) {
				writeJSONBody(w, map[string]any{"access_token": fmt.Sprintf("crm-token-%d", n), "instance_url": tc.instance})
			})
			core, logs := observer.New(zap.WarnLevel)
			c, err := NewCredentials(UpstreamAuthConfig{
				Type: AuthClientCredentials, TokenURL: ts.URL, ClientID: "id", ClientSecret: testClientSecret,
				UseInstanceURL: true, AllowedInstanceHosts: tc.allowed,
			}, tc.upType, nil, zap.New(core))
			if err != nil {
				t.Fatal(err)
			}
			before := evil.hits.Load()
			r, err := sendApplied(c, "https://configured.invalid")
			if !tc.wantOK {
				if err == nil {
					t.Fatalf("instance %q was accepted: request went to %s", tc.instance, r.URL.Host)
				}
				if c.InstanceURL() != "" {
					t.Fatalf("InstanceURL = %q after a refused answer", c.InstanceURL())
				}
				if evil.hits.Load() != before {
					t.Fatal("a request reached the refused instance")
				}
				if logs.FilterMessageSnippet("not allowed").Len() != 1 {
					t.Fatalf("the refusal was not logged: %v", logs.All())
				}
				for _, e := range logs.All() {
					if strings.Contains(fmt.Sprint(e.ContextMap()), "crm-token-") || strings.Contains(fmt.Sprint(e.ContextMap()), testClientSecret) {
						t.Fatal("the log line holds the token or the secret")
					}
				}
				if strings.Contains(err.Error(), "crm-token-") {
					t.Fatal("the error holds the token")
				}
				return
			}
			if err != nil {
				t.Fatalf("want accepted, got %v", err)
			}
			want := strings.TrimSuffix(tc.instance, "/")
			if got := r.URL.Scheme + "://" + r.URL.Host; got != want || c.InstanceURL() != want {
				t.Fatalf("request went to %s (InstanceURL %q), want %s", got, c.InstanceURL(), want)
			}
		})
	}
}

func TestInstanceURLIgnoredWithoutUseInstanceURL(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, func(w http.ResponseWriter, _ map[string][]string, _ int64) {
		writeJSONBody(w, map[string]any{"access_token": "tok", "instance_url": "http://collector.example.net"})
	})
	c, _ := newCreds(t, UpstreamAuthConfig{Type: AuthClientCredentials, TokenURL: ts.URL, ClientID: "id", ClientSecret: "s"}, "salesforce")
	r := httptest.NewRequest(http.MethodGet, "https://acme.my.salesforce.com/services/data", nil)
	if err := c.Apply(context.Background(), r, ""); err != nil {
		t.Fatal(err)
	}
	if r.URL.Host != "acme.my.salesforce.com" || c.InstanceURL() != "" {
		t.Fatalf("without use_instance_url the request went to %s (InstanceURL %q)", r.URL.Host, c.InstanceURL())
	}
}

// A token endpoint answering 307 would have the client re-POST client_secret
// and refresh_token to the Location: nothing may reach it.
func TestTokenEndpointRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	target := newCollector(t)
	for _, typ := range []string{AuthClientCredentials, AuthRefreshToken} {
		for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
			t.Run(fmt.Sprintf("%s %d", typ, status), func(t *testing.T) {
				ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, target.URL+"/steal", status)
				}))
				defer ts.Close()
				cfg := UpstreamAuthConfig{Type: typ, TokenURL: ts.URL, ClientID: "id", ClientSecret: testClientSecret}
				if typ == AuthRefreshToken {
					cfg.RefreshToken = testRefreshToken
				}
				// The proxy passes a client of its own: its redirect policy
				// is replaced, not trusted.
				c, err := NewCredentials(cfg, "zoho", &http.Client{}, zap.NewNop())
				if err != nil {
					t.Fatal(err)
				}
				r := httptest.NewRequest(http.MethodGet, "/crm/v6/Leads", nil)
				err = c.Apply(context.Background(), r, "")
				if err == nil {
					t.Fatal("a redirecting token endpoint produced a token")
				}
				if !strings.Contains(err.Error(), "redirect") {
					t.Fatalf("error does not say a redirect was refused: %v", err)
				}
				if strings.Contains(err.Error(), testClientSecret) || strings.Contains(err.Error(), testRefreshToken) {
					t.Fatal("the error holds a secret")
				}
				if n := target.hits.Load(); n != 0 {
					t.Fatalf("the redirect target was hit %d times", n)
				}
			})
		}
	}
}

// Each token is issued for one instance; under concurrent refreshes no
// request may carry token n to the instance of token m.
func TestTokenAndInstanceSwitchTogether(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, func(w http.ResponseWriter, _ map[string][]string, n int64) {
		writeJSONBody(w, map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "instance_url": fmt.Sprintf("https://org%d.my.salesforce.com", n)})
	})
	c, _ := newCreds(t, UpstreamAuthConfig{Type: AuthClientCredentials, TokenURL: ts.URL, ClientID: "id", ClientSecret: "s", UseInstanceURL: true}, "salesforce")
	var wg sync.WaitGroup
	var bad atomic.Int64
	var mismatch atomic.Pointer[string]
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				r := httptest.NewRequest(http.MethodGet, "https://configured.invalid/services/data", nil)
				if err := c.Apply(context.Background(), r, ""); err != nil {
					bad.Add(1)
					continue
				}
				n := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer tok-")
				if r.URL.Host != "org"+n+".my.salesforce.com" {
					s := r.Header.Get("Authorization") + " -> " + r.URL.Host
					mismatch.Store(&s)
				}
				if (g+i)%17 == 0 {
					c.Invalidate(TokenFromHeader(r.Header.Get("Authorization")))
				}
			}
		})
	}
	wg.Wait()
	if p := mismatch.Load(); p != nil {
		t.Fatalf("a request paired a token with another token's instance: %s", *p)
	}
	if bad.Load() != 0 || ts.hits.Load() < 2 {
		t.Fatalf("%d failed applies, %d token fetches (want several)", bad.Load(), ts.hits.Load())
	}
}

func TestAllowedInstanceHostsValidate(t *testing.T) {
	t.Parallel()
	cfg := UpstreamAuthConfig{Type: AuthStatic, Token: "t", AllowedInstanceHosts: []string{
		"*.my.salesforce.com", "127.0.0.1:*", "[::1]:8080", "crm.example.com:443", // fine
		"*", "*.com", "evil.com:99999", "*.127.0.0.1", "a..b", "", "exa mple.com",
	}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("bad patterns accepted")
	}
	var buf bytes.Buffer
	for _, e := range flattenKeys(err) {
		buf.WriteString(e + "\n")
	}
	for i := 4; i <= 10; i++ {
		if !strings.Contains(buf.String(), fmt.Sprintf("allowed_instance_hosts[%d]", i)) {
			t.Errorf("pattern %d not reported:\n%s", i, buf.String())
		}
	}
	for i := 0; i < 4; i++ {
		if strings.Contains(buf.String(), fmt.Sprintf("allowed_instance_hosts[%d]", i)) {
			t.Errorf("good pattern %d reported:\n%s", i, buf.String())
		}
	}
}

func flattenKeys(err error) []string {
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, flattenKeys(e)...)
		}
		return out
	}
	if errors.Unwrap(err) != nil && !strings.Contains(err.Error(), ":") {
		return flattenKeys(errors.Unwrap(err))
	}
	return []string{err.Error()}
}

// FuzzInstanceURL: whatever a token endpoint answers, an accepted instance
// is https, on a Salesforce host, on the default port, and the URL crmgw
// builds from it names the same host the answer did.
func FuzzInstanceURL(f *testing.F) {
	for _, s := range []string{"https://acme.my.salesforce.com", "https://a.force.com:443/", "http://acme.my.salesforce.com",
		"https://acme.my.salesforce.com@evil.net", "https://evil.net#.salesforce.com", "https://evil.net\\.salesforce.com",
		"https://[::1]:443", "https://acme.my.salesforce.com.", "https://x.salesforce.com%2f.evil.net", "//x.salesforce.com"} {
		f.Add(s)
	}
	patterns := instanceHostPatterns(nil, "salesforce")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := checkInstanceURL(raw, patterns)
		if err != nil {
			return
		}
		host := u.Hostname()
		if u.Scheme != "https" || (u.Port() != "" && u.Port() != "443") {
			t.Fatalf("%q accepted as %s", raw, u)
		}
		lh := strings.ToLower(host)
		if !strings.HasSuffix(lh, ".salesforce.com") && !strings.HasSuffix(lh, ".force.com") {
			t.Fatalf("%q accepted with host %q", raw, host)
		}
		back, err := url.Parse(u.String())
		if err != nil || back.Host != u.Host || back.User != nil || back.Path != "" {
			t.Fatalf("%q rebuilt as %q, which parses to %+v (%v)", raw, u.String(), back, err)
		}
		orig, _ := url.Parse(raw)
		if !strings.EqualFold(orig.Host, u.Host) {
			t.Fatalf("%q: host %q became %q", raw, orig.Host, u.Host)
		}
	})
}
