// Package identity decides who is calling crmgw and holds the credentials
// crmgw uses towards the CRM. Callers present an OIDC bearer JWT (verified
// with go-oidc against each trusted issuer's discovery document and JWKS), an
// API key, and optionally a client certificate; the result is a Subject in
// the shape of the policy input contract, or a typed *AuthError the proxy
// turns into 401 or 403. Upstream, Credentials obtains, caches and refreshes
// the CRM's OAuth token (client credentials, Salesforce JWT bearer, Zoho
// refresh token, static or passthrough) and sets it on each outgoing request.
package identity

import (
	"errors"
	"net/http"
	"strings"
)

// Subject kinds.
const (
	KindUser   = "user"
	KindClient = "client"
)

// Authentication methods (Subject.Method).
const (
	MethodOIDC   = "oidc"
	MethodAPIKey = "api_key"
	MethodMTLS   = "mtls"
)

// Subject is the authenticated caller, shaped as the policy input's
// "subject". A Subject returned by Authenticate may be shared between
// requests (it comes from a cache): treat it as read-only.
type Subject struct {
	// Kind is "user" (a human behind an OIDC token) or "client" (API key,
	// client-credentials token, certificate).
	Kind string `json:"kind"`
	// ID is the token's "sub", the API key's id or the mTLS client's id.
	ID string `json:"id"`
	// Issuer is the token issuer; "crmgw:api_key" or "crmgw:mtls" otherwise.
	Issuer string   `json:"issuer"`
	Email  string   `json:"email"`
	Groups []string `json:"groups"`
	Roles  []string `json:"roles"`
	// MFA is true when amr or acr says the user used more than one factor.
	MFA bool `json:"mfa"`
	// ClientID is the OAuth client (azp/client_id) or the API key id.
	ClientID string `json:"client_id"`
	// Claims are the token's claims as verified (plus x509_subject and
	// spiffe_id when a client certificate was presented).
	Claims map[string]any `json:"claims"`
	// Method is how the caller authenticated: oidc, api_key or mtls.
	Method string `json:"method"`
	// IssuerPrimary is true when the issuer may grant privileged roles:
	// the primary OIDC issuer (the first listed), API keys and mTLS clients
	// (crmgw's own configuration). Policies read it as
	// input.subject.issuer_primary (docs/identity.md, "Issuer scoping").
	IssuerPrimary bool `json:"issuer_primary"`
	// CertSubject and SPIFFEID describe the verified client certificate, if any.
	CertSubject string `json:"cert_subject,omitempty"`
	SPIFFEID    string `json:"spiffe_id,omitempty"`
}

// Errors wrapped by *AuthError, for errors.Is.
var (
	// ErrNoCredential: the request carried no Authorization header.
	ErrNoCredential = errors.New("no credential")
	// ErrInvalidCredential: a credential was sent but is not valid.
	ErrInvalidCredential = errors.New("invalid credential")
	// ErrAddressNotAllowed: the caller's address is outside an allow-list.
	ErrAddressNotAllowed = errors.New("address not allowed")
)

// Error codes of AuthError.
const (
	CodeInvalidToken = "invalid_token"
	CodeForbidden    = "forbidden"
)

// GenericReason is the one reason every credential failure shows the caller:
// which check failed (unknown issuer, unknown key, expired, API key valid but
// used from elsewhere) would tell an attacker which issuers are trusted and
// whether a stolen credential is still good (docs/identity.md, "Errors").
const GenericReason = "missing or invalid credentials"

// UnavailableReason is what a caller sees when its token cannot be checked
// right now (issuer or introspection endpoint unreachable).
const UnavailableReason = "authentication is temporarily unavailable, try again later"

// AuthError is why a request was not authenticated. Status is 401 (no or bad
// credential; answer with the WWW-Authenticate value from Challenge), 403
// (the caller's address is outside identity.allowed_cidrs) or 503 (the
// token cannot be checked now). Reason is what the caller may see: the same
// for every credential failure. Detail says which check failed, for logs and
// the audit event only; neither ever contains the credential.
type AuthError struct {
	Status int
	Code   string
	Reason string
	Detail string
	err    error // ErrNoCredential, ErrInvalidCredential or ErrAddressNotAllowed
}

// Error is "identity: " and the reason, then the detail; it is for logs and
// never contains the credential. Show the caller Reason, not Error.
func (e *AuthError) Error() string {
	if e.Detail == "" || e.Detail == e.Reason {
		return "identity: " + e.Reason
	}
	return "identity: " + e.Reason + ": " + e.Detail
}

// Unwrap returns one of the Err* sentinels.
func (e *AuthError) Unwrap() error { return e.err }

// Challenge is the WWW-Authenticate value for a 401 (RFC 6750 §3): without
// an error code when no credential was sent, with error="invalid_token"
// otherwise. It carries the generic Reason, never the Detail. It is "" for
// other statuses.
func (e *AuthError) Challenge() string {
	if e.Status != http.StatusUnauthorized {
		return ""
	}
	if errors.Is(e.err, ErrNoCredential) {
		return `Bearer realm="crmgw"`
	}
	return `Bearer realm="crmgw", error="invalid_token", error_description="` + strings.ReplaceAll(e.Reason, `"`, `'`) + `"`
}

// unauthorized is a credential failure: the caller sees GenericReason,
// detail goes to logs and the audit event.
func unauthorized(detail string) *AuthError {
	return &AuthError{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Reason: GenericReason, Detail: detail, err: ErrInvalidCredential}
}

func forbidden(reason string) *AuthError {
	return &AuthError{Status: http.StatusForbidden, Code: CodeForbidden, Reason: reason, Detail: reason, err: ErrAddressNotAllowed}
}

// unavailable is a token that cannot be checked now (503).
func unavailable(detail string, err error) *AuthError {
	return &AuthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Reason: UnavailableReason, Detail: detail + ": " + err.Error(), err: ErrInvalidCredential}
}
