package proxy

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/zap"

	"github.com/crmgw/crmgw/approval"
	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/policy"
)

// Approval before sensitive exports (docs/approvals.md). A decision that
// allows a request and names an approval lets it through only under a
// grant: an approved request of the same subject for the same action
// (approval.Action.Fingerprint), used once for one export (its
// continuation pages and bulk results follow within the grant's time).
// Without one, the gateway opens (or reuses) a pending request, answers
// APPROVAL_REQUIRED in the CRM's shape naming the request, its approvers
// and the page's URL, and the approvers are notified through the alert
// sinks (rule approval_requested).
//
// Ways around it, and what stops them:
//   - Changing the request slightly (another field order, a LIMIT added
//     inside a subquery): the fingerprint sorts fields, and any other
//     change is another action needing its own approval; the default
//     policies count only a LIMIT that ends the query.
//   - Replaying the approved request: the grant is used by the first
//     request (an atomic transition in the store, so two replicas cannot
//     both use it); only continuation pages of that export follow, and a
//     next-page locator or a bulk job's results are bound by the
//     classifier to the subject that started the export.
//   - Hiding the export in a composite request: every sub-request is
//     decided, and an approval asked by any of them holds the whole request.
//   - Approving one's own request: see approval.Request.MayDecide.
//   - Monitor mode: approvals, like denials, are audited and not enforced.
const codeApprovalRequired = "APPROVAL_REQUIRED"

// approvalAction is the action an approval is for.
func approvalAction(x *exchange) approval.Action {
	a := x.result.Action
	return approval.Action{
		Upstream:  x.up.name,
		Operation: string(a.Operation),
		Category:  string(a.Category),
		Object:    a.Object,
		Fields:    a.Fields,
		AllFields: a.AllFields,
		Query:     a.Query,
	}
}

// isContinuation reports whether the action continues an export already
// started: a query's next page or a bulk job's results.
func isContinuation(a *crm.Action) bool {
	return a.Mode == "next_page" || a.Operation == crm.OpBulkResult
}

// gateApproval runs when the enforced decision allows the request and asks
// for an approval. It returns true when the request may go on (under a
// grant, or because the policy, seeing the approval's state, no longer
// asks), false when it answered the request.
func (g *Gateway) gateApproval(rw http.ResponseWriter, r *http.Request, x *exchange, in *policy.Input) bool {
	if g.approvals == nil {
		// Nowhere to keep requests: an approval nobody can give is a denial.
		g.reject(rw, x, x.up.typ, http.StatusForbidden, outcomeDenied, codeForbidden, "approval required but approvals are not configured")
		return false
	}
	ctx := r.Context()
	act := approvalAction(x)
	fp := act.Fingerprint()
	cur, err := g.approvals.Lookup(ctx, x.subjKey, fp)
	if err != nil {
		return g.approvalStoreDown(rw, x, err)
	}
	if cur != nil {
		// The policy sees the approval's state and decides again.
		in.Approval = policy.ApprovalInput{Status: string(cur.Status), ID: cur.ID, Approver: cur.Approver}
		if !cur.DecidedAt.IsZero() {
			in.Approval.DecidedAt = cur.DecidedAt.UTC().Format(time.RFC3339)
		}
		d := g.redecide(ctx, x, in)
		x.decision = d
		if !d.Allow {
			reason := d.Reason
			if reason == "" {
				reason = "denied by policy"
			}
			g.reject(rw, x, x.up.typ, http.StatusForbidden, outcomeDenied, codeForbidden, reason)
			return false
		}
		if d.MaxRecords > 0 && (x.maxRecords == 0 || d.MaxRecords < x.maxRecords) {
			x.maxRecords = d.MaxRecords
		}
		if d.Approval == nil {
			return true
		}
		cont := isContinuation(&x.result.Action)
		if cur.Status == approval.StatusApproved || (cur.Status == approval.StatusUsed && cont) {
			used, err := g.approvals.Use(ctx, cur.ID, x.id, cont)
			switch {
			case err == nil:
				x.grant = used
				return true
			case !errors.Is(err, approval.ErrNoGrant):
				return g.approvalStoreDown(rw, x, err)
			}
		}
	}
	return g.askApproval(rw, x, act)
}

