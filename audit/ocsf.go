package audit

import (
	"encoding/json"
	"math"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/crmgw/crmgw/internal/buildinfo"
)

// OCSFVersion is the OCSF schema version OCSF events are valid against.
const OCSFVersion = "1.8.0"

// OCSF classification of every converted event: API Activity (6003) in
// the Application Activity category (6).
const (
	OCSFCategoryApplication = 6
	ocsfCategoryName        = "Application Activity"
	ocsfClassName           = "API Activity"
)

// OCSF activity ids of API Activity.
const (
	OCSFActivityUnknown = 0
	OCSFActivityCreate  = 1
	OCSFActivityRead    = 2
	OCSFActivityUpdate  = 3
	OCSFActivityDelete  = 4
	OCSFActivityOther   = 99
)

// OCSFEvent is an audit event as a valid OCSF 1.8.0 API Activity event
// (docs/audit.md "OCSF"). The native Event stays the shape of the local
// log and of the hash chain; this is what a sink with format: ocsf sends.
// What OCSF has no place for is kept under unmapped, in the native names.
type OCSFEvent struct {
	ActivityID   int    `json:"activity_id"`
	ActivityName string `json:"activity_name"`
	CategoryUID  int    `json:"category_uid"`
	CategoryName string `json:"category_name"`
	ClassUID     int    `json:"class_uid"`
	ClassName    string `json:"class_name"`
	TypeUID      int64  `json:"type_uid"`
	TypeName     string `json:"type_name"`
	SeverityID   int    `json:"severity_id"`
	Severity     string `json:"severity"`
	StatusID     int    `json:"status_id"`
	Status       string `json:"status"`
	StatusCode   string `json:"status_code,omitempty"`
	StatusDetail string `json:"status_detail,omitempty"`
	// Time is epoch milliseconds.
	Time     int64 `json:"time"`
	Duration int64 `json:"duration"`

	Metadata     OCSFMetadata      `json:"metadata"`
	Actor        OCSFActor         `json:"actor"`
	API          OCSFAPI           `json:"api"`
	HTTPRequest  *OCSFHTTPRequest  `json:"http_request,omitempty"`
	HTTPResponse *OCSFHTTPResponse `json:"http_response,omitempty"`
	SrcEndpoint  OCSFEndpoint      `json:"src_endpoint"`
	DstEndpoint  *OCSFEndpoint     `json:"dst_endpoint,omitempty"`
	Resources    []OCSFResource    `json:"resources,omitempty"`

	// ActionID, Action, DispositionID, Disposition and Policy are the
	// security_control profile: what the gateway did about the request.
	ActionID      int         `json:"action_id"`
	Action        string      `json:"action"`
	DispositionID int         `json:"disposition_id"`
	Disposition   string      `json:"disposition"`
	Policy        *OCSFPolicy `json:"policy,omitempty"`
	// Trace is the trace profile, set when the request was traced.
	Trace *OCSFTrace `json:"trace,omitempty"`

	Unmapped OCSFUnmapped `json:"unmapped"`
}

// OCSFMetadata is OCSF's metadata object.
type OCSFMetadata struct {
	Version string      `json:"version"`
	Product OCSFProduct `json:"product"`
	// UID is the event's own identity: its chain hash, the same on every
	// re-delivery (de-duplicate on it).
	UID string `json:"uid,omitempty"`
	// CorrelationUID is the request's trace id when it was traced.
	CorrelationUID string `json:"correlation_uid,omitempty"`
	// Sequence is chain.seq (left out beyond 2^31-1, kept under unmapped).
	Sequence     int64    `json:"sequence,omitempty"`
	LogName      string   `json:"log_name"`
	OriginalTime string   `json:"original_time,omitempty"`
	Profiles     []string `json:"profiles"`
}

// OCSFProduct names crmgw and its build.
type OCSFProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version"`
}

