package crm

import (
	"context"
	"net/http"
	"strings"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

// Response shapes used by the Salesforce classifier (shared values: no
// allocation per request).
var (
	sfRecords  = ResponseShape{Format: bodyshape.JSON, Vendor: vendorSalesforce, Kind: bodyshape.Records}
	sfResult   = ResponseShape{Format: bodyshape.JSON, Vendor: vendorSalesforce, Kind: bodyshape.Result}
	sfMetadata = ResponseShape{Format: bodyshape.JSON, Vendor: vendorSalesforce, Kind: bodyshape.Metadata}
	sfJob      = ResponseShape{Format: bodyshape.JSON, Vendor: vendorSalesforce, Kind: bodyshape.Job}
	sfUnknown  = ResponseShape{Format: bodyshape.JSON, Vendor: vendorSalesforce, Kind: bodyshape.Unknown}
	sfSearch   = ResponseShape{Format: bodyshape.JSON, Vendor: vendorSalesforce, Kind: bodyshape.Search}
	sfUnsupp   = ResponseShape{Format: bodyshape.Unsupported, Vendor: vendorSalesforce, Kind: bodyshape.Unknown}

	captureNextRecords = []string{"/nextRecordsUrl"}
	captureSelf        = []int{-1}
	captureJob         = []string{"/id", "/object", "/operation"}
	captureJobActs     = []int{-1, -1, -1}
)

func metaAction(obj, id string) Action {
	return Action{Operation: OpDescribe, Category: CatMetadata, Object: obj, RecordID: id}
}

// classifySalesforce classifies a normalised Salesforce request.
func (c *Classifier) classifySalesforce(ctx context.Context, in *input, res *Result) error {
	var buf [16]string
	segs := splitSegments(in.path, buf[:0])
	res.Action = unknownAction
	res.Response = sfUnknown
	if len(segs) < 2 || !strings.EqualFold(segs[0], "services") {
		return nil
	}
	switch {
	case strings.EqualFold(segs[1], "oauth2"):
		// The gateway holds the CRM credentials; callers never reach the
		// CRM's OAuth endpoints through it.
		return reject("the CRM's OAuth endpoints are not proxied")
	case strings.EqualFold(segs[1], "data"):
		if len(segs) == 2 {
			if isRead(in.method) {
				res.Action = metaAction("", "")
				res.Response = sfMetadata
			}
			return nil
		}
		if !isVersion(segs[2]) {
			return nil
		}
		// A ".xml" suffix selects XML on most REST resources: that cannot
		// be masked. (".json" is stripped from the record id below.)
		last := segs[len(segs)-1]
		if hasSuffixFold(last, ".xml") {
			c.sfRest(ctx, in, segs[3:], res)
			res.Response = sfUnsupp
			return nil
		}
		c.sfRest(ctx, in, segs[3:], res)
		// Bulk API 2.0 clients (simple-salesforce, jsforce) send Accept:
		// text/csv on every job call; Salesforce answers job info in JSON
		// and results in CSV, both of which the gateway masks.
		csvOK := len(segs) > 3 && strings.EqualFold(segs[3], "jobs")
		if res.Response.Format == bodyshape.JSON && acceptsNonJSON(in.header, csvOK) && res.Action.Operation != OpUnknown {
			res.Response.Format = bodyshape.Unsupported
		}
	case strings.EqualFold(segs[1], "async"):
		if len(segs) >= 4 && isVersionNumber(segs[2]) {
			c.sfBulk1(ctx, in, segs[3:], res)
		}
	}
	return nil
}

// sfRest classifies the part of a REST path after /services/data/vXX.X/.
func (c *Classifier) sfRest(ctx context.Context, in *input, rest []string, res *Result) {
	if len(rest) == 0 {
		if isRead(in.method) {
			res.Action = metaAction("", "")
			res.Response = sfMetadata
		}
		return
	}
	head := rest[0]
	switch {
	case strings.EqualFold(head, "query"), strings.EqualFold(head, "queryAll"):
		c.sfQuery(ctx, in, rest, res)
	case strings.EqualFold(head, "sobjects"):
		c.sfSObjects(in, rest[1:], res)
	case strings.EqualFold(head, "composite"):
		c.sfComposite(ctx, in, rest[1:], res)
	case strings.EqualFold(head, "search"), strings.EqualFold(head, "parameterizedSearch"):
		c.sfSearchClassify(in, rest, res)
	case strings.EqualFold(head, "graphql"):
		if len(rest) == 1 && in.method == http.MethodPost {
			c.sfGraphQL(ctx, in, res)
		}
	case strings.EqualFold(head, "analytics"):
		sfAnalytics(in, rest[1:], res)
	case strings.EqualFold(head, "ui-api"):
		c.sfUIAPI(in, rest[1:], res)
	case strings.EqualFold(head, "jobs"):
		c.sfJobs(ctx, in, rest[1:], res)
	case strings.EqualFold(head, "limits"), strings.EqualFold(head, "tabs"), strings.EqualFold(head, "theme"), strings.EqualFold(head, "appMenu"):
		if len(rest) <= 2 && isRead(in.method) {
			res.Action = metaAction("", "")
			res.Response = sfMetadata
		}
	}
	// Anything else (tooling, apexrest, recent, actions, ...) stays unknown.
}

// sfQuery classifies query, queryAll and their next pages.
func (c *Classifier) sfQuery(ctx context.Context, in *input, rest []string, res *Result) {
	if !isRead(in.method) {
		return
	}
	all := strings.EqualFold(rest[0], "queryAll")
	switch len(rest) {
	case 1:
		raw, n, ok := queryParamRaw(in.rawQuery, "q")
		if !ok || n != 1 {
			return
		}
		a, ok := c.soql.action(ctx, c, raw)
		if !ok {
			return
		}
		a.Operation, a.Category = OpQuery, CatRead
		if all {
			a.IncludeDeleted, a.Mode = true, "queryAll"
		}
		res.Action = a
	case 2:
		// nextRecordsUrl locator: the query it continues must have been
		// seen for the same subject, else the page is unknown.
		e, ok := c.mem.get(memLocator, in.subject, locatorCursor(rest[1]))
		if !ok {
			return
		}
		res.Action = e.action
		res.Action.Mode = "next_page"
	default:
		return
	}
	res.Response = sfRecords
	res.Capture, res.captureActions = captureNextRecords, captureSelf
}

// locatorCursor is the query cursor of a locator ("01gD0000002HU6KIAW"
// of "01gD0000002HU6KIAW-2000"): Salesforce lets a client change the batch
// offset after the dash, the cursor (one query of one session) stays.
func locatorCursor(loc string) string {
	if i := strings.LastIndexByte(loc, '-'); i > 0 {
		return loc[:i]
	}
	return loc
}

// soqlAction parses SOQL into a query action with its access plan
// (operation left to the caller). A query the plan parser does not
// understand is not classified.
func (c *Classifier) soqlAction(ctx context.Context, q string) (Action, bool) {
	sq, err := parseSOQL(q)
	if err != nil {
		return Action{}, false
	}
	a := Action{
		Object:    canonSFObject(sq.Object),
		Fields:    sq.Fields,
		AllFields: sq.AllFields,
		Aggregate: sq.Aggregate,
		Query:     q,
	}
	for _, sub := range sq.Subqueries {
		if sub.AllFields {
			a.AllFields = true
		}
		for _, f := range sub.Fields {
			a.Fields = append(a.Fields, sub.Object+"."+f)
		}
	}
	if !c.soqlPlanAction(ctx, q, &a, false) {
		return Action{}, false
	}
	return a, true
}

// sfSObjects classifies sobjects[/Object[/...]] (rest starts after "sobjects").
func (c *Classifier) sfSObjects(in *input, rest []string, res *Result) {
	m := in.method
	if len(rest) == 0 {
		if isRead(m) {
			res.Action = metaAction("", "")
			res.Response = sfMetadata
		}
		return
	}
	if !isObjectName(rest[0]) {
		return
	}
	obj := canonSFObject(rest[0])
	switch len(rest) {
	case 1:
		switch {
		case isRead(m):
			// Basic info carries recentItems (records): a list, not metadata.
			res.Action = Action{Operation: OpList, Category: CatRead, Object: obj, Fields: []string{"Id", "Name"}}
			res.Response = sfRecords
		case m == http.MethodPost:
			sfWrite(in, OpCreate, obj, "", res)
		}
		return
	case 2:
		x := rest[1]
		switch {
		case strings.EqualFold(x, "describe"), strings.EqualFold(x, "listviews"), isObjectMetaSegment(x):
			if isRead(m) {
				res.Action = metaAction(obj, "")
				res.Response = sfMetadata
			}
			return
		case strings.EqualFold(x, "deleted"), strings.EqualFold(x, "updated"):
			if isRead(m) {
				res.Action = Action{Operation: OpList, Category: CatRead, Object: obj, Fields: []string{"Id"}}
				res.Response = sfRecords
			}
			return
		}
		id := trimJSONSuffix(x)
		switch m {
		case http.MethodGet, http.MethodHead:
			a := Action{Operation: OpRead, Category: CatRead, Object: obj, RecordID: id}
			if !fieldsParam(in.rawQuery, &a) {
				return
			}
			res.Action = a
			res.Response = sfRecords
		case http.MethodPatch:
			sfWrite(in, OpUpdate, obj, id, res)
		case http.MethodDelete:
			res.Action = Action{Operation: OpDelete, Category: CatWrite, Object: obj, RecordID: id}
			res.Response = sfResult
		}
		return
	case 3:
		x, y := rest[1], rest[2]
		switch {
		case strings.EqualFold(x, "describe"), strings.EqualFold(x, "listviews"), isObjectMetaSegment(x):
			if isRead(m) {
				res.Action = metaAction(obj, "")
				res.Response = sfMetadata
			}
			return
		}
		if looksLikeID(x) {
			// Relationship path: returns the related object's records.
			target, ok := relationshipTarget(y)
			if !ok || !isRead(m) {
				return
			}
			a := Action{Operation: OpRead, Category: CatRead, Object: target, RecordID: x, Mode: "relationship"}
			if !fieldsParam(in.rawQuery, &a) {
				return
			}
			c.relationshipPlan(&a, obj, y)
			res.Action = a
			res.Response = sfRecords
			return
		}
		// External id: sobjects/{Object}/{field}/{value}.
		if !isObjectName(x) {
			return
		}
		id := trimJSONSuffix(y)
		switch m {
		case http.MethodGet, http.MethodHead:
			a := Action{Operation: OpRead, Category: CatRead, Object: obj, RecordID: id, Mode: "external_id:" + x}
			if !fieldsParam(in.rawQuery, &a) {
				return
			}
			res.Action = a
			res.Response = sfRecords
		case http.MethodPatch, http.MethodPost:
			sfWrite(in, OpUpsert, obj, id, res)
			res.Action.Mode = "external_id:" + x
		case http.MethodDelete:
			res.Action = Action{Operation: OpDelete, Category: CatWrite, Object: obj, RecordID: id, Mode: "external_id:" + x}
			res.Response = sfResult
		}
		return
	case 4:
		if strings.EqualFold(rest[1], "listviews") && isRead(m) {
			switch {
			case strings.EqualFold(rest[3], "results"):
				res.Action = Action{Operation: OpList, Category: CatRead, Object: obj, RecordID: rest[2], AllFields: true}
				res.Response = ResponseShape{Format: bodyshape.JSON, Vendor: vendorSalesforce, Object: obj, Kind: bodyshape.ListView}
			case strings.EqualFold(rest[3], "describe"):
				res.Action = metaAction(obj, rest[2])
				res.Response = sfMetadata
			}
			return
		}
		if strings.EqualFold(rest[1], "describe") && isRead(m) {
			res.Action = metaAction(obj, "")
			res.Response = sfMetadata
		}
	}
}

// sfWrite classifies a create/update/upsert with a JSON object body whose
// keys are the fields written.
func sfWrite(in *input, op Operation, obj, id string, res *Result) {
	fields, ok := bodyKeys(in.body)
	if !ok {
		return
	}
	res.Action = Action{Operation: op, Category: CatWrite, Object: obj, RecordID: id, Fields: fields}
	res.Response = sfResult
}

// fieldsParam reads ?fields=a,b into the action; without it every field
// comes back. It returns false when the parameter is ambiguous.
func fieldsParam(raw string, a *Action) bool {
	v, n, ok := queryParam(raw, "fields")
	if !ok || n > 1 {
		return false
	}
	if n == 0 || strings.TrimSpace(v) == "" {
		a.AllFields = true
		return true
	}
	a.Fields = splitList(v)
	return len(a.Fields) > 0
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(v string) []string {
	out := make([]string, 0, strings.Count(v, ",")+1)
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item != "" {
			out = append(out, item)
		}
	}
	return out
}

func isRead(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// splitSegments splits a normalised path into its non-empty segments.
func splitSegments(p string, buf []string) []string {
	for p != "" {
		if p[0] == '/' {
			p = p[1:]
			continue
		}
		i := strings.IndexByte(p, '/')
		if i < 0 {
			buf = append(buf, p)
			break
		}
		buf = append(buf, p[:i])
		p = p[i:]
	}
	return buf
}

// isVersion matches "v60.0" (any version).
func isVersion(s string) bool {
	return len(s) > 1 && (s[0] == 'v' || s[0] == 'V') && isVersionNumber(s[1:])
}

func isVersionNumber(s string) bool {
	dot := false
	if s == "" || !isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch {
		case isDigit(s[i]):
		case s[i] == '.' && !dot && i+1 < len(s):
			dot = true
		default:
			return false
		}
	}
	return true
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

func trimJSONSuffix(s string) string {
	if hasSuffixFold(s, ".json") {
		return s[:len(s)-5]
	}
	return s
}

// acceptsNonJSON reports an Accept header naming a format the gateway cannot
// mask (XML, XLSX/Excel, CSV on a JSON resource). Such requests are refused
// ("unsupported") rather than rewritten, so a client never silently gets a
// different format than it asked for.
func acceptsNonJSON(h http.Header, csvOK bool) bool {
	for _, v := range h.Values("Accept") {
		if containsFold(v, "xml") || containsFold(v, "spreadsheet") || containsFold(v, "excel") || (!csvOK && containsFold(v, "csv")) {
			return true
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}

// isObjectName reports a plausible API name (letters, digits, underscores).
func isObjectName(s string) bool {
	if s == "" || len(s) > 120 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isIdentStart(c) || isDigit(c)) {
			return false
		}
	}
	return true
}

// looksLikeID reports a Salesforce record id (15 or 18 alphanumerics) or a
// composite reference (@{ref.field}), which stands for one.
func looksLikeID(s string) bool {
	if strings.HasPrefix(s, "@{") && strings.HasSuffix(s, "}") {
		return true
	}
	if len(s) != 15 && len(s) != 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c)) {
			return false
		}
	}
	return true
}

