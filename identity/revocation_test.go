package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmgw/crmgw/identity/oidctest"
)

// authDetail authenticates token and returns the AuthError's detail, "" if
// the token was accepted.
func authDetail(t *testing.T, a *Authenticator, token string) (string, int) {
	t.Helper()
	_, err := a.Authenticate(request("Bearer " + token))
	if err == nil {
		return "", http.StatusOK
	}
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("not an AuthError: %v", err)
	}
	if ae.Status == http.StatusUnauthorized && ae.Reason != GenericReason {
		t.Fatalf("reason %q shown to the caller", ae.Reason)
	}
	return ae.Detail, ae.Status
}

func TestRemovedKeyStopsVerifyingAfterTheRefreshInterval(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, clock := newTestAuth(t, iss, func(c *Config) { c.OIDC[0].JWKSRefresh = 5 * time.Minute })
	leaked := oidctest.NewRSAKey("leaked")
	iss.AddKey(leaked)
	claims := func() map[string]any {
		c := iss.Claims("00u1", testAudience)
		c["iat"], c["exp"] = clock.Now().Unix(), clock.Now().Add(time.Hour).Unix()
		return c
	}
	cached := iss.SignWithKey(leaked, claims())
	if d, st := authDetail(t, a, cached); st != 200 {
		t.Fatalf("token signed by a published key refused: %s", d)
	}

	// The IdP removes the key (compromised, or the user's session keys).
	iss.RemoveKey("leaked")
	hits := iss.JWKSHits()

	// Inside the window a fresh token still verifies: keys are at most
	// jwks_refresh old, and this is the window docs/identity.md states.
	clock.Advance(4 * time.Minute)
	fresh := iss.SignWithKey(leaked, with(claims(), "jti", "1"))
	if d, st := authDetail(t, a, fresh); st != 200 {
		t.Fatalf("inside the refresh window: %s", d)
	}

	// Past jwks_refresh, the request that verifies waits for a new JWKS,
	// which no longer holds the key. No unknown kid was needed for it.
	clock.Advance(61 * time.Second)
	late := iss.SignWithKey(leaked, with(claims(), "jti", "2"))
	if d, st := authDetail(t, a, late); st != http.StatusUnauthorized || d != "token signed by an unknown key" {
		t.Fatalf("after the refresh interval: %d %q, want 401 unknown key", st, d)
	}
	if iss.JWKSHits() <= hits {
		t.Fatal("the JWKS was not fetched again")
	}
	// The token verified before the removal was cached; the cache holds it
	// token_cache_ttl (60s) at most, so it is refused too.
	if _, st := authDetail(t, a, cached); st != http.StatusUnauthorized {
		t.Fatal("a token cached before the key was removed still works after the cache TTL")
	}
	// Tokens of the keys still published keep working.
	if d, st := authDetail(t, a, iss.Sign(claims())); st != 200 {
		t.Fatalf("a token of a published key: %s", d)
	}
}

func TestJWKSRefreshFailureKeepsKeysAndBacksOff(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, clock := newTestAuth(t, iss, func(c *Config) { c.OIDC[0].JWKSRefresh = time.Minute })
	sign := func(jti string) string {
		c := iss.Claims("00u1", testAudience)
		c["iat"], c["exp"], c["jti"] = clock.Now().Unix(), clock.Now().Add(time.Hour).Unix(), jti
		return iss.Sign(c)
	}
	iss.SetDown(true)
	clock.Advance(2 * time.Minute)
	hits := iss.JWKSHits()
	if d, st := authDetail(t, a, sign("1")); st != 200 {
		t.Fatalf("an IdP outage made known keys fail: %s", d)
	}
	if iss.JWKSHits() != hits+1 {
		t.Fatalf("JWKS fetched %d times, want 1", iss.JWKSHits()-hits)
	}
	// Within the backoff, no further attempt.
	for i := range 20 {
		if _, st := authDetail(t, a, sign(string(rune('a'+i)))); st != 200 {
			t.Fatal("refused during the outage")
		}
	}
	if iss.JWKSHits() != hits+1 {
		t.Fatalf("the outage was hammered: %d JWKS requests", iss.JWKSHits()-hits)
	}
	// After the backoff the next request tries again, and the IdP is back.
	iss.SetDown(false)
	clock.Advance(2 * time.Second)
	if _, st := authDetail(t, a, sign("2")); st != 200 || iss.JWKSHits() != hits+2 {
		t.Fatalf("after the backoff: status %d, %d JWKS requests", st, iss.JWKSHits()-hits)
	}
}