// OCSFActor is who made the request: a person (User) or an application
// (AppName/AppUID: API keys, mTLS clients, client-credentials tokens).
type OCSFActor struct {
	User    *OCSFUser `json:"user,omitempty"`
	AppName string    `json:"app_name,omitempty"`
	AppUID  string    `json:"app_uid,omitempty"`
	IDP     *OCSFIDP  `json:"idp,omitempty"`
}

// OCSFUser is a person.
type OCSFUser struct {
	UID       string      `json:"uid,omitempty"`
	Name      string      `json:"name,omitempty"`
	EmailAddr string      `json:"email_addr,omitempty"`
	Groups    []OCSFGroup `json:"groups,omitempty"`
	HasMFA    bool        `json:"has_mfa"`
	TypeID    int         `json:"type_id"`
	Type      string      `json:"type"`
}

// OCSFGroup is one of a user's groups.
type OCSFGroup struct {
	Name string `json:"name"`
}

// OCSFIDP is the identity provider that vouched for the caller.
type OCSFIDP struct {
	Name string `json:"name"`
}

// OCSFAPI is the CRM call.
type OCSFAPI struct {
	Operation string       `json:"operation"`
	Service   *OCSFService `json:"service,omitempty"`
	Request   OCSFRequest  `json:"request"`
	Response  *OCSFAPIResp `json:"response,omitempty"`
}

// OCSFService is the upstream CRM.
type OCSFService struct {
	Name string `json:"name"`
}

// OCSFRequest carries the request id.
type OCSFRequest struct {
	UID string `json:"uid"`
}

// OCSFAPIResp is the API's answer.
type OCSFAPIResp struct {
	Code  int    `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// OCSFHTTPRequest is what the caller sent.
type OCSFHTTPRequest struct {
	HTTPMethod string   `json:"http_method,omitempty"`
	URL        *OCSFURL `json:"url,omitempty"`
	UserAgent  string   `json:"user_agent,omitempty"`
}

// OCSFURL is the request's path (never its query string).
type OCSFURL struct {
	Path string `json:"path"`
}

// OCSFHTTPResponse is what the caller got.
type OCSFHTTPResponse struct {
	Code       int   `json:"code"`
	BodyLength int64 `json:"body_length,omitempty"`
}

// OCSFEndpoint is a network peer.
type OCSFEndpoint struct {
	IP       string `json:"ip,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Port     int    `json:"port,omitempty"`
	Name     string `json:"name,omitempty"`
	SvcName  string `json:"svc_name,omitempty"`
}

// OCSFResource is one CRM object the request touched.
type OCSFResource struct {
	Name      string         `json:"name"`
	Type      string         `json:"type"`
	Namespace string         `json:"namespace,omitempty"`
	Data      map[string]any `json:"data,omitempty"`
}

// OCSFPolicy is the policy that decided.
type OCSFPolicy struct {
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
	Desc      string `json:"desc,omitempty"`
	IsApplied bool   `json:"is_applied"`
}

// OCSFTrace joins the event to the request's OpenTelemetry trace.
type OCSFTrace struct {
	UID  string    `json:"uid"`
	Span *OCSFSpan `json:"span,omitempty"`
}

// OCSFSpan is the request's span.
type OCSFSpan struct {
	UID       string `json:"uid"`
	StartTime int64  `json:"start_time"`
	EndTime   int64  `json:"end_time"`
}

// OCSFUnmapped holds crmgw's own fields, in the native event's names: the
// chain (so a SIEM can still check order), the classified CRM action, the
// decision, composite parts, the approval, and what the OCSF objects
// cannot hold.
type OCSFUnmapped struct {
	RequestID   string        `json:"request_id"`
	Activity    string        `json:"activity"`
	Status      string        `json:"status,omitempty"`
	Actor       *OCSFActorExt `json:"actor,omitempty"`
	CRM         CRM           `json:"crm"`
	Decision    Decision      `json:"decision"`
	Subrequests []CRM         `json:"subrequests,omitempty"`
	Approval    *Approval     `json:"approval,omitempty"`
	DurationMS  float64       `json:"duration_ms"`
	Bytes       int64         `json:"bytes"`
	Error       string        `json:"error,omitempty"`
	Chain       Chain         `json:"chain"`
}

