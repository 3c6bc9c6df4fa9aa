package identity

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/crmgw/crmgw/internal/confkey"
)

// Config is the `identity:` section: who may call crmgw and how they prove it.
type Config struct {
	// OIDC lists the trusted token issuers (zero or more).
	OIDC []OIDCConfig `yaml:"oidc"`
	// APIKeys lists the non-human clients that authenticate with a static key.
	APIKeys []APIKeyConfig `yaml:"api_keys"`
	// MTLS says what a verified client certificate means.
	MTLS MTLSConfig `yaml:"mtls"`
	// AllowedCIDRs, if non-empty, is the allow-list every caller's address
	// must be inside.
	AllowedCIDRs []string `yaml:"allowed_cidrs"`
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ClockSkew is the leeway on exp and nbf (default 30s).
	ClockSkew time.Duration `yaml:"clock_skew"`
	// TokenCacheSize bounds the verified-token cache (default 10000 entries).
	TokenCacheSize int `yaml:"token_cache_size"`
	// TokenCacheTTL is how long a verified token is remembered (default
	// 60s), whatever its exp: with the issuer's jwks_refresh it bounds how
	// long a key the IdP removed keeps working (docs/identity.md, "Revocation").
	TokenCacheTTL time.Duration `yaml:"token_cache_ttl"`
	// HTTPTimeout bounds each discovery and JWKS request (default 10s).
	HTTPTimeout time.Duration `yaml:"http_timeout"`
}

// OIDCConfig is one trusted issuer.
type OIDCConfig struct {
	// Issuer is the exact "iss" value and the discovery base URL.
	Issuer string `yaml:"issuer"`
	// Audience must appear in the token's "aud".
	Audience string `yaml:"audience"`
	// JWKSURL, if set, skips discovery and fetches keys from here.
	JWKSURL string `yaml:"jwks_url"`
	// Algorithms allowed to sign tokens (default RS256, RS384, RS512, ES256,
	// ES384, ES512, PS256, PS384, PS512, EdDSA). Symmetric algorithms and
	// "none" are never accepted.
	Algorithms []string `yaml:"algorithms"`
	// Claims names the claims groups, roles and email are read from.
	Claims ClaimNames `yaml:"claims"`
	// MFAAMRValues are the "amr" values that mean multi-factor
	// (default mfa, otp, hwk, swk).
	MFAAMRValues []string `yaml:"mfa_amr_values"`
	// MFAACRValues are the "acr" values that mean multi-factor (default none).
	MFAACRValues []string `yaml:"mfa_acr_values"`
	// JWKSRefreshMinInterval is the least time between two JWKS refetches
	// caused by an unknown "kid" (default 30s), so a flood of tokens with
	// made-up key ids cannot hammer the IdP.
	JWKSRefreshMinInterval time.Duration `yaml:"jwks_refresh_min_interval"`
	// ClientKind says how a token without a human behind it is recognised.
	ClientKind ClientKindConfig `yaml:"client_kind"`
	// AllowedCIDRs, if non-empty, restricts callers with this issuer's tokens
	// to these networks (in addition to identity.allowed_cidrs).
	AllowedCIDRs []string `yaml:"allowed_cidrs"`
	// JWKSRefresh is how often the JWKS is fetched again whatever the kids
	// of incoming tokens (default 5m): a key the IdP removed stops verifying
	// at most this long after its removal. A failed fetch keeps the keys and
	// is retried with a backoff.
	JWKSRefresh time.Duration `yaml:"jwks_refresh"`
	// MaxTokenLifetime bounds exp - iat and exp - now (default 24h).
	MaxTokenLifetime time.Duration `yaml:"max_token_lifetime"`
	// RequireIAT refuses tokens without "iat" (default true; set false only
	// for IdPs that omit it: then only exp - now is bounded).
	RequireIAT *bool `yaml:"require_iat"`
	// AllowedRoles and AllowedGroups are the roles and groups this issuer
	// may assert; others in its tokens are dropped. Unset: the primary
	// (first listed) issuer may assert any, every other issuer none. ["*"]
	// allows any.
	AllowedRoles  []string `yaml:"allowed_roles"`
	AllowedGroups []string `yaml:"allowed_groups"`
	// TrustMFA says whether this issuer's amr/acr count as multi-factor
	// (default: true for the primary issuer, false for the others).
	TrustMFA *bool `yaml:"trust_mfa"`
	// Introspection, if set, asks the issuer (RFC 7662) whether each token
	// is still active before accepting it, for IdPs that revoke sessions.
	Introspection *IntrospectionConfig `yaml:"introspection"`
}

