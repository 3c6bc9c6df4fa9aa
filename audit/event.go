package audit

import "time"

// ClassAPIActivity is the OCSF class of every event: API Activity.
const ClassAPIActivity = 6003

// Status says how a request ended.
const (
	StatusAllowed     = "allowed"
	StatusDenied      = "denied"
	StatusRateLimited = "rate_limited"
	StatusFailed      = "failed"
)

// Severities, in increasing order (OCSF severity names, lower case).
const (
	SeverityInformational = "informational"
	SeverityLow           = "low"
	SeverityMedium        = "medium"
	SeverityHigh          = "high"
	SeverityCritical      = "critical"
)

// Event is one request as the SOC sees it: one JSON object per line, shaped
// after OCSF API Activity (class 6003). The names of the contract in docs/audit.md
// are fixed; fields marked "extension" are additions.
//
// Chain must stay the last field: the writer appends chain.hash to the
// marshalled bytes.
type Event struct {
	Time      time.Time `json:"time"`
	ClassUID  int       `json:"class_uid"`
	RequestID string    `json:"request_id"`
	// Activity is read | create | update | delete | export | bulk | other.
	Activity string `json:"activity"`
	// Severity is informational | low | medium | high | critical.
	Severity string `json:"severity"`
	// Status (extension) is allowed | denied | rate_limited | failed.
	Status       string       `json:"status,omitempty"`
	Actor        Actor        `json:"actor"`
	SrcEndpoint  Endpoint     `json:"src_endpoint"`
	HTTPRequest  HTTPRequest  `json:"http_request"`
	HTTPResponse HTTPResponse `json:"http_response"`
	CRM          CRM          `json:"crm"`
	Decision     Decision     `json:"decision"`
	DurationMS   float64      `json:"duration_ms"`
	// Error (extension) says why a failed request failed (no secrets).
	Error string `json:"error,omitempty"`
	// Subrequests (extension) are the parts of a composite/batch request.
	Subrequests []CRM `json:"subrequests,omitempty"`
	// Approval (extension) is the approval step the event records, or the
	// grant a request went through under (docs/approvals.md).
	Approval *Approval `json:"approval,omitempty"`
	// TraceID and SpanID (extension) join the event to the request's
	// OpenTelemetry trace (docs/tracing.md); empty while tracing is off.
	TraceID string `json:"trace_id,omitempty"`
	SpanID  string `json:"span_id,omitempty"`
	// Chain is filled by the writer goroutine; callers leave it zero.
	Chain Chain `json:"chain"`
}

// Actor is who made the request.
type Actor struct {
	User     User   `json:"user"`
	ClientID string `json:"client_id"`
	MFA      bool   `json:"mfa"`
	// Kind (extension) is user or client, as in the policy input.
	Kind string `json:"kind,omitempty"`
	// Issuer (extension) is the OIDC issuer that vouched for the caller.
	Issuer string `json:"issuer,omitempty"`
	// Watch (extension) are the subject's watch-list flags ("departing").
	Watch []string `json:"watch,omitempty"`
	// Frozen (extension) is true when the subject was frozen: the request
	// was refused before the policy.
	Frozen bool `json:"frozen,omitempty"`
}

