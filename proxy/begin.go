package proxy

import (
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/masking"
)

// begin writes the request's start record to the local audit log, so a
// crash between here and the completion event still leaves a trace that
// the next start closes (docs/audit.md "Crash safety"). It returns false
// when it answered the request.
//
// An export or bulk request waits for the record before it is forwarded:
// if the record cannot be made durable, it is refused with 503 (fail
// closed for what matters most) and never reaches the CRM. Any other
// request is forwarded at once and waits for its record before the first
// byte of its answer goes to the caller (awaitStart): the write overlaps
// the CRM's round trip, and a caller never sees a status line the local
// log has no record of. If that record cannot be written, the request goes
// on, audited by its completion event.
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
	if !isExport(x.result.Action.Category) {
		s, err := g.auditor.Start(ev)
		if err != nil {
			g.warnStart(x, err)
		}
		x.started = s
		return true
	}
	if err := g.auditor.Begin(ev); err != nil {
		x.err = err
		rw.Header().Set("Retry-After", "5")
		g.reject(rw, x, x.up.typ, http.StatusServiceUnavailable, outcomeRejected, codeUnavailable,
			"exports are paused until the audit trail can be written")
		return false
	}
	return true
}

// awaitStart waits, before the first byte of the answer goes to the
// caller, for a start record begin did not wait for.
func (g *Gateway) awaitStart(x *exchange) {
	if !x.started.Pending() {
		return
	}
	err := x.started.Wait()
	x.started = audit.Started{}
	if err != nil {
		g.warnStart(x, err)
	}
}

func (g *Gateway) warnStart(x *exchange, err error) {
	if now := time.Now().UnixNano(); now-beginWarned.Load() > int64(10*time.Second) {
		beginWarned.Store(now) // at most one line per 10s: every request fails alike
		g.log.Warn("audit start record not written; forwarding requests other than exports",
			zap.String("request_id", x.id), zap.Error(err))
	}
}

// beginWarned is when the last "start record not written" line was logged.
var beginWarned atomic.Int64
