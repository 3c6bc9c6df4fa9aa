package samplecrm

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The token endpoints let crmgw's OAuth credential types be demoed against
// the sample CRM. Tokens they issue are accepted like the static ones until
// ExpireTokens is called.

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// clientCreds reads client_id/client_secret from the form or Basic auth.
func clientCreds(r *http.Request) (string, string) {
	if id, secret, ok := r.BasicAuth(); ok {
		return id, secret
	}
	return r.FormValue("client_id"), r.FormValue("client_secret")
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	writeJSON(w, status, b)
}

// sfTokenEndpoint serves POST /services/oauth2/token (client_credentials,
// refresh_token and jwt-bearer grants).
func (s *Server) sfTokenEndpoint(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r.Method, "POST") {
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	if s.opts.ClientID == "" {
		oauthError(w, http.StatusBadRequest, "invalid_client_id", "client identifier invalid")
		return
	}
	switch r.FormValue("grant_type") {
	case "client_credentials":
		id, secret := clientCreds(r)
		if !equal(id, s.opts.ClientID) || !equal(secret, s.opts.ClientSecret) {
			oauthError(w, http.StatusBadRequest, "invalid_client", "invalid client credentials")
			return
		}
	case "refresh_token":
		id, _ := clientCreds(r)
		if !equal(id, s.opts.ClientID) || s.opts.RefreshToken == "" || !equal(r.FormValue("refresh_token"), s.opts.RefreshToken) {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "expired access/refresh token")
			return
		}
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		// The assertion's claims are checked (iss = client id, sub set, exp in
		// the future); its signature is not, as the sample CRM holds no key.
		var claims struct {
			Iss string `json:"iss"`
			Sub string `json:"sub"`
			Exp int64  `json:"exp"`
		}
		parts := strings.Split(r.FormValue("assertion"), ".")
		var payload []byte
		var err error
		if len(parts) == 3 {
			payload, err = base64.RawURLEncoding.DecodeString(parts[1])
		}
		if len(parts) != 3 || err != nil || json.Unmarshal(payload, &claims) != nil {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "invalid assertion")
			return
		}
		if !equal(claims.Iss, s.opts.ClientID) || claims.Sub == "" || claims.Exp < time.Now().Unix() {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "invalid assertion")
			return
		}
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant type not supported")
		return
	}
	tok := "00DSC0000000001!AQ" + randomHex(24)
	s.tokMu.Lock()
	s.issuedSF[tok] = true
	s.tokMu.Unlock()
	resp := map[string]string{
		"access_token": tok,
		"signature":    base64.StdEncoding.EncodeToString([]byte(randomHex(16))),
		"scope":        "api",
		"instance_url": baseURL(r),
		"id":           "https://login.salesforce.com/id/00DSC0000000001AAA/" + liWeiID,
		"token_type":   "Bearer",
		"issued_at":    strconv.FormatInt(time.Now().UnixMilli(), 10),
	}
	b, _ := json.Marshal(resp)
	writeJSON(w, http.StatusOK, b)
}

// zohoTokenEndpoint serves POST /oauth/v2/token (refresh_token and
// client_credentials grants). Like Zoho, it reports errors with HTTP 200 and
// an "error" member.
func (s *Server) zohoTokenEndpoint(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		zohoError(w, http.StatusMethodNotAllowed, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one", nil)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusOK, []byte(`{"error":"invalid_request"}`))
		return
	}
	id, secret := clientCreds(r)
	if s.opts.ClientID != "" && (!equal(id, s.opts.ClientID) || !equal(secret, s.opts.ClientSecret)) {
		writeJSON(w, http.StatusOK, []byte(`{"error":"invalid_client"}`))
		return
	}
	switch r.FormValue("grant_type") {
	case "refresh_token":
		if s.opts.RefreshToken == "" || !equal(r.FormValue("refresh_token"), s.opts.RefreshToken) {
			writeJSON(w, http.StatusOK, []byte(`{"error":"invalid_code"}`))
			return
		}
	case "client_credentials":
		if s.opts.ClientID == "" {
			writeJSON(w, http.StatusOK, []byte(`{"error":"invalid_client"}`))
			return
		}
	default:
		writeJSON(w, http.StatusOK, []byte(`{"error":"unsupported_grant_type"}`))
		return
	}
	tok := "1000." + randomHex(16) + "." + randomHex(16)
	s.tokMu.Lock()
	s.issuedZoho[tok] = true
	s.tokMu.Unlock()
	b, _ := json.Marshal(map[string]any{"access_token": tok, "api_domain": baseURL(r), "token_type": "Bearer", "expires_in": 3600})
	writeJSON(w, http.StatusOK, b)
}