// isObjectMetaSegment reports per-object metadata resources (GET only).
func isObjectMetaSegment(s string) bool {
	for _, m := range [...]string{"quickActions", "layouts", "compactLayouts", "approvalLayouts", "namedLayouts", "eventSchema", "platformaction"} {
		if strings.EqualFold(s, m) {
			return true
		}
	}
	return false
}

// sfStandardObjects canonicalises the spelling of standard objects: object
// names are case-insensitive in Salesforce, policies compare exactly.
var sfStandardObjects = [...]string{
	"Account", "AccountContactRelation", "Asset", "Attachment", "Campaign", "CampaignMember", "Case", "CaseComment",
	"Contact", "ContentDocument", "ContentVersion", "Contract", "Document", "EmailMessage", "Event", "Group",
	"Individual", "Lead", "Note", "Opportunity", "OpportunityContactRole", "OpportunityLineItem", "Order",
	"OrderItem", "Organization", "PermissionSet", "Pricebook2", "PricebookEntry", "Product2", "Profile",
	"Quote", "QuoteLineItem", "Task", "User", "UserRole", "AggregateResult",
}

// canonSFObject returns the canonical spelling of a Salesforce object name:
// standard objects as Salesforce spells them, custom suffixes (__c, __mdt,
// ...) in lower case, anything else as written.
func canonSFObject(s string) string {
	for _, o := range sfStandardObjects {
		if len(o) == len(s) && strings.EqualFold(o, s) {
			return o
		}
	}
	if i := strings.LastIndex(s, "__"); i > 0 {
		suf := s[i:]
		for _, c := range suf {
			if 'A' <= c && c <= 'Z' {
				return s[:i] + strings.ToLower(suf)
			}
		}
	}
	return s
}

