package identity

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/crmgw/crmgw/identity/oidctest"
)

func benchAuth(b *testing.B, r *http.Request, a *Authenticator) {
	b.Helper()
	if _, err := a.Authenticate(r); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, min(b.N, 1<<20))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := a.Authenticate(r); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	}
}

// BenchmarkAuthenticateCachedJWT is the hot path: a JWT seen before.
func BenchmarkAuthenticateCachedJWT(b *testing.B) {
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, _ := newTestAuth(b, iss, func(c *Config) { c.AllowedCIDRs = []string{"10.0.0.0/8"} })
	claims := iss.Claims("00u1", testAudience)
	claims["email"] = "li.wei@example.com"
	claims["groups"] = []string{"sales", "emea"}
	claims["amr"] = []string{"pwd", "mfa"}
	benchAuth(b, request("Bearer "+iss.Sign(claims)), a)
}

// BenchmarkAuthenticateUncachedRS256 verifies the RS256 signature every
// time (cache disabled): the cost of a token's first request.
func BenchmarkAuthenticateUncachedRS256(b *testing.B) {
	iss := oidctest.NewIssuer()
	defer iss.Close()
	a, _ := newTestAuth(b, iss, nil)
	a.st.Load().cache.max = 0
	claims := iss.Claims("00u1", testAudience)
	claims["email"] = "li.wei@example.com"
	benchAuth(b, request("Bearer "+iss.Sign(claims)), a)
}

// BenchmarkAuthenticateAPIKey is an API key with a CIDR allow-list.
func BenchmarkAuthenticateAPIKey(b *testing.B) {
	const key = "crmgw_0123456789abcdefghijklmnopqrstuvwxyzABCD"
	a, _ := newTestAuth(b, nil, func(c *Config) {
		c.APIKeys = []APIKeyConfig{{ID: "etl", KeySHA256: sha256Hex(key), Roles: []string{"integration"}, AllowedCIDRs: []string{"10.20.0.0/16"}}}
	})
	benchAuth(b, request("Bearer "+key), a)
}

// BenchmarkCredentialsApplyCached is setting a cached upstream token.
func BenchmarkCredentialsApplyCached(b *testing.B) {
	c, err := NewCredentials(UpstreamAuthConfig{Type: AuthStatic, Token: "00Dxx!token"}, "salesforce", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/services/data/v60.0/limits", nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Apply(ctx, r, ""); err != nil {
			b.Fatal(err)
		}
	}
}