// OCSFActorExt is what the native actor has beyond OCSF's actor object.
type OCSFActorExt struct {
	Kind     string   `json:"kind,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	Issuer   string   `json:"issuer,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	Watch    []string `json:"watch,omitempty"`
	Frozen   bool     `json:"frozen,omitempty"`
	// Email is kept here when it is not an address OCSF's email_t takes.
	Email string `json:"email,omitempty"`
	// IP is kept here when it is not an IP address.
	IP string `json:"ip,omitempty"`
}

// OCSFActivity maps crmgw's activity to an API Activity activity_id:
// read -> Read, create -> Create, update -> Update, delete -> Delete,
// export -> Read (every export call reads records: a bulk query job asks
// the CRM to read them, its results and report details return them), and
// bulk, other and crmgw's own steps (approval_*, subject_*) -> Other: a
// bulk job may create, update and delete in one, so no single CRUD
// activity says what it did.
func OCSFActivity(activity string) int {
	switch activity {
	case "read", "export":
		return OCSFActivityRead
	case "create":
		return OCSFActivityCreate
	case "update":
		return OCSFActivityUpdate
	case "delete":
		return OCSFActivityDelete
	case "":
		return OCSFActivityUnknown
	}
	return OCSFActivityOther
}

var ocsfActivityCaption = map[int]string{
	OCSFActivityUnknown: "Unknown", OCSFActivityCreate: "Create", OCSFActivityRead: "Read",
	OCSFActivityUpdate: "Update", OCSFActivityDelete: "Delete", OCSFActivityOther: "Other",
}

// ocsfSeverity maps a native severity to severity_id and its caption.
func ocsfSeverity(sev string) (int, string) {
	switch sev {
	case SeverityInformational:
		return 1, "Informational"
	case SeverityLow:
		return 2, "Low"
	case SeverityMedium:
		return 3, "Medium"
	case SeverityHigh:
		return 4, "High"
	case SeverityCritical:
		return 5, "Critical"
	}
	return 0, "Unknown"
}

// emailT is OCSF 1.8.0's email_t pattern (dictionary.json): an email an
// IdP sends that does not match it is kept under unmapped instead.
var emailT = regexp.MustCompile(`^[a-zA-Z0-9!#$%&'*+-/=?^_` + "`" + `{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$`)

