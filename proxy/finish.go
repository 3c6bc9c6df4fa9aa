package proxy

import (
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/masking"
)

// complete runs after the response has finished (or was aborted): it hands
// page tokens back to the classifier, counts records into quotas, writes the
// audit event and updates metrics. Everything here describes what actually
// left the gateway.
func (g *Gateway) complete(rw *responseRecorder, r *http.Request, x *exchange) {
	var st masking.Stats
	if x.masker != nil {
		st = x.masker.Stats()
		if rw.discarded { // nothing of the body left (hold_failure.go)
			st.Records, st.Truncated, st.Masked = 0, false, nil
		}
		if st.Err != nil {
			x.outcome = outcomeFailed
			x.err = st.Err
			x.reason = "upstream response could not be inspected; response cut off"
			g.log.Warn("response cut off: body could not be masked",
				zap.String("request_id", x.id), zap.String("upstream", x.up.name), zap.Error(st.Err))
		}
	}
	status := rw.status
	if status == 0 {
		status = http.StatusOK
	}

	// Records are counted (and an export cursor a first page opened) before
	// the classifier learns the page tokens, so no next page can start
	// before its first page is counted.
	g.settleRecords(r, x, &st)
	if x.outcome == outcomeAllowed && x.up != nil && x.subject != nil {
		x.up.classifier.Observe(x.subjKey, x.result, x.upstreamStatus, rw.Header(), st.Captured)
	}

	upName, op, cat := "", "unknown", "unknown"
	if x.up != nil {
		upName = x.up.name
	}
	if x.result.Action.Operation != "" {
		op, cat = string(x.result.Action.Operation), string(x.result.Action.Category)
	}
	if g.metrics != nil {
		g.metrics.requests.WithLabelValues(upName, op, x.outcome, strconv.Itoa(status)).Inc()
		g.metrics.latency.WithLabelValues(upName, op).Observe(time.Since(x.start).Seconds())
		if st.Records > 0 {
			g.metrics.records.WithLabelValues(upName, cat).Add(float64(st.Records))
		}
		for _, f := range st.Masked {
			g.metrics.masked.WithLabelValues(g.metrics.ops.fieldLabel(f)).Inc()
		}
	}
	g.endTrace(x, status, st.Records)
	if g.auditor != nil {
		ev := g.event(r, x, status, rw.bytes, &st)
		g.annotateEvent(x, ev)
		g.auditor.Record(ev, x.usage)
	}
	g.grantDelivered(x, st.Records)
	if ce := g.log.Check(zap.DebugLevel, "request"); ce != nil {
		ce.Write(zap.String("request_id", x.id), zap.String("upstream", upName), zap.String("operation", op),
			zap.String("outcome", x.outcome), zap.Int("status", status), zap.Int("records", st.Records),
			zap.Duration("duration", time.Since(x.start)))
	}
}

// event builds the audit event (docs/audit.md "For the SOC: the event").
func (g *Gateway) event(r *http.Request, x *exchange, status int, bytes int64, st *masking.Stats) *audit.Event {
	ip := x.ipText
	if ip == "" { // no route: the client's address was not taken
		ip = x.ip.String()
	}
	n := eventStringCap(x) // eventcap.go
	ev := &audit.Event{
		Time:      x.start.UTC(),
		ClassUID:  audit.ClassAPIActivity,
		RequestID: x.id,
		Status:    auditStatus(x.outcome),
		SrcEndpoint: audit.Endpoint{
			IP: ip,
		},
		HTTPRequest: audit.HTTPRequest{
			Method:    capString(r.Method, n),
			Path:      capString(r.URL.EscapedPath(), n),
			UserAgent: capString(r.UserAgent(), n),
		},
		HTTPResponse: audit.HTTPResponse{Code: status, Bytes: bytes},
		DurationMS:   float64(time.Since(x.start).Microseconds()) / 1000,
	}
	ev.TraceID, ev.SpanID = x.traceIDs()
	if s := x.subject; s != nil {
		ev.Actor = audit.Actor{
			User:     audit.User{UID: s.ID, Email: s.Email, Groups: s.Groups, Roles: s.Roles},
			ClientID: s.ClientID,
			MFA:      s.MFA,
			Kind:     s.Kind,
			Issuer:   s.Issuer,
		}
	}
	a := x.result.Action
	ev.CRM = audit.CRM{
		Operation: string(a.Operation),
		Category:  string(a.Category),
		Object:    a.Object,
		Fields:    a.Fields,
		Records:   int64(st.Records),
		Truncated: st.Truncated,
	}
	g.auditPlan(&ev.CRM, &a)
	if ev.CRM.Operation == "" {
		ev.CRM.Operation, ev.CRM.Category = "unknown", "unknown"
	}
	if x.up != nil {
		ev.CRM.Upstream, ev.CRM.Type = x.up.name, x.up.typ
		ev.CRM.Host = x.up.currentTarget().Host
	}
	for _, sub := range x.result.Subrequests {
		c := audit.CRM{
			Operation: string(sub.Operation), Category: string(sub.Category),
			Object: sub.Object, Fields: sub.Fields,
		}
		g.auditPlan(&c, &sub)
		ev.Subrequests = append(ev.Subrequests, c)
	}
	if x.decided {
		ev.Decision = audit.Decision{
			Allow:      x.decision.Allow,
			Enforced:   x.enforced,
			Reason:     x.decision.Reason,
			Masked:     st.Masked,
			MaxRecords: int64(x.maxRecords),
		}
	} else {
		ev.Decision = audit.Decision{Allow: false, Enforced: true, Reason: capString(x.reason, n)}
	}
	ev.Decision.PolicyRevision = x.decision.Revision // the revision that decided, even across a reload
	if ev.Decision.PolicyRevision == "" {
		ev.Decision.PolicyRevision = g.decider.Revision()
	}
	if x.outcome != outcomeAllowed && x.reason != "" {
		ev.Error = capString(x.reason, n)
	}
	ev.Classify()
	return ev
}

func auditStatus(outcome string) string {
	switch outcome {
	case outcomeAllowed:
		return audit.StatusAllowed
	case outcomeRateLimited:
		return audit.StatusRateLimited
	case outcomeFailed:
		return audit.StatusFailed
	default:
		return audit.StatusDenied
	}
}
