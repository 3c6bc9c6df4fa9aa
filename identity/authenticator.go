package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	jose "github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

// maxTokenLen bounds the credential a caller may send; longer ones are
// refused before any parsing.
const maxTokenLen = 16 << 10

// Issuers of subjects that do not come from an OIDC token.
const (
	IssuerAPIKey = "crmgw:api_key"
	IssuerMTLS   = "crmgw:mtls"
)

// Authenticator identifies callers. It is safe for concurrent use. What
// the configuration says (issuers, API keys, allow-lists, mTLS clients)
// lives in one immutable authState behind an atomic pointer, so Prepare
// can replace it while requests are being authenticated (reload.go).
type Authenticator struct {
	logger *zap.Logger
	now    func() time.Time
	st     atomic.Pointer[authState]

	verifications atomic.Int64
}

// authState is one configuration of the Authenticator, never changed once
// installed.
type authState struct {
	cfg      Config
	allowed  []netip.Prefix
	trusted  []netip.Prefix
	issuers  map[string]*issuer
	ordered  []*issuer
	apiKeys  map[[32]byte]*apiKey
	mtlsByID map[string]*Subject // by SPIFFE ID
	mtlsByDN map[string]*Subject // by canonical subject DN (ParseDN)
	cache    *tokenCache
}

type apiKey struct {
	hash    [32]byte
	subject *Subject
	allowed []netip.Prefix
}

// NewAuthenticator builds an Authenticator from a validated cfg (defaults
// are applied here too). It runs discovery for every issuer; an issuer that
// is unreachable does not fail the start: it is retried when a token from it
// arrives and reported by Ready until it answers.
func NewAuthenticator(ctx context.Context, cfg Config, logger *zap.Logger) (*Authenticator, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	a := &Authenticator{logger: logger, now: time.Now}
	st, fresh, err := a.newState(cfg, nil)
	if err != nil {
		return nil, err
	}
	a.discover(ctx, fresh)
	a.st.Store(st)
	return a, nil
}

// newState builds the state cfg describes. Issuers of prev whose settings
// are unchanged are kept (with their discovered keys), and so is prev's
// token cache when nothing that a cached entry depends on changed; fresh
// are the issuers built anew, still to be discovered.
func (a *Authenticator) newState(cfg Config, prev *authState) (st *authState, fresh []*issuer, err error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	st = &authState{
		cfg:      cfg,
		allowed:  parsePrefixes(cfg.AllowedCIDRs),
		trusted:  parsePrefixes(cfg.TrustedProxies),
		issuers:  map[string]*issuer{},
		apiKeys:  map[[32]byte]*apiKey{},
		mtlsByID: map[string]*Subject{},
		mtlsByDN: map[string]*Subject{},
	}
	client := &http.Client{Timeout: cfg.HTTPTimeout}
	for i, o := range cfg.OIDC {
		if old := prev.reusableIssuer(o, i == 0, cfg.HTTPTimeout); old != nil {
			st.issuers[o.Issuer] = old
			st.ordered = append(st.ordered, old)
			continue
		}
		algs := make([]jose.SignatureAlgorithm, len(o.Algorithms))
		for i, s := range o.Algorithms {
			algs[i] = jose.SignatureAlgorithm(s)
		}
		is := &issuer{
			cfg:     o,
			client:  client,
			logger:  a.logger,
			now:     func() time.Time { return a.now() },
			allowed: parsePrefixes(o.AllowedCIDRs),
			algs:    algs,
			counter: &a.verifications,
			primary: i == 0,
		}
		if o.Introspection != nil {
			is.introspect = newIntrospector(*o.Introspection, cfg.HTTPTimeout)
		}
		st.issuers[o.Issuer] = is
		st.ordered = append(st.ordered, is)
		fresh = append(fresh, is)
	}
	for _, k := range cfg.APIKeys {
		var h [32]byte
		b, _ := hex.DecodeString(strings.ToLower(k.KeySHA256))
		copy(h[:], b)
		st.apiKeys[h] = &apiKey{
			hash:    h,
			allowed: parsePrefixes(k.AllowedCIDRs),
			subject: &Subject{
				Kind: KindClient, ID: k.ID, Issuer: IssuerAPIKey, Email: k.Email,
				Groups: nonNil(k.Groups), Roles: nonNil(k.Roles), ClientID: k.ID,
				Claims: map[string]any{}, Method: MethodAPIKey, IssuerPrimary: true,
			},
		}
	}
	for _, m := range cfg.MTLS.Clients {
		s := &Subject{
			Kind: KindClient, ID: m.ID, Issuer: IssuerMTLS, Groups: nonNil(m.Groups),
			Roles: nonNil(m.Roles), ClientID: m.ID, Claims: map[string]any{}, Method: MethodMTLS, IssuerPrimary: true,
		}
		if m.SPIFFEID != "" {
			st.mtlsByID[m.SPIFFEID] = s
		} else {
			dn, _ := ParseDN(m.SubjectDN) // checked by Validate
			st.mtlsByDN[dn] = s
		}
	}
	if prev.cacheStillValid(cfg) {
		st.cache = prev.cache
	} else {
		st.cache = newTokenCache(cfg.TokenCacheSize)
	}
	return st, fresh, nil
}

