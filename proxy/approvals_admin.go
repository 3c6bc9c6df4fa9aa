package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/zap"

	"github.com/crmgw/crmgw/approval"
	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/identity"
)

// The approvals admin API on the admin listener (docs/approvals.md):
//
//	GET  /admin/approvals[?status=pending&subject=...]
//	GET  /admin/approvals/{id}
//	POST /admin/approvals/{id}/approve   {"comment": "..."}
//	POST /admin/approvals/{id}/deny      {"comment": "..."}
//	GET  /admin/subjects
//	POST /admin/subjects/{subject}/freeze    {"reason": "..."}
//	POST /admin/subjects/{subject}/unfreeze
//	POST /admin/subjects/{subject}/watch     {"flag": "departing"}
//	POST /admin/subjects/{subject}/unwatch   {"flag": "departing"}
//
// Who may do what: the admin token (operators) lists, shows, freezes and
// watches; it cannot approve. An approver authenticates with their own
// credential (an OIDC JWT from a trusted issuer or an API key, through
// the identity stage, as on the proxy listener): they list and show the
// requests they may decide and approve or deny them, under the four-eyes
// rules. A subject may show its own requests.
//
// Ways around it, and what is tested: approving with the admin token
// (refused: no person); approving one's own request with another
// credential of the same person (refused by subject key, id or email);
// naming another approver in the body (refused: the approver is whoever
// authenticated); an approver of the wrong group (refused); guessing ids
// (ULIDs; unknown ids and requests one may not see both answer 404).

// withApprovalsAdmin mounts the approvals admin API and the approval page
// in front of the admin handler.
func (g *Gateway) withApprovalsAdmin(next http.Handler) http.Handler {
	if g.approvals == nil {
		return next
	}
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.HandleFunc("GET /admin/approvals", func(w http.ResponseWriter, r *http.Request) { g.adminListApprovals(w, r) })
	mux.HandleFunc("GET /admin/approvals/{id}", func(w http.ResponseWriter, r *http.Request) { g.adminShowApproval(w, r) })
	mux.HandleFunc("POST /admin/approvals/{id}/{verb}", func(w http.ResponseWriter, r *http.Request) { g.adminDecide(w, r) })
	mux.HandleFunc("GET /admin/subjects", func(w http.ResponseWriter, r *http.Request) { g.adminListSubjects(w, r) })
	mux.HandleFunc("POST /admin/subjects/{subject}/{verb}", func(w http.ResponseWriter, r *http.Request) { g.adminSubject(w, r) })
	if g.page != nil {
		g.page.routes(mux)
	}
	return mux
}

// adminCaller is who called the admin API.
type adminCaller struct {
	operator bool // the admin token
	subject  *identity.Subject
	key      string
}

func (c adminCaller) approver() approval.Approver {
	s := c.subject
	return approval.Approver{Subject: c.key, ID: s.ID, Email: s.Email, Groups: s.Groups, Roles: s.Roles}
}

