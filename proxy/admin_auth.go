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

// adminAuth guards the admin listener's endpoints other than the probes
// (docs/hardening.md, "Admin listener"). With admin.token set, a request
// must carry "Authorization: Bearer <token>"; without one, only loopback
// callers (the same host, kubectl port-forward) are served, so a listener
// bound to every interface never hands the admin API to the network.
type adminAuth struct {
	sum [32]byte // SHA-256 of the token: compared in constant time
	set bool
}

// newAdminAuth reads admin.token or admin.token_file.
func newAdminAuth(c config.AdminConfig) (adminAuth, error) {
	tok := c.Token
	if c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return adminAuth{}, fmt.Errorf("admin.token_file: %w", err)
		}
		tok = string(b)
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		if c.TokenFile != "" {
			return adminAuth{}, errors.New("admin.token_file: the file is empty")
		}
		return adminAuth{}, nil
	}
	if len(tok) < 16 {
		return adminAuth{}, errors.New("admin.token_file: the token is shorter than 16 characters")
	}
	return adminAuth{sum: sha256.Sum256([]byte(tok)), set: true}, nil
}

// authorized reports whether r may use a guarded admin endpoint.
func (a *adminAuth) authorized(r *http.Request) bool {
	if !a.set {
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
		if !g.admin.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crmgw-admin"`)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "admin token required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
