// Package config loads crmgw's YAML configuration: it expands ${ENV}
// references (an unset variable is an error), rejects unknown keys, fills
// defaults and validates every section, reporting all problems at once with
// the key and the file:line where it was written.
//
// Each stage package owns the type and validation of its own section
// (identity.Config, policy.Config, ratelimit.Config, audit.Config); this
// package composes them and owns only the sections that belong to the
// gateway as a whole: server, admin, log, upstreams and masking.
package config

import (
	"errors"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/crmgw/crmgw/approval"
	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/identity"
	"github.com/crmgw/crmgw/internal/confkey"
	"github.com/crmgw/crmgw/masking"
	"github.com/crmgw/crmgw/policy"
	"github.com/crmgw/crmgw/ratelimit"
)

// Config is the whole configuration file.
type Config struct {
	Server    ServerConfig       `yaml:"server"`
	Admin     AdminConfig        `yaml:"admin"`
	Log       LogConfig          `yaml:"log"`
	Upstreams []UpstreamConfig   `yaml:"upstreams"`
	Identity  identity.Config    `yaml:"identity"`
	Policy    policy.Config      `yaml:"policy"`
	Masking   masking.Config     `yaml:"masking"`
	Ratelimit ratelimit.Config   `yaml:"ratelimit"`
	Audit     audit.Config       `yaml:"audit"`
	Alerts    audit.AlertsConfig `yaml:"alerts"`
	Approvals approval.Config    `yaml:"approvals"`
	Tracing   TracingConfig      `yaml:"tracing"`

	path     string
	warnings []*Problem
}

// Path is the file the configuration was read from.
func (c *Config) Path() string { return c.path }

// ServerConfig is the proxy listener.
type ServerConfig struct {
	Listen string     `yaml:"listen"`
	TLS    *TLSConfig `yaml:"tls"`
	// MaxRequestBody bounds what a caller may send (and what the classifier
	// reads). Default 10MiB.
	MaxRequestBody confkey.ByteSize `yaml:"max_request_body"`
	// ReadHeaderTimeout bounds slow-loris header sends. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request body. Default 60s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a whole response. 0 (default) leaves
	// large exports to stream for as long as they take; the upstream
	// response header timeout and idle timeouts still apply.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds how long in-flight requests may finish after
	// SIGTERM. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// TLSConfig turns on TLS (and mTLS with ClientCAFile) on the proxy listener.
type TLSConfig struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// AdminConfig is the admin listener (/healthz, /readyz, /metrics and the
// admin API). See docs/hardening.md, "Admin listener".
type AdminConfig struct {
	Listen string `yaml:"listen"`
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every admin endpoint but the probes (/healthz, /readyz) and, unless
	// ProtectMetrics, /metrics. Without a token those endpoints answer
	// loopback callers only. At least 16 characters; use ${ENV}.
	Token string `yaml:"token"`
	// TokenFile holds the token instead: its first line, surrounding
	// whitespace ignored. It is read when the gateway starts and again on
	// each configuration reload (SIGHUP).
	TokenFile string `yaml:"token_file"`
	// ProtectMetrics puts /metrics behind the token too.
	ProtectMetrics bool `yaml:"protect_metrics"`
}

// minAdminToken is the shortest admin token accepted.
const minAdminToken = 16

// LogConfig selects zap's level and encoding.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error (default info)
	Format string `yaml:"format"` // json (default) | console
}

// UpstreamConfig is one CRM the gateway fronts.
type UpstreamConfig struct {
	Name     string                      `yaml:"name"`
	Type     string                      `yaml:"type"` // salesforce | zoho | generic
	URL      string                      `yaml:"url"`
	Match    MatchConfig                 `yaml:"match"`
	Auth     identity.UpstreamAuthConfig `yaml:"auth"`
	Timeouts UpstreamTimeouts            `yaml:"timeouts"`
	// Profile describes a generic CRM (type: generic).
	Profile string `yaml:"profile"`
	// Compression is what the gateway asks the CRM for: gzip (default:
	// right for a SaaS CRM across the internet; the gateway decodes it to
	// mask) or none (a CRM on the same network, where decoding costs more
	// CPU than the bytes saved).
	Compression string `yaml:"compression"`
	// Describe lets the classifier ask a Salesforce CRM for an object's
	// describe metadata (with the gateway's credential, cached) to resolve
	// custom relationship names in the access plan; off, only the built-in
	// table of standard relationships is used and others are "unknown"
	// (docs/classification.md).
	Describe bool `yaml:"describe"`
}

