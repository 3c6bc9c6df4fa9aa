package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

// discoveryRetryInterval is the least time between two discovery attempts
// for an issuer that was unreachable.
const discoveryRetryInterval = 5 * time.Second

// maxJWKSBytes bounds a JWKS or discovery response.
const maxJWKSBytes = 1 << 20

// issuer is one trusted OIDC issuer: its verifier, set up lazily when the
// IdP was unreachable at start.
type issuer struct {
	cfg     OIDCConfig
	client  *http.Client
	logger  *zap.Logger
	now     func() time.Time
	allowed []netip.Prefix
	algs    []jose.SignatureAlgorithm
	counter *atomic.Int64 // signature verifications, shared by the Authenticator
	// primary is the first issuer listed: the one whose roles, groups and
	// MFA are trusted without an allow-list (see scope.go).
	primary    bool
	introspect *introspector // nil without introspection

	verifier atomic.Pointer[oidc.IDTokenVerifier]
	keys     atomic.Pointer[keySet]

	mu          sync.Mutex // serialises setup
	lastAttempt time.Time
	lastErr     error
}

// ensure returns the verifier, setting it up (discovery + first JWKS fetch)
// if that has not succeeded yet. Failed attempts are retried at most every
// discoveryRetryInterval.
func (is *issuer) ensure(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	if v := is.verifier.Load(); v != nil {
		return v, nil
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if v := is.verifier.Load(); v != nil {
		return v, nil
	}
	now := is.now()
	if !is.lastAttempt.IsZero() && now.Sub(is.lastAttempt) < discoveryRetryInterval && is.lastErr != nil {
		return nil, is.lastErr
	}
	is.lastAttempt = now
	err := is.setup(ctx)
	is.lastErr = err
	if err != nil {
		return nil, err
	}
	is.logger.Info("oidc issuer ready", zap.String("issuer", is.cfg.Issuer))
	return is.verifier.Load(), nil
}

func (is *issuer) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, is.client.Timeout)
	defer cancel()
	jwksURL := is.cfg.JWKSURL
	if jwksURL == "" {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, is.client), is.cfg.Issuer)
		if err != nil {
			jwksFailures.Add(1)
			return fmt.Errorf("identity: discovery for issuer %s: %w", is.cfg.Issuer, err)
		}
		var meta struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := p.Claims(&meta); err != nil || meta.JWKSURI == "" {
			jwksFailures.Add(1)
			return fmt.Errorf("identity: discovery for issuer %s: no jwks_uri", is.cfg.Issuer)
		}
		jwksURL = meta.JWKSURI
	}
	ks := &keySet{
		url:         jwksURL,
		client:      is.client,
		algs:        is.algs,
		minInterval: is.cfg.JWKSRefreshMinInterval,
		refresh:     is.cfg.JWKSRefresh,
		now:         is.now,
		counter:     is.counter,
		logger:      is.logger,
		issuer:      is.cfg.Issuer,
	}
	keys, err := ks.fetch(ctx)
	if err != nil {
		return fmt.Errorf("identity: issuer %s: %w", is.cfg.Issuer, err)
	}
	ks.store(keys, is.now())
	algs := make([]string, len(is.algs))
	for i, a := range is.algs {
		algs[i] = string(a)
	}
	v := oidc.NewVerifier(is.cfg.Issuer, ks, &oidc.Config{
		ClientID:             is.cfg.Audience,
		SupportedSigningAlgs: algs,
		// exp and nbf are checked by us with the configured clock skew.
		SkipExpiryCheck: true,
	})
	is.keys.Store(ks)
	is.verifier.Store(v)
	return nil
}

// keySet is an oidc.KeySet over a JWKS URL, used through go-oidc's
// IDTokenVerifier. It refetches the JWKS
//
//   - periodically: keys are never older than refresh when a token is
//     verified, so a key the IdP removed stops verifying within refresh
//     (a background refetch starts between 80% and 90% of refresh, jittered
//     so replicas do not fetch in step; past refresh the verifying request
//     waits for it); a failed refetch keeps the keys and is retried with
//     exponential backoff (1s doubling, at most refresh);
//   - on an unknown key id, at most once per minInterval, so tokens carrying
//     made-up kids cannot turn crmgw into a load generator against the IdP.
type keySet struct {
	url         string
	client      *http.Client
	algs        []jose.SignatureAlgorithm
	minInterval time.Duration
	refresh     time.Duration
	now         func() time.Time
	counter     *atomic.Int64
	logger      *zap.Logger
	issuer      string

	keys       atomic.Pointer[[]jose.JSONWebKey]
	due        atomic.Pointer[refreshDue]
	refreshing atomic.Bool // a background refetch is running

	fetchMu     sync.Mutex
	lastRefetch time.Time
	failures    int       // periodic refetches failed in a row
	retryAt     time.Time // no periodic refetch before (backoff)
}

