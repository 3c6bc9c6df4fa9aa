package identity

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/crmgw/crmgw/internal/confkey"
)

// Upstream credential types (upstreams[].auth.type).
const (
	AuthClientCredentials = "client_credentials"
	AuthJWTBearer         = "jwt_bearer"
	AuthRefreshToken      = "refresh_token"
	AuthStatic            = "static"
	AuthPassthrough       = "passthrough"
	// AuthProfile: the token comes from the CRM profile's token endpoint,
	// called with Params (profile_cred.go, docs/profiles.md).
	AuthProfile = "profile"
)

// DefaultSalesforceAudience is the jwt_bearer "aud" when none is configured
// (use https://test.salesforce.com for sandboxes).
const DefaultSalesforceAudience = "https://login.salesforce.com"

// jwtBearerGrant is the RFC 7523 grant type Salesforce's JWT bearer flow uses.
const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// UpstreamAuthConfig is `upstreams[].auth`: how crmgw authenticates to the
// CRM. Secrets come from ${ENV} (expanded by the loader) or from the *_file
// keys; String, GoString, MarshalJSON and MarshalLogObject redact them.
type UpstreamAuthConfig struct {
	// Type is client_credentials, jwt_bearer, refresh_token, static or passthrough.
	Type string `yaml:"type"`
	// TokenURL is the OAuth token endpoint.
	TokenURL         string `yaml:"token_url"`
	ClientID         string `yaml:"client_id"`
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// PrivateKeyFile is the PEM RSA key (PKCS#1 or PKCS#8) signing the
	// jwt_bearer assertion.
	PrivateKeyFile string `yaml:"private_key_file"`
	// Subject is the jwt_bearer "sub": the Salesforce username to run as.
	Subject string `yaml:"subject"`
	// Audience is the jwt_bearer "aud" (default https://login.salesforce.com).
	Audience         string `yaml:"audience"`
	RefreshToken     string `yaml:"refresh_token"`
	RefreshTokenFile string `yaml:"refresh_token_file"`
	// Token and TokenFile hold a static token (re-read from the file after
	// the CRM rejects it).
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// Scheme is the Authorization scheme sent upstream (default Bearer;
	// Zoho-oauthtoken for zoho upstreams).
	Scheme string   `yaml:"scheme"`
	Scopes []string `yaml:"scopes"`
	// UseInstanceURL sends requests to the instance_url (Salesforce) or
	// api_domain (Zoho) of the token response instead of the upstream url.
	UseInstanceURL bool `yaml:"use_instance_url"`
	// AllowedInstanceHosts are the host patterns an instance_url/api_domain
	// must match to be used ("*.my.salesforce.com", "crm.example.com:8443",
	// "127.0.0.1:*"). Default per upstream type: see DefaultInstanceHosts.
	AllowedInstanceHosts []string `yaml:"allowed_instance_hosts"`
	// RefreshMargin is how long before expiry a token is renewed (default
	// 60s, at most half the token's lifetime).
	RefreshMargin time.Duration `yaml:"refresh_margin"`
	// AuthStyle is how client_credentials sends the client secret: params
	// (form body, the default) or header (HTTP Basic).
	AuthStyle string `yaml:"auth_style"`
	// Params are the named values a CRM profile's credential uses
	// ({param.NAME}: app ids, secrets, the CRM user to act as). Their
	// values are treated as secrets: never printed.
	Params map[string]string `yaml:"params"`
}

const redacted = "[REDACTED]"