// OCSF converts a native event to OCSF 1.8.0 API Activity. ev is not
// modified; the result shares ev's slices and maps.
func OCSF(ev *Event) *OCSFEvent {
	o := &OCSFEvent{
		CategoryUID: OCSFCategoryApplication, CategoryName: ocsfCategoryName,
		ClassUID: ClassAPIActivity, ClassName: ocsfClassName,
		Time:     ev.Time.UnixMilli(),
		Duration: int64(math.Round(ev.DurationMS)),
	}
	if math.IsNaN(ev.DurationMS) || math.IsInf(ev.DurationMS, 0) || ev.DurationMS < 0 {
		o.Duration = 0
	}
	o.ActivityID = OCSFActivity(ev.Activity)
	o.ActivityName = ocsfActivityCaption[o.ActivityID]
	if o.ActivityID == OCSFActivityOther {
		o.ActivityName = ev.Activity // OCSF: Other carries the source's own name
	}
	o.TypeUID = int64(ClassAPIActivity)*100 + int64(o.ActivityID)
	o.TypeName = ocsfClassName + ": " + ocsfActivityCaption[o.ActivityID]
	o.SeverityID, o.Severity = ocsfSeverity(ev.Severity)
	ocsfStatus(o, ev)

	o.Metadata = OCSFMetadata{
		Version: OCSFVersion,
		Product: OCSFProduct{Name: "crmgw", VendorName: "crmgw", Version: buildinfo.Version()},
		UID:     ev.Chain.Hash,
		LogName: "audit",
		// The security_control profile carries action, disposition and
		// policy; trace is added below when the request was traced.
		Profiles: []string{"security_control"},
	}
	if !ev.Time.IsZero() {
		o.Metadata.OriginalTime = ev.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	if ev.Chain.Seq > 0 && ev.Chain.Seq <= math.MaxInt32 {
		o.Metadata.Sequence = ev.Chain.Seq
	}

	ext := &OCSFActorExt{Kind: ev.Actor.Kind, ClientID: ev.Actor.ClientID, Issuer: ev.Actor.Issuer,
		Roles: ev.Actor.User.Roles, Watch: ev.Actor.Watch, Frozen: ev.Actor.Frozen}
	ocsfActor(o, ev, ext)

	op := ev.CRM.Operation
	if op == "" {
		op = "unknown"
	}
	o.API = OCSFAPI{Operation: op, Request: OCSFRequest{UID: ev.RequestID}}
	if ev.CRM.Upstream != "" {
		o.API.Service = &OCSFService{Name: ev.CRM.Upstream}
	}
	if ev.HTTPResponse.Code != 0 || ev.Error != "" {
		o.API.Response = &OCSFAPIResp{Code: ev.HTTPResponse.Code, Error: ev.Error}
	}
	if ev.HTTPRequest.Method != "" || ev.HTTPRequest.Path != "" || ev.HTTPRequest.UserAgent != "" {
		r := &OCSFHTTPRequest{HTTPMethod: ev.HTTPRequest.Method, UserAgent: ev.HTTPRequest.UserAgent}
		if ev.HTTPRequest.Path != "" {
			r.URL = &OCSFURL{Path: ev.HTTPRequest.Path}
		}
		o.HTTPRequest = r
	}
	if ev.HTTPResponse.Code != 0 {
		o.HTTPResponse = &OCSFHTTPResponse{Code: ev.HTTPResponse.Code}
		if ev.HTTPResponse.Bytes > 0 && ev.HTTPResponse.Bytes <= math.MaxInt32 {
			o.HTTPResponse.BodyLength = ev.HTTPResponse.Bytes
		}
	}
	if a, err := netip.ParseAddr(ev.SrcEndpoint.IP); err == nil {
		o.SrcEndpoint = OCSFEndpoint{IP: a.String()}
	} else {
		// Events crmgw makes itself (approval steps, subject freezes) have
		// no caller address.
		o.SrcEndpoint = OCSFEndpoint{Name: "unknown"}
		if ev.SrcEndpoint.IP != "" {
			ext.IP = ev.SrcEndpoint.IP
		}
	}
	if ev.CRM.Host != "" {
		d := &OCSFEndpoint{Hostname: ev.CRM.Host, SvcName: ev.CRM.Upstream}
		if h, p, err := net.SplitHostPort(ev.CRM.Host); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n >= 0 && n <= 65535 {
				d.Hostname, d.Port = h, n
			}
		}
		o.DstEndpoint = d
	}
	o.Resources = ocsfResources(ev)
	ocsfControl(o, ev)
	if ev.TraceID != "" {
		o.Trace = &OCSFTrace{UID: ev.TraceID}
		if ev.SpanID != "" {
			o.Trace.Span = &OCSFSpan{UID: ev.SpanID, StartTime: o.Time, EndTime: o.Time + o.Duration}
		}
		o.Metadata.CorrelationUID = ev.TraceID
		o.Metadata.Profiles = append(o.Metadata.Profiles, "trace")
	}

	o.Unmapped = OCSFUnmapped{
		RequestID: ev.RequestID, Activity: ev.Activity, Status: ev.Status,
		CRM: ev.CRM, Decision: ev.Decision, Subrequests: ev.Subrequests, Approval: ev.Approval,
		DurationMS: ev.DurationMS, Bytes: ev.HTTPResponse.Bytes, Error: ev.Error, Chain: ev.Chain,
	}
	if math.IsNaN(o.Unmapped.DurationMS) || math.IsInf(o.Unmapped.DurationMS, 0) {
		o.Unmapped.DurationMS = 0
	}
	if ext.Kind != "" || ext.ClientID != "" || ext.Issuer != "" || len(ext.Roles) > 0 || len(ext.Watch) > 0 ||
		ext.Frozen || ext.Email != "" || ext.IP != "" {
		o.Unmapped.Actor = ext
	}
	return o
}

