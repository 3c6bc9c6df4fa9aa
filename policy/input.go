package policy

import (
	"net/url"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Input is the policy input document (`input` in Rego), the contract in
// docs/policies.md "The input document".
// Nil slices and maps reach Rego as empty arrays and objects, so policies
// can iterate them without null checks; Action.Parent nil is null.
type Input struct {
	Request  RequestInput  `json:"request"`
	Subject  SubjectInput  `json:"subject"`
	Upstream UpstreamInput `json:"upstream"`
	Action   ActionInput   `json:"action"`
	Usage    UsageInput    `json:"usage"`
	// Approval is the state of the subject's approval for this action
	// (docs/approvals.md); Status "" reaches Rego as "none".
	Approval ApprovalInput `json:"approval"`
}

// ApprovalInput is input.approval.
type ApprovalInput struct {
	// Status is none | pending | approved | denied (| used | expired).
	Status    string `json:"status"`
	ID        string `json:"id"`
	Approver  string `json:"approver"`
	DecidedAt string `json:"decided_at"`
}

// status is Status as Rego sees it.
func (a *ApprovalInput) status() string {
	if a.Status == "" {
		return "none"
	}
	return a.Status
}

// RequestInput describes the HTTP request as the client sent it.
type RequestInput struct {
	ID     string              `json:"id"`
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  map[string][]string `json:"query"`
	// RawQuery is the query string as sent; when Query is nil, the engine
	// parses it into input.request.query (as url.URL.Query does), and only
	// if the policies read input.request.query: most do not, and the parse
	// is several allocations per request.
	RawQuery   string    `json:"-"`
	RemoteAddr string    `json:"remote_addr"`
	Time       time.Time `json:"time"`
	// Headers are lower-case names; the proxy leaves out credentials.
	Headers map[string]string `json:"headers"`
}

// SubjectInput is the authenticated caller.
type SubjectInput struct {
	// Kind is "user" or "client".
	Kind     string         `json:"kind"`
	ID       string         `json:"id"`
	Issuer   string         `json:"issuer"`
	Email    string         `json:"email"`
	Groups   []string       `json:"groups"`
	Roles    []string       `json:"roles"`
	MFA      bool           `json:"mfa"`
	ClientID string         `json:"client_id"`
	Claims   map[string]any `json:"claims"`
	// IssuerPrimary is true when the issuer may grant privileged roles:
	// the primary OIDC issuer, or crmgw's own configuration (API keys, mTLS
	// clients). See docs/identity.md, "Issuer scoping".
	IssuerPrimary bool `json:"issuer_primary"`
	// Watch are the subject's watch-list flags, e.g. ["departing"].
	Watch []string `json:"watch"`
}

// UpstreamInput names the CRM the request goes to.
type UpstreamInput struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// ActionInput is the classified CRM action (crm.Action as a value).
type ActionInput struct {
	Operation string   `json:"operation"`
	Category  string   `json:"category"`
	Object    string   `json:"object"`
	Fields    []string `json:"fields"`
	AllFields bool     `json:"all_fields"`
	RecordID  string   `json:"record_id"`
	Query     string   `json:"query"`
	// IncludeDeleted is true for queryAll (deleted and archived rows too).
	IncludeDeleted bool `json:"include_deleted"`
	// Aggregate is true for GROUP BY / aggregate queries (AggregateResult rows).
	Aggregate bool `json:"aggregate"`
	// Mode refines the operation: queryAll, next_page, relationship,
	// external_id:<Field>, or a bulk job's operation (e.g. hardDelete).
	Mode string `json:"mode"`
	// Parent is the container's action for a sub-request of a composite
	// request, and for an object of the access plan decided on its own.
	Parent *ActionInput `json:"parent"`
	// Objects, FieldRoles and Aliases are the access plan
	// (docs/classification.md, "Access plan"): every object the request
	// touches, every field ("Object.Field") with the roles it plays
	// (select, filter, sort, group, aggregate, search), and the response
	// key each selected expression appears under.
	Objects    []string            `json:"objects"`
	FieldRoles map[string][]string `json:"field_roles"`
	Aliases    map[string]string   `json:"aliases"`
}

// UsageInput holds the caller's recent usage by window ("1m", "1h", "24h").
type UsageInput struct {
	Records  map[string]int64 `json:"records"`
	Requests map[string]int64 `json:"requests"`
}

// Keys are interned once: building the input is on every request's path.
var (
	kRequest, kSubject, kUpstream, kAction, kUsage = ast.StringTerm("request"), ast.StringTerm("subject"), ast.StringTerm("upstream"), ast.StringTerm("action"), ast.StringTerm("usage")

	kID, kMethod, kPath, kQuery, kRemoteAddr, kTime, kHeaders = ast.StringTerm("id"), ast.StringTerm("method"), ast.StringTerm("path"), ast.StringTerm("query"), ast.StringTerm("remote_addr"), ast.StringTerm("time"), ast.StringTerm("headers")

	kKind, kIssuer, kEmail, kGroups, kRoles, kMFA, kClientID, kClaims = ast.StringTerm("kind"), ast.StringTerm("issuer"), ast.StringTerm("email"), ast.StringTerm("groups"), ast.StringTerm("roles"), ast.StringTerm("mfa"), ast.StringTerm("client_id"), ast.StringTerm("claims")
	kIssuerPrimary                                                    = ast.StringTerm("issuer_primary")

	kName, kType = ast.StringTerm("name"), ast.StringTerm("type")

	kOperation, kCategory, kObject, kFields, kAllFields, kRecordID, kParent = ast.StringTerm("operation"), ast.StringTerm("category"), ast.StringTerm("object"), ast.StringTerm("fields"), ast.StringTerm("all_fields"), ast.StringTerm("record_id"), ast.StringTerm("parent")

	kIncludeDeleted, kAggregate, kMode = ast.StringTerm("include_deleted"), ast.StringTerm("aggregate"), ast.StringTerm("mode")

	kObjects, kFieldRoles, kAliases = ast.StringTerm("objects"), ast.StringTerm("field_roles"), ast.StringTerm("aliases")

	kRecords, kRequests = ast.StringTerm("records"), ast.StringTerm("requests")

	kApproval, kWatch, kStatus, kApprover, kDecidedAt = ast.StringTerm("approval"), ast.StringTerm("watch"), ast.StringTerm("status"), ast.StringTerm("approver"), ast.StringTerm("decided_at")
)

// Value builds the OPA value of the input directly, without the JSON round
// trip rego.EvalInput would make (see BenchmarkInputValue). Leaf terms come
// from one backing array instead of one allocation each.
func (in *Input) Value() ast.Value { return in.value(fullShape) }

// value builds the parts of the input the shape names (see inputShape).
func (in *Input) value(s *inputShape) ast.Value {
	// The whole input has about 48 leaf strings; a pruned one a handful
	// (and a cached decision keeps its input: no slack to hold on to).
	leaves := 48
	if !s.all {
		leaves = 8
	}
	a := termArena{terms: make([]ast.Term, 0, leaves+len(in.Action.Fields)+len(in.Subject.Roles)+len(in.Subject.Groups))}
	items := make([][2]*ast.Term, 0, 6)
	if f, ok := s.part(kRequest); ok {
		items = append(items, ast.Item(kRequest, ast.NewTerm(in.Request.value(&a, f))))
	}
	if f, ok := s.part(kSubject); ok {
		items = append(items, ast.Item(kSubject, ast.NewTerm(in.Subject.value(&a, f))))
	}
	if f, ok := s.part(kUpstream); ok {
		up := make([][2]*ast.Term, 0, 2)
		if f.has(kName) {
			up = append(up, ast.Item(kName, a.str(in.Upstream.Name)))
		}
		if f.has(kType) {
			up = append(up, ast.Item(kType, a.str(in.Upstream.Type)))
		}
		items = append(items, ast.Item(kUpstream, ast.ObjectTerm(up...)))
	}
	if f, ok := s.part(kAction); ok {
		items = append(items, ast.Item(kAction, ast.NewTerm(in.Action.value(&a, f))))
	}
	if f, ok := s.part(kUsage); ok {
		usage := make([][2]*ast.Term, 0, 2)
		if f.has(kRecords) {
			usage = append(usage, ast.Item(kRecords, countsTerm(in.Usage.Records)))
		}
		if f.has(kRequests) {
			usage = append(usage, ast.Item(kRequests, countsTerm(in.Usage.Requests)))
		}
		items = append(items, ast.Item(kUsage, ast.ObjectTerm(usage...)))
	}
	if f, ok := s.part(kApproval); ok {
		ap := make([][2]*ast.Term, 0, 4)
		if f.has(kStatus) {
			ap = append(ap, ast.Item(kStatus, a.str(in.Approval.status())))
		}
		if f.has(kID) {
			ap = append(ap, ast.Item(kID, a.str(in.Approval.ID)))
		}
		if f.has(kApprover) {
			ap = append(ap, ast.Item(kApprover, a.str(in.Approval.Approver)))
		}
		if f.has(kDecidedAt) {
			ap = append(ap, ast.Item(kDecidedAt, a.str(in.Approval.DecidedAt)))
		}
		items = append(items, ast.Item(kApproval, ast.ObjectTerm(ap...)))
	}
	return ast.NewObject(items...)
}

// termArena hands out string terms from chunks of one allocation each.
type termArena struct{ terms []ast.Term }

func (a *termArena) str(s string) *ast.Term {
	if s == "" {
		return emptyString
	}
	if len(a.terms) == cap(a.terms) {
		// Earlier terms stay where they are: the old chunk lives on.
		a.terms = make([]ast.Term, 0, 32)
	}
	a.terms = append(a.terms, ast.Term{Value: ast.String(s)})
	return &a.terms[len(a.terms)-1]
}

func (a *termArena) strings(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = a.str(s)
	}
	return ast.ArrayTerm(terms...)
}