func redact(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// redactedCopy returns c with every secret value replaced.
func (c UpstreamAuthConfig) redactedCopy() UpstreamAuthConfig {
	c.ClientSecret = redact(c.ClientSecret)
	c.RefreshToken = redact(c.RefreshToken)
	c.Token = redact(c.Token)
	if c.Params != nil {
		p := make(map[string]string, len(c.Params))
		for k, v := range c.Params {
			p[k] = redact(v)
		}
		c.Params = p
	}
	return c
}

// String prints the configuration without secrets.
func (c UpstreamAuthConfig) String() string {
	r := c.redactedCopy()
	return fmt.Sprintf("{type:%s token_url:%s client_id:%s client_secret:%s client_secret_file:%s private_key_file:%s subject:%s audience:%s refresh_token:%s refresh_token_file:%s token:%s token_file:%s scheme:%s scopes:%v use_instance_url:%t}",
		r.Type, r.TokenURL, r.ClientID, r.ClientSecret, r.ClientSecretFile, r.PrivateKeyFile, r.Subject, r.Audience,
		r.RefreshToken, r.RefreshTokenFile, r.Token, r.TokenFile, r.Scheme, r.Scopes, r.UseInstanceURL)
}

// GoString is String, so %#v does not print secrets either.
func (c UpstreamAuthConfig) GoString() string { return "identity.UpstreamAuthConfig" + c.String() }

// MarshalJSON encodes the configuration without secrets.
func (c UpstreamAuthConfig) MarshalJSON() ([]byte, error) {
	type plain UpstreamAuthConfig // no methods: no recursion
	return json.Marshal(plain(c.redactedCopy()))
}

// MarshalLogObject lets zap.Any log the configuration without secrets.
func (c UpstreamAuthConfig) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("type", c.Type)
	enc.AddString("token_url", c.TokenURL)
	enc.AddString("client_id", c.ClientID)
	enc.AddString("subject", c.Subject)
	enc.AddString("scheme", c.Scheme)
	enc.AddBool("use_instance_url", c.UseInstanceURL)
	return nil
}

// Validate reports every problem with the section at once.
func (c *UpstreamAuthConfig) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, confkey.Errorf(key, format, args...)) }
	oneOf := func(key, v, file string, required bool) {
		switch {
		case v != "" && file != "":
			bad(key, "set %s or %s_file, not both", key, key)
		case required && v == "" && file == "":
			bad(key, "is required (%s: ${ENV_VAR} or %s_file: path)", key, key)
		}
	}
	needURL := func() {
		if err := validateURL(c.TokenURL); err != nil {
			bad("token_url", "%v", err)
		}
	}
	switch c.Type {
	case AuthClientCredentials:
		needURL()
		if c.ClientID == "" {
			bad("client_id", "is required")
		}
		oneOf("client_secret", c.ClientSecret, c.ClientSecretFile, true)
	case AuthJWTBearer:
		needURL()
		if c.ClientID == "" {
			bad("client_id", "is required (the connected app's consumer key)")
		}
		if c.Subject == "" {
			bad("subject", "is required (the username crmgw runs as)")
		}
		if c.PrivateKeyFile == "" {
			bad("private_key_file", "is required (PEM RSA private key)")
		}
		if c.Audience != "" {
			if err := validateURL(c.Audience); err != nil {
				bad("audience", "%v", err)
			}
		}
	case AuthRefreshToken:
		needURL()
		if c.ClientID == "" {
			bad("client_id", "is required")
		}
		oneOf("client_secret", c.ClientSecret, c.ClientSecretFile, true)
		oneOf("refresh_token", c.RefreshToken, c.RefreshTokenFile, true)
	case AuthStatic:
		oneOf("token", c.Token, c.TokenFile, true)
	case AuthPassthrough:
	case AuthProfile:
		// What the profile's token endpoint needs is checked against
		// params when the profile is known (NewProfileCredentials).
	case "":
		bad("type", "is required (client_credentials, jwt_bearer, refresh_token, static or passthrough)")
	default:
		bad("type", "unknown type %q (want client_credentials, jwt_bearer, refresh_token, static or passthrough)", c.Type)
	}
	if c.Type != AuthClientCredentials && c.Type != AuthRefreshToken && c.ClientSecretFile != "" {
		oneOf("client_secret", c.ClientSecret, c.ClientSecretFile, false)
	}
	if c.Scheme != "" && (strings.ContainsAny(c.Scheme, " \t\r\n") || strings.ContainsAny(c.Scheme, `"(),/:;<=>?@[\]{}`)) {
		bad("scheme", "%q is not a valid Authorization scheme", c.Scheme)
	}
	if c.RefreshMargin < 0 {
		bad("refresh_margin", "must not be negative")
	}
	for i, p := range c.AllowedInstanceHosts {
		if err := validateHostPattern(p); err != nil {
			bad(fmt.Sprintf("allowed_instance_hosts[%d]", i), "%v", err)
		}
	}
	switch c.AuthStyle {
	case "", "params", "header":
	default:
		bad("auth_style", "unknown value %q (want params or header)", c.AuthStyle)
	}
	return errors.Join(errs...)
}