// MatchConfig chooses the upstream for a request. Both empty: the default.
type MatchConfig struct {
	PathPrefix string `yaml:"path_prefix"` // stripped before forwarding
	Host       string `yaml:"host"`
}

// UpstreamTimeouts bound every phase of an upstream exchange.
type UpstreamTimeouts struct {
	Dial           time.Duration `yaml:"dial"`            // default 5s
	TLSHandshake   time.Duration `yaml:"tls_handshake"`   // default 5s
	ResponseHeader time.Duration `yaml:"response_header"` // default 60s
	IdleConn       time.Duration `yaml:"idle_conn"`       // default 90s
}

// SetDefaults fills every section's defaults.
func (c *Config) SetDefaults() {
	s := &c.Server
	if s.Listen == "" {
		s.Listen = "127.0.0.1:8080"
	}
	if s.MaxRequestBody == 0 {
		s.MaxRequestBody = 10 << 20
	}
	if s.ReadHeaderTimeout == 0 {
		s.ReadHeaderTimeout = 10 * time.Second
	}
	if s.ReadTimeout == 0 {
		s.ReadTimeout = 60 * time.Second
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = 120 * time.Second
	}
	if s.ShutdownTimeout == 0 {
		s.ShutdownTimeout = 30 * time.Second
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = "127.0.0.1:9090"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	for i := range c.Upstreams {
		t := &c.Upstreams[i].Timeouts
		if t.Dial == 0 {
			t.Dial = 5 * time.Second
		}
		if t.TLSHandshake == 0 {
			t.TLSHandshake = 5 * time.Second
		}
		if t.ResponseHeader == 0 {
			t.ResponseHeader = 60 * time.Second
		}
		if t.IdleConn == 0 {
			t.IdleConn = 90 * time.Second
		}
		if c.Upstreams[i].Compression == "" {
			c.Upstreams[i].Compression = "gzip"
		}
	}
	c.Masking.SetDefaults()
	c.Identity.SetDefaults()
	c.Policy.SetDefaults()
	c.Ratelimit.SetDefaults()
	c.Audit.SetDefaults()
	c.Alerts.SetDefaults()
	c.Approvals.SetDefaults()
	c.Tracing.SetDefaults()
}

// Validate checks every section and returns all problems.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, confkey.Errorf(key, format, args...)) }

	if msg := checkListen(c.Server.Listen); msg != "" {
		bad("server.listen", "%s", msg)
	}
	if t := c.Server.TLS; t != nil {
		if t.CertFile == "" {
			bad("server.tls.cert_file", "required when server.tls is set")
		}
		if t.KeyFile == "" {
			bad("server.tls.key_file", "required when server.tls is set")
		}
	}
	if c.Server.MaxRequestBody < 0 {
		bad("server.max_request_body", "must not be negative")
	}
	if msg := checkListen(c.Admin.Listen); msg != "" {
		bad("admin.listen", "%s", msg)
	} else if c.Admin.Listen == c.Server.Listen && !strings.HasSuffix(c.Admin.Listen, ":0") {
		bad("admin.listen", "must differ from server.listen: the admin endpoints never share the proxy listener")
	}
	if c.Admin.Token != "" && c.Admin.TokenFile != "" {
		bad("admin.token_file", "set either admin.token or admin.token_file, not both")
	}
	if t := c.Admin.Token; t != "" && len(strings.TrimSpace(t)) < minAdminToken {
		bad("admin.token", "must be at least %d characters (the value is not shown)", minAdminToken)
	}
	if c.Admin.ProtectMetrics && c.Admin.Token == "" && c.Admin.TokenFile == "" {
		bad("admin.protect_metrics", "needs admin.token or admin.token_file")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		bad("log.format", "want json or console, got %q", c.Log.Format)
	}

	if len(c.Upstreams) == 0 {
		bad("upstreams", "at least one upstream is required")
	}
	names := map[string]bool{}
	defaults := 0
	routes := map[string]string{}
	for i, u := range c.Upstreams {
		k := "upstreams[" + strconv.Itoa(i) + "]"
		switch {
		case u.Name == "":
			bad(k+".name", "required")
		case names[u.Name]:
			bad(k+".name", "duplicate upstream name %q", u.Name)
		}
		names[u.Name] = true
		switch u.Type {
		case "salesforce", "zoho":
		case "generic":
			if u.Profile == "" {
				bad(k+".profile", "required for type generic (a built-in name: fxiaoke, jiandaoyun, kingdee, neocrm; or a file)")
			}
		default:
			bad(k+".type", "want salesforce, zoho or generic, got %q", u.Type)
		}
		if pu, err := url.Parse(u.URL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			bad(k+".url", "want an absolute http(s) URL, got %q", u.URL)
		} else if pu.RawQuery != "" || pu.Fragment != "" {
			bad(k+".url", "must not carry a query or fragment")
		}
		if p := u.Match.PathPrefix; p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "..") || strings.Contains(p, "//")) {
			bad(k+".match.path_prefix", "want a clean path like /sf (leading /, no trailing /), got %q", p)
		}
		if u.Match.PathPrefix == "" && u.Match.Host == "" {
			defaults++
		}
		route := strings.ToLower(u.Match.Host) + "|" + u.Match.PathPrefix
		if other, dup := routes[route]; dup {
			bad(k+".match", "same match as upstream %q", other)
		}
		routes[route] = u.Name
		if u.Compression != "gzip" && u.Compression != "none" {
			bad(k+".compression", "want gzip or none, got %q", u.Compression)
		}
		if err := u.Auth.Validate(); err != nil {
			errs = append(errs, confkey.Prefix(k+".auth", err))
		}
		if u.Auth.Type == "profile" && u.Type != "generic" {
			bad(k+".auth.type", "profile is for upstreams of type generic")
		}
	}
	if c.Audit.QueryText == audit.QueryTextHash && c.Masking.HMACKey == "" {
		bad("audit.query_text", "hash needs masking.hmac_key")
	}
	if defaults > 1 {
		bad("upstreams", "%d upstreams have an empty match; at most one may be the default", defaults)
	}

	errs = append(errs,
		confkey.Prefix("identity", c.Identity.Validate()),
		confkey.Prefix("masking", c.Masking.Validate()),
		confkey.Prefix("policy", c.Policy.Validate()),
		confkey.Prefix("ratelimit", c.Ratelimit.Validate()),
		confkey.Prefix("audit", c.Audit.Validate()),
		confkey.Prefix("alerts", c.Alerts.Validate()),
		confkey.Prefix("approvals", c.Approvals.Validate()),
		confkey.Prefix("tracing", c.Tracing.Validate()),
	)
	if c.Admin.Token != "" && c.Admin.TokenFile != "" {
		bad("admin.token", "set admin.token or admin.token_file, not both")
	}
	if c.Admin.Token != "" && len(c.Admin.Token) < 16 {
		bad("admin.token", "must be at least 16 characters")
	}
	return errors.Join(errs...)
}