// IntrospectionConfig is an RFC 7662 token introspection endpoint. The
// client authenticates with HTTP Basic (client_id, client_secret).
type IntrospectionConfig struct {
	URL          string `yaml:"url"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// CacheTTL is how long an "active" answer is trusted (default: the
	// token_cache_ttl; at most that).
	CacheTTL time.Duration `yaml:"cache_ttl"`
}

// String prints the introspection settings without the secret.
func (c IntrospectionConfig) String() string {
	return fmt.Sprintf("{url:%s client_id:%s client_secret:%s cache_ttl:%s}", c.URL, c.ClientID, redact(c.ClientSecret), c.CacheTTL)
}

// GoString is String, so %#v does not print the secret either.
func (c IntrospectionConfig) GoString() string { return "identity.IntrospectionConfig" + c.String() }

// MarshalJSON encodes the settings without the secret (zap.Any, dumps).
func (c IntrospectionConfig) MarshalJSON() ([]byte, error) {
	type plain IntrospectionConfig // no methods: no recursion
	c.ClientSecret = redact(c.ClientSecret)
	return json.Marshal(plain(c))
}

// ClaimNames names the claims read into the Subject. A name is first looked
// up as a top-level claim; if absent and it contains dots, it is walked as a
// path (Keycloak's "realm_access.roles").
type ClaimNames struct {
	Groups string `yaml:"groups"` // default "groups"
	Roles  string `yaml:"roles"`  // default "roles"
	Email  string `yaml:"email"`  // default "email"
}

// ClientKindConfig decides whether a verified token is kind "client" (a
// machine, e.g. a client-credentials token) rather than "user". A token is a
// client when any rule matches:
//
//   - ClaimValues: a claim equals the given value (e.g. gty: client-credentials
//     for Auth0, idtyp: app for Entra ID), or
//   - the token has no email claim AND either its "sub" equals the client id
//     (read from ClientIDClaims) or one of MarkerClaims is present.
type ClientKindConfig struct {
	// ClientIDClaims are read in order for Subject.ClientID
	// (default azp, client_id, cid, appid).
	ClientIDClaims []string `yaml:"client_id_claims"`
	// MarkerClaims mark a client token when present and there is no email
	// (default client_id).
	MarkerClaims []string `yaml:"marker_claims"`
	// ClaimValues mark a client token when a claim has the value
	// (default gty: client-credentials, idtyp: app).
	ClaimValues map[string]string `yaml:"claim_values"`
}

// APIKeyConfig is one static key for a non-human client.
type APIKeyConfig struct {
	// ID names the client (Subject.ID and Subject.ClientID).
	ID string `yaml:"id"`
	// KeySHA256 is the hex SHA-256 of the key; the key is never stored.
	KeySHA256 string `yaml:"key_sha256"`
	// Roles, Groups and Email fill the Subject.
	Roles  []string `yaml:"roles"`
	Groups []string `yaml:"groups"`
	Email  string   `yaml:"email"`
	// AllowedCIDRs, if non-empty, restricts where the key may be used from.
	AllowedCIDRs []string `yaml:"allowed_cidrs"`
}

// MTLSConfig says what a verified client certificate means. The listener
// verifies certificates (server.tls.client_ca_file); by default a
// certificate is an additional requirement and the bearer credential still
// identifies the caller. With Identity true, a request without an
// Authorization header is identified by its certificate if it matches one of
// Clients.
type MTLSConfig struct {
	Identity bool               `yaml:"identity"`
	Clients  []MTLSClientConfig `yaml:"clients"`
}

// MTLSClientConfig maps a certificate (by SPIFFE ID or subject DN) to a
// client identity.
type MTLSClientConfig struct {
	ID        string   `yaml:"id"`
	SPIFFEID  string   `yaml:"spiffe_id"`
	SubjectDN string   `yaml:"subject_dn"`
	Roles     []string `yaml:"roles"`
	Groups    []string `yaml:"groups"`
}

var defaultAlgorithms = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}

// SetDefaults fills in every default not given.
func (c *Config) SetDefaults() {
	if c.ClockSkew == 0 {
		c.ClockSkew = 30 * time.Second
	}
	if c.TokenCacheSize == 0 {
		c.TokenCacheSize = 10000
	}
	if c.HTTPTimeout == 0 {
		c.HTTPTimeout = 10 * time.Second
	}
	if c.TokenCacheTTL == 0 {
		c.TokenCacheTTL = 60 * time.Second
	}
	for i := range c.OIDC {
		o := &c.OIDC[i]
		if o.JWKSRefresh == 0 {
			o.JWKSRefresh = 5 * time.Minute
		}
		if o.MaxTokenLifetime == 0 {
			o.MaxTokenLifetime = 24 * time.Hour
		}
		if o.RequireIAT == nil {
			o.RequireIAT = boolPtr(true)
		}
		if o.TrustMFA == nil {
			o.TrustMFA = boolPtr(i == 0)
		}
		if o.Introspection != nil && (o.Introspection.CacheTTL == 0 || o.Introspection.CacheTTL > c.TokenCacheTTL) {
			o.Introspection.CacheTTL = c.TokenCacheTTL
		}
		if len(o.Algorithms) == 0 {
			o.Algorithms = append([]string(nil), defaultAlgorithms...)
		}
		if o.Claims.Groups == "" {
			o.Claims.Groups = "groups"
		}
		if o.Claims.Roles == "" {
			o.Claims.Roles = "roles"
		}
		if o.Claims.Email == "" {
			o.Claims.Email = "email"
		}
		if o.MFAAMRValues == nil {
			o.MFAAMRValues = []string{"mfa", "otp", "hwk", "swk"}
		}
		if o.JWKSRefreshMinInterval == 0 {
			o.JWKSRefreshMinInterval = 30 * time.Second
		}
		if o.ClientKind.ClientIDClaims == nil {
			o.ClientKind.ClientIDClaims = []string{"azp", "client_id", "cid", "appid"}
		}
		if o.ClientKind.MarkerClaims == nil {
			o.ClientKind.MarkerClaims = []string{"client_id"}
		}
		if o.ClientKind.ClaimValues == nil {
			o.ClientKind.ClaimValues = map[string]string{"gty": "client-credentials", "idtyp": "app"}
		}
	}
}

// Validate reports every problem in the section at once.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, validateCIDRs("allowed_cidrs", c.AllowedCIDRs)...)
	errs = append(errs, validateCIDRs("trusted_proxies", c.TrustedProxies)...)
	if c.ClockSkew < 0 || c.ClockSkew > 10*time.Minute {
		errs = append(errs, confkey.Errorf("clock_skew", "must be between 0 and 10m, got %s", c.ClockSkew))
	}
	if c.TokenCacheSize < 0 {
		errs = append(errs, confkey.Errorf("token_cache_size", "must not be negative, got %d", c.TokenCacheSize))
	}
	if c.HTTPTimeout < 0 {
		errs = append(errs, confkey.Errorf("http_timeout", "must not be negative, got %s", c.HTTPTimeout))
	}
	if c.TokenCacheTTL < 0 || c.TokenCacheTTL > time.Hour {
		errs = append(errs, confkey.Errorf("token_cache_ttl", "must be between 0 (default 60s) and 1h, got %s", c.TokenCacheTTL))
	}
	issuers := map[string]bool{}
	for i, o := range c.OIDC {
		k := fmt.Sprintf("oidc[%d]", i)
		if err := validateURL(o.Issuer); err != nil {
			errs = append(errs, confkey.Errorf(k+".issuer", "%v", err))
		} else if issuers[o.Issuer] {
			errs = append(errs, confkey.Errorf(k+".issuer", "issuer %q is listed twice", o.Issuer))
		}
		issuers[o.Issuer] = true
		if o.Audience == "" {
			errs = append(errs, confkey.Errorf(k+".audience", "is required (the value your IdP puts in aud for crmgw)"))
		}
		if o.JWKSURL != "" {
			if err := validateURL(o.JWKSURL); err != nil {
				errs = append(errs, confkey.Errorf(k+".jwks_url", "%v", err))
			}
		}
		for j, a := range o.Algorithms {
			if !isAsymmetricAlg(a) {
				errs = append(errs, confkey.Errorf(fmt.Sprintf("%s.algorithms[%d]", k, j), "%q is not allowed (want one of %s)", a, strings.Join(defaultAlgorithms, ", ")))
			}
		}
		if o.JWKSRefreshMinInterval < 0 {
			errs = append(errs, confkey.Errorf(k+".jwks_refresh_min_interval", "must not be negative"))
		}
		errs = append(errs, validateCIDRs(k+".allowed_cidrs", o.AllowedCIDRs)...)
		errs = append(errs, o.validateRevocation(k)...)
	}
	ids := map[string]bool{}
	hashes := map[string]bool{}
	for i, a := range c.APIKeys {
		k := fmt.Sprintf("api_keys[%d]", i)
		if a.ID == "" {
			errs = append(errs, confkey.Errorf(k+".id", "is required"))
		} else if ids[a.ID] {
			errs = append(errs, confkey.Errorf(k+".id", "id %q is used twice", a.ID))
		}
		ids[a.ID] = true
		h := strings.ToLower(a.KeySHA256)
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			errs = append(errs, confkey.Errorf(k+".key_sha256", "must be 64 hex digits (the SHA-256 of the key, e.g. `printf %%s \"$KEY\" | sha256sum`)"))
		} else if hashes[h] {
			errs = append(errs, confkey.Errorf(k+".key_sha256", "the same key hash is configured twice"))
		}
		hashes[h] = true
		errs = append(errs, validateCIDRs(k+".allowed_cidrs", a.AllowedCIDRs)...)
	}
	for i, m := range c.MTLS.Clients {
		k := fmt.Sprintf("mtls.clients[%d]", i)
		if m.ID == "" {
			errs = append(errs, confkey.Errorf(k+".id", "is required"))
		}
		if (m.SPIFFEID == "") == (m.SubjectDN == "") {
			errs = append(errs, confkey.Errorf(k, "set exactly one of spiffe_id and subject_dn"))
		}
		if m.SPIFFEID != "" && !strings.HasPrefix(m.SPIFFEID, "spiffe://") {
			errs = append(errs, confkey.Errorf(k+".spiffe_id", "must start with spiffe://, got %q", m.SPIFFEID))
		}
		if m.SubjectDN != "" {
			if _, err := ParseDN(m.SubjectDN); err != nil {
				errs = append(errs, confkey.Errorf(k+".subject_dn", "%v", err))
			}
		}
	}
	if c.MTLS.Identity && len(c.MTLS.Clients) == 0 {
		errs = append(errs, confkey.Errorf("mtls.clients", "mtls.identity is true but no clients are listed"))
	}
	return errors.Join(errs...)
}

