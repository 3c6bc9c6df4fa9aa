package identity

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"

	"github.com/crmgw/crmgw/identity/oidctest"
	"github.com/crmgw/crmgw/internal/confkey"
)

// fakeClock is a settable clock shared by an Authenticator and its issuers.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

const testAudience = "crmgw"

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// newTestAuth starts an Authenticator trusting iss, with cfg changes applied.
func newTestAuth(t testing.TB, iss *oidctest.Issuer, edit func(*Config)) (*Authenticator, *fakeClock) {
	t.Helper()
	cfg := Config{}
	if iss != nil {
		cfg.OIDC = []OIDCConfig{{Issuer: iss.URL(), Audience: testAudience, MFAACRValues: []string{"urn:example:mfa"}}}
	}
	if edit != nil {
		edit(&cfg)
	}
	clock := newFakeClock()
	a, err := NewAuthenticator(context.Background(), cfg, zap.NewNop())
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	a.now = clock.Now
	return a, clock
}

func request(auth ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/services/data/v60.0/query", nil)
	r.RemoteAddr = "10.20.1.7:52311"
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	return r
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hs256WithPublicKey forges the classic key-confusion token: HMAC-SHA256
// keyed with the issuer's RSA public key (PEM bytes, which are public).
func hs256WithPublicKey(t *testing.T, k *oidctest.Key, claims map[string]any) string {
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pemBytes},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.ID))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

func with(base map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestOIDCTokens(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	other := oidctest.NewIssuer()
	defer other.Close()
	a, _ := newTestAuth(t, iss, nil)

	now := time.Now()
	base := iss.Claims("00u1", testAudience)
	base["email"] = "li.wei@example.com"
	foreign := oidctest.NewRSAKey("rsa-1") // same kid as the issuer's key, different key
	stranger := oidctest.NewRSAKey("stranger")

	cases := []struct {
		name       string
		token      string
		wantStatus int
		wantReason string
	}{
		{"a valid RS256 token is accepted", iss.Sign(base), 200, ""},
		{"a valid ES256 token is accepted", iss.SignWithKey(iss.Key("ec-1"), base), 200, ""},
		{"an expired token is refused", iss.Sign(with(base, "exp", now.Add(-time.Minute).Unix())), 401, "token expired"},
		{"a token expired within the clock skew is accepted", iss.Sign(with(base, "exp", now.Add(-10*time.Second).Unix())), 200, ""},
		{"a token not yet valid is refused", iss.Sign(with(base, "nbf", now.Add(time.Minute).Unix())), 401, "token not yet valid"},
		{"a token valid within the clock skew is accepted", iss.Sign(with(base, "nbf", now.Add(10*time.Second).Unix())), 200, ""},
		{"a token without sub is refused", iss.Sign(with(base, "sub", nil)), 401, "token has no subject"},
		{"a token without exp is refused", iss.Sign(with(base, "exp", nil)), 401, "token has no expiry"},
		{"a token for another audience is refused", iss.Sign(with(base, "aud", "someone-else")), 401, "token audience is not accepted"},
		{"a token with the audience in a list is accepted", iss.Sign(with(base, "aud", []string{"other", testAudience})), 200, ""},
		{"a token from an issuer that is not configured is refused", other.Sign(with(base, "iss", other.URL())), 401, "token issuer is not trusted"},
		{"a token claiming our issuer but signed by a foreign key with a known kid is refused", iss.SignWithKey(foreign, base), 401, "token signature is invalid"},
		{"a token signed by an unpublished key is refused", iss.SignWithKey(stranger, base), 401, "token signed by an unknown key"},
		{"alg none is refused", b64(map[string]any{"alg": "none", "typ": "JWT"}) + "." + b64(base) + ".", 401, "malformed token or unsupported signing algorithm"},
		{"HS256 keyed with the public key is refused", hs256WithPublicKey(t, iss.SigningKey(), base), 401, "malformed token or unsupported signing algorithm"},
		{"a token with a garbage signature is refused", iss.Sign(base)[:len(iss.Sign(base))-10] + "AAAAAAAAAA", 401, ""},
		{"three dots of nothing are refused", "a.b.c", 401, "malformed token"},
		{"a payload that is not JSON is refused", "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte("not json")) + ".c2ln", 401, "malformed token"},
		{"a huge token is refused", strings.Repeat("a", 20000) + ".b.c", 401, "credential too long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := a.Authenticate(request("Bearer " + tc.token))
			if tc.wantStatus == 200 {
				if err != nil {
					t.Fatalf("want accepted, got %v", err)
				}
				if sub.ID != "00u1" || sub.Issuer != iss.URL() || sub.Method != MethodOIDC {
					t.Fatalf("subject = %+v", sub)
				}
				return
			}
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("want *AuthError, got %v", err)
			}
			if ae.Status != tc.wantStatus || ae.Code != CodeInvalidToken {
				t.Fatalf("status/code = %d/%s, want %d/invalid_token (reason %q)", ae.Status, ae.Code, tc.wantStatus, ae.Reason)
			}
			if tc.wantReason != "" && ae.Detail != tc.wantReason {
				t.Fatalf("detail = %q, want %q", ae.Detail, tc.wantReason)
			}
			// The caller sees one reason whatever failed.
			if ae.Reason != GenericReason || strings.Contains(ae.Challenge(), ae.Detail) {
				t.Fatalf("reason %q / challenge %q tell the caller which check failed", ae.Reason, ae.Challenge())
			}
			if strings.Contains(ae.Error(), tc.token) || strings.Contains(ae.Challenge(), tc.token) {
				t.Fatal("the error echoes the token")
			}
			if !strings.Contains(ae.Challenge(), `error="invalid_token"`) {
				t.Fatalf("challenge = %q", ae.Challenge())
			}
		})
	}
}