func TestTokenCacheIsBoundedByTTLNotExp(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, clock := newTestAuth(t, iss, func(c *Config) { c.TokenCacheTTL = 30 * time.Second })
	c := iss.Claims("00u1", testAudience)
	c["iat"], c["exp"] = clock.Now().Unix(), clock.Now().Add(time.Hour).Unix()
	tok := iss.Sign(c)
	authDetail(t, a, tok)
	authDetail(t, a, tok)
	if n := a.verifications.Load(); n != 1 {
		t.Fatalf("%d verifications within the TTL, want 1", n)
	}
	clock.Advance(31 * time.Second)
	authDetail(t, a, tok)
	if n := a.verifications.Load(); n != 2 {
		t.Fatalf("%d verifications after the TTL, want 2 (an hour-long exp must not keep it cached)", n)
	}
}

func TestTokenTimeClaims(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, clock := newTestAuth(t, iss, nil)
	noIAT, _ := newTestAuth(t, iss, func(c *Config) { c.OIDC[0].RequireIAT = boolPtr(false) })
	long, _ := newTestAuth(t, iss, func(c *Config) { c.OIDC[0].MaxTokenLifetime = 72 * time.Hour })
	now := clock.Now()
	base := iss.Claims("00u1", testAudience)
	base["iat"], base["exp"] = now.Unix(), now.Add(time.Hour).Unix()
	future := now.Add(time.Hour).Unix()

	cases := []struct {
		name   string
		ok     bool
		auth   *Authenticator
		claims map[string]any
		want   string // the detail of a refusal ("" = any)
	}{
		{"an ordinary token is accepted", true, a, base, ""},
		{"a token valid for 100 years is refused", false, a, with(base, "exp", now.AddDate(100, 0, 0).Unix()), "token lifetime exceeds max_token_lifetime (exp too far ahead)"},
		{"a token whose exp - iat exceeds 24h is refused", false, a, with(base, "iat", now.Add(-47*time.Hour).Unix()), "token lifetime exceeds max_token_lifetime (exp - iat)"},
		{"a 48h token is accepted under max_token_lifetime 72h", true, long, with(base, "exp", now.Add(48*time.Hour).Unix()), ""},
		{"a token without iat is refused", false, a, with(base, "iat", nil), "token has no iat"},
		{"without iat and require_iat false it is accepted", true, noIAT, with(base, "iat", nil), ""},
		{"without iat, exp - now is still bounded", false, noIAT, with(base, "iat", nil, "exp", now.AddDate(100, 0, 0).Unix()), "token lifetime exceeds max_token_lifetime (exp too far ahead)"},
		{"iat in the future is refused", false, a, with(base, "iat", future), "token issued in the future"},
		{"a string nbf in the future is refused, not ignored", false, a, with(base, "nbf", "2999-01-01"), ""},
		{"a numeric string nbf is refused", false, a, with(base, "nbf", "9999999999"), "token nbf is not a NumericDate"},
		{"a numeric string nbf in the past is refused too", false, a, with(base, "nbf", "1"), "token nbf is not a NumericDate"},
		{"a null nbf is refused", false, a, map[string]any{"iss": base["iss"], "sub": "00u1", "aud": testAudience, "iat": base["iat"], "exp": base["exp"], "nbf": nil}, "token nbf is not a NumericDate"},
		{"a boolean iat is refused", false, a, with(base, "iat", true), ""},
		{"a numeric string exp is refused", false, a, with(base, "exp", "9999999999"), "token exp is not a NumericDate"},
		{"an object exp is refused", false, a, with(base, "exp", map[string]any{"t": 1}), ""},
		{"a huge exp is refused", false, a, with(base, "exp", 1e300), ""},
		{"a negative iat is refused", false, a, with(base, "iat", -5), "token iat is not a NumericDate"},
		{"a fractional nbf in the past is accepted", true, a, with(base, "nbf", float64(now.Unix())-0.5), ""},
		{"a numeric nbf in the future is refused", false, a, with(base, "nbf", future), "token not yet valid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, st := authDetail(t, tc.auth, iss.Sign(tc.claims))
			switch {
			case tc.ok && st != 200:
				t.Fatalf("refused: %s", d)
			case !tc.ok && st != http.StatusUnauthorized:
				t.Fatalf("accepted (status %d)", st)
			case !tc.ok && tc.want != "" && d != tc.want:
				t.Fatalf("detail %q, want %q", d, tc.want)
			}
		})
	}
}

