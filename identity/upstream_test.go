package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/crmgw/crmgw/internal/confkey"
)

const (
	testClientSecret = "s3cr3t-Client-Secret-value"
	testRefreshToken = "1000.refresh.token.value"
)

// tokenServer speaks the OAuth 2.0 token protocol the way Salesforce and
// Zoho do: a form-encoded POST, a JSON answer.
type tokenServer struct {
	*httptest.Server
	hits     atomic.Int64
	mu       sync.Mutex
	forms    []map[string][]string
	respond  func(w http.ResponseWriter, form map[string][]string, n int64)
	delay    time.Duration
	verifyFn func(form map[string][]string) error
}

func newTokenServer(t *testing.T, respond func(w http.ResponseWriter, form map[string][]string, n int64)) *tokenServer {
	ts := &tokenServer{respond: respond}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := ts.hits.Add(1)
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			http.Error(w, "want a form POST", http.StatusBadRequest)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ts.mu.Lock()
		ts.forms = append(ts.forms, r.PostForm)
		ts.mu.Unlock()
		if ts.delay > 0 {
			time.Sleep(ts.delay)
		}
		if ts.verifyFn != nil {
			if err := ts.verifyFn(r.PostForm); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				writeJSONBody(w, map[string]any{"error": "invalid_grant", "error_description": err.Error()})
				return
			}
		}
		ts.respond(w, r.PostForm, n)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) lastForm() map[string][]string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.forms[len(ts.forms)-1]
}

func writeJSONBody(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// salesforceToken answers like Salesforce: instance_url, no expires_in.
func salesforceToken(w http.ResponseWriter, _ map[string][]string, n int64) {
	writeJSONBody(w, map[string]any{
		"access_token": fmt.Sprintf("00Dxx0000001gPL!AR8AQ.token%d", n),
		"instance_url": "https://acme.my.salesforce.com",
		"id":           "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS",
		"token_type":   "Bearer",
		"issued_at":    "1700000000000",
		"signature":    "c2lnbmF0dXJl",
	})
}

// zohoToken answers like Zoho accounts: api_domain and expires_in 3600.
func zohoToken(w http.ResponseWriter, _ map[string][]string, n int64) {
	writeJSONBody(w, map[string]any{
		"access_token": fmt.Sprintf("1000.zoho.access.%d", n),
		"api_domain":   "https://www.zohoapis.eu",
		"token_type":   "Bearer",
		"expires_in":   3600,
	})
}

func newCreds(t *testing.T, cfg UpstreamAuthConfig, upstreamType string) (*oauthCredentials, *fakeClock) {
	t.Helper()
	c, err := NewCredentials(cfg, upstreamType, nil, zap.NewNop())
	if err != nil {
		t.Fatalf("NewCredentials: %v", err)
	}
	oc := c.(*oauthCredentials)
	clock := newFakeClock()
	oc.now = clock.Now
	return oc, clock
}

func apply(t *testing.T, c Credentials, callerAuth string) string {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/services/data/v60.0/limits", nil)
	r.Header.Set("Accept", "application/json")
	if err := c.Apply(context.Background(), r, callerAuth); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if r.Header.Get("Accept") != "application/json" {
		t.Fatal("Apply removed another header")
	}
	return r.Header.Get("Authorization")
}

func TestClientCredentialsSalesforce(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, salesforceToken)
	c, clock := newCreds(t, UpstreamAuthConfig{
		Type: AuthClientCredentials, TokenURL: ts.URL + "/services/oauth2/token",
		ClientID: "3MVG9consumer", ClientSecret: testClientSecret, UseInstanceURL: true,
	}, "salesforce")

	h := apply(t, c, "Bearer caller-token")
	if h != "Bearer 00Dxx0000001gPL!AR8AQ.token1" {
		t.Fatalf("Authorization = %q", h)
	}
	f := ts.lastForm()
	if f["grant_type"][0] != "client_credentials" || f["client_id"][0] != "3MVG9consumer" || f["client_secret"][0] != testClientSecret {
		t.Fatalf("token request form = %v", f)
	}
	if c.InstanceURL() != "https://acme.my.salesforce.com" {
		t.Fatalf("InstanceURL = %q", c.InstanceURL())
	}
	// Salesforce sends no expires_in: the token stays until the CRM rejects it.
	clock.Advance(48 * time.Hour)
	if h2 := apply(t, c, ""); h2 != h || ts.hits.Load() != 1 {
		t.Fatalf("a day later: %q after %d token requests, want the cached token", h2, ts.hits.Load())
	}
	// An upstream 401 for the token: one new fetch.
	c.Invalidate(h) // the whole header value works as well as the token
	h3 := apply(t, c, "")
	if h3 != "Bearer 00Dxx0000001gPL!AR8AQ.token2" || ts.hits.Load() != 2 {
		t.Fatalf("after Invalidate: %q, %d requests", h3, ts.hits.Load())
	}
	// A late 401 for the old token does not drop the new one.
	c.Invalidate(TokenFromHeader(h))
	if h4 := apply(t, c, ""); h4 != h3 || ts.hits.Load() != 2 {
		t.Fatalf("stale Invalidate dropped the fresh token: %q, %d requests", h4, ts.hits.Load())
	}
}