// ocsfStatus sets status_id (1 Success, 2 Failure, 0 Unknown, 99 Other)
// from the native status: allowed is a success unless the CRM answered
// with an error status; denied, rate_limited and failed are failures; a
// start record (pending) is Other; a request cut short by a crash is
// Unknown. status_code keeps crmgw's status, status_detail why.
func ocsfStatus(o *OCSFEvent, ev *Event) {
	o.StatusCode = ev.Status
	switch ev.Status {
	case StatusAllowed, "":
		if ev.HTTPResponse.Code >= 400 {
			o.StatusID, o.Status = 2, "Failure"
			o.StatusDetail = "the CRM answered HTTP " + strconv.Itoa(ev.HTTPResponse.Code)
			return
		}
		o.StatusID, o.Status = 1, "Success"
	case StatusDenied, StatusRateLimited, StatusFailed:
		o.StatusID, o.Status = 2, "Failure"
		o.StatusDetail = ev.Error
		if o.StatusDetail == "" {
			o.StatusDetail = ev.Decision.Reason
		}
	case StatusPending:
		o.StatusID, o.Status = 99, StatusPending
		o.StatusDetail = "start record: the request is being forwarded to the CRM"
	default:
		o.StatusID, o.Status = 0, "Unknown"
		o.StatusDetail = ev.Error
	}
}

// ocsfActor fills actor: a person as actor.user; an API key, an mTLS
// client or a client-credentials token as actor.app_uid/app_name (their
// id), never as a user; an unauthenticated caller as a user of type
// Unknown named "unauthenticated" (OCSF requires an actor).
func ocsfActor(o *OCSFEvent, ev *Event, ext *OCSFActorExt) {
	a := &ev.Actor
	if a.Issuer != "" {
		o.Actor.IDP = &OCSFIDP{Name: a.Issuer}
	}
	if a.Kind == "client" {
		id := a.ClientID
		if id == "" {
			id = a.User.UID
		}
		o.Actor.AppUID, o.Actor.AppName = id, id
		if a.User.Email != "" {
			ext.Email = a.User.Email
		}
		return
	}
	if a.User.UID == "" && a.User.Email == "" {
		if a.ClientID != "" {
			o.Actor.AppUID, o.Actor.AppName = a.ClientID, a.ClientID
			return
		}
		o.Actor.User = &OCSFUser{Name: "unauthenticated", TypeID: 0, Type: "Unknown"}
		return
	}
	u := &OCSFUser{UID: a.User.UID, HasMFA: a.MFA, TypeID: 1, Type: "User"}
	if a.User.Email != "" {
		if emailT.MatchString(a.User.Email) {
			u.EmailAddr = a.User.Email
		} else {
			ext.Email = a.User.Email
		}
		u.Name = a.User.Email
	} else {
		u.Name = a.User.UID
	}
	for _, g := range a.User.Groups {
		if g != "" {
			u.Groups = append(u.Groups, OCSFGroup{Name: g})
		}
	}
	o.Actor.User = u
}

