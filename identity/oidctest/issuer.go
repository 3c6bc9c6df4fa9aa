// Package oidctest runs a real OpenID Connect issuer for tests, demos and
// benchmarks: it serves a discovery document and a JWKS over HTTP and signs
// JWTs with RSA (RS256) and ECDSA (ES256) keys through go-jose, so the code
// under test verifies real signatures fetched the way it would from Okta,
// Entra ID or Keycloak. Its POST /token mints a token for anyone who asks:
// it is for tests and demos only, never for production.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is one signing key of the issuer (or a foreign key the issuer does not
// publish, made with NewForeignKey).
type Key struct {
	// ID is the JWS "kid".
	ID string
	// Alg is the JWS algorithm, RS256 or ES256.
	Alg jose.SignatureAlgorithm
	// Private is the private key (*rsa.PrivateKey or *ecdsa.PrivateKey).
	Private crypto.Signer
}

// Public returns the key's public half.
func (k *Key) Public() crypto.PublicKey { return k.Private.Public() }

// Issuer is a running test OIDC issuer. All methods are safe for concurrent use.
type Issuer struct {
	srv *httptest.Server // nil when serving on a listener of our own
	hs  *http.Server
	url string

	mu      sync.Mutex
	keys    []*Key // published keys; keys[signing] signs by default
	signing int
	down    bool
	seq     int
	revoked map[string]bool // tokens revoked (answered active:false)

	introspectID, introspectSecret string

	discoveryHits  atomic.Int64
	jwksHits       atomic.Int64
	introspectHits atomic.Int64
}

// Introspection client credentials NewIssuer accepts at POST /introspect
// (change them with SetIntrospectionClient).
const (
	IntrospectionClientID     = "crmgw"
	IntrospectionClientSecret = "introspection-secret"
)

// NewIssuer starts an issuer on a random loopback port (httptest.Server) with
// one RSA key ("rsa-1", the default signing key) and one ECDSA key ("ec-1").
func NewIssuer() *Issuer {
	is := newIssuer()
	is.srv = httptest.NewServer(is.handler())
	is.url = is.srv.URL
	return is
}

// NewIssuerOn starts an issuer listening on addr (e.g. "127.0.0.1:8081"); its
// issuer URL is publicURL, or "http://"+the listening address if publicURL is
// empty. It serves until Close. This is what the gateway demo uses.
func NewIssuerOn(addr, publicURL string) (*Issuer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("oidctest: listen %s: %w", addr, err)
	}
	is := newIssuer()
	is.url = strings.TrimSuffix(publicURL, "/")
	if is.url == "" {
		is.url = "http://" + ln.Addr().String()
	}
	is.hs = &http.Server{Handler: is.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = is.hs.Serve(ln) }()
	return is, nil
}

// NewHandler returns an issuer that is not listening anywhere: mount
// Handler() on a server of your own whose address is issuerURL.
func NewHandler(issuerURL string) *Issuer {
	is := newIssuer()
	is.url = strings.TrimSuffix(issuerURL, "/")
	return is
}

func newIssuer() *Issuer {
	is := &Issuer{}
	is.keys = []*Key{NewRSAKey("rsa-1"), NewECKey("ec-1")}
	is.seq = 1
	is.revoked = map[string]bool{}
	is.introspectID, is.introspectSecret = IntrospectionClientID, IntrospectionClientSecret
	return is
}

// NewRSAKey makes a fresh 2048-bit RS256 key with the given kid. It is not
// published by any issuer unless added with AddKey: signing with it makes a
// "foreign key" token.
func NewRSAKey(kid string) *Key {
	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("oidctest: " + err.Error())
	}
	return &Key{ID: kid, Alg: jose.RS256, Private: pk}
}

// NewECKey makes a fresh P-256 ES256 key with the given kid (unpublished).
func NewECKey(kid string) *Key {
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("oidctest: " + err.Error())
	}
	return &Key{ID: kid, Alg: jose.ES256, Private: pk}
}

// URL is the issuer URL (the value of "iss" in the tokens it signs).
func (is *Issuer) URL() string { return is.url }

// Handler serves /.well-known/openid-configuration and /jwks.
func (is *Issuer) Handler() http.Handler { return is.handler() }