var emptyString = ast.StringTerm("")

func (r *RequestInput) value(a *termArena, f fieldSet) ast.Value {
	items := make([][2]*ast.Term, 0, 7)
	if f.has(kID) {
		items = append(items, ast.Item(kID, a.str(r.ID)))
	}
	if f.has(kMethod) {
		items = append(items, ast.Item(kMethod, a.str(r.Method)))
	}
	if f.has(kPath) {
		items = append(items, ast.Item(kPath, a.str(r.Path)))
	}
	if f.has(kQuery) {
		q := r.query()
		query := make([][2]*ast.Term, 0, len(q))
		for k, vs := range q {
			query = append(query, ast.Item(a.str(k), a.strings(vs)))
		}
		items = append(items, ast.Item(kQuery, ast.ObjectTerm(query...)))
	}
	if f.has(kRemoteAddr) {
		items = append(items, ast.Item(kRemoteAddr, a.str(r.RemoteAddr)))
	}
	if f.has(kTime) {
		// The same text encoding/json gives a time.Time.
		items = append(items, ast.Item(kTime, a.str(r.Time.Format(time.RFC3339Nano))))
	}
	if f.has(kHeaders) {
		headers := make([][2]*ast.Term, 0, len(r.Headers))
		for k, v := range r.Headers {
			headers = append(headers, ast.Item(a.str(k), a.str(v)))
		}
		items = append(items, ast.Item(kHeaders, ast.ObjectTerm(headers...)))
	}
	return ast.NewObject(items...)
}