// ocsfControl fills the security_control profile: action (Allowed or
// Denied, as enforced), disposition (what happened to the request) and
// the policy that decided.
func ocsfControl(o *OCSFEvent, ev *Event) {
	blocked := ev.Status == StatusDenied || ev.Status == StatusRateLimited
	switch {
	case blocked:
		o.ActionID, o.Action = 2, "Denied"
	case ev.Status == StatusAllowed || ev.Status == StatusFailed || ev.Status == StatusPending || ev.Status == StatusUnknown || ev.Status == "":
		o.ActionID, o.Action = 1, "Allowed"
	default:
		o.ActionID, o.Action = 0, "Unknown"
	}
	switch {
	case ev.Status == StatusDenied && ev.HTTPResponse.Code == 401:
		o.DispositionID, o.Disposition = 26, "Unauthorized"
	case blocked:
		o.DispositionID, o.Disposition = 2, "Blocked"
	case ev.Status == StatusFailed:
		o.DispositionID, o.Disposition = 27, "Error"
	case !ev.Decision.Allow && !ev.Decision.Enforced && ev.Status == StatusAllowed:
		// Monitor mode: the policy said no, the request went through.
		o.DispositionID, o.Disposition = 15, "Detected"
	case ev.Status == StatusAllowed:
		o.DispositionID, o.Disposition = 1, "Allowed"
	default:
		o.DispositionID, o.Disposition = 0, "Unknown"
	}
	p := &OCSFPolicy{Name: "crmgw authorization policy", UID: ev.Decision.PolicyRevision,
		Desc: ev.Decision.Reason, IsApplied: ev.Decision.Enforced}
	o.Policy = p
}

// ocsfResources lists every CRM object the request touched (its access
// plan, the top object and its composite parts), each with the fields
// read from it, the fields masked in it and, for the top object, the
// records that left.
func ocsfResources(ev *Event) []OCSFResource {
	var names []string
	add := func(obj string) {
		if obj != "" && !slices.Contains(names, obj) {
			names = append(names, obj)
		}
	}
	add(ev.CRM.Object)
	for _, obj := range ev.CRM.Objects {
		add(obj)
	}
	for _, s := range ev.Subrequests {
		add(s.Object)
		for _, obj := range s.Objects {
			add(obj)
		}
	}
	if len(names) == 0 {
		return nil
	}
	fields := map[string][]string{}
	addField := func(obj, f string) {
		if !slices.Contains(fields[obj], f) {
			fields[obj] = append(fields[obj], f)
		}
	}
	collect := func(c *CRM) {
		if len(c.FieldRoles) > 0 {
			keys := make([]string, 0, len(c.FieldRoles))
			for k := range c.FieldRoles {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				if obj, f, ok := strings.Cut(k, "."); ok {
					addField(obj, f)
				}
			}
			return
		}
		for _, f := range c.Fields {
			addField(c.Object, f)
		}
	}
	collect(&ev.CRM)
	for i := range ev.Subrequests {
		collect(&ev.Subrequests[i])
	}
	masked := map[string][]string{}
	for _, m := range ev.Decision.Masked {
		if obj, f, ok := strings.Cut(m, "."); ok {
			masked[obj] = append(masked[obj], f)
		}
	}
	out := make([]OCSFResource, 0, len(names))
	for _, n := range names {
		r := OCSFResource{Name: n, Type: n, Namespace: ev.CRM.Upstream}
		data := map[string]any{}
		if f := fields[n]; len(f) > 0 {
			data["fields"] = f
		}
		if m := masked[n]; len(m) > 0 {
			data["masked"] = m
		}
		if n == ev.CRM.Object {
			data["records"] = ev.CRM.Records
			if ev.CRM.Truncated {
				data["truncated"] = true
			}
		}
		if len(data) > 0 {
			r.Data = data
		}
		out = append(out, r)
	}
	return out
}

// MarshalOCSF returns ev as one OCSF JSON object (no newline).
func MarshalOCSF(ev *Event) ([]byte, error) {
	return json.Marshal(OCSF(ev))
}