// sfRelationships maps standard relationship names (as used in
// sobjects/{Object}/{id}/{relationship}) to the object they return.
// Unmapped relationships (custom __r, polymorphic What/Who, blobs) are
// unknown: the gateway does not guess the object.
var sfRelationships = [...][2]string{
	{"Account", "Account"}, {"Contacts", "Contact"}, {"Contact", "Contact"}, {"Opportunities", "Opportunity"},
	{"Opportunity", "Opportunity"}, {"Cases", "Case"}, {"Case", "Case"}, {"Tasks", "Task"}, {"Events", "Event"},
	{"Notes", "Note"}, {"Attachments", "Attachment"}, {"Assets", "Asset"}, {"Contracts", "Contract"},
	{"Orders", "Order"}, {"OpportunityLineItems", "OpportunityLineItem"}, {"OpportunityContactRoles", "OpportunityContactRole"},
	{"AccountContactRelations", "AccountContactRelation"}, {"CampaignMembers", "CampaignMember"}, {"Campaign", "Campaign"},
	{"Owner", "User"}, {"CreatedBy", "User"}, {"LastModifiedBy", "User"}, {"Manager", "User"}, {"ReportsTo", "Contact"},
	{"CaseComments", "CaseComment"}, {"EmailMessages", "EmailMessage"}, {"Quotes", "Quote"}, {"QuoteLineItems", "QuoteLineItem"},
}