// refreshDue says when the keys fetched at one time are due again.
type refreshDue struct {
	soft time.Time // start a background refetch
	hard time.Time // refetch before verifying
}

// store installs keys fetched at now and schedules the next refetch.
func (k *keySet) store(keys []jose.JSONWebKey, now time.Time) {
	k.keys.Store(&keys)
	if k.refresh <= 0 {
		return
	}
	jitter := time.Duration(rand.Int64N(int64(k.refresh/10) + 1))
	k.due.Store(&refreshDue{soft: now.Add(k.refresh*9/10 - jitter), hard: now.Add(k.refresh)})
}

// keepFresh refetches the keys when they are due: in the background when
// soft-due, before returning when hard-due (unless backing off after
// failures, when the current keys are used).
func (k *keySet) keepFresh(ctx context.Context) {
	d := k.due.Load()
	if d == nil {
		return
	}
	now := k.now()
	if now.Before(d.soft) {
		return
	}
	if now.Before(d.hard) {
		if k.refreshing.CompareAndSwap(false, true) {
			// Outlives the request that noticed: bounded by the client timeout.
			go func() {
				defer k.refreshing.Store(false)
				k.periodic(context.Background(), d)
			}()
		}
		return
	}
	// Not cancelled with the request: a caller hanging up mid-fetch would
	// otherwise count as an IdP failure and, repeated, hold the old keys
	// (a removed one among them) in use through the backoff.
	k.periodic(context.WithoutCancel(ctx), d)
}

// periodic refetches the JWKS unless another caller already did since d was
// read, or a failure's backoff has not passed.
func (k *keySet) periodic(ctx context.Context, d *refreshDue) {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	if k.due.Load() != d {
		return // refetched meanwhile
	}
	now := k.now()
	if now.Before(k.retryAt) {
		return
	}
	fresh, err := k.fetch(ctx)
	if err != nil {
		k.failures++
		backoff := min(time.Second<<min(k.failures-1, 20), k.refresh)
		k.retryAt = now.Add(backoff)
		k.logger.Warn("jwks refresh failed; keeping the current keys", zap.String("issuer", k.issuer),
			zap.Int("failures", k.failures), zap.Duration("retry_in", backoff), zap.Error(err))
		return
	}
	k.failures, k.retryAt = 0, time.Time{}
	k.store(fresh, now)
}

var _ oidc.KeySet = (*keySet)(nil)

var errUnknownKey = errors.New("token signed by an unknown key")

// VerifySignature checks the JWS signature and returns the payload.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	k.counter.Add(1)
	jws, err := jose.ParseSigned(jwt, k.algs)
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("expected exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	k.keepFresh(ctx)
	keys := *k.keys.Load()
	if payload, found, ok := verifyWith(jws, keys, kid); ok {
		return payload, nil
	} else if found {
		// The key is known and the signature does not match it: a forged
		// or corrupted token, not a rotation.
		return nil, errors.New("signature does not verify")
	}
	keys, err = k.refetch(ctx, kid)
	if err != nil {
		return nil, err
	}
	if payload, _, ok := verifyWith(jws, keys, kid); ok {
		return payload, nil
	}
	return nil, errUnknownKey
}

// verifyWith tries the keys matching kid (all keys if kid is empty). found
// reports whether any key matched the kid.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) (payload []byte, found, ok bool) {
	for i := range keys {
		if kid != "" && keys[i].KeyID != kid {
			continue
		}
		found = true
		if p, err := jws.Verify(&keys[i]); err == nil {
			return p, true, true
		}
	}
	return nil, found && kid != "", false
}

func hasKid(keys []jose.JSONWebKey, kid string) bool {
	for i := range keys {
		if keys[i].KeyID == kid {
			return true
		}
	}
	return false
}

// refetch reloads the JWKS for an unknown kid, unless another request just
// did (then its result is used) or the last refetch was less than
// minInterval ago.
func (k *keySet) refetch(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	keys := *k.keys.Load()
	if kid != "" && hasKid(keys, kid) {
		return keys, nil // fetched by a request we waited for
	}
	now := k.now()
	if !k.lastRefetch.IsZero() && now.Sub(k.lastRefetch) < k.minInterval {
		return nil, errUnknownKey
	}
	k.lastRefetch = now
	fresh, err := k.fetch(context.WithoutCancel(ctx))
	if err != nil {
		k.logger.Warn("jwks refetch failed", zap.String("issuer", k.issuer), zap.Error(err))
		return nil, errUnknownKey
	}
	k.store(fresh, now)
	return fresh, nil
}

