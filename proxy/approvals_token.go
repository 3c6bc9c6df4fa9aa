package proxy

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/crmgw/crmgw/config"
)

// The approvals API's operator credential (docs/approvals.md): admin.token (or the
// first line of admin.token_file) sent as Authorization: Bearer <token>.
// It stands for the operators, not for a person: it may list, show,
// freeze and watch, and never approve, since four eyes need to know whose
// eyes.

// loadAdminToken reads the configured admin token ("" when none).
func loadAdminToken(ac config.AdminConfig) (string, error) {
	tok := ac.Token
	if ac.TokenFile != "" {
		b, err := os.ReadFile(ac.TokenFile)
		if err != nil {
			return "", fmt.Errorf("admin.token_file: %w", err)
		}
		tok, _, _ = strings.Cut(string(b), "\n")
		tok = strings.TrimSpace(tok)
		if len(tok) < 16 {
			return "", errors.New("admin.token_file: the token must be at least 16 characters")
		}
	}
	return tok, nil
}

// adminToken checks bearer tokens against the admin token, in constant
// time (over their hashes, so the length does not show either).
type adminToken struct {
	sum [32]byte
	set bool
}

func newAdminToken(tok string) adminToken {
	if tok == "" {
		return adminToken{}
	}
	return adminToken{sum: sha256.Sum256([]byte(tok)), set: true}
}

// bearer is the request's bearer token, "" when none.
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// matches reports whether the request carries the admin token.
func (a adminToken) matches(r *http.Request) bool {
	tok := bearerToken(r)
	if !a.set || tok == "" {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], a.sum[:]) == 1
}
