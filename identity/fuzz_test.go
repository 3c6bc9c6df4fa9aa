package identity

import (
	"errors"
	"strings"
	"testing"
)

// FuzzAuthorization throws arbitrary Authorization values and peers at
// Authenticate: it must never panic, accept only the configured key, show
// the caller one generic reason, and never echo the credential in its error.
func FuzzAuthorization(f *testing.F) {
	const key = "crmgw_fuzz_key_0123456789"
	for _, s := range []string{
		"Bearer " + key, "Zoho-oauthtoken " + key, "OAuth x", "Bearer a.b.c", "Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.",
		"Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSJ9.c2ln", "Basic dTpw", "", "Bearer", "bearer  x y",
	} {
		f.Add(s, "10.0.0.5:1", "1.2.3.4, 10.0.0.9")
	}
	a, _ := newTestAuth(f, nil, func(c *Config) {
		c.APIKeys = []APIKeyConfig{{ID: "k", KeySHA256: sha256Hex(key)}}
		c.TrustedProxies = []string{"10.0.0.0/8"}
		c.AllowedCIDRs = []string{"0.0.0.0/0", "::/0"}
	})
	f.Fuzz(func(t *testing.T, auth, remote, xff string) {
		r := request()
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		if auth != "" {
			r.Header["Authorization"] = []string{auth}
		}
		_ = a.ClientIP(r)
		s, err := a.Authenticate(r)
		if err == nil {
			tok, _ := parseAuthorization(auth)
			if tok != key || s.ID != "k" {
				t.Fatalf("accepted %q as %+v", auth, s)
			}
			return
		}
		var ae *AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("not an AuthError: %v", err)
		}
		if ae.Status == 401 && (ae.Reason != GenericReason || strings.Contains(ae.Challenge(), ae.Detail)) {
			t.Fatalf("401 shows %q / %q to the caller", ae.Reason, ae.Challenge())
		}
		if tok, ok := parseAuthorization(auth); ok && len(tok) >= 6 && strings.Contains(ae.Error()+ae.Challenge(), tok) {
			t.Fatalf("error %q echoes the token", ae.Error())
		}
	})
}