// Credentials puts crmgw's own CRM credential on outgoing requests.
type Credentials interface {
	// Apply sets the upstream Authorization header on r (removing none of
	// the other headers). callerAuth is the caller's original Authorization
	// value, used only by passthrough.
	Apply(ctx context.Context, r *http.Request, callerAuth string) error
	// Invalidate drops the cached token after the CRM answered 401 to it,
	// so the next Apply fetches a new one. A token other than the cached
	// one (already replaced) is ignored.
	Invalidate(failedToken string)
	// InstanceURL is the instance_url (Salesforce) or api_domain (Zoho) of
	// the last token response, "" if none is known.
	InstanceURL() string
}

// TokenFromHeader returns the token part of an Authorization value set by
// Apply, for Invalidate.
func TokenFromHeader(v string) string {
	if i := strings.IndexByte(v, ' '); i >= 0 {
		return v[i+1:]
	}
	return v
}

// NewCredentials builds the Credentials for one upstream. upstreamType
// (salesforce, zoho, generic) chooses the default scheme. Secret files are
// read here; a token is first fetched on the first Apply. client is used for
// token requests (nil: a client with a 30s timeout).
func NewCredentials(cfg UpstreamAuthConfig, upstreamType string, client *http.Client, logger *zap.Logger) (Credentials, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	// Token requests carry client_secret, refresh_token or a signed
	// assertion: a redirect must not carry them elsewhere (a 307 would
	// re-POST the form). A redirect is an error, logged by the caller.
	noRedirects := *client
	noRedirects.CheckRedirect = refuseRedirect
	client = &noRedirects
	scheme := cfg.Scheme
	if scheme == "" {
		scheme = "Bearer"
		if upstreamType == "zoho" {
			scheme = "Zoho-oauthtoken"
		}
	}
	if cfg.Type == AuthProfile {
		return nil, errors.New("identity: auth type profile is for generic upstreams with a profile (NewProfileCredentials)")
	}
	if cfg.Type == AuthPassthrough {
		logger.Warn("upstream auth is passthrough: callers' own CRM credentials are forwarded; use only during migrations")
		return passthrough{}, nil
	}
	var err error
	if cfg.ClientSecretFile != "" {
		if cfg.ClientSecret, err = readSecretFile("client_secret_file", cfg.ClientSecretFile); err != nil {
			return nil, err
		}
	}
	if cfg.RefreshTokenFile != "" {
		if cfg.RefreshToken, err = readSecretFile("refresh_token_file", cfg.RefreshTokenFile); err != nil {
			return nil, err
		}
	}
	margin := cfg.RefreshMargin
	if margin == 0 {
		margin = time.Minute
	}
	c := &oauthCredentials{
		scheme: scheme, client: client, logger: logger.With(zap.String("auth_type", cfg.Type)),
		now: time.Now, margin: margin, failBackoff: time.Second, sem: make(chan struct{}, 1),
		tokenURL: cfg.TokenURL,
	}
	if cfg.UseInstanceURL {
		c.instanceHosts = instanceHostPatterns(cfg.AllowedInstanceHosts, upstreamType)
	}
	c.secrets = []string{cfg.ClientSecret, cfg.RefreshToken, cfg.Token}
	switch cfg.Type {
	case AuthClientCredentials:
		cc := &clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: cfg.TokenURL, Scopes: cfg.Scopes, AuthStyle: oauth2.AuthStyleInParams}
		if cfg.AuthStyle == "header" {
			cc.AuthStyle = oauth2.AuthStyleInHeader
		}
		c.fetch = func(ctx context.Context) (*upstreamToken, error) { return c.clientCredentials(ctx, cc) }
	case AuthJWTBearer:
		key, err := loadRSAKey(cfg.PrivateKeyFile)
		if err != nil {
			return nil, err
		}
		aud := cfg.Audience
		if aud == "" {
			aud = DefaultSalesforceAudience
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			return nil, fmt.Errorf("identity: jwt_bearer signer: %w", err)
		}
		c.fetch = func(ctx context.Context) (*upstreamToken, error) {
			claims, _ := json.Marshal(map[string]any{
				"iss": cfg.ClientID, "sub": cfg.Subject, "aud": aud, "exp": c.now().Add(3 * time.Minute).Unix(),
			})
			jws, err := signer.Sign(claims)
			if err != nil {
				return nil, fmt.Errorf("identity: signing jwt_bearer assertion: %w", err)
			}
			assertion, _ := jws.CompactSerialize()
			return c.postToken(ctx, url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion}})
		}
	case AuthRefreshToken:
		form := url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {cfg.RefreshToken},
			"client_id": {cfg.ClientID}, "client_secret": {cfg.ClientSecret},
		}
		if len(cfg.Scopes) > 0 {
			form.Set("scope", strings.Join(cfg.Scopes, " "))
		}
		c.fetch = func(ctx context.Context) (*upstreamToken, error) { return c.postToken(ctx, form) }
	case AuthStatic:
		if cfg.TokenFile != "" {
			if _, err := readSecretFile("token_file", cfg.TokenFile); err != nil {
				return nil, err
			}
		}
		c.fetch = func(context.Context) (*upstreamToken, error) {
			tok := cfg.Token
			if cfg.TokenFile != "" {
				// Re-read after an Invalidate: the file may have been rotated.
				t, err := readSecretFile("token_file", cfg.TokenFile)
				if err != nil {
					return nil, err
				}
				tok = t
			}
			return &upstreamToken{access: tok}, nil
		}
	}
	return c, nil
}

