package identity

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/crmgw/crmgw/identity/oidctest"
)

func authStatus(t *testing.T, a *Authenticator, r *http.Request) (string, int) {
	t.Helper()
	s, err := a.Authenticate(r)
	if err != nil {
		var ae *AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("not an AuthError: %v", err)
		}
		return "", ae.Status
	}
	return s.ID, http.StatusOK
}

// A prepared state changes nothing until installed; installed, the old
// key stops working and the new one works, with its own allowed_cidrs.
func TestPrepareReplacesAPIKeysAndAllowLists(t *testing.T) {
	t.Parallel()
	a, _ := newTestAuth(t, nil, func(c *Config) {
		c.APIKeys = []APIKeyConfig{{ID: "old", KeySHA256: sha256Hex("old-key-0123456789")}}
	})
	next := Config{APIKeys: []APIKeyConfig{
		{ID: "new", KeySHA256: sha256Hex("new-key-0123456789")},
		{ID: "lan", KeySHA256: sha256Hex("lan-key-0123456789"), AllowedCIDRs: []string{"192.168.0.0/16"}},
	}}
	install, err := a.Prepare(context.Background(), next)
	if err != nil {
		t.Fatal(err)
	}
	if id, code := authStatus(t, a, request("Bearer old-key-0123456789")); id != "old" {
		t.Fatalf("before install the old key must work: %q %d", id, code)
	}
	if _, code := authStatus(t, a, request("Bearer new-key-0123456789")); code != http.StatusUnauthorized {
		t.Fatalf("before install the new key must not work: %d", code)
	}
	install()
	if _, code := authStatus(t, a, request("Bearer old-key-0123456789")); code != http.StatusUnauthorized {
		t.Errorf("after install the old key: %d, want 401", code)
	}
	if id, code := authStatus(t, a, request("Bearer new-key-0123456789")); id != "new" {
		t.Errorf("after install the new key: %q %d", id, code)
	}
	// request() comes from 10.20.1.7: outside the new key's allow-list.
	if _, code := authStatus(t, a, request("Bearer lan-key-0123456789")); code != http.StatusUnauthorized {
		t.Errorf("a key used outside its new allowed_cidrs: %d, want 401", code)
	}

	// The gateway-wide allow-list and trusted proxies are replaced too.
	install, err = a.Prepare(context.Background(), Config{
		APIKeys:      next.APIKeys,
		AllowedCIDRs: []string{"172.16.0.0/12"},
	})
	if err != nil {
		t.Fatal(err)
	}
	install()
	if _, code := authStatus(t, a, request("Bearer new-key-0123456789")); code != http.StatusForbidden {
		t.Errorf("caller outside the new identity.allowed_cidrs: %d, want 403", code)
	}
	install, err = a.Prepare(context.Background(), Config{
		APIKeys:        next.APIKeys,
		AllowedCIDRs:   []string{"172.16.0.0/12"},
		TrustedProxies: []string{"10.20.0.0/16"},
	})
	if err != nil {
		t.Fatal(err)
	}
	install()
	r := request("Bearer new-key-0123456789")
	r.Header.Set("X-Forwarded-For", "172.16.4.4")
	if id, code := authStatus(t, a, r); id != "new" {
		t.Errorf("caller behind a newly trusted proxy: %q %d", id, code)
	}
}

// A configuration that does not validate is refused and the state in
// force stays.
func TestPrepareRefusesInvalidConfig(t *testing.T) {
	t.Parallel()
	a, _ := newTestAuth(t, nil, func(c *Config) {
		c.APIKeys = []APIKeyConfig{{ID: "old", KeySHA256: sha256Hex("old-key-0123456789")}}
	})
	for name, cfg := range map[string]Config{
		"bad hash":  {APIKeys: []APIKeyConfig{{ID: "new", KeySHA256: "not-hex"}}},
		"bad cidr":  {AllowedCIDRs: []string{"10.0.0.0/33"}},
		"duplicate": {APIKeys: []APIKeyConfig{{ID: "x", KeySHA256: sha256Hex("a")}, {ID: "x", KeySHA256: sha256Hex("b")}}},
	} {
		install, err := a.Prepare(context.Background(), cfg)
		if err == nil || install != nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if id, _ := authStatus(t, a, request("Bearer old-key-0123456789")); id != "old" {
		t.Error("the state in force must stay after refused configurations")
	}
}

// Unchanged issuers are kept with their keys (no new discovery) and so is
// the token cache; a removed issuer's tokens stop working at once, cached
// or not.
func TestPrepareKeepsUnchangedIssuersAndDropsRemovedOnes(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer()
	defer iss.Close()
	other := oidctest.NewIssuer()
	defer other.Close()
	a, _ := newTestAuth(t, iss, func(c *Config) {
		c.OIDC = append(c.OIDC, OIDCConfig{Issuer: other.URL(), Audience: testAudience})
	})
	tokIss := "Bearer " + iss.Sign(iss.Claims("00u1", testAudience))
	tokOther := "Bearer " + other.Sign(other.Claims("00u2", testAudience))
	for _, tok := range []string{tokIss, tokOther} {
		if _, code := authStatus(t, a, request(tok)); code != http.StatusOK {
			t.Fatalf("before reload: %d", code)
		}
	}
	hits := iss.DiscoveryHits()
	cfg := a.st.Load().cfg
	install, err := a.Prepare(context.Background(), Config{
		OIDC:    []OIDCConfig{cfg.OIDC[0]},
		APIKeys: []APIKeyConfig{{ID: "k", KeySHA256: sha256Hex("k-0123456789")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	install()
	if _, code := authStatus(t, a, request(tokOther)); code != http.StatusUnauthorized {
		t.Errorf("cached token of a removed issuer: %d, want 401", code)
	}
	if _, code := authStatus(t, a, request(tokIss)); code != http.StatusOK {
		t.Errorf("token of the kept issuer: %d", code)
	}
	if iss.DiscoveryHits() != hits {
		t.Errorf("an unchanged issuer was discovered again (%d -> %d hits)", hits, iss.DiscoveryHits())
	}
	// Only API keys change: the cache stays.
	cache := a.st.Load().cache
	install, err = a.Prepare(context.Background(), Config{OIDC: []OIDCConfig{cfg.OIDC[0]}})
	if err != nil {
		t.Fatal(err)
	}
	install()
	if a.st.Load().cache != cache {
		t.Error("the token cache must be kept when no issuer or token setting changed")
	}
}

// Authenticate while states are swapped: every call sees one whole state
// (run with -race).
func TestPrepareWhileAuthenticating(t *testing.T) {
	t.Parallel()
	keyA := Config{APIKeys: []APIKeyConfig{{ID: "a", KeySHA256: sha256Hex("key-a-0123456789")}, {ID: "both", KeySHA256: sha256Hex("both-0123456789")}}}
	keyB := Config{APIKeys: []APIKeyConfig{{ID: "b", KeySHA256: sha256Hex("key-b-0123456789")}, {ID: "both", KeySHA256: sha256Hex("both-0123456789")}}}
	a, err := NewAuthenticator(context.Background(), keyA, nil)
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var failures atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := a.Authenticate(request("Bearer both-0123456789")); err != nil {
					failures.Add(1)
				}
			}
		}()
	}
	for i := range 200 {
		cfg := keyA
		if i%2 == 0 {
			cfg = keyB
		}
		install, err := a.Prepare(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		install()
	}
	stop.Store(true)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d authentications of a key present in every state failed", n)
	}
}