// discover runs discovery for issuers not set up yet; one that does not
// answer is retried when a token from it arrives.
func (a *Authenticator) discover(ctx context.Context, issuers []*issuer) {
	for _, is := range issuers {
		if _, err := is.ensure(ctx); err != nil {
			a.logger.Warn("oidc issuer not reachable; will retry", zap.String("issuer", is.cfg.Issuer), zap.Error(err))
		}
	}
}

// Ready reports whether every configured issuer has been discovered and its
// keys fetched, retrying the ones that have not (at most every 5s each).
func (a *Authenticator) Ready(ctx context.Context) error {
	var errs []error
	for _, is := range a.st.Load().ordered {
		if _, err := is.ensure(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Authenticate identifies the caller of r. On failure the error is an
// *AuthError (401 for a missing or invalid credential, 403 for an address
// outside an allow-list, 503 when the token's issuer cannot be reached).
// The returned Subject is shared and must not be modified.
func (a *Authenticator) Authenticate(r *http.Request) (*Subject, error) {
	st := a.st.Load() // one configuration for the whole request
	ip := st.clientIP(r)
	if len(st.allowed) > 0 && !inPrefixes(st.allowed, ip) {
		return nil, forbidden("caller address is not allowed")
	}
	cert := verifiedCert(r)
	vals := r.Header["Authorization"]
	if len(vals) == 0 {
		// Bulk API 1.0 clients (simple-salesforce's sf.bulk, jsforce's
		// Bulk 1.0) send their session in X-SFDC-Session instead: it is
		// the caller's credential for the gateway like a bearer token
		// (and, like every caller credential, never forwarded).
		if s := r.Header["X-Sfdc-Session"]; len(s) > 0 {
			if len(s) > 1 {
				return nil, unauthorized("more than one X-SFDC-Session header")
			}
			vals = []string{"Bearer " + strings.TrimSpace(s[0])}
		}
	}
	switch len(vals) {
	case 0:
		if st.cfg.MTLS.Identity && cert != nil {
			return st.authCert(cert)
		}
		return nil, &AuthError{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Reason: GenericReason, Detail: "no credential sent", err: ErrNoCredential}
	case 1:
	default:
		return nil, unauthorized("more than one Authorization header")
	}
	token, ok := parseAuthorization(vals[0])
	if !ok {
		return nil, unauthorized("unsupported Authorization scheme")
	}
	if len(token) > maxTokenLen {
		return nil, unauthorized("credential too long")
	}
	var sub *Subject
	if looksLikeJWT(token) {
		s, is, err := a.authJWT(r.Context(), st, token)
		if err != nil {
			return nil, err
		}
		if len(is.allowed) > 0 && !inPrefixes(is.allowed, ip) {
			// 401 like any bad credential: a 403 would confirm the token is good.
			return nil, unauthorized("token of issuer " + is.cfg.Issuer + " used from an address outside its allowed_cidrs")
		}
		sub = s
	} else {
		s, err := st.authAPIKey(token, ip)
		if err != nil {
			return nil, err
		}
		sub = s
	}
	if cert != nil {
		sub = sub.withCert(cert)
	}
	return sub, nil
}

// parseAuthorization accepts "Bearer", "Zoho-oauthtoken" and "OAuth"
// (Salesforce clients) schemes, case-insensitively.
func parseAuthorization(v string) (string, bool) {
	sp := strings.IndexByte(v, ' ')
	if sp <= 0 {
		return "", false
	}
	scheme := v[:sp]
	if !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "Zoho-oauthtoken") && !strings.EqualFold(scheme, "OAuth") {
		return "", false
	}
	token := strings.TrimSpace(v[sp+1:])
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

// stringBytes views s as bytes without copying, for hashing only.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func (a *Authenticator) authJWT(ctx context.Context, st *authState, token string) (*Subject, *issuer, error) {
	h := sha256.Sum256(stringBytes(token))
	now := a.now()
	if e, ok := st.cache.get(h, now); ok {
		return e.subject, e.issuer, nil
	}
	iss, ok := unverifiedIssuer(token)
	if !ok {
		return nil, nil, unauthorized("malformed token")
	}
	is := st.issuers[iss]
	if is == nil {
		return nil, nil, unauthorized("token issuer is not trusted")
	}
	v, err := is.ensure(ctx)
	if err != nil {
		return nil, nil, unavailable("token issuer cannot be reached", err)
	}
	tok, err := v.Verify(ctx, token)
	if err != nil {
		if ce := a.logger.Check(zap.DebugLevel, "token rejected"); ce != nil {
			ce.Write(zap.String("issuer", iss), zap.Error(err))
		}
		return nil, nil, unauthorized(verifyReason(err))
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, nil, unauthorized("malformed token")
	}
	exp, detail := checkTokenTimes(claims, now, st.cfg.ClockSkew, is.cfg.MaxTokenLifetime, *is.cfg.RequireIAT)
	if detail != "" {
		return nil, nil, unauthorized(detail)
	}
	s := is.subjectFromClaims(claims)
	if s.ID == "" {
		return nil, nil, unauthorized("token has no subject")
	}
	ttl := st.cfg.TokenCacheTTL
	if is.introspect != nil {
		if err := is.introspect.check(ctx, token, s.ID); err != nil {
			return nil, nil, err
		}
		ttl = min(ttl, is.cfg.Introspection.CacheTTL)
	}
	// Remembered for the cache TTL at most, whatever exp says, so a key
	// removed from the JWKS or a session revoked at the IdP stops working
	// within jwks_refresh (or the introspection) plus this TTL.
	expires := min(exp.Add(st.cfg.ClockSkew).UnixNano(), now.Add(ttl).UnixNano())
	st.cache.put(h, cacheEntry{subject: s, issuer: is, expires: time.Unix(0, expires)}, now)
	return s, is, nil
}

func (st *authState) authAPIKey(token string, ip netip.Addr) (*Subject, error) {
	h := sha256.Sum256(stringBytes(token))
	k := st.apiKeys[h]
	if k == nil || subtle.ConstantTimeCompare(k.hash[:], h[:]) != 1 {
		return nil, unauthorized("unknown API key")
	}
	if len(k.allowed) > 0 && !inPrefixes(k.allowed, ip) {
		// 401 like an unknown key: a 403 would confirm a stolen key is valid.
		return nil, unauthorized("API key " + k.subject.ID + " used from an address outside its allowed_cidrs")
	}
	return k.subject, nil
}

// authCert identifies a caller by its certificate alone: by its SPIFFE ID
// if it carries one (and then only by it: an unregistered SPIFFE ID never
// falls back to the subject DN), otherwise by its exact canonical subject DN
// (docs/identity.md, "mTLS").
func (st *authState) authCert(c *certInfo) (*Subject, error) {
	var s *Subject
	switch {
	case c.badSPIFFE:
		return nil, unauthorized("client certificate carries more than one SPIFFE ID")
	case c.spiffeID != "":
		if s = st.mtlsByID[c.spiffeID]; s == nil {
			return nil, unauthorized("client certificate's SPIFFE ID " + c.spiffeID + " is not registered")
		}
	case c.subjectDN == "":
		return nil, unauthorized("client certificate subject cannot be read")
	default:
		if s = st.mtlsByDN[c.subjectDN]; s == nil {
			return nil, unauthorized("client certificate subject " + c.subjectDN + " is not registered")
		}
	}
	return s.withCert(c), nil
}

// ClientIP is the caller's address: the TCP peer, or, when the peer is one
// of identity.trusted_proxies, the right-most X-Forwarded-For entry that is
// not a trusted proxy. An unparsable entry stops the walk at the last
// trusted hop.
func (a *Authenticator) ClientIP(r *http.Request) netip.Addr { return a.st.Load().clientIP(r) }

func (st *authState) clientIP(r *http.Request) netip.Addr {
	var peer netip.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		peer = ap.Addr()
	} else if ad, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		peer = ad
	}
	peer = peer.Unmap()
	if !peer.IsValid() || len(st.trusted) == 0 || !inPrefixes(st.trusted, peer) {
		return peer
	}
	addr := peer
	xff := r.Header["X-Forwarded-For"]
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for v != "" {
			var part string
			if c := strings.LastIndexByte(v, ','); c >= 0 {
				part, v = v[c+1:], v[:c]
			} else {
				part, v = v, ""
			}
			hop, ok := parseHop(strings.TrimSpace(part))
			if !ok {
				return addr
			}
			addr = hop
			if !inPrefixes(st.trusted, hop) {
				return hop
			}
		}
	}
	return addr
}