func readSecretFile(key, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("identity: %s: %w", key, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("identity: %s: %s is empty", key, path)
	}
	return s, nil
}

// loadRSAKey reads a PEM RSA private key, PKCS#1 or PKCS#8.
func loadRSAKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: private_key_file: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("identity: private_key_file %s holds no PEM block", path)
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("identity: private_key_file %s: %w", path, err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("identity: private_key_file %s: %w", path, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("identity: private_key_file %s: not an RSA key (%T)", path, k)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("identity: private_key_file %s: unsupported PEM block %q (want RSA PRIVATE KEY or PRIVATE KEY; encrypted keys are not supported)", path, block.Type)
}

// upstreamToken is one access token and what came with it. The token and
// the instance it is for travel together in this one struct, swapped whole
// (oauthCredentials.tok), so no request pairs a new token with an old
// instance or the reverse.
type upstreamToken struct {
	access      string
	header      string    // scheme + " " + access
	expiry      time.Time // zero: valid until invalidated (Salesforce)
	refreshAt   time.Time // zero: never refresh on time
	instanceURL string    // as the token endpoint sent it
	instance    *url.URL  // checked instanceURL (use_instance_url), else nil
}

// oauthCredentials caches a token fetched by fetch and renews it before
// it expires or after Invalidate, one fetch at a time.
type oauthCredentials struct {
	scheme      string
	client      *http.Client
	logger      *zap.Logger
	now         func() time.Time
	margin      time.Duration
	failBackoff time.Duration
	tokenURL    string
	secrets     []string
	fetch       func(context.Context) (*upstreamToken, error)
	// instanceHosts, non-nil with use_instance_url, are the patterns an
	// instance_url/api_domain must match.
	instanceHosts []hostPattern

	tok         atomic.Pointer[upstreamToken]
	instanceURL atomic.Pointer[string] // the last checked instance URL

	mu       sync.RWMutex // guards lastFail, lastErr
	lastFail time.Time
	lastErr  error

	sem     chan struct{} // one fetch in flight
	fetches atomic.Int64
}

var _ Credentials = (*oauthCredentials)(nil)

// Apply sets Authorization to crmgw's token for the CRM.
func (c *oauthCredentials) Apply(ctx context.Context, r *http.Request, _ string) error {
	t, err := c.token(ctx)
	if err != nil {
		return err
	}
	r.Header["Authorization"] = []string{t.header}
	if t.instance != nil {
		// The instance this token was issued for, read from the same struct.
		r.URL.Scheme, r.URL.Host = t.instance.Scheme, t.instance.Host
		if r.Host != "" {
			r.Host = t.instance.Host
		}
	}
	return nil
}

func (c *oauthCredentials) token(ctx context.Context) (*upstreamToken, error) {
	now := c.now()
	t := c.tok.Load()
	if t != nil && (t.refreshAt.IsZero() || now.Before(t.refreshAt)) {
		return t, nil
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("identity: waiting for upstream token: %w", ctx.Err())
	}
	defer func() { <-c.sem }()
	// Another request may have refreshed while we waited.
	now = c.now()
	t = c.tok.Load()
	c.mu.RLock()
	lastFail, lastErr := c.lastFail, c.lastErr
	c.mu.RUnlock()
	if t != nil && (t.refreshAt.IsZero() || now.Before(t.refreshAt)) {
		return t, nil
	}
	usable := t != nil && (t.expiry.IsZero() || now.Before(t.expiry))
	if lastErr != nil && now.Sub(lastFail) < c.failBackoff {
		if usable {
			return t, nil
		}
		return nil, lastErr
	}
	c.fetches.Add(1)
	nt, err := c.fetch(ctx)
	if err == nil && c.instanceHosts != nil {
		err = c.checkInstance(nt)
	}
	if err != nil {
		tokenFailures.Add(1)
		c.mu.Lock()
		c.lastFail, c.lastErr = now, err
		c.mu.Unlock()
		if usable {
			c.logger.Warn("upstream token refresh failed; using the current token until it expires", zap.Error(err))
			return t, nil
		}
		return nil, err
	}
	nt.header = c.scheme + " " + nt.access
	if !nt.expiry.IsZero() {
		life := nt.expiry.Sub(now)
		m := min(c.margin, life/2)
		nt.refreshAt = nt.expiry.Add(-m)
	}
	c.tok.Store(nt)
	if nt.instance != nil {
		s := nt.instance.String()
		c.instanceURL.Store(&s)
	}
	c.mu.Lock()
	c.lastErr = nil
	c.mu.Unlock()
	c.logger.Debug("upstream token obtained", zap.Time("expiry", nt.expiry))
	return nt, nil
}

// Invalidate drops the cached token if it is still failedToken (the token,
// or the whole Authorization value Apply set).
func (c *oauthCredentials) Invalidate(failedToken string) {
	t := c.tok.Load()
	if t != nil && failedToken != "" && (t.access == failedToken || t.header == failedToken) && c.tok.CompareAndSwap(t, nil) {
		c.mu.Lock()
		c.lastErr = nil
		c.mu.Unlock()
	}
}

// InstanceURL is the last instance_url / api_domain that passed the
// allowed_instance_hosts check ("" without use_instance_url). Apply sets the
// instance on each request itself, from the same struct as the token.
func (c *oauthCredentials) InstanceURL() string {
	if p := c.instanceURL.Load(); p != nil {
		return *p
	}
	return ""
}

func (c *oauthCredentials) clientCredentials(ctx context.Context, cc *clientcredentials.Config) (*upstreamToken, error) {
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, c.client))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			code, desc := re.ErrorCode, re.ErrorDescription
			if code == "" {
				// The endpoint sent a JSON error without a JSON content type.
				var tr tokenResponse
				if json.Unmarshal(re.Body, &tr) == nil {
					code, desc = tr.Error, tr.ErrorDescription
				}
			}
			return nil, c.tokenError(status, code, desc)
		}
		return nil, c.tokenError(0, "", scrubURLError(err))
	}
	t := &upstreamToken{access: tok.AccessToken, expiry: tok.Expiry}
	if s, ok := tok.Extra("instance_url").(string); ok {
		t.instanceURL = s
	} else if s, ok := tok.Extra("api_domain").(string); ok {
		t.instanceURL = s
	}
	return t, nil
}