// query is input.request.query: Query, or else RawQuery parsed.
func (r *RequestInput) query() map[string][]string {
	if r.Query == nil && r.RawQuery != "" {
		q, _ := url.ParseQuery(r.RawQuery) // what it could parse, as url.URL.Query
		return q
	}
	return r.Query
}

func (s *SubjectInput) value(a *termArena, f fieldSet) ast.Value {
	items := make([][2]*ast.Term, 0, 10)
	if f.has(kKind) {
		items = append(items, ast.Item(kKind, a.str(s.Kind)))
	}
	if f.has(kID) {
		items = append(items, ast.Item(kID, a.str(s.ID)))
	}
	if f.has(kIssuer) {
		items = append(items, ast.Item(kIssuer, a.str(s.Issuer)))
	}
	if f.has(kEmail) {
		items = append(items, ast.Item(kEmail, a.str(s.Email)))
	}
	if f.has(kGroups) {
		items = append(items, ast.Item(kGroups, a.strings(s.Groups)))
	}
	if f.has(kRoles) {
		items = append(items, ast.Item(kRoles, a.strings(s.Roles)))
	}
	if f.has(kMFA) {
		items = append(items, ast.Item(kMFA, ast.InternedTerm(s.MFA)))
	}
	if f.has(kClientID) {
		items = append(items, ast.Item(kClientID, a.str(s.ClientID)))
	}
	if f.has(kClaims) {
		claims := ast.ObjectTerm()
		if len(s.Claims) > 0 {
			// Claims come from JWTs in any shape: the general conversion is
			// fine for these few values.
			if v, err := ast.InterfaceToValue(s.Claims); err == nil {
				claims = ast.NewTerm(v)
			}
		}
		items = append(items, ast.Item(kClaims, claims))
	}
	if f.has(kIssuerPrimary) {
		items = append(items, ast.Item(kIssuerPrimary, ast.InternedTerm(s.IssuerPrimary)))
	}
	if f.has(kWatch) {
		items = append(items, ast.Item(kWatch, a.strings(s.Watch)))
	}
	return ast.NewObject(items...)
}

