package proxy

import (
	"errors"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/crmgw/crmgw/identity"
)

// Messages shown to a caller whose credential was refused: one per status,
// whatever the reason, so that the answer tells nobody which issuers are
// trusted, whether a token's signature or only its audience was wrong, or
// whether a stolen API key exists (docs/hardening.md, "One answer for every
// credential failure"). The reason goes to the audit event and the log.
const (
	msgUnauthenticated = "missing or invalid credentials"
	msgAddressRefused  = "access from this address is not allowed"
	msgAuthUnavailable = "credentials cannot be verified right now; retry later"
	challengeBearer    = `Bearer realm="crmgw", error="invalid_token"`
)

// maxAuthDetail bounds the internal reason kept in the event and log.
const maxAuthDetail = 256

// authFailure answers a request whose caller could not be authenticated.
func (g *Gateway) authFailure(rw http.ResponseWriter, r *http.Request, x *exchange, crmType string, err error) {
	x.err = err
	ae := &identity.AuthError{Status: http.StatusUnauthorized}
	errors.As(err, &ae)
	detail := capString(err.Error(), maxAuthDetail)
	switch ae.Status {
	case http.StatusServiceUnavailable:
		rw.Header().Set("Retry-After", "5")
		g.reject(rw, x, crmType, http.StatusServiceUnavailable, outcomeUnauthenticated, codeUnavailable, msgAuthUnavailable)
	case http.StatusForbidden:
		g.countAuthFailure(r, x)
		if g.credentialAllowList(x) {
			// The credential's own allow-list refused: a 403 would tell a
			// caller on the wrong address that the credential is valid.
			rw.Header().Set("WWW-Authenticate", challengeBearer)
			g.reject(rw, x, crmType, http.StatusUnauthorized, outcomeUnauthenticated, codeUnauthenticated, msgUnauthenticated)
			break
		}
		g.reject(rw, x, crmType, http.StatusForbidden, outcomeDenied, codeForbidden, msgAddressRefused)
	default:
		// A request with no credential at all costs no failure: a load
		// balancer's health check or a browser behind an office's NAT
		// would otherwise lock the address out. It guesses nothing, and
		// per_ip bounds how often it can come.
		if !errors.Is(err, identity.ErrNoCredential) {
			g.countAuthFailure(r, x)
		}
		rw.Header().Set("WWW-Authenticate", challengeBearer)
		g.reject(rw, x, crmType, http.StatusUnauthorized, outcomeUnauthenticated, codeUnauthenticated, msgUnauthenticated)
	}
	// What the caller was told is generic; the event and the log say why.
	x.reason = detail
	if ce := g.authLogger().Check(zap.InfoLevel, "authentication failed"); ce != nil {
		ce.Write(zap.String("request_id", x.id), zap.String("ip", x.ipText), zap.String("reason", detail))
	}
}

// authLogger is the gateway's logger, sampled: per second, the first 10
// "authentication failed" lines, then one in 100, so a flood of bad
// credentials cannot flood the log (every failure is in the audit trail).
func (g *Gateway) authLogger() *zap.Logger {
	g.authLogOnce.Do(func() {
		g.authLog = g.log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(c, time.Second, 10, 100)
		}))
	})
	return g.authLog
}

// credentialAllowList reports whether an allow-list refusal of x came from
// the credential's own allow-list (an API key's or an issuer's
// allowed_cidrs) rather than identity.allowed_cidrs: the address passes
// the gateway-wide list (or there is none), so what refused it was checked
// after the credential was recognised.
func (g *Gateway) credentialAllowList(x *exchange) bool {
	list := g.allowedCIDRs.get()
	if len(list) == 0 {
		return true
	}
	ip := x.ip.Unmap()
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// allowList is identity.allowed_cidrs as parseAllowList read it; a
// reload replaces it whole.
type allowList struct {
	p atomic.Pointer[[]netip.Prefix]
}

func (a *allowList) get() []netip.Prefix {
	if p := a.p.Load(); p != nil {
		return *p
	}
	return nil
}

// setAllowList installs identity.allowed_cidrs as parsed by parseAllowList.
func (g *Gateway) setAllowList(list []netip.Prefix) { g.allowedCIDRs.p.Store(&list) }

// parseAllowList reads identity.allowed_cidrs (validated by identity):
// CIDRs or single addresses, IPv4-mapped IPv6 as IPv4.
func parseAllowList(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if a := p.Addr(); a.Is4In6() {
			p = netip.PrefixFrom(a.Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out
}