// redecide evaluates the action and its sub-requests again with
// input.approval set, merged as decide merges them.
func (g *Gateway) redecide(ctx context.Context, x *exchange, in *policy.Input) policy.Decision {
	top := in.Action
	d, err := g.decider.Decide(ctx, in)
	if err != nil {
		g.log.Warn("policy evaluation failed; denying", zap.String("request_id", x.id), zap.Error(err))
	}
	merged := d
	if len(x.result.Subrequests) > 0 {
		merged.Mask = copyMask(d.Mask)
	}
	for i := range x.result.Subrequests {
		in.Action = actionInput(&x.result.Subrequests[i])
		sd, err := g.decider.Decide(ctx, in)
		if err != nil {
			g.log.Warn("policy evaluation failed; denying", zap.String("request_id", x.id), zap.Error(err))
		}
		merged = mergeDecision(merged, sd)
	}
	in.Action = top
	return merged
}

// askApproval opens (or finds) the pending request and answers
// APPROVAL_REQUIRED.
func (g *Gateway) askApproval(rw http.ResponseWriter, x *exchange, act approval.Action) bool {
	ap := x.decision.Approval
	s := x.subject
	req := approval.Request{
		Subject:      x.subjKey,
		SubjectEmail: s.Email,
		SubjectName:  s.ID,
		Upstream:     x.up.name,
		Action:       act,
		Plan:         planSummary(x),
		Reason:       ap.Reason,
		Approvers:    ap.Approvers,
		TTL:          approval.Duration(ap.TTL),
		Estimated:    estimate(x),
		Request:      x.id,
		Usage:        usageSummary(x),
	}
	// Opening outlives the caller: a dropped connection must not leave a
	// request half made.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(context.Background()), 2*time.Second)
	defer cancel()
	got, _, err := g.approvals.Ask(ctx, req)
	if err != nil {
		return g.approvalStoreDown(rw, x, err)
	}
	x.approval = auditApproval(got, "")
	x.approval.URL = g.approvalURL(got.ID)
	x.decision.Allow = false
	reason := ap.Reason
	if reason == "" {
		reason = "this request needs approval"
	}
	msg := reason + ": approval " + got.ID + " (" + string(got.Status) + ") must be given by " +
		strings.Join(got.Approvers, " or ") + " at " + g.approvalURL(got.ID)
	if got.Status == approval.StatusApproved {
		// Approved between this request's lookup and now: the retry uses it.
		msg = "approval " + got.ID + " has just been approved by " + got.Approver + ": send the request again"
	}
	g.reject(rw, x, x.up.typ, http.StatusForbidden, outcomeDenied, codeApprovalRequired, msg)
	return false
}

func (g *Gateway) approvalStoreDown(rw http.ResponseWriter, x *exchange, err error) bool {
	x.err = err
	rw.Header().Set("Retry-After", "5")
	g.reject(rw, x, x.up.typ, http.StatusServiceUnavailable, outcomeRejected, codeUnavailable, "approval store unavailable")
	return false
}

// approvalURL is where an approver opens the request.
func (g *Gateway) approvalURL(id string) string {
	base, _ := g.approvalBase.Load().(string)
	base = strings.TrimSuffix(base, "/")
	return base + "/approvals/" + id
}

// planSummary describes the access plan in a line, for the approver.
func planSummary(x *exchange) string {
	a := x.result.Action
	var b strings.Builder
	b.WriteString(string(a.Operation))
	b.WriteString(" (")
	b.WriteString(string(a.Category))
	b.WriteString(") of ")
	b.WriteString(a.Object)
	if a.AllFields {
		b.WriteString(", all fields")
	} else if len(a.Fields) > 0 {
		b.WriteString(", fields ")
		b.WriteString(strings.Join(a.Fields, ", "))
	}
	if a.IncludeDeleted {
		b.WriteString(", deleted rows included")
	}
	if x.maxRecords > 0 {
		b.WriteString(", at most ")
		b.WriteString(itoa(int64(x.maxRecords)))
		b.WriteString(" records")
	}
	for _, sub := range x.result.Subrequests {
		b.WriteString("; part: ")
		b.WriteString(string(sub.Operation))
		b.WriteString(" of ")
		b.WriteString(sub.Object)
	}
	return b.String()
}

// queryLimit is the LIMIT that ends a query (SOQL or COQL), as the default
// policies read it (policies/approvals.rego).
var queryLimit = regexp.MustCompile(`(?i)\sLIMIT\s+(\d{1,9})(?:\s+OFFSET\s+\d{1,9})?\s*$`)