func TestRefreshTokenZoho(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, zohoToken)
	dir := t.TempDir()
	c, clock := newCreds(t, UpstreamAuthConfig{
		Type: AuthRefreshToken, TokenURL: ts.URL + "/oauth/v2/token", ClientID: "1000.CLIENTID",
		ClientSecretFile: writeFile(t, dir, "secret", []byte(testClientSecret+"\n")),
		RefreshToken:     testRefreshToken, UseInstanceURL: true,
	}, "zoho")

	h := apply(t, c, "")
	if h != "Zoho-oauthtoken 1000.zoho.access.1" {
		t.Fatalf("Authorization = %q", h)
	}
	f := ts.lastForm()
	if f["grant_type"][0] != "refresh_token" || f["refresh_token"][0] != testRefreshToken ||
		f["client_id"][0] != "1000.CLIENTID" || f["client_secret"][0] != testClientSecret {
		t.Fatalf("form = %v", f)
	}
	if c.InstanceURL() != "https://www.zohoapis.eu" {
		t.Fatalf("InstanceURL = %q", c.InstanceURL())
	}
	clock.Advance(3600*time.Second - 61*time.Second)
	if apply(t, c, ""); ts.hits.Load() != 1 {
		t.Fatal("refreshed more than a minute before expiry")
	}
	clock.Advance(2 * time.Second)
	if h2 := apply(t, c, ""); h2 != "Zoho-oauthtoken 1000.zoho.access.2" || ts.hits.Load() != 2 {
		t.Fatalf("within the refresh margin: %q after %d requests", h2, ts.hits.Load())
	}
}

func TestConcurrentApplyFetchesOnce(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, zohoToken)
	ts.delay = 20 * time.Millisecond // let the callers pile up behind the first fetch
	c, clock := newCreds(t, UpstreamAuthConfig{
		Type: AuthRefreshToken, TokenURL: ts.URL, ClientID: "id", ClientSecret: testClientSecret, RefreshToken: testRefreshToken,
	}, "zoho")
	run := func() {
		var wg sync.WaitGroup
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := httptest.NewRequest(http.MethodGet, "/crm/v8/Leads", nil)
				if err := c.Apply(context.Background(), r, ""); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	run()
	if n := ts.hits.Load(); n != 1 {
		t.Fatalf("64 concurrent first requests made %d token requests, want 1", n)
	}
	clock.Advance(time.Hour) // expired: everybody needs a new one
	run()
	if n := ts.hits.Load(); n != 2 {
		t.Fatalf("64 concurrent requests after expiry made %d token requests in all, want 2", n)
	}
}

func TestRefreshFailureKeepsAStillValidToken(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	ts := newTokenServer(t, func(w http.ResponseWriter, f map[string][]string, n int64) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			writeJSONBody(w, map[string]any{"error": "temporarily_unavailable"})
			return
		}
		zohoToken(w, f, n)
	})
	c, clock := newCreds(t, UpstreamAuthConfig{
		Type: AuthRefreshToken, TokenURL: ts.URL, ClientID: "id", ClientSecret: testClientSecret, RefreshToken: testRefreshToken,
	}, "zoho")
	h := apply(t, c, "")
	fail.Store(true)
	clock.Advance(3590 * time.Second) // inside the margin, not expired
	if h2 := apply(t, c, ""); h2 != h {
		t.Fatalf("got %q, want the still-valid token", h2)
	}
	clock.Advance(time.Minute) // expired now
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	err := c.Apply(context.Background(), r, "")
	var te *TokenError
	if !errors.As(err, &te) || te.Status != http.StatusServiceUnavailable || te.Code != "temporarily_unavailable" {
		t.Fatalf("expired token and endpoint down: %v", err)
	}
}