func relationshipTarget(rel string) (string, bool) {
	for _, r := range sfRelationships {
		if strings.EqualFold(r[0], rel) {
			return r[1], true
		}
	}
	return "", false
}

// sfKeyPrefixes maps the key prefix of a record id to its object, for
// endpoints that name records by id only (UI API, collection deletes).
var sfKeyPrefixes = [...][2]string{
	{"001", "Account"}, {"003", "Contact"}, {"005", "User"}, {"006", "Opportunity"}, {"00Q", "Lead"},
	{"500", "Case"}, {"00T", "Task"}, {"00U", "Event"}, {"701", "Campaign"}, {"800", "Contract"},
	{"801", "Order"}, {"02i", "Asset"}, {"00P", "Attachment"}, {"002", "Note"}, {"01t", "Product2"},
	{"0Q0", "Quote"}, {"00k", "OpportunityLineItem"}, {"068", "ContentVersion"}, {"069", "ContentDocument"},
}

// objectFromID returns the object of a record id by its key prefix (case
// matters in ids).
func objectFromID(id string) (string, bool) {
	if len(id) != 15 && len(id) != 18 {
		return "", false
	}
	for _, p := range sfKeyPrefixes {
		if id[:3] == p[0] {
			return p[1], true
		}
	}
	return "", false
}
