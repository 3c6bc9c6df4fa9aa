// Package approval holds the state and rules of approvals before sensitive
// exports (four eyes), and of frozen and watched subjects: requests,
// grants, their transitions, and the stores they live in (memory for one
// node, Redis for replicas). It knows nothing of HTTP; the proxy asks it
// whether a request may go through and the admin API asks it to decide.
// See docs/approvals.md.
package approval

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// Status is where a request stands.
type Status string

// Statuses of a request. pending → approved | denied | expired;
// approved → used | expired. used, denied and expired are final.
const (
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusDenied   Status = "denied"
	StatusUsed     Status = "used"
	StatusExpired  Status = "expired"
)

// Steps are what happened to a request, one audit event each.
const (
	StepRequested = "requested"
	StepApproved  = "approved"
	StepDenied    = "denied"
	StepUsed      = "used"
	StepExpired   = "expired"
)

// Action is what an approval is for: the classified CRM action, reduced
// to what makes two requests "the same export".
type Action struct {
	Upstream  string   `json:"upstream"`
	Operation string   `json:"operation"`
	Category  string   `json:"category"`
	Object    string   `json:"object"`
	Fields    []string `json:"fields"`
	AllFields bool     `json:"all_fields,omitempty"`
	Query     string   `json:"query"`
}

// Fingerprint identifies the action: upstream, operation family, object,
// fields (sorted, so their order does not matter), all-fields, and the
// query text. The continuation of an export (next page, bulk job status
// and results) has the fingerprint of the request that started it: a bulk
// result is the same family as the bulk query that made the job.
func (a Action) Fingerprint() string {
	fields := slices.Clone(a.Fields)
	slices.Sort(fields)
	fields = slices.Compact(fields)
	h := sha256.New()
	var buf []byte
	put := func(s string) {
		buf = binary.AppendUvarint(buf[:0], uint64(len(s)))
		h.Write(buf)
		h.Write([]byte(s))
	}
	put("crmgw-approval-v1")
	put(a.Upstream)
	put(operationFamily(a.Operation))
	put(strings.ToLower(a.Object))
	buf = binary.AppendUvarint(buf[:0], uint64(len(fields)))
	h.Write(buf)
	for _, f := range fields {
		put(strings.ToLower(f))
	}
	if a.AllFields {
		put("*")
	} else {
		put("")
	}
	put(a.Query)
	return hex.EncodeToString(h.Sum(nil))
}

// operationFamily puts the operations of one export together: a bulk
// query's results belong to the bulk query.
func operationFamily(op string) string {
	if op == "bulk_result" {
		return "bulk_query"
	}
	return op
}

// Request is one approval request and, once approved, its grant.
type Request struct {
	ID string `json:"id"`
	// Subject is the caller's stable key (issuer|sub, or the API key id).
	Subject      string   `json:"subject"`
	SubjectEmail string   `json:"subject_email,omitempty"`
	SubjectName  string   `json:"subject_name,omitempty"`
	Upstream     string   `json:"upstream"`
	Fingerprint  string   `json:"fingerprint"`
	Action       Action   `json:"action"`
	Plan         string   `json:"plan,omitempty"`
	Reason       string   `json:"reason"`
	Approvers    []string `json:"approvers"`
	// Usage is the subject's recent usage when the request was made
	// (records and requests per window).
	Usage map[string]int64 `json:"usage,omitempty"`
	// Estimated is the number of records the export may return, when known
	// (the policy's cap, else the subject's quota left); 0: not known.
	Estimated int64     `json:"estimated,omitempty"`
	Created   time.Time `json:"created"`
	// TTL is how long a grant stays valid once approved ("4h0m0s" in JSON).
	TTL Duration `json:"ttl"`
	// PendingUntil is when an undecided request expires.
	PendingUntil time.Time `json:"pending_until"`
	Status       Status    `json:"status"`
	Approver     string    `json:"approver,omitempty"`
	DecidedAt    time.Time `json:"decided_at,omitzero"`
	Comment      string    `json:"comment,omitempty"`
	// UsedAt is when the first request of the export went through; the
	// export's continuation pages are let through until GrantUntil.
	UsedAt time.Time `json:"used_at,omitzero"`
	// UsedBy are the gateway request ids let through under the grant.
	UsedBy []string `json:"used_by,omitempty"`
	// Records delivered under the grant, as counted by the masking stage.
	Records int64 `json:"records,omitempty"`
	// Request is the gateway request id that asked for approval.
	Request string `json:"request_id,omitempty"`
}

