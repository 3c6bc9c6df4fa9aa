package proxy

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/masking"
)

// begin writes the request's start record to the local audit log before it
// is forwarded, so a crash between here and the completion event still
// leaves a trace that the next start closes (docs/audit.md "Crash
// safety"). If the record cannot be made durable, an export or bulk
// request is refused with 503 (fail closed for what matters most); other
// requests go on, audited by their completion event. It returns false when
// it answered the request.
func (g *Gateway) begin(rw http.ResponseWriter, r *http.Request, x *exchange) bool {
	if g.auditor == nil {
		return true
	}
	err := g.auditor.Begin(g.event(r, x, 0, 0, &masking.Stats{}))
	if err == nil {
		return true
	}
	if isExport(x.result.Action.Category) {
		x.err = err
		rw.Header().Set("Retry-After", "5")
		g.reject(rw, x, x.up.typ, http.StatusServiceUnavailable, outcomeRejected, codeUnavailable,
			"exports are paused until the audit trail can be written")
		return false
	}
	g.log.Warn("audit start record not written; forwarding a non-export request",
		zap.String("request_id", x.id), zap.Error(err))
	return true
}
