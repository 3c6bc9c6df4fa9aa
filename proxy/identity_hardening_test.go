package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmgw/crmgw/identity/oidctest"
)

// The identity hardening seen from a caller: docs/identity.md describes
// each check; the ways around them are the rows and steps below.

const contactDelete = "/services/data/v60.0/sobjects/Contact/003000000000001AAA"

func managerClaims(iss *oidctest.Issuer, jti string) map[string]any {
	c := iss.Claims("00u-mgr", audience)
	c["email"] = "mgr@example.com"
	c["roles"] = []string{"sales_manager"}
	c["groups"] = []string{"sales_managers"}
	c["amr"] = []string{"pwd", "mfa"}
	c["jti"] = jti
	return c
}

func crmDeletes(e *env) int {
	n := 0
	for _, r := range e.crm.Requests() {
		if r.Method == http.MethodDelete {
			n++
		}
	}
	return n
}

func TestPartnerIssuerClaimingManagerIsNotAManager(t *testing.T) {
	partner := oidctest.NewIssuer()
	defer partner.Close()
	e := newEnv(t, envOptions{oidcExtra: fmt.Sprintf("    - issuer: %s\n      audience: %s\n", partner.URL(), audience)})

	// A partner IdP writes manager and MFA into its token: neither counts.
	resp := e.do("DELETE", contactDelete, bearer(partner.Sign(managerClaims(partner, "p1"))), nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("partner manager delete: status %d: %s", resp.StatusCode, body)
	}
	if crmDeletes(e) != 0 {
		t.Fatal("the partner's delete reached the CRM")
	}
	// The same claims from the primary issuer are a manager with MFA.
	resp = e.do("DELETE", contactDelete, bearer(e.issuer.Sign(managerClaims(e.issuer, "m1"))), nil)
	body = readAll(t, resp)
	if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
		t.Fatalf("primary manager delete: status %d: %s", resp.StatusCode, body)
	}
	if crmDeletes(e) != 1 {
		t.Fatalf("the primary manager's delete did not reach the CRM (%d deletes)", crmDeletes(e))
	}
	evs := e.auditEvents(2)
	if len(evs) < 2 || get(evs[0], "actor", "mfa") == true {
		t.Fatalf("the partner's event says mfa: %v", evs)
	}
}

func TestKeyRemovedFromJWKSIsRefusedAfterTheRefreshInterval(t *testing.T) {
	e := newEnv(t, envOptions{oidcExtra: "      jwks_refresh: 1s\n", identity: "  token_cache_ttl: 1s\n"})
	leaked := oidctest.NewRSAKey("leaked")
	e.issuer.AddKey(leaked)
	rep := func(jti string) string {
		c := e.issuer.Claims("00u-rep", audience)
		c["email"], c["roles"], c["jti"] = "rep@example.com", []string{"sales_rep"}, jti
		return e.issuer.SignWithKey(leaked, c)
	}
	cached := rep("a")
	if resp := e.do("GET", contactQuery, bearer(cached), nil); resp.StatusCode != 200 {
		t.Fatalf("token of a published key: status %d: %s", resp.StatusCode, readAll(t, resp))
	} else {
		readAll(t, resp)
	}
	e.issuer.RemoveKey("leaked")
	// jwks_refresh (1s) + token_cache_ttl (1s) is the whole window.
	time.Sleep(2100 * time.Millisecond)
	for name, tok := range map[string]string{"a new token": rep("b"), "the cached token": cached} {
		resp := e.do("GET", contactQuery, bearer(tok), nil)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s of the removed key: status %d: %s", name, resp.StatusCode, body)
		}
	}
}