// GrantUntil is when an approved request's grant ends.
func (r *Request) GrantUntil() time.Time {
	if r.DecidedAt.IsZero() {
		return time.Time{}
	}
	return r.DecidedAt.Add(time.Duration(r.TTL))
}

// expiredAt reports whether the request has run out of time at now:
// pending past PendingUntil, approved past its grant.
func (r *Request) expiredAt(now time.Time) bool {
	switch r.Status {
	case StatusPending:
		return !now.Before(r.PendingUntil)
	case StatusApproved:
		return !now.Before(r.GrantUntil())
	}
	return false
}

// Duration is a time.Duration written in JSON as Go's text ("4h0m0s").
type Duration time.Duration

// String is the Go duration text.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads text ("4h") or nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		*d = Duration(v)
		return err
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*d = Duration(n)
	return nil
}

// Approver is who decides: a subject as the identity stage saw it.
type Approver struct {
	// Subject is the approver's stable key, compared with the request's.
	Subject string
	// Email and ID are compared too: the same person through another
	// issuer or credential is still the same person.
	ID     string
	Email  string
	Groups []string
	Roles  []string
}

// Name is how the approver is shown: the email, else the subject key.
func (a Approver) Name() string {
	if a.Email != "" {
		return a.Email
	}
	return a.Subject
}

// Errors of decisions and lookups.
var (
	ErrNotFound    = errors.New("approval: no such request")
	ErrSelfApprove = errors.New("approval: an approver cannot decide their own request")
	ErrNotApprover = errors.New("approval: the approver holds none of the required groups or roles")
	ErrNotPending  = errors.New("approval: the request is not pending")
	ErrExpired     = errors.New("approval: the request has expired")
	ErrBadApprover = errors.New("approval: an approver must be group:<name> or role:<name>")
)

// ParseApprover checks an approver name: "group:x" or "role:y".
func ParseApprover(s string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" || (kind != "group" && kind != "role") {
		return "", "", ErrBadApprover
	}
	return kind, name, nil
}

// MayDecide applies the four-eyes rules: the approver is not the subject
// (by subject key, id or email) and holds one of the named groups or
// roles.
func (r *Request) MayDecide(a Approver) error {
	if a.Subject == "" {
		return ErrNotApprover
	}
	if a.Subject == r.Subject || (a.ID != "" && subjectID(r.Subject) == a.ID) ||
		(a.Email != "" && r.SubjectEmail != "" && strings.EqualFold(a.Email, r.SubjectEmail)) {
		return ErrSelfApprove
	}
	if !a.Holds(r.Approvers) {
		return ErrNotApprover
	}
	return nil
}

// Holds reports whether the approver holds one of the named groups/roles.
func (a Approver) Holds(approvers []string) bool {
	for _, want := range approvers {
		kind, name, err := ParseApprover(want)
		if err != nil {
			continue
		}
		if (kind == "group" && slices.Contains(a.Groups, name)) || (kind == "role" && slices.Contains(a.Roles, name)) {
			return true
		}
	}
	return false
}

// subjectID is the id part of a subject key (issuer|id).
func subjectID(key string) string {
	if i := strings.LastIndexByte(key, '|'); i >= 0 {
		return key[i+1:]
	}
	return key
}
