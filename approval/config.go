package approval

import (
	"errors"
	"net/url"
	"time"

	"github.com/crmgw/crmgw/internal/confkey"
)

// Config is the approvals section (docs/approvals.md). The state lives in
// the rate limiter's store: memory, or the same Redis.
type Config struct {
	// URLBase is where approvers open requests: <url_base>/approvals/<id>.
	// Default: http://<admin.listen>.
	URLBase string `yaml:"url_base"`
	// PendingTTL is how long a request waits for a decision (default 24h).
	PendingTTL time.Duration `yaml:"pending_ttl"`
	// DefaultTTL is a grant's validity when the policy names none (default 4h).
	DefaultTTL time.Duration `yaml:"default_ttl"`
	// Refresh is how old a replica's copy of frozen and watched subjects
	// may get (default 500ms, at most 1s).
	Refresh time.Duration `yaml:"refresh"`
	// Retention is how long requests are kept in Redis (default 720h).
	Retention time.Duration `yaml:"retention"`
	// OIDC is the approval page's login (authorization code flow with PKCE).
	OIDC *OIDCConfig `yaml:"oidc"`
}

// OIDCConfig is the approval page's login with the organisation's IdP.
type OIDCConfig struct {
	Issuer       string `yaml:"issuer"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// RedirectURL is registered at the IdP; default <url_base>/approvals/callback.
	RedirectURL string `yaml:"redirect_url"`
	// GroupsClaim names the claim holding the approver's groups (default groups).
	GroupsClaim string `yaml:"groups_claim"`
	// RolesClaim names the claim holding the approver's roles (default roles).
	RolesClaim string `yaml:"roles_claim"`
}

// SetDefaults fills the defaults.
func (c *Config) SetDefaults() {
	if c.PendingTTL == 0 {
		c.PendingTTL = 24 * time.Hour
	}
	if c.DefaultTTL == 0 {
		c.DefaultTTL = 4 * time.Hour
	}
	if c.Refresh == 0 {
		c.Refresh = 500 * time.Millisecond
	}
	if c.Retention == 0 {
		c.Retention = 720 * time.Hour
	}
	if o := c.OIDC; o != nil {
		if o.GroupsClaim == "" {
			o.GroupsClaim = "groups"
		}
		if o.RolesClaim == "" {
			o.RolesClaim = "roles"
		}
	}
}

// Validate names every bad key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, confkey.Errorf(key, format, args...)) }
	if c.URLBase != "" {
		u, err := url.Parse(c.URLBase)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("url_base", "want an http(s) URL, got %q", c.URLBase)
		}
	}
	for k, d := range map[string]time.Duration{"pending_ttl": c.PendingTTL, "default_ttl": c.DefaultTTL, "retention": c.Retention} {
		if d < 0 {
			bad(k, "must not be negative")
		}
	}
	if c.Refresh < 0 || c.Refresh > time.Second {
		bad("refresh", "want a duration up to 1s (a freeze must reach every replica within a second), got %s", c.Refresh)
	}
	if o := c.OIDC; o != nil {
		if o.Issuer == "" {
			bad("oidc.issuer", "required")
		}
		if o.ClientID == "" {
			bad("oidc.client_id", "required")
		}
		if u, err := url.Parse(o.RedirectURL); o.RedirectURL != "" && (err != nil || u.Host == "") {
			bad("oidc.redirect_url", "want the page's callback URL, <url_base>/approvals/callback (the default)")
		}
	}
	return errors.Join(errs...)
}
