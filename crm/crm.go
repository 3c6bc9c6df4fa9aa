// Package crm turns an HTTP request aimed at a CRM API into the CRM action it
// performs (operation, category, object, fields, record id, query), and says
// what shape the response body will have so the masking stage can find the
// records in it. It knows Salesforce and Zoho CRM; the generic upstream type
// is classified by a CRM profile (package crm/profile, docs/profiles.md)
// given in Options.Profile, and is unknown without one.
//
// Classification is deny-biased: a path that cannot be canonicalised is
// rejected (ErrRejected), and anything that cannot be recognised is
// OpUnknown, never guessed as harmless.
package crm

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

// Operation is what a request does, as the policy input contract names it.
type Operation string

// Operations of the policy-input contract (docs/policies.md "The input document").
const (
	OpRead       Operation = "read"
	OpList       Operation = "list"
	OpQuery      Operation = "query"
	OpSearch     Operation = "search"
	OpCreate     Operation = "create"
	OpUpdate     Operation = "update"
	OpUpsert     Operation = "upsert"
	OpDelete     Operation = "delete"
	OpBulkQuery  Operation = "bulk_query"
	OpBulkResult Operation = "bulk_result"
	OpBulkIngest Operation = "bulk_ingest"
	OpReport     Operation = "report"
	OpDescribe   Operation = "describe"
	OpComposite  Operation = "composite"
	OpUnknown    Operation = "unknown"
)

// Category groups operations by risk.
type Category string

// Categories of the policy-input contract.
const (
	CatRead     Category = "read"
	CatWrite    Category = "write"
	CatExport   Category = "export"
	CatBulk     Category = "bulk"
	CatMetadata Category = "metadata"
	CatUnknown  Category = "unknown"
)

// Action is the classified CRM action; its JSON form is `input.action`.
type Action struct {
	Operation Operation `json:"operation"`
	Category  Category  `json:"category"`
	// Object is the object (Salesforce sObject, Zoho module) the action is
	// about. "*" means several or any objects (a search without RETURNING,
	// a multi-object GraphQL query: see the sub-requests); "" means not
	// known (only on unknown actions and on metadata).
	Object string `json:"object"`
	// Fields are the fields the request names (SOQL select list, ?fields=,
	// body keys of a write). Relationship paths keep their dots; fields of
	// a child subquery are prefixed with the relationship name
	// ("Contacts.Email").
	Fields []string `json:"fields"`
	// AllFields is true for FIELDS(ALL|STANDARD|CUSTOM), SELECT * style
	// requests and reads without a field list: every field may come back.
	AllFields bool   `json:"all_fields"`
	RecordID  string `json:"record_id"`
	Query     string `json:"query"`
	// Parent is set on a sub-request of a composite/batch request.
	Parent *Action `json:"parent"`

	// IncludeDeleted is true for queryAll (REST, Bulk 2.0 and Bulk 1.0):
	// deleted and archived rows come back too.
	IncludeDeleted bool `json:"include_deleted"`
	// Aggregate is true when the query aggregates (GROUP BY, COUNT(x),
	// SUM(x), ...): Salesforce answers AggregateResult records whose keys
	// are aliases, which the response side cannot attribute to a field.
	Aggregate bool `json:"aggregate"`
	// Mode refines the operation where the CRM has several flavours:
	// "queryAll"; a bulk ingest job's operation ("insert", "update",
	// "upsert", "delete", "hardDelete"); "relationship" for a Salesforce
	// sObject relationship path; "next_page" for a query continuation.
	Mode string `json:"mode"`

	// The access plan (docs/classification.md, "Access plan"): everything
	// the request reads and how, so that policy, masking, caps and audit
	// all read one description of the request.
	//
	// Objects lists every object the request touches: the top object,
	// each child subquery's object, each relationship path's target,
	// GraphQL connections and children, UI API child relationships, a
	// bulk job's object. Each is also decided as a sub-action.
	Objects []string `json:"objects"`
	// FieldRoles maps "Object.Field" to the ways the request uses it:
	// RoleSelect, RoleFilter, RoleSort, RoleGroup, RoleAggregate,
	// RoleSearch. Every field that appears in the request text appears
	// here with at least one role.
	FieldRoles map[string][]string `json:"field_roles"`
	// Aliases maps a response key to the expression it carries, with the
	// field written as "Object.Field": {"m": "Contact.MobilePhone",
	// "expr0": "MAX(Contact.MobilePhone)"}. Masking follows it.
	Aliases map[string]string `json:"aliases"`
}