// validateRevocation checks the keys that bound how long a revoked token or
// a removed key keeps working.
func (o *OIDCConfig) validateRevocation(k string) []error {
	var errs []error
	if o.JWKSRefresh != 0 && (o.JWKSRefresh < time.Second || o.JWKSRefresh > 24*time.Hour) {
		errs = append(errs, confkey.Errorf(k+".jwks_refresh", "must be between 1s and 24h, got %s", o.JWKSRefresh))
	}
	if o.MaxTokenLifetime < 0 || o.MaxTokenLifetime > 366*24*time.Hour {
		errs = append(errs, confkey.Errorf(k+".max_token_lifetime", "must be between 0 (default 24h) and 8784h, got %s", o.MaxTokenLifetime))
	}
	for j, r := range o.AllowedRoles {
		if r == "" {
			errs = append(errs, confkey.Errorf(fmt.Sprintf("%s.allowed_roles[%d]", k, j), "must not be empty"))
		}
	}
	for j, g := range o.AllowedGroups {
		if g == "" {
			errs = append(errs, confkey.Errorf(fmt.Sprintf("%s.allowed_groups[%d]", k, j), "must not be empty"))
		}
	}
	if in := o.Introspection; in != nil {
		if err := validateURL(in.URL); err != nil {
			errs = append(errs, confkey.Errorf(k+".introspection.url", "%v", err))
		}
		if in.ClientID == "" {
			errs = append(errs, confkey.Errorf(k+".introspection.client_id", "is required"))
		}
		if in.ClientSecret == "" {
			errs = append(errs, confkey.Errorf(k+".introspection.client_secret", "is required (client_secret: ${ENV_VAR})"))
		}
		if in.CacheTTL < 0 {
			errs = append(errs, confkey.Errorf(k+".introspection.cache_ttl", "must not be negative, got %s", in.CacheTTL))
		}
	}
	return errs
}

func boolPtr(b bool) *bool { return &b }

func validateURL(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("must be an absolute http(s) URL, got %q", s)
	}
	return nil
}

func validateCIDRs(key string, cidrs []string) []error {
	var errs []error
	for i, s := range cidrs {
		if _, err := parsePrefix(s); err != nil {
			errs = append(errs, confkey.Errorf(fmt.Sprintf("%s[%d]", key, i), "%v", err))
		}
	}
	return errs
}

// parsePrefix reads a CIDR or a bare address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR or address %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parsePrefixes(cidrs []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, s := range cidrs {
		if p, err := parsePrefix(s); err == nil {
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p)
		}
	}
	return out
}

func isAsymmetricAlg(a string) bool {
	for _, d := range defaultAlgorithms {
		if a == d {
			return true
		}
	}
	return false
}