// fetch GETs the JWKS, keeping the public signing keys go-jose understands
// and ignoring the rest (as RFC 7517 §5 asks).
func (k *keySet) fetch(ctx context.Context) (keys []jose.JSONWebKey, err error) {
	defer func() {
		if err != nil {
			jwksFailures.Add(1)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, k.client.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return nil, fmt.Errorf("jwks: reading %s: %w", k.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: GET %s: HTTP %d", k.url, resp.StatusCode)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("jwks: decoding %s: %w", k.url, err)
	}
	keys = make([]jose.JSONWebKey, 0, len(raw.Keys))
	for _, r := range raw.Keys {
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(r, &jwk); err != nil || jwk.Use == "enc" {
			continue
		}
		pub := jwk.Public()
		switch pub.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			keys = append(keys, pub)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwks: %s holds no usable signing key", k.url)
	}
	return keys, nil
}

// unverifiedIssuer reads "iss" from a JWT's payload without verifying it,
// only to pick the verifier; nothing else is trusted before verification.
func unverifiedIssuer(token string) (string, bool) {
	first := strings.IndexByte(token, '.')
	if first < 0 {
		return "", false
	}
	rest := token[first+1:]
	second := strings.IndexByte(rest, '.')
	if second < 0 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(rest[:second], "="))
	if err != nil {
		return "", false
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Iss == "" {
		return "", false
	}
	return c.Iss, true
}

// looksLikeJWT reports whether token is three base64url segments, the shape
// of a compact JWS; anything else is treated as an API key.
func looksLikeJWT(token string) bool {
	dots := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '.':
			dots++
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '=':
		default:
			return false
		}
	}
	return dots == 2
}

// verifyReason turns a go-oidc / go-jose error into a reason safe to show.
func verifyReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "expected audience"):
		return "token audience is not accepted"
	case strings.Contains(msg, "different provider"):
		return "token issuer is not trusted"
	case strings.Contains(msg, errUnknownKey.Error()):
		return "token signed by an unknown key"
	case strings.Contains(msg, "malformed jwt"), strings.Contains(msg, "unmarshal claims"):
		return "malformed token or unsupported signing algorithm"
	case strings.Contains(msg, "signature"):
		return "token signature is invalid"
	}
	return "invalid token"
}

// claimValue looks a claim up by name, then (for dotted names) by path.
func claimValue(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	if !strings.Contains(name, ".") {
		return nil, false
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func claimString(claims map[string]any, name string) string {
	v, _ := claimValue(claims, name)
	s, _ := v.(string)
	return s
}

// claimStrings reads a claim holding a list of strings, or a single string.
func claimStrings(claims map[string]any, name string) []string {
	v, _ := claimValue(claims, name)
	switch t := v.(type) {
	case string:
		if t == "" {
			return []string{}
		}
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return []string{}
}

// subjectFromClaims builds the Subject of a verified token.
func (is *issuer) subjectFromClaims(claims map[string]any) *Subject {
	c := is.cfg
	s := &Subject{
		Kind:   KindUser,
		ID:     claimString(claims, "sub"),
		Issuer: c.Issuer,
		Email:  claimString(claims, c.Claims.Email),
		Groups: is.scope(claimStrings(claims, c.Claims.Groups), c.AllowedGroups),
		Roles:  is.scope(claimStrings(claims, c.Claims.Roles), c.AllowedRoles),
		Claims: claims,
		Method: MethodOIDC,
		// Only the primary issuer may grant privileged roles.
		IssuerPrimary: is.primary,
	}
	for _, n := range c.ClientKind.ClientIDClaims {
		if v := claimString(claims, n); v != "" {
			s.ClientID = v
			break
		}
	}
	if !*c.TrustMFA {
		// This issuer's amr/acr do not count (docs/identity.md, "Issuer scoping").
		c.MFAAMRValues, c.MFAACRValues = nil, nil
	}
	for _, amr := range claimStrings(claims, "amr") {
		for _, m := range c.MFAAMRValues {
			if amr == m {
				s.MFA = true
			}
		}
	}
	if acr := claimString(claims, "acr"); acr != "" {
		for _, m := range c.MFAACRValues {
			if acr == m {
				s.MFA = true
			}
		}
	}
	// An issuer not trusted for how its subjects signed in is not trusted
	// to say they are machines either: policies exempt clients from MFA, so
	// a partner token shaped like a client-credentials token (no email, a
	// client_id claim) would otherwise skip the MFA its amr cannot give.
	if *c.TrustMFA && isClientToken(c.ClientKind, claims, s) {
		s.Kind = KindClient
	}
	return s
}

func isClientToken(rules ClientKindConfig, claims map[string]any, s *Subject) bool {
	for name, want := range rules.ClaimValues {
		if v, ok := claimValue(claims, name); ok && fmt.Sprint(v) == want {
			return true
		}
	}
	if s.Email != "" {
		return false
	}
	for _, n := range rules.ClientIDClaims {
		if v := claimString(claims, n); v != "" && v == s.ID {
			return true
		}
	}
	for _, n := range rules.MarkerClaims {
		if v, ok := claimValue(claims, n); ok && v != nil && v != "" {
			return true
		}
	}
	return false
}