// Field roles of the access plan (Action.FieldRoles).
const (
	RoleSelect    = "select"
	RoleFilter    = "filter"
	RoleSort      = "sort"
	RoleGroup     = "group"
	RoleAggregate = "aggregate" // an aggregate or any other function applied
	RoleSearch    = "search"    // inside a full-text search scope
)

// Request is what the proxy hands to Classify.
type Request struct {
	Method   string      // as received
	Path     string      // escaped path as received (r.URL.EscapedPath()), after the upstream's path prefix was stripped
	RawQuery string      // as received
	Header   http.Header // request headers
	Body     []byte      // decoded body (Content-Encoding removed), nil when none
	Subject  string      // stable caller id (issuer|sub or api key id); page tokens and jobs are bound to it
}

// Result is the classification of one request and what the proxy must do
// to forward exactly what was classified.
type Result struct {
	Action Action
	// Subrequests holds one action per sub-request of a composite family
	// request (and one per object of a multi-object search or GraphQL
	// query), each with Parent pointing at a copy of Action.
	Subrequests []Action
	// SubResponses is aligned with Subrequests when the response parts
	// need a shape of their own (Zoho composite); nil otherwise.
	SubResponses []ResponseShape
	Method       string // effective method to forward (after honouring _HttpMethod)
	Path         string // canonical, escaped path to forward upstream (exactly what was classified)
	DecodedPath  string // Path with percent-encoding removed (for URL.Path)
	RawQuery     string // query to forward (_HttpMethod removed when it was honoured)
	Response     ResponseShape
	// Capture lists JSON pointers the proxy should capture from the
	// response body and hand back to Observe (shared slices: read only).
	Capture []string
	// Body, when not nil, is the request body to forward instead of the
	// one received (a profile removed the caller's credential members).
	Body []byte

	// captureActions maps Capture[i] to the action it continues: -1 is
	// Action, n >= 0 is Subrequests[n].
	captureActions []int
	// jobFormat is a Bulk 1.0 job's content type (CSV, JSON, XML, ...).
	jobFormat string
	// NotFound is set when the request names a bulk job that is not the
	// caller's (another subject's, or never created through the gateway):
	// the proxy answers the CRM's own not-found response and forwards
	// nothing, so a job's existence is not revealed either.
	NotFound bool

	// subUnsupported is set when a composite sub-request asked for a
	// format that cannot be masked.
	subUnsupported bool
}

// ResponseShape tells the masking stage where the records are.
type ResponseShape struct {
	// Format is the body's encoding (bodyshape.JSON, CSV, ZipCSV, XML,
	// NoBody, or Unsupported: a format the gateway cannot mask, which the
	// proxy refuses).
	Format bodyshape.Format
	// Vendor is "salesforce", "zoho" or "generic".
	Vendor string
	// Object is the object of records that carry no type of their own
	// (Zoho module, bulk CSV object, list view object); "" if unknown.
	Object string
	// Kind is where the records sit in the body (package bodyshape; a
	// table in docs/classification.md "Response shapes").
	Kind bodyshape.Kind
	// Columns names each column of positional rows (Rows), in order.
	Columns []string
	// Records and Rows are JSON pointers to the records of a profile
	// CRM's response: an array of objects (or one object), or an array
	// of positional rows whose columns are Columns (docs/profiles.md).
	Records, Rows string
}

// ErrRejected is returned (wrapped with the reason) for requests that must
// not be forwarded at all: paths that cannot be canonicalised, method
// overrides the gateway cannot vouch for, endpoints never proxied.
var ErrRejected = errors.New("crm: request rejected")

// Options tune a Classifier.
type Options struct {
	// LookupJob asks the upstream for a bulk job's object when the job is
	// not known (nil: unknown jobs classify as OpUnknown). kind is one of
	// "bulk2_query", "bulk2_ingest", "bulk1", "zoho_bulk_read".
	LookupJob func(ctx context.Context, kind, jobID string) (object string, err error)
	// Describe fetches an object's relationship metadata from the
	// upstream (Salesforce sobjects/{Object}/describe) to resolve the
	// relationship paths and child relationships of the access plan. nil,
	// or a failing call, falls back to the built-in table of standard
	// objects (docs/classification.md, "Relationship names"). Answers are
	// cached per object for DescribeTTL (default 1h), at most
	// MaxDescribed objects (default 2000); failures for a minute.
	Describe func(ctx context.Context, object string) (ObjectMetadata, error)
	// Jobs binds bulk jobs to the subject that created them (nil: an
	// in-memory store of MaxTokens jobs for TokenTTL).
	Jobs JobStore
	// AdoptUnboundJobs lets a job never created through the gateway be
	// looked up in the CRM (LookupJob) and bound to the first subject that
	// asks for it. Off by default: such a job is not found.
	AdoptUnboundJobs bool
	DescribeTTL      time.Duration
	MaxDescribed     int
	// TokenTTL bounds how long page tokens and job ids are remembered
	// (default 1h). MaxTokens bounds how many (default 100000).
	TokenTTL  time.Duration
	MaxTokens int
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Profile classifies the requests of a generic upstream
	// (crm/profile); nil: every generic request is unknown.
	Profile ProfileClassifier
}