// parseHop reads an X-Forwarded-For entry: an address, optionally with a
// port ("1.2.3.4:5", "[::1]:5").
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// certInfo is what a verified client certificate says about its holder.
type certInfo struct {
	subjectDN string // canonical (CanonicalDN); "" if unreadable
	spiffeID  string
	badSPIFFE bool // more than one spiffe:// URI SAN
}

// verifiedCert returns the leaf of the verified client chain; an
// unverified certificate is ignored.
func verifiedCert(r *http.Request) *certInfo {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return describeCert(r.TLS.VerifiedChains[0][0])
}

func describeCert(c *x509.Certificate) *certInfo {
	ci := &certInfo{}
	ci.subjectDN, _ = CanonicalDN(c.RawSubject)
	for _, u := range c.URIs {
		if !strings.EqualFold(u.Scheme, "spiffe") {
			continue
		}
		if ci.spiffeID != "" {
			ci.badSPIFFE = true // a SPIFFE SVID holds exactly one
		}
		ci.spiffeID = u.String()
	}
	return ci
}

// withCert returns a copy of s carrying the certificate's identity.
func (s *Subject) withCert(c *certInfo) *Subject {
	cp := *s
	cp.Claims = make(map[string]any, len(s.Claims)+2)
	for k, v := range s.Claims {
		cp.Claims[k] = v
	}
	cp.Claims["x509_subject"] = c.subjectDN
	cp.CertSubject = c.subjectDN
	if c.spiffeID != "" {
		cp.Claims["spiffe_id"] = c.spiffeID
		cp.SPIFFEID = c.spiffeID
	}
	return &cp
}

// tokenCache remembers verified tokens by SHA-256 until their entry expires
// (token_cache_ttl at most, never past the token's exp), so the hot path
// costs a hash and a map lookup instead of a signature check.
type tokenCache struct {
	mu  sync.RWMutex
	m   map[[32]byte]cacheEntry
	max int
}

type cacheEntry struct {
	subject *Subject
	issuer  *issuer
	expires time.Time
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{m: make(map[[32]byte]cacheEntry), max: max}
}

func (c *tokenCache) get(h [32]byte, now time.Time) (cacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[h]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *tokenCache) put(h [32]byte, e cacheEntry, now time.Time) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, v := range c.m {
			if !now.Before(v.expires) {
				delete(c.m, k)
			}
		}
		// Still full: drop an arbitrary tenth (map order is random).
		for k := range c.m {
			if len(c.m) < c.max-c.max/10 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[h] = e
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

var _ error = (*AuthError)(nil)

// String names the authenticator's sources for logs (no secrets).
func (a *Authenticator) String() string {
	st := a.st.Load()
	return fmt.Sprintf("identity.Authenticator{issuers: %d, api_keys: %d}", len(st.ordered), len(st.apiKeys))
}