// resolvePaths makes file paths relative to the config file's directory.
func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if t := c.Server.TLS; t != nil {
		abs(&t.CertFile)
		abs(&t.KeyFile)
		abs(&t.ClientCAFile)
	}
	for i := range c.Policy.Paths {
		abs(&c.Policy.Paths[i])
	}
	if d := c.Policy.DecisionLog; d != nil {
		abs(&d.Path)
	}
	if b := c.Policy.Bundle; b != nil {
		abs(&b.Path)
		if b.Verification != nil {
			abs(&b.Verification.PublicKeyFile)
		}
	}
	for i := range c.Upstreams {
		a := &c.Upstreams[i].Auth
		abs(&a.PrivateKeyFile)
		abs(&a.ClientSecretFile)
		abs(&a.RefreshTokenFile)
		abs(&a.TokenFile)
		if p := c.Upstreams[i].Profile; strings.ContainsAny(p, `/\`) || strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") {
			abs(&c.Upstreams[i].Profile) // a file; a bare name is a built-in profile (docs/profiles.md)
		}
	}
	for _, sinks := range [][]audit.SinkConfig{c.Audit.Sinks, c.Alerts.Sinks} {
		for i := range sinks {
			abs(&sinks[i].Path)
			if t := sinks[i].TLS; t != nil {
				abs(&t.CAFile)
				abs(&t.CertFile)
				abs(&t.KeyFile)
			}
		}
	}
	abs(&c.Admin.TokenFile)
	abs(&c.Audit.SpoolDir)
	abs(&c.Masking.SpoolDir)
	abs(&c.Admin.TokenFile)
}