func TestIntrospectionRevokesSessions(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	intro := func(secret string) func(*Config) {
		return func(c *Config) {
			c.OIDC[0].Introspection = &IntrospectionConfig{URL: iss.IntrospectionURL(), ClientID: oidctest.IntrospectionClientID,
				ClientSecret: secret, CacheTTL: 10 * time.Second}
		}
	}
	a, clock := newTestAuth(t, iss, intro(oidctest.IntrospectionClientSecret))
	sign := func(sub string) string {
		c := iss.Claims(sub, testAudience)
		c["iat"], c["exp"] = clock.Now().Unix(), clock.Now().Add(time.Hour).Unix()
		return iss.Sign(c)
	}
	tok := sign("00u1")
	if d, st := authDetail(t, a, tok); st != 200 {
		t.Fatalf("active token refused: %s", d)
	}
	if iss.IntrospectionHits() != 1 {
		t.Fatalf("introspected %d times, want 1", iss.IntrospectionHits())
	}

	// The user is disabled at the IdP: its token still verifies, but the
	// IdP says it is no longer active.
	iss.Revoke(tok)
	if _, st := authDetail(t, a, tok); st != 200 {
		t.Fatal("cached answer not used within introspection.cache_ttl")
	}
	clock.Advance(11 * time.Second)
	if d, st := authDetail(t, a, tok); st != http.StatusUnauthorized || d != "token is not active at the issuer (introspection)" {
		t.Fatalf("revoked token: %d %q", st, d)
	}
	// Revoking one session does not affect another user.
	if _, st := authDetail(t, a, sign("00u2")); st != 200 {
		t.Fatal("another user's token refused")
	}

	t.Run("an endpoint that cannot be asked denies (503)", func(t *testing.T) {
		bad, _ := newTestAuth(t, iss, intro("wrong-secret"))
		if d, st := authDetail(t, bad, sign("00u3")); st != http.StatusServiceUnavailable {
			t.Fatalf("wrong introspection secret: %d %s", st, d)
		}
	})
	t.Run("an endpoint that redirects denies (503)", func(t *testing.T) {
		redir := newCollector(t)
		r, _ := newTestAuth(t, iss, func(c *Config) {
			c.OIDC[0].Introspection = &IntrospectionConfig{URL: redir.URL, ClientID: "x", ClientSecret: "y"}
		})
		// The collector answers 200 with a non-introspection body: "active"
		// missing means inactive.
		if _, st := authDetail(t, r, sign("00u4")); st != http.StatusUnauthorized {
			t.Fatalf("an answer without active:true was accepted (status %d)", st)
		}
	})
}

