package proxy

import (
	"net/http"
	"sync/atomic"
	"time"

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
	ev := g.event(r, x, 0, 0, &masking.Stats{})
	// The start record says who asked for what (object, fields, query); the
	// plan's role and alias maps, derived from the query, are left to the
	// completion event: they cost as much to encode as the rest together.
	ev.CRM.FieldRoles, ev.CRM.Aliases = nil, nil
	for i := range ev.Subrequests {
		ev.Subrequests[i].FieldRoles, ev.Subrequests[i].Aliases = nil, nil
	}
	err := g.auditor.Begin(ev)
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
	if now := time.Now().UnixNano(); now-beginWarned.Load() > int64(10*time.Second) {
		beginWarned.Store(now) // at most one line per 10s: every request fails alike
		g.log.Warn("audit start record not written; forwarding requests other than exports",
			zap.String("request_id", x.id), zap.Error(err))
	}
	return true
}

// beginWarned is when the last "start record not written" line was logged.
var beginWarned atomic.Int64
