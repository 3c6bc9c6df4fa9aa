package proxy

import (
	"context"
	"net/http"
	"net/netip"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/ratelimit"
)

// preAuthLimiter is the part of the limiter that runs before the caller is
// authenticated, by address alone (docs/hardening.md, "Pre-authentication
// limits"). *ratelimit.Limiter implements it; a Limiter that does not has
// no pre-authentication limits.
type preAuthLimiter interface {
	PreAuth(ctx context.Context, ip netip.Addr) (ratelimit.Result, error)
	AuthFailed(ctx context.Context, ip netip.Addr) error
}

var _ preAuthLimiter = (*ratelimit.Limiter)(nil)

// preAuthorize runs the pre-authentication limits for x.ip. It returns
// false when it answered the request (429 in the CRM's shape, with
// Retry-After). Nothing of the request but its address has been looked at:
// the credential is not parsed, the body not read.
func (g *Gateway) preAuthorize(rw http.ResponseWriter, r *http.Request, x *exchange, crmType string) bool {
	pl, ok := g.limiter.(preAuthLimiter)
	if !ok {
		return true
	}
	res, err := pl.PreAuth(r.Context(), x.ip)
	if res.Allowed {
		return true
	}
	x.err = res.StoreError
	if x.err == nil {
		x.err = err
	}
	res.Headers.Apply(rw.Header())
	reason := "rate limit " + res.Limit + " exceeded"
	if res.Limit == "" {
		reason = "rate limit store unavailable"
	}
	g.reject(rw, x, crmType, http.StatusTooManyRequests, outcomeRateLimited, codeRateLimited, reason)
	return false
}

// countAuthFailure charges a failed authentication to the caller's
// address, so that a flood of bad credentials is refused before
// authentication once the address's budget is spent. It runs before the
// answer is written (the caller's next request must see it) and outlives
// a caller that went away.
func (g *Gateway) countAuthFailure(r *http.Request, x *exchange) {
	pl, ok := g.limiter.(preAuthLimiter)
	if !ok {
		return
	}
	if err := pl.AuthFailed(context.WithoutCancel(r.Context()), x.ip); err != nil {
		g.log.Debug("failed authentication not counted", zap.String("request_id", x.id), zap.Error(err))
	}
}