func TestSubjectFromClaims(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, _ := newTestAuth(t, iss, nil)
	kc, _ := newTestAuth(t, iss, func(c *Config) {
		c.OIDC[0].Claims = ClaimNames{Groups: "grp", Roles: "realm_access.roles", Email: "mail"}
	})
	base := iss.Claims("00u1", testAudience)

	cases := []struct {
		name   string
		auth   *Authenticator
		claims map[string]any
		check  func(t *testing.T, s *Subject)
	}{
		{"a user with a password only has no MFA", a, with(base, "email", "a@example.com", "amr", []string{"pwd"}), func(t *testing.T, s *Subject) {
			if s.MFA || s.Kind != KindUser || s.Email != "a@example.com" {
				t.Fatalf("%+v", s)
			}
		}},
		{"amr mfa means MFA", a, with(base, "amr", []string{"pwd", "mfa"}), func(t *testing.T, s *Subject) {
			if !s.MFA {
				t.Fatal("want MFA")
			}
		}},
		{"amr hwk means MFA", a, with(base, "amr", []string{"hwk"}), func(t *testing.T, s *Subject) {
			if !s.MFA {
				t.Fatal("want MFA")
			}
		}},
		{"a configured acr means MFA", a, with(base, "acr", "urn:example:mfa"), func(t *testing.T, s *Subject) {
			if !s.MFA {
				t.Fatal("want MFA")
			}
		}},
		{"an unconfigured acr is not MFA", a, with(base, "acr", "1"), func(t *testing.T, s *Subject) {
			if s.MFA {
				t.Fatal("want no MFA")
			}
		}},
		{"groups and roles are read", a, with(base, "groups", []string{"sales"}, "roles", []string{"sales_rep", "viewer"}), func(t *testing.T, s *Subject) {
			if fmt.Sprint(s.Groups) != "[sales]" || fmt.Sprint(s.Roles) != "[sales_rep viewer]" {
				t.Fatalf("%+v", s)
			}
		}},
		{"missing groups are an empty list, never null", a, base, func(t *testing.T, s *Subject) {
			b, _ := json.Marshal(s)
			if !strings.Contains(string(b), `"groups":[]`) || !strings.Contains(string(b), `"roles":[]`) {
				t.Fatalf("%s", b)
			}
		}},
		{"configured claim names and a nested roles path are read", kc, with(base, "grp", "ops", "mail", "k@example.com", "realm_access", map[string]any{"roles": []string{"admin"}}), func(t *testing.T, s *Subject) {
			if fmt.Sprint(s.Groups) != "[ops]" || fmt.Sprint(s.Roles) != "[admin]" || s.Email != "k@example.com" {
				t.Fatalf("%+v", s)
			}
		}},
		{"a user token with azp is a user with a client id", a, with(base, "email", "u@example.com", "azp", "webapp"), func(t *testing.T, s *Subject) {
			if s.Kind != KindUser || s.ClientID != "webapp" {
				t.Fatalf("%+v", s)
			}
		}},
		{"a client-credentials token whose sub is its azp is a client", a, with(base, "sub", "0oa-etl", "azp", "0oa-etl"), func(t *testing.T, s *Subject) {
			if s.Kind != KindClient || s.ClientID != "0oa-etl" {
				t.Fatalf("%+v", s)
			}
		}},
		{"a token with a client_id claim and no email is a client (Keycloak service account)", a, with(base, "sub", "f81d4fae", "client_id", "etl"), func(t *testing.T, s *Subject) {
			if s.Kind != KindClient || s.ClientID != "etl" {
				t.Fatalf("%+v", s)
			}
		}},
		{"Auth0 gty client-credentials is a client", a, with(base, "sub", "abc@clients", "gty", "client-credentials"), func(t *testing.T, s *Subject) {
			if s.Kind != KindClient {
				t.Fatalf("%+v", s)
			}
		}},
		{"Entra idtyp app is a client", a, with(base, "idtyp", "app", "appid", "11111111"), func(t *testing.T, s *Subject) {
			if s.Kind != KindClient || s.ClientID != "11111111" {
				t.Fatalf("%+v", s)
			}
		}},
		{"raw claims are exposed", a, with(base, "department", "sales"), func(t *testing.T, s *Subject) {
			if s.Claims["department"] != "sales" {
				t.Fatalf("%+v", s.Claims)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.auth.Authenticate(request("Bearer " + iss.Sign(tc.claims)))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func TestKeyRotationFetchesTheNewKey(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, _ := newTestAuth(t, iss, nil)
	before := iss.JWKSHits()
	old := iss.Sign(iss.Claims("u", testAudience))

	iss.RotateKey()
	fresh := iss.Sign(iss.Claims("u", testAudience))
	if _, err := a.Authenticate(request("Bearer " + fresh)); err != nil {
		t.Fatalf("token signed with the rotated key: %v", err)
	}
	if got := iss.JWKSHits() - before; got != 1 {
		t.Fatalf("JWKS fetched %d times for one new kid, want 1", got)
	}
	if _, err := a.Authenticate(request("Bearer " + old)); err != nil {
		t.Fatalf("token signed with the old (still published) key: %v", err)
	}
}

func TestUnknownKidFloodDoesNotHammerJWKS(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, clock := newTestAuth(t, iss, func(c *Config) { c.OIDC[0].JWKSRefreshMinInterval = time.Minute })
	before := iss.JWKSHits()
	claims := iss.Claims("u", testAudience)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := oidctest.SignWithKey(oidctest.NewECKey(fmt.Sprintf("made-up-%d", i)), claims)
			if _, err := a.Authenticate(request("Bearer " + tok)); err == nil {
				t.Error("token with an unknown key accepted")
			}
		}()
	}
	wg.Wait()
	if got := iss.JWKSHits() - before; got != 1 {
		t.Fatalf("50 unknown kids caused %d JWKS fetches, want 1", got)
	}
	// A genuine rotation inside the interval waits for the interval...
	iss.RotateKey()
	tok := iss.Sign(claims)
	if _, err := a.Authenticate(request("Bearer " + tok)); err == nil {
		t.Fatal("refetch happened inside the minimum interval")
	}
	// ...and is picked up after it.
	clock.Advance(time.Minute)
	if _, err := a.Authenticate(request("Bearer " + tok)); err != nil {
		t.Fatalf("rotated key after the interval: %v", err)
	}
	if got := iss.JWKSHits() - before; got != 2 {
		t.Fatalf("JWKS fetches = %d, want 2", got)
	}
}

func TestVerifiedTokensAreCached(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, clock := newTestAuth(t, iss, nil)
	claims := iss.Claims("u", testAudience)
	claims["exp"] = clock.Now().Add(5 * time.Minute).Unix()
	tok := iss.Sign(claims)
	for range 10 {
		if _, err := a.Authenticate(request("Bearer " + tok)); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.verifications.Load(); n != 1 {
		t.Fatalf("10 requests with one token verified %d signatures, want 1", n)
	}
	// Past exp + skew, the cached entry no longer counts.
	clock.Advance(6 * time.Minute)
	_, err := a.Authenticate(request("Bearer " + tok))
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Detail != "token expired" {
		t.Fatalf("expired cached token: %v", err)
	}
}

func TestTokenCacheIsBounded(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, _ := newTestAuth(t, iss, func(c *Config) { c.TokenCacheSize = 5 })
	for i := range 20 {
		if _, err := a.Authenticate(request("Bearer " + iss.Sign(iss.Claims(fmt.Sprint("u", i), testAudience)))); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.st.Load().cache.len(); n > 5 {
		t.Fatalf("cache holds %d entries, bound is 5", n)
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	const key = "crmgw_k3y-For-the-ETL-job_0123456789"
	a, _ := newTestAuth(t, nil, func(c *Config) {
		c.APIKeys = []APIKeyConfig{
			{ID: "etl-nightly", KeySHA256: sha256Hex(key), Roles: []string{"integration"}, AllowedCIDRs: []string{"10.20.0.0/16"}},
			{ID: "anywhere", KeySHA256: strings.ToUpper(sha256Hex("other-key")), Roles: []string{"reader"}},
		}
	})
	cases := []struct {
		name       string
		auth       []string
		remote     string
		wantID     string
		wantStatus int
		wantErr    error
	}{
		{"the right key from inside its CIDR is accepted", []string{"Bearer " + key}, "10.20.1.7:1", "etl-nightly", 200, nil},
		{"the Zoho-oauthtoken scheme is accepted", []string{"Zoho-oauthtoken " + key}, "10.20.1.7:1", "etl-nightly", 200, nil},
		{"the Salesforce OAuth scheme is accepted", []string{"OAuth " + key}, "10.20.1.7:1", "etl-nightly", 200, nil},
		{"the scheme is case-insensitive", []string{"bearer " + key}, "10.20.1.7:1", "etl-nightly", 200, nil},
		{"a key configured with an upper-case hash is accepted", []string{"Bearer other-key"}, "192.0.2.1:1", "anywhere", 200, nil},
		{"the right key from outside its CIDR is refused like a wrong key (a 403 would confirm it is valid)", []string{"Bearer " + key}, "192.0.2.1:1", "", 401, ErrInvalidCredential},
		{"a wrong key is refused", []string{"Bearer " + key + "x"}, "10.20.1.7:1", "", 401, ErrInvalidCredential},
		{"Basic auth is refused", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("u:"+key))}, "10.20.1.7:1", "", 401, ErrInvalidCredential},
		{"a scheme with no token is refused", []string{"Bearer "}, "10.20.1.7:1", "", 401, ErrInvalidCredential},
		{"two Authorization headers are refused", []string{"Bearer " + key, "Bearer other-key"}, "10.20.1.7:1", "", 401, ErrInvalidCredential},
		{"no Authorization is a missing credential", nil, "10.20.1.7:1", "", 401, ErrNoCredential},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := request(tc.auth...)
			r.RemoteAddr = tc.remote
			// Other credential carriers never stand in for a bad or
			// missing Authorization (X-SFDC-Session is read only when no
			// Authorization header is sent: TestBulk1SessionHeader).
			if tc.auth != nil {
				r.Header.Set("X-SFDC-Session", key)
			}
			r.URL.RawQuery = "authtoken=" + key
			s, err := a.Authenticate(r)
			if tc.wantStatus == 200 {
				if err != nil {
					t.Fatal(err)
				}
				if s.ID != tc.wantID || s.Kind != KindClient || s.Method != MethodAPIKey || s.ClientID != tc.wantID {
					t.Fatalf("%+v", s)
				}
				return
			}
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Status != tc.wantStatus || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %d %v", err, tc.wantStatus, tc.wantErr)
			}
			if strings.Contains(ae.Error(), key) {
				t.Fatal("the error echoes the key")
			}
			if ae.Status == http.StatusUnauthorized && ae.Reason != GenericReason {
				t.Fatalf("reason %q tells the caller which check failed", ae.Reason)
			}
		})
	}
	t.Run("a missing credential challenges without an error code", func(t *testing.T) {
		_, err := a.Authenticate(request())
		var ae *AuthError
		errors.As(err, &ae)
		if ae.Challenge() != `Bearer realm="crmgw"` {
			t.Fatalf("challenge %q", ae.Challenge())
		}
	})
}

func TestGlobalAllowList(t *testing.T) {
	t.Parallel()
	a, _ := newTestAuth(t, nil, func(c *Config) {
		c.AllowedCIDRs = []string{"10.0.0.0/8", "2001:db8::/32"}
		c.APIKeys = []APIKeyConfig{{ID: "k", KeySHA256: sha256Hex("the-key")}}
	})
	for _, tc := range []struct {
		remote string
		ok     bool
	}{
		{"10.1.2.3:4", true},
		{"[2001:db8::1]:4", true},
		{"[::ffff:10.1.2.3]:4", true},
		{"192.0.2.1:4", false},
		{"garbage", false},
	} {
		t.Run(tc.remote, func(t *testing.T) {
			r := request("Bearer the-key")
			r.RemoteAddr = tc.remote
			_, err := a.Authenticate(r)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrAddressNotAllowed) {
				t.Fatalf("want 403, got %v", err)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	a, _ := newTestAuth(t, nil, func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/24", "192.168.1.1"} })
	cases := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"the TCP peer is the caller without proxies", "203.0.113.9:5000", nil, "203.0.113.9"},
		{"XFF from an untrusted peer is ignored", "203.0.113.9:5000", []string{"1.2.3.4"}, "203.0.113.9"},
		{"XFF from a trusted proxy names the caller", "10.0.0.5:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"the right-most untrusted address wins over a spoofed left part", "10.0.0.5:5000", []string{"6.6.6.6, 198.51.100.7, 192.168.1.1"}, "198.51.100.7"},
		{"several XFF headers are read as one list", "10.0.0.5:5000", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7"},
		{"an all-trusted chain yields the left-most hop", "10.0.0.5:5000", []string{"10.0.0.9"}, "10.0.0.9"},
		{"a garbage hop stops at the last trusted hop", "10.0.0.5:5000", []string{"6.6.6.6, nonsense"}, "10.0.0.5"},
		{"an entry with a port is read", "10.0.0.5:5000", []string{"198.51.100.7:4444"}, "198.51.100.7"},
		{"IPv4-mapped IPv6 peers are unmapped", "[::ffff:10.0.0.5]:1", []string{"2001:db8::7"}, "2001:db8::7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := request()
			r.RemoteAddr = tc.remote
			for _, x := range tc.xff {
				r.Header.Add("X-Forwarded-For", x)
			}
			if got := a.ClientIP(r); got != netip.MustParseAddr(tc.want) {
				t.Fatalf("ClientIP = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestUnreachableIssuerAtStart(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	iss.SetDown(true)
	jwks0, _ := FetchFailures()
	a, clock := newTestAuth(t, iss, nil)
	if err := a.Ready(context.Background()); err == nil {
		t.Fatal("Ready with the issuer down")
	}
	if jwks, _ := FetchFailures(); jwks <= jwks0 {
		t.Errorf("a failed discovery is not counted (crmgw_identity_fetch_failures_total): %d before, %d after", jwks0, jwks)
	}
	tok := iss.Sign(iss.Claims("u", testAudience))
	_, err := a.Authenticate(request("Bearer " + tok))
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Fatalf("token while the issuer is down: %v", err)
	}
	iss.SetDown(false)
	clock.Advance(discoveryRetryInterval + time.Minute)
	if err := a.Ready(context.Background()); err != nil {
		t.Fatalf("Ready after the issuer came back: %v", err)
	}
	if _, err := a.Authenticate(request("Bearer " + tok)); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidateReportsEverything(t *testing.T) {
	t.Parallel()
	cfg := Config{
		OIDC: []OIDCConfig{
			{Issuer: "not a url", Algorithms: []string{"HS256", "none"}},
			{Issuer: "https://idp.example.com", Audience: "x", AllowedCIDRs: []string{"10.0.0.0/33"}},
			{Issuer: "https://idp.example.com", Audience: "x"},
		},
		APIKeys: []APIKeyConfig{
			{ID: "a", KeySHA256: "abc"},
			{ID: "a", KeySHA256: sha256Hex("k")},
			{KeySHA256: sha256Hex("k")},
		},
		AllowedCIDRs:   []string{"10.0.0.1", "nope"},
		TrustedProxies: []string{"::1/200"},
		ClockSkew:      time.Hour,
		MTLS:           MTLSConfig{Identity: true},
	}
	cfg.SetDefaults()
	err := cfg.Validate()
	want := []string{
		"oidc[0].issuer", "oidc[0].audience", "oidc[0].algorithms[0]", "oidc[0].algorithms[1]",
		"oidc[1].allowed_cidrs[0]", "oidc[2].issuer",
		"api_keys[0].key_sha256", "api_keys[1].id", "api_keys[2].id", "api_keys[2].key_sha256",
		"allowed_cidrs[1]", "trusted_proxies[0]", "clock_skew", "mtls.clients",
	}
	got := map[string]bool{}
	for _, e := range confkey.Flatten(err) {
		var ke *confkey.Error
		if !errors.As(e, &ke) {
			t.Fatalf("not a confkey error: %v", e)
		}
		got[ke.Key] = true
	}
	for _, k := range want {
		if !got[k] {
			t.Errorf("no problem reported for %s (got %v)", k, err)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got keys %v, want %v", got, want)
	}

	good := Config{OIDC: []OIDCConfig{{Issuer: "https://idp.example.com", Audience: "crmgw"}}, AllowedCIDRs: []string{"10.0.0.1"}}
	good.SetDefaults()
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

func TestIssuerOptions(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	t.Run("jwks_url skips discovery", func(t *testing.T) {
		before := iss.DiscoveryHits()
		a, _ := newTestAuth(t, iss, func(c *Config) { c.OIDC[0].JWKSURL = iss.URL() + "/jwks" })
		if err := a.Ready(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Authenticate(request("Bearer " + iss.Sign(iss.Claims("u", testAudience)))); err != nil {
			t.Fatal(err)
		}
		if iss.DiscoveryHits() != before {
			t.Fatal("discovery was fetched although jwks_url is set")
		}
	})
	t.Run("an issuer's allowed_cidrs forbid other addresses", func(t *testing.T) {
		a, _ := newTestAuth(t, iss, func(c *Config) { c.OIDC[0].AllowedCIDRs = []string{"192.0.2.0/24"} })
		_, err := a.Authenticate(request("Bearer " + iss.Sign(iss.Claims("u", testAudience))))
		// 401 with the generic reason, as for a bad token: a 403 would
		// confirm the token is valid.
		var ae *AuthError
		if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Reason != GenericReason || !errors.Is(err, ErrInvalidCredential) {
			t.Fatalf("got %v, want 401", err)
		}
	})
	t.Run("algorithms narrows what is accepted", func(t *testing.T) {
		a, _ := newTestAuth(t, iss, func(c *Config) { c.OIDC[0].Algorithms = []string{"ES256"} })
		if _, err := a.Authenticate(request("Bearer " + iss.Sign(iss.Claims("u", testAudience)))); err == nil {
			t.Fatal("RS256 accepted with algorithms: [ES256]")
		}
		if _, err := a.Authenticate(request("Bearer " + iss.SignWithKey(iss.Key("ec-1"), iss.Claims("u", testAudience)))); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSubjectJSONFollowsThePolicyContract(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, _ := newTestAuth(t, iss, nil)
	s, err := a.Authenticate(request("Bearer " + iss.Sign(with(iss.Claims("00u1", testAudience), "email", "li.wei@example.com", "amr", []string{"mfa"}))))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(s)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"kind", "id", "issuer", "email", "groups", "roles", "mfa", "client_id", "claims"} {
		if _, ok := m[k]; !ok {
			t.Errorf("subject JSON lacks %q: %s", k, b)
		}
	}
	if m["kind"] != "user" || m["mfa"] != true || m["email"] != "li.wei@example.com" {
		t.Fatalf("%s", b)
	}
}

func TestTokensFromTheTestIssuerEndpoint(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, _ := newTestAuth(t, iss, nil)
	mint := func(form map[string][]string) string {
		resp, err := http.PostForm(iss.URL()+"/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&tr)
		return tr.AccessToken
	}
	client, err := a.Authenticate(request("Bearer " + mint(map[string][]string{"grant_type": {"client_credentials"}, "client_id": {"etl"}})))
	if err != nil || client.Kind != KindClient || client.ClientID != "etl" {
		t.Fatalf("client-credentials token: %+v %v", client, err)
	}
	user, err := a.Authenticate(request("Bearer " + mint(map[string][]string{"grant_type": {"client_credentials"}, "client_id": {"web"}, "subject": {"00u1"}, "email": {"a@example.com"}, "roles": {"sales_rep"}})))
	if err != nil || user.Kind != KindUser || user.Roles[0] != "sales_rep" {
		t.Fatalf("user token: %+v %v", user, err)
	}
}

// TestBulk1SessionHeader: Bulk API 1.0 clients send their credential in
// X-SFDC-Session; without an Authorization header it authenticates like a
// bearer token, and two of them are refused.
func TestBulk1SessionHeader(t *testing.T) {
	const key = "crmgw_k3y-For-the-bulk-job_0123456789"
	a, _ := newTestAuth(t, nil, func(c *Config) {
		c.APIKeys = []APIKeyConfig{{ID: "bulk1", KeySHA256: sha256Hex(key), Roles: []string{"integration"}}}
	})
	r := request()
	r.Header.Set("X-SFDC-Session", key)
	if s, err := a.Authenticate(r); err != nil || s.ID != "bulk1" {
		t.Fatalf("X-SFDC-Session alone: %+v %v", s, err)
	}
	r.Header.Add("X-SFDC-Session", key)
	var ae *AuthError
	if _, err := a.Authenticate(r); !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("two X-SFDC-Session headers: %v", err)
	}
	r = request()
	r.Header.Set("X-SFDC-Session", "wrong")
	if _, err := a.Authenticate(r); !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("a bad X-SFDC-Session: %v", err)
	}
}