func TestTokenEndpointErrorsAreClearAndSecretFree(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		typ     string
		respond func(w http.ResponseWriter, f map[string][]string, n int64)
		want    []string
	}{
		{"a refused client names the status and OAuth code", AuthClientCredentials, func(w http.ResponseWriter, _ map[string][]string, _ int64) {
			w.WriteHeader(http.StatusBadRequest)
			writeJSONBody(w, map[string]any{"error": "invalid_client", "error_description": "invalid client credentials"})
		}, []string{"HTTP 400", "invalid_client", "invalid client credentials"}},
		{"a refused refresh token names the status and OAuth code", AuthRefreshToken, func(w http.ResponseWriter, _ map[string][]string, _ int64) {
			w.WriteHeader(http.StatusBadRequest)
			writeJSONBody(w, map[string]any{"error": "invalid_grant", "error_description": "expired access/refresh token"})
		}, []string{"HTTP 400", "invalid_grant"}},
		{"Zoho's error inside a 200 is an error", AuthRefreshToken, func(w http.ResponseWriter, _ map[string][]string, _ int64) {
			writeJSONBody(w, map[string]any{"error": "invalid_code"})
		}, []string{"HTTP 200", "invalid_code"}},
		{"an endpoint echoing the secret does not leak it", AuthRefreshToken, func(w http.ResponseWriter, f map[string][]string, _ int64) {
			w.WriteHeader(http.StatusUnauthorized)
			writeJSONBody(w, map[string]any{"error": "invalid_client", "error_description": "bad secret " + f["client_secret"][0] + " for " + f["refresh_token"][0]})
		}, []string{"HTTP 401", "invalid_client", redacted}},
		{"an HTML error page is reported as such", AuthRefreshToken, func(w http.ResponseWriter, _ map[string][]string, _ int64) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
		}, []string{"HTTP 502", "not JSON"}},
		{"a 200 without access_token is an error", AuthRefreshToken, func(w http.ResponseWriter, _ map[string][]string, _ int64) {
			writeJSONBody(w, map[string]any{"token_type": "Bearer"})
		}, []string{"no access_token"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTokenServer(t, tc.respond)
			cfg := UpstreamAuthConfig{Type: tc.typ, TokenURL: ts.URL + "/oauth/v2/token?tenant=x", ClientID: "id", ClientSecret: testClientSecret}
			if tc.typ == AuthRefreshToken {
				cfg.RefreshToken = testRefreshToken
			}
			c, _ := newCreds(t, cfg, "zoho")
			err := c.Apply(context.Background(), httptest.NewRequest(http.MethodGet, "/", nil), "")
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, testClientSecret) || strings.Contains(msg, testRefreshToken) || strings.Contains(msg, "tenant=x") {
				t.Errorf("error %q leaks a secret or the query", msg)
			}
		})
	}
	t.Run("an unreachable endpoint is reported without the secret", func(t *testing.T) {
		c, _ := newCreds(t, UpstreamAuthConfig{Type: AuthRefreshToken, TokenURL: "http://127.0.0.1:1/token", ClientID: "id", ClientSecret: testClientSecret, RefreshToken: testRefreshToken}, "zoho")
		err := c.Apply(context.Background(), httptest.NewRequest(http.MethodGet, "/", nil), "")
		if err == nil || strings.Contains(err.Error(), testClientSecret) || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Fatalf("%v", err)
		}
	})
}

func writeRSAKey(t *testing.T, dir string, pkcs8 bool) (string, *rsa.PrivateKey) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	if pkcs8 {
		der, _ := x509.MarshalPKCS8PrivateKey(key)
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	return writeFile(t, dir, fmt.Sprintf("key-%t.pem", pkcs8), pem.EncodeToMemory(block)), key
}

