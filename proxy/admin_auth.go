package proxy

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/crmgw/crmgw/config"
)

// adminAuth is the admin token (docs/hardening.md, "Admin listener";
// docs/approvals.md): it guards the admin listener's endpoints other than
// the probes (authorized), and it is the operators' credential on the
// approvals API (matches). With admin.token set, a request must carry
// "Authorization: Bearer <token>"; without one, only loopback callers (the
// same host, kubectl port-forward) are served the guarded endpoints, so a
// listener bound to every interface never hands the admin API to the
// network. The Gateway holds it behind an atomic pointer, which a
// configuration reload swaps (reload.go): a leaked token is rotated with
// SIGHUP.
type adminAuth struct {
	sum [32]byte // SHA-256 of the token: compared in constant time
	set bool
}

// newAdminAuth reads admin.token, or the first line of admin.token_file
// (surrounding whitespace ignored): the one reading of the token the
// guard and the approvals API share.
func newAdminAuth(c config.AdminConfig) (*adminAuth, error) {
	tok := strings.TrimSpace(c.Token)
	if c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("admin.token_file: %w", err)
		}
		first, _, _ := strings.Cut(strings.TrimLeft(string(b), " \t\r\n"), "\n")
		if tok = strings.TrimSpace(first); tok == "" {
			return nil, errors.New("admin.token_file: the file is empty")
		}
	}
	if tok == "" {
		return &adminAuth{}, nil
	}
	if len(tok) < 16 {
		return nil, errors.New("admin.token_file: the token is shorter than 16 characters")
	}
	return &adminAuth{sum: sha256.Sum256([]byte(tok)), set: true}, nil
}

// authorized reports whether r may use a guarded admin endpoint.
func (a *adminAuth) authorized(r *http.Request) bool {
	if a == nil || !a.set { // nil: none loaded yet, as none configured
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		return err == nil && ap.Addr().Unmap().IsLoopback()
	}
	vals := r.Header["Authorization"]
	if len(vals) != 1 {
		return false
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], a.sum[:]) == 1
}

// requireAdmin serves h to authorized callers only; others get 401 with
// a Bearer challenge (and nothing about why).
func (g *Gateway) requireAdmin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.admin.Load().authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crmgw-admin"`)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "admin token required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// matches reports whether the request carries the admin token (never
// when none is configured): the approvals API's operator check.
func (a *adminAuth) matches(r *http.Request) bool {
	tok := bearerToken(r)
	if a == nil || !a.set || tok == "" {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], a.sum[:]) == 1
}

// On the approvals API (docs/approvals.md) the admin token is the
// operators' credential, not a person's: it may list, show, freeze and
// watch, and never approve, since four eyes need to know whose eyes.

// bearerToken is the request's bearer token, "" when none.
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