// Close stops the issuer's server, if it runs one.
func (is *Issuer) Close() {
	if is.srv != nil {
		is.srv.Close()
	}
	if is.hs != nil {
		_ = is.hs.Close()
	}
}

// SetDown makes the issuer answer 503 to every request (down == true), to
// test start-up and readiness while an IdP is unreachable.
func (is *Issuer) SetDown(down bool) {
	is.mu.Lock()
	is.down = down
	is.mu.Unlock()
}

// DiscoveryHits counts requests for the discovery document.
func (is *Issuer) DiscoveryHits() int64 { return is.discoveryHits.Load() }

// JWKSHits counts requests for the JWKS.
func (is *Issuer) JWKSHits() int64 { return is.jwksHits.Load() }

// SigningKey returns the key Sign uses.
func (is *Issuer) SigningKey() *Key {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.keys[is.signing]
}

// Key returns the published key with the given kid, or nil.
func (is *Issuer) Key(kid string) *Key {
	is.mu.Lock()
	defer is.mu.Unlock()
	for _, k := range is.keys {
		if k.ID == kid {
			return k
		}
	}
	return nil
}

// AddKey publishes k in the JWKS (it does not become the signing key).
func (is *Issuer) AddKey(k *Key) {
	is.mu.Lock()
	is.keys = append(is.keys, k)
	is.mu.Unlock()
}

// RemoveKey stops publishing the key with the given kid.
func (is *Issuer) RemoveKey(kid string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	for i, k := range is.keys {
		if k.ID == kid {
			is.keys = append(is.keys[:i], is.keys[i+1:]...)
			if is.signing >= i && is.signing > 0 {
				is.signing--
			}
			return
		}
	}
}

// RotateKey publishes a new RSA key and makes it the signing key, the way an
// IdP rotates: the old keys stay published, so tokens they signed still
// verify. It returns the new key.
func (is *Issuer) RotateKey() *Key {
	is.mu.Lock()
	is.seq++
	kid := fmt.Sprintf("rsa-%d", is.seq)
	is.mu.Unlock()
	k := NewRSAKey(kid)
	is.mu.Lock()
	is.keys = append(is.keys, k)
	is.signing = len(is.keys) - 1
	is.mu.Unlock()
	return k
}

// Revoke makes the introspection endpoint answer active:false for token,
// the way an IdP does once a user's session is ended or the user disabled.
// The token's signature still verifies.
func (is *Issuer) Revoke(token string) {
	is.mu.Lock()
	is.revoked[token] = true
	is.mu.Unlock()
}

// SetIntrospectionClient sets the client id and secret POST /introspect
// requires (HTTP Basic, RFC 7662 §2.1).
func (is *Issuer) SetIntrospectionClient(id, secret string) {
	is.mu.Lock()
	is.introspectID, is.introspectSecret = id, secret
	is.mu.Unlock()
}

// IntrospectionURL is the RFC 7662 endpoint.
func (is *Issuer) IntrospectionURL() string { return is.url + "/introspect" }

// IntrospectionHits counts requests to the introspection endpoint.
func (is *Issuer) IntrospectionHits() int64 { return is.introspectHits.Load() }

// Claims returns a typical claim set: iss (this issuer), sub, aud, iat,
// exp (in one hour). Add or override claims before signing.
func (is *Issuer) Claims(sub, aud string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": is.url,
		"sub": sub,
		"aud": aud,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

// Sign signs claims with the current signing key (RS256) and returns the
// compact JWT.
func (is *Issuer) Sign(claims map[string]any) string {
	return SignWithKey(is.SigningKey(), claims)
}

// SignWithKey signs claims with k, published or not.
func (is *Issuer) SignWithKey(k *Key, claims map[string]any) string {
	return SignWithKey(k, claims)
}

// SignWithKey signs claims with k and returns the compact JWT. It panics on
// failure, which with a valid key means a programming error in a test.
func SignWithKey(k *Key, claims map[string]any) string {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: k.Alg,
		Key:       jose.JSONWebKey{Key: k.Private, KeyID: k.ID, Algorithm: string(k.Alg)},
	}, opts)
	if err != nil {
		panic("oidctest: " + err.Error())
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		panic("oidctest: " + err.Error())
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		panic("oidctest: " + err.Error())
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		panic("oidctest: " + err.Error())
	}
	return s
}