func TestJWTBearerSalesforce(t *testing.T) {
	t.Parallel()
	for _, pkcs8 := range []bool{false, true} {
		t.Run(fmt.Sprintf("the assertion verifies (PKCS#8 key: %t)", pkcs8), func(t *testing.T) {
			t.Parallel()
			keyFile, key := writeRSAKey(t, t.TempDir(), pkcs8)
			var sent atomic.Pointer[jwt.Claims]
			ts := newTokenServer(t, salesforceToken)
			ts.verifyFn = func(f map[string][]string) error {
				if f["grant_type"][0] != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
					return fmt.Errorf("grant_type %q", f["grant_type"][0])
				}
				tok, err := jwt.ParseSigned(f["assertion"][0], []jose.SignatureAlgorithm{jose.RS256})
				if err != nil {
					return err
				}
				var cl jwt.Claims
				if err := tok.Claims(&key.PublicKey, &cl); err != nil {
					return err
				}
				if err := cl.ValidateWithLeeway(jwt.Expected{
					Issuer: "3MVG9consumerKey", Subject: "integration@acme.com",
					AnyAudience: jwt.Audience{"https://test.salesforce.com"},
				}, 0); err != nil {
					return err
				}
				sent.Store(&cl)
				return nil
			}
			c, err := NewCredentials(UpstreamAuthConfig{
				Type: AuthJWTBearer, TokenURL: ts.URL + "/services/oauth2/token", ClientID: "3MVG9consumerKey",
				Subject: "integration@acme.com", Audience: "https://test.salesforce.com", PrivateKeyFile: keyFile,
			}, "salesforce", nil, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			if h := apply(t, c, ""); h != "Bearer 00Dxx0000001gPL!AR8AQ.token1" {
				t.Fatalf("Authorization = %q", h)
			}
			cl := sent.Load()
			if cl == nil || cl.Expiry == nil {
				t.Fatal("no verified assertion")
			}
			if d := time.Until(cl.Expiry.Time()); d <= 0 || d > 3*time.Minute {
				t.Fatalf("assertion exp is %s away, want within 3m", d)
			}
		})
	}
	t.Run("the audience defaults to login.salesforce.com", func(t *testing.T) {
		t.Parallel()
		keyFile, key := writeRSAKey(t, t.TempDir(), false)
		ts := newTokenServer(t, salesforceToken)
		ts.verifyFn = func(f map[string][]string) error {
			tok, err := jwt.ParseSigned(f["assertion"][0], []jose.SignatureAlgorithm{jose.RS256})
			if err != nil {
				return err
			}
			var cl jwt.Claims
			if err := tok.Claims(&key.PublicKey, &cl); err != nil {
				return err
			}
			if !cl.Audience.Contains("https://login.salesforce.com") {
				return fmt.Errorf("aud %v", cl.Audience)
			}
			return nil
		}
		c, err := NewCredentials(UpstreamAuthConfig{Type: AuthJWTBearer, TokenURL: ts.URL, ClientID: "ck", Subject: "u@acme.com", PrivateKeyFile: keyFile}, "salesforce", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		apply(t, c, "")
	})
	t.Run("a key file that is not an RSA PEM key is refused at start", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		for _, body := range []string{"garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
			_, err := NewCredentials(UpstreamAuthConfig{Type: AuthJWTBearer, TokenURL: "https://login.salesforce.com/services/oauth2/token", ClientID: "ck", Subject: "u", PrivateKeyFile: writeFile(t, dir, "k.pem", []byte(body))}, "salesforce", nil, nil)
			if err == nil {
				t.Fatalf("key file %q accepted", body)
			}
		}
	})
}

func TestStaticToken(t *testing.T) {
	t.Parallel()
	c, _ := newCreds(t, UpstreamAuthConfig{Type: AuthStatic, Token: "static-token"}, "generic")
	if h := apply(t, c, "Bearer caller"); h != "Bearer static-token" {
		t.Fatalf("%q", h)
	}
	t.Run("a token file is re-read after the CRM rejects the token", func(t *testing.T) {
		dir := t.TempDir()
		f := writeFile(t, dir, "token", []byte("first\n"))
		c, _ := newCreds(t, UpstreamAuthConfig{Type: AuthStatic, TokenFile: f, Scheme: "OAuth"}, "salesforce")
		if h := apply(t, c, ""); h != "OAuth first" {
			t.Fatalf("%q", h)
		}
		writeFile(t, dir, "token", []byte("second"))
		if h := apply(t, c, ""); h != "OAuth first" {
			t.Fatalf("re-read without a 401: %q", h)
		}
		c.Invalidate("first")
		if h := apply(t, c, ""); h != "OAuth second" {
			t.Fatalf("after Invalidate: %q", h)
		}
	})
}

