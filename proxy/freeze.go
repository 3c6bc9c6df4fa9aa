package proxy

import (
	"go.uber.org/zap"

	"net/http"
)

// Frozen subjects and the watch list (docs/approvals.md). A frozen
// subject is refused before the policy, on every replica within a second
// of the freeze (approval.Manager.State): no rule, grant or cached decision
// can let it through. The watch list's flags reach the policy as
// input.subject.watch.
//
// Ways around it, and what stops them:
//   - Another credential of the same person: a freeze names a subject key,
//     an id or an email, and the caller is looked up by all three
//     (issuer|sub, sub or API key id, email), case-insensitively. An API
//     key has no email: freeze its id too.
//   - A replica that has not heard of the freeze: it reads the shared
//     state at most approvals.refresh (≤ 1s) after its last read.
//   - The store being down: with a copy older than that, the request is
//     refused (503), never let through unchecked.
const codeFrozen = "CRMGW_FROZEN"

// checkSubject refuses a frozen subject and notes the watch flags. It
// returns false when it answered the request.
func (g *Gateway) checkSubject(rw http.ResponseWriter, r *http.Request, x *exchange) bool {
	if g.approvals == nil {
		return true
	}
	s := x.subject
	st, err := g.approvals.State(r.Context(), x.subjKey, s.ID, s.Email, s.ClientID)
	if err != nil {
		if g.subjectsFailOpen {
			// ratelimit.on_store_error: allow — the operator chose to keep
			// serving through a store outage; freezes and the watch list
			// take effect again when it is back (docs/approvals.md).
			g.log.Warn("subject state store unavailable; serving as on_store_error: allow says",
				zap.String("request_id", x.id), zap.Error(err))
			return true
		}
		x.err = err
		rw.Header().Set("Retry-After", "5")
		g.reject(rw, x, x.up.typ, http.StatusServiceUnavailable, outcomeRejected, codeUnavailable, "subject state store unavailable")
		return false
	}
	x.watch = st.Watch
	if st.Frozen {
		x.frozen = true
		g.reject(rw, x, x.up.typ, http.StatusForbidden, outcomeDenied, codeFrozen,
			"this account is frozen by the gateway's administrators; every request is refused")
		return false
	}
	return true
}