// tokenResponse is the union of Salesforce's and Zoho's token responses.
type tokenResponse struct {
	AccessToken      string          `json:"access_token"`
	TokenType        string          `json:"token_type"`
	ExpiresIn        json.RawMessage `json:"expires_in"`
	InstanceURL      string          `json:"instance_url"`
	APIDomain        string          `json:"api_domain"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// postToken POSTs a form to the token endpoint and reads the JSON answer.
// Zoho reports some errors with HTTP 200 and an "error" member.
func (c *oauthCredentials) postToken(ctx context.Context, form url.Values) (*upstreamToken, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, c.tokenError(0, "", "building request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, c.tokenError(0, "", scrubURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, c.tokenError(resp.StatusCode, "", "reading response")
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, c.tokenError(resp.StatusCode, "", "response is not JSON")
	}
	if resp.StatusCode != http.StatusOK || tr.Error != "" {
		return nil, c.tokenError(resp.StatusCode, tr.Error, tr.ErrorDescription)
	}
	if tr.AccessToken == "" {
		return nil, c.tokenError(resp.StatusCode, "", "response has no access_token")
	}
	t := &upstreamToken{access: tr.AccessToken, instanceURL: tr.InstanceURL}
	if t.instanceURL == "" {
		t.instanceURL = tr.APIDomain
	}
	if secs := parseExpiresIn(tr.ExpiresIn); secs > 0 {
		t.expiry = c.now().Add(time.Duration(secs) * time.Second)
	}
	return t, nil
}

// parseExpiresIn reads expires_in as a number or a numeric string.
func parseExpiresIn(raw json.RawMessage) int64 {
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// TokenError is a failed token request: the endpoint, the HTTP status and
// the OAuth error code. It never holds a secret.
type TokenError struct {
	URL         string // without query
	Status      int    // 0 when no response arrived
	Code        string // OAuth "error", e.g. invalid_grant
	Description string
}

// Error says which endpoint failed, with the HTTP status and OAuth code.
func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("identity: token request to ")
	b.WriteString(e.URL)
	b.WriteString(" failed")
	if e.Status != 0 {
		b.WriteString(": HTTP ")
		b.WriteString(strconv.Itoa(e.Status))
	}
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Description != "" {
		b.WriteString(" (")
		b.WriteString(e.Description)
		b.WriteString(")")
	}
	return b.String()
}

func (c *oauthCredentials) tokenError(status int, code, desc string) error {
	u := c.tokenURL
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if len(desc) > 300 {
		desc = desc[:300] + "…"
	}
	for _, s := range c.secrets {
		if len(s) >= 4 {
			desc = strings.ReplaceAll(desc, s, redacted)
			code = strings.ReplaceAll(code, s, redacted)
		}
	}
	return &TokenError{URL: u, Status: status, Code: code, Description: desc}
}

// scrubURLError keeps the cause of a transport error, not the URL (which
// url.Error would print with any query string).
func scrubURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// passthrough forwards the caller's own Authorization. Unsafe: the caller
// then holds a CRM credential; meant only for migrations.
type passthrough struct{}

var _ Credentials = passthrough{}

// Apply copies callerAuth to r.
func (passthrough) Apply(_ context.Context, r *http.Request, callerAuth string) error {
	if callerAuth == "" {
		return errors.New("identity: passthrough: the caller sent no Authorization to forward")
	}
	r.Header["Authorization"] = []string{callerAuth}
	return nil
}

// Invalidate does nothing: the credential is the caller's.
func (passthrough) Invalidate(string) {}

// InstanceURL is unknown for passthrough.
func (passthrough) InstanceURL() string { return "" }