func TestPassthrough(t *testing.T) {
	t.Parallel()
	c, err := NewCredentials(UpstreamAuthConfig{Type: AuthPassthrough}, "salesforce", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h := apply(t, c, "Bearer callers-own-sf-token"); h != "Bearer callers-own-sf-token" {
		t.Fatalf("%q", h)
	}
	if err := c.Apply(context.Background(), httptest.NewRequest(http.MethodGet, "/", nil), ""); err == nil {
		t.Fatal("passthrough without a caller credential succeeded")
	}
	if c.InstanceURL() != "" {
		t.Fatal("passthrough knows an instance URL")
	}
}

func TestUpstreamAuthConfigValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  UpstreamAuthConfig
		keys []string
	}{
		{"no type", UpstreamAuthConfig{}, []string{"type"}},
		{"unknown type", UpstreamAuthConfig{Type: "password"}, []string{"type"}},
		{"client_credentials needs url, id and secret", UpstreamAuthConfig{Type: AuthClientCredentials}, []string{"token_url", "client_id", "client_secret"}},
		{"a secret and a secret file together", UpstreamAuthConfig{Type: AuthClientCredentials, TokenURL: "https://x/t", ClientID: "i", ClientSecret: "s", ClientSecretFile: "f"}, []string{"client_secret"}},
		{"jwt_bearer needs its key, subject and id", UpstreamAuthConfig{Type: AuthJWTBearer, TokenURL: "ftp://x", Audience: "nope"}, []string{"token_url", "client_id", "subject", "private_key_file", "audience"}},
		{"refresh_token needs the refresh token", UpstreamAuthConfig{Type: AuthRefreshToken, TokenURL: "https://accounts.zoho.eu/oauth/v2/token", ClientID: "i", ClientSecret: "s"}, []string{"refresh_token"}},
		{"static needs a token", UpstreamAuthConfig{Type: AuthStatic, Scheme: "Bad Scheme"}, []string{"token", "scheme"}},
		{"bad auth_style and margin", UpstreamAuthConfig{Type: AuthPassthrough, AuthStyle: "cookie", RefreshMargin: -1}, []string{"refresh_margin", "auth_style"}},
		{"a valid Zoho set-up", UpstreamAuthConfig{Type: AuthRefreshToken, TokenURL: "https://accounts.zoho.eu/oauth/v2/token", ClientID: "i", ClientSecret: "s", RefreshTokenFile: "/run/secrets/rt"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var got []string
			for _, e := range confkey.Flatten(err) {
				var ke *confkey.Error
				if !errors.As(e, &ke) {
					t.Fatalf("not a confkey error: %v", e)
				}
				got = append(got, ke.Key)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.keys) && !(len(got) == 0 && len(tc.keys) == 0) {
				t.Fatalf("problems with %v, want %v (%v)", got, tc.keys, err)
			}
		})
	}
}

func TestUpstreamAuthConfigNeverPrintsSecrets(t *testing.T) {
	t.Parallel()
	cfg := UpstreamAuthConfig{Type: AuthRefreshToken, TokenURL: "https://accounts.zoho.com/oauth/v2/token", ClientID: "1000.ID",
		ClientSecret: testClientSecret, RefreshToken: testRefreshToken, Token: "static-secret-token"}
	var buf bytes.Buffer
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zap.DebugLevel))
	logger.Info("config", zap.Any("auth", cfg), zap.Stringer("auth_str", cfg))
	js, _ := json.Marshal(cfg)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"%s pointer": fmt.Sprintf("%s", &cfg), "json": string(js), "zap": buf.String(),
	}
	for how, out := range outputs {
		for _, secret := range []string{testClientSecret, testRefreshToken, "static-secret-token"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s prints a secret: %s", how, out)
			}
		}
		if !strings.Contains(out, "1000.ID") {
			t.Errorf("%s lost the non-secret fields: %s", how, out)
		}
	}
}

func TestSecretFilesAreRead(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, zohoToken)
	dir := t.TempDir()
	_, err := NewCredentials(UpstreamAuthConfig{Type: AuthRefreshToken, TokenURL: ts.URL, ClientID: "i",
		ClientSecretFile: filepath.Join(dir, "missing"), RefreshToken: "r"}, "zoho", nil, nil)
	if err == nil || !os.IsNotExist(errors.Unwrap(err)) {
		t.Fatalf("missing secret file: %v", err)
	}
	c, _ := newCreds(t, UpstreamAuthConfig{Type: AuthRefreshToken, TokenURL: ts.URL, ClientID: "i", ClientSecret: "s",
		RefreshTokenFile: writeFile(t, dir, "rt", []byte("  "+testRefreshToken+"\n"))}, "zoho")
	apply(t, c, "")
	if got := ts.lastForm()["refresh_token"][0]; got != testRefreshToken {
		t.Fatalf("refresh_token sent = %q", got)
	}
}