// Classifier classifies requests for one upstream. It is safe for
// concurrent use.
type Classifier struct {
	vendor   string
	opts     Options
	mem      *memory
	soql     soqlCache
	describe describeCache
	jobs     JobStore
	// dropRole is a test hook: a role the plan builder never records, to
	// show the plan tests fail when a role goes missing.
	dropRole string
}

// NewClassifier returns a classifier for an upstream type: "salesforce",
// "zoho" or "generic" (every request OpUnknown after normalisation).
func NewClassifier(upstreamType string, opts Options) (*Classifier, error) {
	switch upstreamType {
	case vendorSalesforce, vendorZoho, vendorGeneric:
	default:
		return nil, errors.New("crm: unknown upstream type " + upstreamType)
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.MaxTokens <= 0 {
		opts.MaxTokens = 100000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DescribeTTL <= 0 {
		opts.DescribeTTL = time.Hour
	}
	if opts.MaxDescribed <= 0 {
		opts.MaxDescribed = 2000
	}
	jobs := opts.Jobs
	if jobs == nil {
		jobs = NewMemoryJobStore(opts.MaxTokens, opts.TokenTTL, opts.Now)
	}
	return &Classifier{vendor: upstreamType, opts: opts, mem: newMemory(opts.MaxTokens, opts.TokenTTL, opts.Now),
		describe: describeCache{ttl: opts.DescribeTTL, max: opts.MaxDescribed, now: opts.Now}, jobs: jobs}, nil
}

const (
	vendorSalesforce = "salesforce"
	vendorZoho       = "zoho"
	vendorGeneric    = "generic"
)

// Classify classifies one request. The error is non-nil (wrapping
// ErrRejected) only when the request must not be forwarded at all;
// everything else that cannot be recognised is OpUnknown.
func (c *Classifier) Classify(ctx context.Context, req Request) (Result, error) {
	return c.classify(ctx, req, false)
}

// classify classifies a request or, with sub set, a sub-request of a
// composite request (which may not itself be a composite request).
func (c *Classifier) classify(ctx context.Context, req Request, sub bool) (Result, error) {
	method, rawQuery, err := effectiveMethod(c.vendor, req)
	if err != nil {
		return Result{}, err
	}
	canon, decoded, err := normalizePath(req.Path)
	if err != nil {
		return Result{}, err
	}
	res := Result{Method: method, Path: canon, DecodedPath: decoded, RawQuery: rawQuery}
	in := input{method: method, path: decoded, rawQuery: rawQuery, header: req.Header, body: req.Body, subject: req.Subject, sub: sub}
	switch c.vendor {
	case vendorSalesforce:
		err = c.classifySalesforce(ctx, &in, &res)
	case vendorZoho:
		err = c.classifyZoho(ctx, &in, &res)
	default:
		err = c.classifyGeneric(&in, &res)
	}
	if err != nil {
		return Result{}, err
	}
	if !sub && res.Action.Operation == OpUnknown && malformedJSON(req) {
		return Result{}, reject("request body is not valid JSON")
	}
	c.finishPlan(&res.Action)
	for i := range res.Subrequests {
		c.finishPlan(&res.Subrequests[i])
		if !sub && res.Subrequests[i].Parent == nil {
			p := res.Action
			p.Parent = nil
			res.Subrequests[i].Parent = &p
		}
	}
	return res, nil
}

// input is a request after normalisation.
type input struct {
	method   string
	path     string // decoded, normalised
	rawQuery string
	header   http.Header
	body     []byte
	subject  string
	sub      bool // a sub-request of a composite request
}

var unknownAction = Action{Operation: OpUnknown, Category: CatUnknown}

// reject builds an ErrRejected error without fmt (hot path).
func reject(reason string) error { return &rejectError{reason} }

type rejectError struct{ reason string }

func (e *rejectError) Error() string { return ErrRejected.Error() + ": " + e.reason }
func (e *rejectError) Unwrap() error { return ErrRejected }