// Every credential failure reads the same to the caller: nothing tells which
// issuers are trusted, whether a key is valid, or which check failed.
func TestCredentialFailuresShowOneReason(t *testing.T) {
	e := newEnv(t, envOptions{})
	stranger := oidctest.NewIssuer()
	defer stranger.Close()
	base := func() map[string]any {
		c := e.issuer.Claims("00u-rep", audience)
		c["roles"] = []string{"sales_rep"}
		return c
	}
	with := func(k string, v any) map[string]any { c := base(); c[k] = v; return c }
	cases := map[string]string{
		"a 100-year token":         e.issuer.Sign(with("exp", time.Now().AddDate(100, 0, 0).Unix())),
		"an expired token":         e.issuer.Sign(with("exp", time.Now().Add(-time.Hour).Unix())),
		"a string nbf":             e.issuer.Sign(with("nbf", "9999999999")),
		"a token without iat":      e.issuer.Sign(with("iat", nil)),
		"another audience":         e.issuer.Sign(with("aud", "someone-else")),
		"an untrusted issuer":      stranger.Sign(stranger.Claims("00u-rep", audience)),
		"an unpublished key":       e.issuer.SignWithKey(oidctest.NewRSAKey("rsa-1"), base()),
		"an unknown API key":       "not-a-key-0123456789",
		"a malformed token":        "a.b.c",
		"alg none":                 "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		"a token issued in future": e.issuer.Sign(with("iat", time.Now().Add(time.Hour).Unix())),
	}
	var first string
	for name, tok := range cases {
		resp := e.do("GET", contactQuery, bearer(tok), nil)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: status %d: %s", name, resp.StatusCode, body)
		}
		var errs []map[string]any
		if err := json.Unmarshal(body, &errs); err != nil || len(errs) != 1 {
			t.Fatalf("%s: body %s", name, body)
		}
		msg, _ := errs[0]["message"].(string)
		msg = msg[:strings.LastIndex(msg, " (request ")]
		if first == "" {
			first = msg
		}
		if msg != first || !strings.Contains(msg, "missing or invalid credentials") {
			t.Errorf("%s: message %q differs from %q", name, msg, first)
		}
		ch := resp.Header.Get("WWW-Authenticate")
		for _, leak := range []string{"expired", "issuer", "lifetime", "audience", "key", "iat", "nbf", stranger.URL()} {
			if strings.Contains(strings.ToLower(msg+ch), leak) {
				t.Errorf("%s: %q / %q tells the caller %q", name, msg, ch, leak)
			}
		}
	}
	if n := len(e.crm.Requests()); n != 0 {
		t.Fatalf("%d refused requests reached the CRM", n)
	}
}

// tokenEndpoint answers client_credentials requests for the gateway's
// Salesforce upstream with the sample CRM's token and instanceURL().
func tokenEndpoint(t *testing.T, instanceURL func() string) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": sfToken, "token_type": "Bearer", "instance_url": instanceURL()})
	}))
	t.Cleanup(ts.Close)
	return ts, &hits
}