func (act *ActionInput) value(a *termArena, f fieldSet) ast.Value {
	items := make([][2]*ast.Term, 0, 14)
	if f.has(kOperation) {
		items = append(items, ast.Item(kOperation, a.str(act.Operation)))
	}
	if f.has(kCategory) {
		items = append(items, ast.Item(kCategory, a.str(act.Category)))
	}
	if f.has(kObject) {
		items = append(items, ast.Item(kObject, a.str(act.Object)))
	}
	if f.has(kFields) {
		items = append(items, ast.Item(kFields, a.strings(act.Fields)))
	}
	if f.has(kAllFields) {
		items = append(items, ast.Item(kAllFields, ast.InternedTerm(act.AllFields)))
	}
	if f.has(kRecordID) {
		items = append(items, ast.Item(kRecordID, a.str(act.RecordID)))
	}
	if f.has(kQuery) {
		items = append(items, ast.Item(kQuery, a.str(act.Query)))
	}
	if f.has(kIncludeDeleted) {
		items = append(items, ast.Item(kIncludeDeleted, ast.InternedTerm(act.IncludeDeleted)))
	}
	if f.has(kAggregate) {
		items = append(items, ast.Item(kAggregate, ast.InternedTerm(act.Aggregate)))
	}
	if f.has(kMode) {
		items = append(items, ast.Item(kMode, a.str(act.Mode)))
	}
	if f.has(kParent) {
		parent := ast.NullTerm()
		if act.Parent != nil {
			// The parent is read as a whole or not at all: its fields are
			// a third level the shape does not track.
			parent = ast.NewTerm(act.Parent.value(a, nil))
		}
		items = append(items, ast.Item(kParent, parent))
	}
	if f.has(kObjects) {
		items = append(items, ast.Item(kObjects, a.strings(act.Objects)))
	}
	if f.has(kFieldRoles) {
		roles := make([][2]*ast.Term, 0, len(act.FieldRoles))
		for k, rs := range act.FieldRoles {
			roles = append(roles, ast.Item(a.str(k), a.strings(rs)))
		}
		items = append(items, ast.Item(kFieldRoles, ast.ObjectTerm(roles...)))
	}
	if f.has(kAliases) {
		aliases := make([][2]*ast.Term, 0, len(act.Aliases))
		for k, v := range act.Aliases {
			aliases = append(aliases, ast.Item(a.str(k), a.str(v)))
		}
		items = append(items, ast.Item(kAliases, ast.ObjectTerm(aliases...)))
	}
	return ast.NewObject(items...)
}

func countsTerm(m map[string]int64) *ast.Term {
	items := make([][2]*ast.Term, 0, len(m))
	for k, v := range m {
		items = append(items, ast.Item(ast.StringTerm(k), ast.InternedTerm(v)))
	}
	return ast.ObjectTerm(items...)
}
