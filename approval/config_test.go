package approval

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	var c Config
	c.SetDefaults()
	if err := c.Validate(); err != nil || c.PendingTTL != 24*time.Hour || c.DefaultTTL != 4*time.Hour || c.Refresh != 500*time.Millisecond {
		t.Fatalf("defaults %+v: %v", c, err)
	}
	for name, tc := range map[string]struct {
		c    Config
		keys []string
	}{
		"refresh over a second": {Config{Refresh: 2 * time.Second}, []string{"refresh"}},
		"url_base not a URL":    {Config{URLBase: "crmgw-admin"}, []string{"url_base"}},
		"negative ttl":          {Config{DefaultTTL: -time.Hour}, []string{"default_ttl"}},
		"oidc without issuer or client": {Config{OIDC: &OIDCConfig{RedirectURL: "/approvals/callback"}},
			[]string{"oidc.issuer", "oidc.client_id", "oidc.redirect_url"}},
	} {
		err := tc.c.Validate()
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		for _, k := range tc.keys {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("%s: error %q does not name %s", name, err, k)
			}
		}
	}
}