func TestIssuerScoping(t *testing.T) {
	t.Parallel()
	primary := oidctest.NewIssuer()
	defer primary.Close()
	partner := oidctest.NewIssuer()
	defer partner.Close()
	cfg := func(edit func(p *OIDCConfig)) func(*Config) {
		return func(c *Config) {
			p := OIDCConfig{Issuer: partner.URL(), Audience: testAudience}
			if edit != nil {
				edit(&p)
			}
			c.OIDC = append(c.OIDC, p)
		}
	}
	claims := func(is *oidctest.Issuer) map[string]any {
		c := is.Claims("00u1", testAudience)
		c["email"] = "p@partner.example"
		c["roles"] = []string{"sales_manager", "sales_rep"}
		c["groups"] = []string{"sales_managers", "partners"}
		c["amr"] = []string{"pwd", "mfa"}
		return c
	}
	cases := []struct {
		name   string
		edit   func(*OIDCConfig)
		from   *oidctest.Issuer
		roles  []string
		groups []string
		mfa    bool
	}{
		{"a partner token claiming manager and MFA is neither", nil, partner, []string{}, []string{}, false},
		{"the primary issuer asserts roles, groups and MFA", nil, primary, []string{"sales_manager", "sales_rep"}, []string{"sales_managers", "partners"}, true},
		{"a partner asserts only its allowed roles and groups", func(p *OIDCConfig) {
			p.AllowedRoles, p.AllowedGroups = []string{"sales_rep"}, []string{"partners"}
		}, partner, []string{"sales_rep"}, []string{"partners"}, false},
		{"trust_mfa makes a partner's amr count", func(p *OIDCConfig) { p.TrustMFA = boolPtr(true) }, partner, []string{}, []string{}, true},
		{"* lets a partner assert any role", func(p *OIDCConfig) { p.AllowedRoles = []string{"*"} }, partner, []string{"sales_manager", "sales_rep"}, []string{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newTestAuth(t, primary, cfg(tc.edit))
			s, err := a.Authenticate(request("Bearer " + tc.from.Sign(claims(tc.from))))
			if err != nil {
				t.Fatal(err)
			}
			if s.IssuerPrimary != (tc.from == primary) {
				t.Fatalf("issuer_primary = %t for %s", s.IssuerPrimary, s.Issuer)
			}
			if s.Issuer != tc.from.URL() || !equalStrings(s.Roles, tc.roles) || !equalStrings(s.Groups, tc.groups) || s.MFA != tc.mfa {
				t.Fatalf("subject issuer=%s roles=%v groups=%v mfa=%t, want roles=%v groups=%v mfa=%t", s.Issuer, s.Roles, s.Groups, s.MFA, tc.roles, tc.groups, tc.mfa)
			}
		})
	}
	t.Run("a partner token shaped like a client token stays a user (no MFA exemption)", func(t *testing.T) {
		a, _ := newTestAuth(t, primary, cfg(func(p *OIDCConfig) { p.AllowedRoles = []string{"integration"} }))
		c := partner.Claims("svc", testAudience)
		c["client_id"], c["azp"], c["gty"], c["roles"] = "svc", "svc", "client-credentials", []string{"integration"}
		s, err := a.Authenticate(request("Bearer " + partner.Sign(c)))
		if err != nil || s.Kind != KindUser || s.MFA {
			t.Fatalf("%+v %v", s, err)
		}
		trusted, _ := newTestAuth(t, primary, cfg(func(p *OIDCConfig) { p.TrustMFA = boolPtr(true) }))
		if s, err := trusted.Authenticate(request("Bearer " + partner.Sign(c))); err != nil || s.Kind != KindClient {
			t.Fatalf("with trust_mfa: %+v %v", s, err)
		}
	})
	t.Run("the primary issuer can be narrowed too", func(t *testing.T) {
		a, _ := newTestAuth(t, primary, func(c *Config) { c.OIDC[0].AllowedRoles = []string{"sales_rep"} })
		s, err := a.Authenticate(request("Bearer " + primary.Sign(claims(primary))))
		if err != nil || !equalStrings(s.Roles, []string{"sales_rep"}) {
			t.Fatalf("%v %v", s, err)
		}
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestIntrospectionConfigNeverPrintsTheSecret(t *testing.T) {
	t.Parallel()
	const secret = "introspection-s3cret"
	c := OIDCConfig{Issuer: "https://idp.example.com", Introspection: &IntrospectionConfig{URL: "https://idp.example.com/i", ClientID: "crmgw", ClientSecret: secret}}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", *c.Introspection, *c.Introspection, *c.Introspection, *c.Introspection), string(j)} {
		if strings.Contains(out, secret) || !strings.Contains(out, "crmgw") {
			t.Fatalf("printed: %s", out)
		}
	}
}

// A caller that hangs up while its request waits for the JWKS must not make
// the refetch count as failed: repeated, that would keep a removed key in use
// through the backoff.
func TestCancelledRequestDoesNotHoldOldKeys(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, clock := newTestAuth(t, iss, func(c *Config) { c.OIDC[0].JWKSRefresh = time.Minute })
	leaked := oidctest.NewRSAKey("leaked")
	iss.AddKey(leaked)
	sign := func(jti string) string {
		c := iss.Claims("00u1", testAudience)
		c["iat"], c["exp"], c["jti"] = clock.Now().Unix(), clock.Now().Add(time.Hour).Unix(), jti
		return iss.SignWithKey(leaked, c)
	}
	if d, st := authDetail(t, a, sign("0")); st != 200 {
		t.Fatalf("published key refused: %s", d)
	}
	iss.RemoveKey("leaked")
	clock.Advance(2 * time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := request("Bearer " + sign("1")).WithContext(ctx)
	_, _ = a.Authenticate(r)
	if d, st := authDetail(t, a, sign("2")); st != http.StatusUnauthorized {
		t.Fatalf("after a cancelled request the removed key still verifies (%d %s)", st, d)
	}
}