// caller authenticates the admin API's caller; it answers 401 and returns
// false when there is none.
func (g *Gateway) caller(w http.ResponseWriter, r *http.Request) (adminCaller, bool) {
	if g.admin.Load().matches(r) {
		return adminCaller{operator: true}, true
	}
	if bearerToken(r) != "" {
		if s, err := g.auth.Authenticate(r); err == nil {
			return adminCaller{subject: s, key: subjectKey(s)}, true
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="crmgw-admin"`)
	adminError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "send the admin token or your own credential as Authorization: Bearer")
	return adminCaller{}, false
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func adminError(w http.ResponseWriter, status int, code, msg string) {
	adminJSON(w, status, map[string]string{"error": code, "message": msg})
}

// readAdminBody decodes a small JSON body (an empty body is {}); unknown
// fields are an error, so a misspelt key is not silently ignored.
func readAdminBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil || len(b) > 64<<10 {
		adminError(w, http.StatusBadRequest, "BAD_REQUEST", "body unreadable or larger than 64 KiB")
		return false
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return true
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminError(w, http.StatusBadRequest, "BAD_REQUEST", "body is not the expected JSON: "+err.Error())
		return false
	}
	return true
}

// mayShow reports whether the caller may see the request.
func (c adminCaller) mayShow(r *approval.Request) bool {
	return c.operator || r.Subject == c.key || r.MayDecide(c.approver()) == nil
}

func (g *Gateway) adminListApprovals(w http.ResponseWriter, r *http.Request) {
	c, ok := g.caller(w, r)
	if !ok {
		return
	}
	f := approval.Filter{Status: approval.Status(r.URL.Query().Get("status")), Subject: r.URL.Query().Get("subject")}
	if !c.operator {
		a := c.approver()
		f.For = &a
	}
	list, err := g.approvals.List(r.Context(), f)
	if err != nil {
		adminError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "approval store unavailable")
		return
	}
	if list == nil {
		list = []*approval.Request{}
	}
	adminJSON(w, http.StatusOK, map[string]any{"approvals": list})
}

func (g *Gateway) adminShowApproval(w http.ResponseWriter, r *http.Request) {
	c, ok := g.caller(w, r)
	if !ok {
		return
	}
	req, err := g.approvals.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, approval.ErrNotFound) || (err == nil && !c.mayShow(req)) {
		adminError(w, http.StatusNotFound, "NOT_FOUND", "no such approval request")
		return
	}
	if err != nil {
		adminError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "approval store unavailable")
		return
	}
	adminJSON(w, http.StatusOK, map[string]any{"approval": req, "url": g.approvalURL(req.ID)})
}

// decideError maps a refused decision to its HTTP answer.
func decideError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, approval.ErrNotFound):
		adminError(w, http.StatusNotFound, "NOT_FOUND", "no such approval request")
	case errors.Is(err, approval.ErrSelfApprove):
		adminError(w, http.StatusForbidden, "SELF_APPROVAL", "you cannot decide your own request: four eyes")
	case errors.Is(err, approval.ErrNotApprover):
		adminError(w, http.StatusForbidden, "NOT_APPROVER", "you hold none of the groups or roles this request needs")
	case errors.Is(err, approval.ErrNotPending), errors.Is(err, approval.ErrExpired):
		adminError(w, http.StatusConflict, "NOT_PENDING", err.Error())
	default:
		adminError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "approval store unavailable")
	}
}

func (g *Gateway) adminDecide(w http.ResponseWriter, r *http.Request) {
	verb := r.PathValue("verb")
	if verb != "approve" && verb != "deny" {
		adminError(w, http.StatusNotFound, "NOT_FOUND", "want approve or deny")
		return
	}
	c, ok := g.caller(w, r)
	if !ok {
		return
	}
	if c.operator {
		adminError(w, http.StatusForbidden, "NOT_A_PERSON",
			"the admin token names no person, so four eyes cannot be checked: approve with your own credential (OIDC token or API key)")
		return
	}
	var body struct {
		Approver string `json:"approver"`
		Comment  string `json:"comment"`
	}
	if !readAdminBody(w, r, &body) {
		return
	}
	a := c.approver()
	if body.Approver != "" && body.Approver != a.Name() && body.Approver != a.Subject && body.Approver != a.ID {
		adminError(w, http.StatusBadRequest, "APPROVER_MISMATCH", "the approver is whoever authenticated; the body names someone else")
		return
	}
	if len(body.Comment) > 2000 {
		adminError(w, http.StatusBadRequest, "BAD_REQUEST", "comment longer than 2000 bytes")
		return
	}
	g.decide4(w, r.Context(), r.PathValue("id"), a, verb == "approve", body.Comment, func(req *approval.Request) {
		adminJSON(w, http.StatusOK, map[string]any{"approval": req})
	})
}

// decide4 applies a decision and answers with done, or with the error.
func (g *Gateway) decide4(w http.ResponseWriter, ctx context.Context, id string, a approval.Approver, approve bool, comment string, done func(*approval.Request)) {
	req, err := g.approvals.Decide(ctx, id, a, approve, comment)
	if err != nil {
		if !errors.Is(err, approval.ErrNotFound) {
			g.log.Info("approval decision refused", zap.String("approval", id), zap.String("approver", a.Name()), zap.Error(err))
		}
		decideError(w, err)
		return
	}
	done(req)
}

func (g *Gateway) adminListSubjects(w http.ResponseWriter, r *http.Request) {
	c, ok := g.caller(w, r)
	if !ok {
		return
	}
	if !c.operator {
		adminError(w, http.StatusForbidden, "FORBIDDEN", "the admin token is required")
		return
	}
	subjects, err := g.approvals.Subjects(r.Context())
	if err != nil {
		adminError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "subject store unavailable")
		return
	}
	if subjects == nil {
		subjects = map[string]approval.SubjectState{}
	}
	adminJSON(w, http.StatusOK, map[string]any{"subjects": subjects})
}

func (g *Gateway) adminSubject(w http.ResponseWriter, r *http.Request) {
	c, ok := g.caller(w, r)
	if !ok {
		return
	}
	if !c.operator {
		adminError(w, http.StatusForbidden, "FORBIDDEN", "the admin token is required")
		return
	}
	subject, verb := r.PathValue("subject"), r.PathValue("verb")
	var body struct {
		Reason string `json:"reason"`
		Flag   string `json:"flag"`
		By     string `json:"by"`
	}
	if !readAdminBody(w, r, &body) {
		return
	}
	ctx := r.Context()
	var err error
	switch verb {
	case "freeze":
		if body.By == "" {
			body.By = "admin-token"
		}
		err = g.approvals.Freeze(ctx, subject, body.Reason, body.By)
	case "unfreeze":
		err = g.approvals.Unfreeze(ctx, subject)
	case "watch":
		if body.Flag == "" {
			body.Flag = "departing"
		}
		err = g.approvals.Watch(ctx, subject, body.Flag)
	case "unwatch":
		err = g.approvals.Unwatch(ctx, subject, body.Flag)
	default:
		adminError(w, http.StatusNotFound, "NOT_FOUND", "want freeze, unfreeze, watch or unwatch")
		return
	}
	if errors.Is(err, approval.ErrBadSubject) {
		adminError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return
	}
	if err != nil {
		adminError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "subject store unavailable")
		return
	}
	g.subjectStep(verb, approval.NormSubject(subject), body.Reason, body.Flag, body.By)
	st, _ := g.approvals.State(ctx, subject)
	adminJSON(w, http.StatusOK, map[string]any{"subject": approval.NormSubject(subject), "state": st})
}

// subjectStep audits a freeze, unfreeze, watch or unwatch.
func (g *Gateway) subjectStep(verb, subject, reason, flag, by string) {
	if g.auditor == nil {
		return
	}
	msg := verb + " " + subject
	if reason != "" {
		msg += ": " + reason
	}
	if flag != "" {
		msg += " (" + flag + ")"
	}
	g.auditor.Record(&audit.Event{
		Time:      time.Now().UTC(),
		ClassUID:  audit.ClassAPIActivity,
		RequestID: ulid.Make().String(),
		Activity:  "subject_" + verb,
		Severity:  audit.SeverityHigh,
		Status:    audit.StatusAllowed,
		Actor:     audit.Actor{User: audit.User{UID: by}},
		CRM:       audit.CRM{Operation: "admin", Category: "admin", Object: subject},
		Decision:  audit.Decision{Allow: true, Enforced: true, Reason: msg},
	}, nil)
}