func recorder(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"x","totalSize":0,"done":true,"records":[]}`))
	}))
	t.Cleanup(s.Close)
	return s, &hits
}

func TestInstanceURLOutsideTheAllowedHostsIsRefused(t *testing.T) {
	collector, collected := recorder(t)
	var instance atomic.Pointer[string]
	ts, tokenHits := tokenEndpoint(t, func() string { return *instance.Load() })
	auth := func(extra string) string {
		return "{type: client_credentials, token_url: " + ts.URL + ", client_id: crmgw, client_secret: s3cret-value, use_instance_url: true" + extra + "}"
	}
	for _, tc := range []struct{ name, instance string }{
		{"another loopback host over http, no pattern configured", collector.URL},
		{"an https host outside Salesforce", "https://collector.example.net"},
		{"a Salesforce host over plain http", "http://acme.my.salesforce.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			instance.Store(&tc.instance)
			e := newEnv(t, envOptions{sfAuth: auth("")})
			resp := e.do("GET", contactQuery, bearer(repKey), nil)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if collected.Load() != 0 || len(e.crm.Requests()) != 0 {
				t.Fatalf("the request was sent: collector %d, CRM %d", collected.Load(), len(e.crm.Requests()))
			}
			if strings.Contains(string(body), sfToken) || strings.Contains(string(body), "s3cret") {
				t.Fatalf("the answer holds the token or secret: %s", body)
			}
		})
	}
	t.Run("a configured loopback pattern lets the sample CRM be the instance", func(t *testing.T) {
		crmURL := ""
		instance.Store(&crmURL)
		e := newEnv(t, envOptions{sfAuth: auth(", allowed_instance_hosts: ['127.0.0.1:*']"), upstream: "https://configured.invalid"})
		crmURL = e.crmURL
		instance.Store(&crmURL)
		before := tokenHits.Load()
		resp := e.do("GET", contactQuery, bearer(repKey), nil)
		body := readAll(t, resp)
		if resp.StatusCode != 200 || len(e.crm.Requests()) != 1 || tokenHits.Load() != before+1 {
			t.Fatalf("status %d, CRM requests %d: %s", resp.StatusCode, len(e.crm.Requests()), body)
		}
	})
}

func TestTokenEndpointRedirectIsNotFollowedThroughTheGateway(t *testing.T) {
	target, targetHits := recorder(t)
	var posts atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		http.Redirect(w, r, target.URL+"/collect", http.StatusTemporaryRedirect)
	}))
	defer ts.Close()
	e := newEnv(t, envOptions{sfAuth: "{type: client_credentials, token_url: " + ts.URL + ", client_id: crmgw, client_secret: s3cret-value}"})
	resp := e.do("GET", contactQuery, bearer(repKey), nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if targetHits.Load() != 0 {
		t.Fatalf("the redirect target received %d requests (client_secret re-POSTed)", targetHits.Load())
	}
	if posts.Load() != 1 || len(e.crm.Requests()) != 0 {
		t.Fatalf("token endpoint %d requests, CRM %d", posts.Load(), len(e.crm.Requests()))
	}
}

func TestRevokedSessionIsRefusedThroughIntrospection(t *testing.T) {
	e := newEnv(t, envOptions{identity: "  token_cache_ttl: 1s\n", oidcExtra: "      introspection: {url: \"{{ISSUER}}/introspect\", client_id: " +
		oidctest.IntrospectionClientID + ", client_secret: " + oidctest.IntrospectionClientSecret + "}\n"})
	c := e.issuer.Claims("00u-rep", audience)
	c["email"], c["roles"] = "rep@example.com", []string{"sales_rep"}
	tok := e.issuer.Sign(c)
	resp := e.do("GET", contactQuery, bearer(tok), nil)
	if body := readAll(t, resp); resp.StatusCode != 200 {
		t.Fatalf("active session: status %d: %s", resp.StatusCode, body)
	}
	// The IdP ends the session; its token still verifies.
	e.issuer.Revoke(tok)
	time.Sleep(1100 * time.Millisecond) // token_cache_ttl
	resp = e.do("GET", contactQuery, bearer(tok), nil)
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked session: status %d: %s", resp.StatusCode, body)
	}
	if n := len(e.crm.Requests()); n != 1 {
		t.Fatalf("%d requests reached the CRM, want 1", n)
	}
	if e.issuer.IntrospectionHits() != 2 {
		t.Fatalf("%d introspection requests, want 2", e.issuer.IntrospectionHits())
	}
}

// The subject DN is matched exactly, through a real TLS handshake: a
// certificate whose pkix.Name would print like the registered DN is not it.
func TestMTLSSubjectDNIsExactThroughTheGateway(t *testing.T) {
	dir := t.TempDir()
	ca := newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "crmgw test CA"}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}, nil)
	server := newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca)
	leaf := func(subject pkix.Name, raw pkix.RDNSequence, uris ...string) *testCert {
		tmpl := &x509.Certificate{Subject: subject, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if raw != nil {
			b, err := asn1.Marshal(raw)
			if err != nil {
				t.Fatal(err)
			}
			tmpl.RawSubject = b
		}
		for _, u := range uris {
			pu, _ := url.Parse(u)
			tmpl.URIs = append(tmpl.URIs, pu)
		}
		return newCert(t, tmpl, ca)
	}
	cn, o := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 10}
	caFile, _ := ca.write(t, dir, "ca")
	srvCert, srvKey := server.write(t, dir, "server")
	e := newEnv(t, envOptions{
		serverTLS: "  tls: {cert_file: " + srvCert + ", key_file: " + srvKey + ", client_ca_file: " + caFile + "}\n",
		identity:  "  mtls:\n    identity: true\n    clients:\n      - {id: legacy-app, subject_dn: \"CN=legacy,O=Acme\", roles: [sales_rep]}\n",
	})
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	call := func(c *testCert) int {
		cert := c.tlsCert()
		tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		resp, err := cl.Get("https://" + e.srv.ProxyAddr() + contactQuery)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		return resp.StatusCode
	}
	if st := call(leaf(pkix.Name{CommonName: "legacy", Organization: []string{"Acme"}}, nil)); st != 200 {
		t.Fatalf("the registered DN: status %d", st)
	}
	for name, c := range map[string]*testCert{
		"O=Acme, CN=evil, CN=legacy":                       leaf(pkix.Name{}, pkix.RDNSequence{{{Type: o, Value: "Acme"}}, {{Type: cn, Value: "evil"}}, {{Type: cn, Value: "legacy"}}}),
		"CN=legacy+O=Acme (one multi-valued RDN)":          leaf(pkix.Name{}, pkix.RDNSequence{{{Type: cn, Value: "legacy"}, {Type: o, Value: "Acme"}}}),
		"the registered DN with an unregistered SPIFFE ID": leaf(pkix.Name{CommonName: "legacy", Organization: []string{"Acme"}}, nil, "spiffe://acme.example/other"),
	} {
		if st := call(c); st != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, st)
		}
	}
	if n := len(e.crm.Requests()); n != 1 {
		t.Fatalf("%d requests reached the CRM, want 1", n)
	}
}