// estimate is the most records the export can return, as far as is known
// before it runs: the record cap (policy or quota) and the query's own
// LIMIT, the smaller; 0 when neither is known.
func estimate(x *exchange) int64 {
	n := int64(x.maxRecords)
	if m := queryLimit.FindStringSubmatch(x.result.Action.Query); m != nil {
		if l, err := strconv.ParseInt(m[1], 10, 64); err == nil && (n == 0 || l < n) {
			n = l
		}
	}
	return n
}

func usageSummary(x *exchange) map[string]int64 {
	out := map[string]int64{}
	for k, v := range x.usage.Records {
		out["records_"+k] = v
	}
	for k, v := range x.usage.Requests {
		out["requests_"+k] = v
	}
	return out
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// auditApproval is a request as the audit event's approval.
func auditApproval(r *approval.Request, step string) *audit.Approval {
	a := &audit.Approval{
		ID:        r.ID,
		Step:      step,
		Status:    string(r.Status),
		Subject:   subjectName(r),
		Approvers: r.Approvers,
		Approver:  r.Approver,
		Comment:   r.Comment,
		Reason:    r.Reason,
		UsedBy:    r.UsedBy,
		Records:   r.Records,
	}
	if !r.DecidedAt.IsZero() {
		a.DecidedAt = r.DecidedAt.UTC().Format(time.RFC3339)
	}
	return a
}

func subjectName(r *approval.Request) string {
	if r.SubjectEmail != "" {
		return r.SubjectEmail
	}
	return r.Subject
}

// annotateEvent adds the approval, watch and freeze state to a request's
// own audit event.
func (g *Gateway) annotateEvent(x *exchange, ev *audit.Event) {
	ev.Actor.Watch = x.watch
	ev.Actor.Frozen = x.frozen
	switch {
	case x.approval != nil:
		ev.Approval = x.approval
	case x.grant != nil:
		ev.Approval = auditApproval(x.grant, "")
	}
}

// grantDelivered reports what a request let through under a grant
// delivered (the "used" step, with its records).
func (g *Gateway) grantDelivered(x *exchange, records int) {
	if x.grant == nil || g.approvals == nil || x.outcome != outcomeAllowed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // outlives the request
	defer cancel()
	g.approvals.Delivered(ctx, x.grant.ID, x.id, int64(records))
}

// approvalStep writes one audit event per approval step (requested,
// approved, denied, used, expired): what happened, by whom, when. The
// approvers' notification is the alert rule approval_requested on it.
func (g *Gateway) approvalStep(r approval.Request, step string) {
	if g.auditor == nil {
		return
	}
	id := r.Request
	if id == "" || step == approval.StepApproved || step == approval.StepDenied || step == approval.StepExpired {
		id = ulid.Make().String()
	}
	ev := &audit.Event{
		Time:      time.Now().UTC(),
		ClassUID:  audit.ClassAPIActivity,
		RequestID: id,
		Activity:  "approval_" + step,
		Status:    audit.StatusAllowed,
		Actor:     audit.Actor{User: audit.User{UID: r.SubjectName, Email: r.SubjectEmail}},
		CRM: audit.CRM{
			Upstream: r.Upstream, Operation: r.Action.Operation, Category: r.Action.Category,
			Object: r.Action.Object, Fields: r.Action.Fields, Records: 0,
		},
		Decision: audit.Decision{Allow: step != approval.StepDenied, Enforced: true, Reason: r.Reason},
	}
	a := auditApproval(&r, step)
	a.URL = g.approvalURL(r.ID)
	switch step {
	case approval.StepApproved, approval.StepDenied:
		// The actor of a decision is the approver.
		ev.Actor = audit.Actor{User: audit.User{UID: r.Approver, Email: r.Approver}}
		ev.Severity = audit.SeverityMedium
	case approval.StepUsed:
		ev.CRM.Records = r.Records
		ev.Severity = audit.SeverityHigh
	case approval.StepRequested:
		ev.Severity = audit.SeverityMedium
	default:
		ev.Severity = audit.SeverityLow
	}
	if step == approval.StepDenied {
		ev.Status = audit.StatusDenied
	}
	ev.Approval = a
	g.auditor.Record(ev, nil)
}