// Approval is one approval's state in an event (docs/approvals.md).
type Approval struct {
	ID string `json:"id"`
	// Step is requested | approved | denied | used | expired; empty on a
	// request's own event.
	Step      string   `json:"step,omitempty"`
	Status    string   `json:"status"`
	Subject   string   `json:"subject,omitempty"`
	Approvers []string `json:"approvers,omitempty"`
	Approver  string   `json:"approver,omitempty"`
	DecidedAt string   `json:"decided_at,omitempty"`
	Comment   string   `json:"comment,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	URL       string   `json:"url,omitempty"`
	UsedBy    []string `json:"used_by,omitempty"`
	Records   int64    `json:"records,omitempty"`
}

// User is the human (or service principal) behind the request.
type User struct {
	UID    string   `json:"uid"`
	Email  string   `json:"email"`
	Groups []string `json:"groups"`
	// Roles (extension) are the caller's roles.
	Roles []string `json:"roles,omitempty"`
}

// Endpoint is a network peer.
type Endpoint struct {
	IP string `json:"ip"`
}

// HTTPRequest is what the caller sent.
type HTTPRequest struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	UserAgent string `json:"user_agent"`
}

// HTTPResponse is what the caller got.
type HTTPResponse struct {
	Code  int   `json:"code"`
	Bytes int64 `json:"bytes"`
}

// CRM is the classified CRM action and what actually left.
type CRM struct {
	Upstream  string   `json:"upstream"`
	Type      string   `json:"type"`
	Operation string   `json:"operation"`
	Category  string   `json:"category"`
	Object    string   `json:"object"`
	Fields    []string `json:"fields"`
	Records   int64    `json:"records"`
	Truncated bool     `json:"truncated"`
	// Host (extension) is the upstream host the request went to.
	Host string `json:"host,omitempty"`
	// Objects, FieldRoles and Aliases (extension) are the request's access
	// plan: every object it touched, every field ("Object.Field") with the
	// roles it played (select, filter, sort, group, aggregate, search),
	// and the response key of each selected expression
	// (docs/classification.md, "Access plan").
	Objects    []string            `json:"objects,omitempty"`
	FieldRoles map[string][]string `json:"field_roles,omitempty"`
	Aliases    map[string]string   `json:"aliases,omitempty"`
	// Query (extension) is the query or search text, or its keyed hash
	// ("hmac-sha256:<hex>") when audit.query_text is hash.
	Query string `json:"query,omitempty"`
}

// Decision is what the policy said and whether it was enforced.
type Decision struct {
	Allow bool `json:"allow"`
	// Enforced is false in monitor mode (decided, audited, not blocked).
	Enforced       bool     `json:"enforced"`
	Reason         string   `json:"reason"`
	Masked         []string `json:"masked"`
	PolicyRevision string   `json:"policy_revision"`
	// MaxRecords (extension) is the policy's cap (0: none).
	MaxRecords int64 `json:"max_records,omitempty"`
}

// Chain links the event to the one before it (see docs/audit.md).
type Chain struct {
	Seq  int64  `json:"seq"`
	Prev string `json:"prev"`
	Hash string `json:"hash,omitempty"`
}

// ActivityFor maps a CRM category and operation to the event's activity:
// export -> export, bulk -> bulk, write -> create | update | delete (upsert
// is update), read and metadata -> read, anything else -> other.
func ActivityFor(category, operation string) string {
	switch category {
	case "export":
		return "export"
	case "bulk":
		return "bulk"
	case "write":
		switch operation {
		case "create":
			return "create"
		case "delete":
			return "delete"
		default:
			return "update"
		}
	case "read", "metadata":
		return "read"
	}
	return "other"
}

// SeverityFor maps a category, operation and status to a severity:
// export and bulk -> high; write -> medium (delete -> high); read and
// metadata -> informational; unknown -> low. A denied or rate-limited
// request is at least medium, a failed one at least low.
func SeverityFor(category, operation, status string) string {
	sev := SeverityLow
	switch category {
	case "export", "bulk":
		sev = SeverityHigh
	case "write":
		sev = SeverityMedium
		if operation == "delete" {
			sev = SeverityHigh
		}
	case "read", "metadata":
		sev = SeverityInformational
	}
	switch status {
	case StatusDenied, StatusRateLimited:
		sev = maxSeverity(sev, SeverityMedium)
	case StatusFailed:
		sev = maxSeverity(sev, SeverityLow)
	}
	return sev
}

// Classify sets ClassUID, Activity and Severity from e.CRM and e.Status
// (see ActivityFor and SeverityFor). The proxy calls it once it has filled
// the event.
func (e *Event) Classify() {
	e.ClassUID = ClassAPIActivity
	e.Activity = ActivityFor(e.CRM.Category, e.CRM.Operation)
	e.Severity = SeverityFor(e.CRM.Category, e.CRM.Operation, e.Status)
}

var severityRank = map[string]int{
	SeverityInformational: 0, SeverityLow: 1, SeverityMedium: 2, SeverityHigh: 3, SeverityCritical: 4,
}

func maxSeverity(a, b string) string {
	if severityRank[b] > severityRank[a] {
		return b
	}
	return a
}