func (is *Issuer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		is.discoveryHits.Add(1)
		if is.isDown() {
			http.Error(w, "issuer down", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, map[string]any{
			"issuer":                                is.url,
			"authorization_endpoint":                is.url + "/authorize",
			"token_endpoint":                        is.url + "/token",
			"jwks_uri":                              is.url + "/jwks",
			"introspection_endpoint":                is.url + "/introspect",
			"response_types_supported":              []string{"code"},
			"code_challenge_methods_supported":      []string{"S256"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("POST /token", is.serveToken)
	mux.HandleFunc("POST /introspect", is.serveIntrospect)
	mux.HandleFunc("GET /authorize", is.serveAuthorize) // authcode.go
	mux.HandleFunc("POST /authorize", is.serveAuthorize)
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		is.jwksHits.Add(1)
		if is.isDown() {
			http.Error(w, "issuer down", http.StatusServiceUnavailable)
			return
		}
		is.mu.Lock()
		set := jose.JSONWebKeySet{}
		for _, k := range is.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: k.ID, Algorithm: string(k.Alg), Use: "sig"})
		}
		is.mu.Unlock()
		writeJSON(w, set)
	})
	return mux
}

// serveToken mints a token for anyone who asks (demo only!): a form POST
// with grant_type=client_credentials and optional client_id, audience
// (default "crmgw"), subject (default client_id), email, and comma-separated
// groups, roles and amr. A subject different from client_id makes a user
// token; otherwise a client-credentials token (sub == azp).
func (is *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	if is.isDown() {
		http.Error(w, "issuer down", http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err == nil && r.PostForm.Get("grant_type") == "authorization_code" {
		is.serveCodeToken(w, r) // authcode.go
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "unsupported_grant_type"})
		return
	}
	f := r.PostForm
	clientID := f.Get("client_id")
	if clientID == "" {
		clientID = "demo-client"
	}
	aud := f.Get("audience")
	if aud == "" {
		aud = "crmgw"
	}
	sub := f.Get("subject")
	if sub == "" {
		sub = clientID
	}
	claims := is.Claims(sub, aud)
	claims["azp"] = clientID
	if e := f.Get("email"); e != "" {
		claims["email"] = e
	}
	for _, k := range []string{"groups", "roles", "amr"} {
		if v := f.Get(k); v != "" {
			claims[k] = strings.Split(v, ",")
		}
	}
	writeJSON(w, map[string]any{"access_token": is.Sign(claims), "token_type": "Bearer", "expires_in": 3600})
}

// serveIntrospect answers RFC 7662 requests from the configured client:
// active:true with sub, iss and exp for a token it signed with a key it
// still publishes, that has not expired and is not revoked; active:false
// for anything else.
func (is *Issuer) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	is.introspectHits.Add(1)
	if is.isDown() {
		http.Error(w, "issuer down", http.StatusServiceUnavailable)
		return
	}
	id, secret, ok := r.BasicAuth()
	is.mu.Lock()
	wantID, wantSecret := is.introspectID, is.introspectSecret
	is.mu.Unlock()
	if !ok || id != wantID || secret != wantSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="introspect"`)
		http.Error(w, "client authentication failed", http.StatusUnauthorized)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		http.Error(w, "token is required", http.StatusBadRequest)
		return
	}
	token := r.PostForm.Get("token")
	inactive := map[string]any{"active": false}
	is.mu.Lock()
	revoked := is.revoked[token]
	keys := append([]*Key(nil), is.keys...)
	is.mu.Unlock()
	if revoked {
		writeJSON(w, inactive)
		return
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		writeJSON(w, inactive)
		return
	}
	var payload []byte
	for _, k := range keys {
		if k.ID == jws.Signatures[0].Header.KeyID {
			if p, err := jws.Verify(k.Public()); err == nil {
				payload = p
			}
		}
	}
	var c struct {
		Sub string  `json:"sub"`
		Iss string  `json:"iss"`
		Exp float64 `json:"exp"`
	}
	if payload == nil || json.Unmarshal(payload, &c) != nil || c.Iss != is.url || float64(time.Now().Unix()) >= c.Exp {
		writeJSON(w, inactive)
		return
	}
	writeJSON(w, map[string]any{"active": true, "sub": c.Sub, "iss": c.Iss, "exp": int64(c.Exp), "token_type": "Bearer"})
}

func (is *Issuer) isDown() bool {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.down
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
