package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxIntrospectionBytes bounds an introspection answer.
const maxIntrospectionBytes = 64 << 10

// errRedirectRefused is returned by clients that must not follow redirects:
// a redirect would re-send a secret (client_secret, refresh_token, the token
// being introspected) to wherever the Location points.
var errRedirectRefused = errors.New("redirect refused: the endpoint must answer itself")

func refuseRedirect(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("%w (HTTP %d to host %s)", errRedirectRefused, req.Response.StatusCode, req.URL.Host)
}

// introspector asks an issuer's RFC 7662 endpoint whether a token is still
// active, for IdPs that revoke sessions before the token expires.
type introspector struct {
	cfg    IntrospectionConfig
	client *http.Client
}

func newIntrospector(cfg IntrospectionConfig, timeout time.Duration) *introspector {
	return &introspector{cfg: cfg, client: &http.Client{Timeout: timeout, CheckRedirect: refuseRedirect}}
}

// check returns nil if the endpoint says the token is active (and, when it
// names a subject, that subject is sub); a 401 *AuthError if it is not; a
// 503 *AuthError if the endpoint cannot be asked (unknown means deny).
func (in *introspector) check(ctx context.Context, token, sub string) error {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.cfg.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return unavailable("introspection", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(in.cfg.ClientID), url.QueryEscape(in.cfg.ClientSecret))
	resp, err := in.client.Do(req)
	if err != nil {
		return unavailable("introspection", errors.New(scrubURLError(err)))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBytes))
	if err != nil {
		return unavailable("introspection", err)
	}
	if resp.StatusCode != http.StatusOK {
		return unavailable("introspection", fmt.Errorf("HTTP %d", resp.StatusCode))
	}
	var ans struct {
		Active json.RawMessage `json:"active"`
		Sub    string          `json:"sub"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return unavailable("introspection", errors.New("answer is not JSON"))
	}
	// Only the JSON literal true is active; "true", 1 or a missing member
	// are not (RFC 7662 §2.2: a boolean).
	if string(ans.Active) != "true" {
		return unauthorized("token is not active at the issuer (introspection)")
	}
	if ans.Sub != "" && ans.Sub != sub {
		return unauthorized("introspection names another subject than the token")
	}
	return nil
}
