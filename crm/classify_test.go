package crm

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

// want describes the parts of a classification a case checks; empty
// strings and nil slices are not checked, except where noted.
type want struct {
	op        Operation
	cat       Category
	object    string
	fields    []string // checked when non-nil (order-insensitive)
	allFields bool     // checked always
	recordID  string
	query     string
	format    string
	kind      bodyshape.Kind
	method    string
	path      string   // forwarded path, when set
	subs      []string // "op:object" per sub-request, checked when non-nil
	rejected  bool
	aggregate bool
	deleted   bool
	mode      string
}

type tcase struct {
	name    string
	vendor  string // default salesforce
	method  string // default GET
	path    string
	query   string
	header  http.Header
	body    string // literal body, or "@file" under testdata/
	subject string
	want    want
}

func loadBody(t testing.TB, b string) []byte {
	t.Helper()
	if b == "" {
		return nil
	}
	if strings.HasPrefix(b, "@") {
		data, err := os.ReadFile(filepath.Join("testdata", b[1:]))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	return []byte(b)
}

func runCase(t *testing.T, c *Classifier, tc tcase) Result {
	t.Helper()
	m := tc.method
	if m == "" {
		m = http.MethodGet
	}
	h := tc.header
	if h == nil {
		h = http.Header{}
	}
	subj := tc.subject
	if subj == "" {
		subj = "issuer|alice"
	}
	res, err := c.Classify(context.Background(), Request{Method: m, Path: tc.path, RawQuery: tc.query, Header: h, Body: loadBody(t, tc.body), Subject: subj})
	w := tc.want
	if w.rejected {
		if !errors.Is(err, ErrRejected) {
			t.Fatalf("want ErrRejected, got %v (action %+v)", err, res.Action)
		}
		return res
	}
	if err != nil {
		t.Fatalf("Classify: %v", err)
	}
	checkResult(t, res, w)
	return res
}

func checkResult(t *testing.T, res Result, w want) {
	t.Helper()
	a := res.Action
	if a.Operation != w.op {
		t.Errorf("operation = %q, want %q (action %+v)", a.Operation, w.op, a)
	}
	if w.cat != "" && a.Category != w.cat {
		t.Errorf("category = %q, want %q", a.Category, w.cat)
	}
	if w.object != "" && a.Object != w.object {
		t.Errorf("object = %q, want %q", a.Object, w.object)
	}
	if w.fields != nil {
		got := slices.Clone(a.Fields)
		exp := slices.Clone(w.fields)
		slices.Sort(got)
		slices.Sort(exp)
		if !slices.Equal(got, exp) {
			t.Errorf("fields = %q, want %q", a.Fields, w.fields)
		}
	}
	if a.AllFields != w.allFields {
		t.Errorf("all_fields = %v, want %v", a.AllFields, w.allFields)
	}
	if w.recordID != "" && a.RecordID != w.recordID {
		t.Errorf("record_id = %q, want %q", a.RecordID, w.recordID)
	}
	if w.query != "" && a.Query != w.query {
		t.Errorf("query = %q, want %q", a.Query, w.query)
	}
	if w.format != "" && string(res.Response.Format) != w.format {
		t.Errorf("format = %q, want %q", res.Response.Format, w.format)
	}
	if w.kind != "" && res.Response.Kind != w.kind {
		t.Errorf("kind = %q, want %q", res.Response.Kind, w.kind)
	}
	if !res.Response.Kind.Known() {
		t.Errorf("response kind %q is not one of package bodyshape's", res.Response.Kind)
	}
	for i, s := range res.SubResponses {
		if !s.Kind.Known() {
			t.Errorf("sub-response %d kind %q is not one of package bodyshape's", i, s.Kind)
		}
	}
	if w.method != "" && res.Method != w.method {
		t.Errorf("method = %q, want %q", res.Method, w.method)
	}
	if w.path != "" && res.Path != w.path {
		t.Errorf("path = %q, want %q", res.Path, w.path)
	}
	if a.Aggregate != w.aggregate {
		t.Errorf("aggregate = %v, want %v", a.Aggregate, w.aggregate)
	}
	if a.IncludeDeleted != w.deleted {
		t.Errorf("include_deleted = %v, want %v", a.IncludeDeleted, w.deleted)
	}
	if w.mode != "" && a.Mode != w.mode {
		t.Errorf("mode = %q, want %q", a.Mode, w.mode)
	}
	if w.subs != nil {
		var got []string
		for _, s := range res.Subrequests {
			got = append(got, string(s.Operation)+":"+s.Object)
			if s.Parent == nil || s.Parent.Operation != a.Operation {
				t.Errorf("sub-request %+v has parent %+v, want the container", s, s.Parent)
			}
		}
		if !slices.Equal(got, w.subs) {
			t.Errorf("subrequests = %q, want %q", got, w.subs)
		}
	}
}

func newTestClassifier(t testing.TB, vendor string, opts Options) *Classifier {
	t.Helper()
	c, err := NewClassifier(vendor, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClassifySalesforce(t *testing.T) {
	t.Parallel()
	const v = "/services/data/v60.0"
	cases := []tcase{
		// --- query ---
		{name: "SOQL query with + spaces names object and fields", path: v + "/query", query: "q=SELECT+Id,+Email,+Account.Owner.Email+FROM+Contact",
			want: want{op: OpQuery, cat: CatRead, object: "Contact", fields: []string{"Id", "Email", "Account.Owner.Email"}, query: "SELECT Id, Email, Account.Owner.Email FROM Contact", format: "json", kind: "records"}},
		{name: "SOQL query with %20 spaces", path: v + "/query/", query: "q=SELECT%20Name%20FROM%20Lead%20LIMIT%2010",
			want: want{op: OpQuery, cat: CatRead, object: "Lead", fields: []string{"Name"}}},
		{name: "queryAll includes deleted rows", path: v + "/queryAll", query: "q=SELECT+Id+FROM+Contact",
			want: want{op: OpQuery, cat: CatRead, object: "Contact", fields: []string{"Id"}, deleted: true, mode: "queryAll"}},
		{name: "FIELDS(ALL) selects every field", path: v + "/query", query: "q=SELECT+FIELDS(ALL)+FROM+Contact+LIMIT+200",
			want: want{op: OpQuery, object: "Contact", allFields: true, fields: []string{}}},
		{name: "child subquery fields are prefixed with the relationship", path: v + "/query", query: "q=SELECT+Name,(SELECT+LastName,Email+FROM+Contacts)+FROM+Account",
			want: want{op: OpQuery, object: "Account", fields: []string{"Name", "Contacts.LastName", "Contacts.Email"}}},
		{name: "GROUP BY alias query is an aggregate", path: v + "/query", query: "q=SELECT+Email+e,+COUNT(Id)+cnt+FROM+Contact+GROUP+BY+Email",
			want: want{op: OpQuery, object: "Contact", fields: []string{"Email", "Id"}, aggregate: true}},
		{name: "lower-case object in SOQL is canonicalised", path: v + "/query", query: "q=select+email+from+contact",
			want: want{op: OpQuery, object: "Contact", fields: []string{"email"}}},
		{name: "unparseable SOQL is unknown", path: v + "/query", query: "q=SELECT+Id+FROM",
			want: want{op: OpUnknown, cat: CatUnknown}},
		{name: "query without q is unknown", path: v + "/query",
			want: want{op: OpUnknown}},
		{name: "two q parameters are unknown", path: v + "/query", query: "q=SELECT+Id+FROM+Account&q=SELECT+Email+FROM+Contact",
			want: want{op: OpUnknown}},
		{name: "unknown query locator is unknown", path: v + "/query/01gD0000002HU6KIAW-2000",
			want: want{op: OpUnknown}},
		// --- sObjects ---
		{name: "sObject GET with fields", path: v + "/sobjects/Contact/003D000000QV9n2IAD", query: "fields=Email,MobilePhone",
			want: want{op: OpRead, cat: CatRead, object: "Contact", fields: []string{"Email", "MobilePhone"}, recordID: "003D000000QV9n2IAD", kind: "records"}},
		{name: "sObject GET without fields returns all fields", path: v + "/sobjects/Contact/003D000000QV9n2IAD",
			want: want{op: OpRead, object: "Contact", allFields: true}},
		{name: "cased path and object name are matched and canonicalised", path: "/SERVICES/DATA/v60.0/SObjects/contact/003D000000QV9n2IAD",
			want: want{op: OpRead, object: "Contact", allFields: true, path: "/SERVICES/DATA/v60.0/SObjects/contact/003D000000QV9n2IAD"}},
		{name: "custom object keeps its name with a canonical suffix", path: v + "/sobjects/Invoice__C/a01D000000AbcdEIAR",
			want: want{op: OpRead, object: "Invoice__c", allFields: true}},
		{name: "sObject create lists body fields", method: "POST", path: v + "/sobjects/Contact", body: `{"LastName":"Wang","Email":"w@example.com"}`,
			want: want{op: OpCreate, cat: CatWrite, object: "Contact", fields: []string{"Email", "LastName"}}},
		{name: "sObject update", method: "PATCH", path: v + "/sobjects/Account/001D000000IqhSLIAZ", body: `{"Rating":"Hot"}`,
			want: want{op: OpUpdate, cat: CatWrite, object: "Account", fields: []string{"Rating"}, recordID: "001D000000IqhSLIAZ"}},
		{name: "sObject update with non-JSON body is unknown", method: "PATCH", path: v + "/sobjects/Account/001D000000IqhSLIAZ", body: `<Account><Rating>Hot</Rating></Account>`,
			want: want{op: OpUnknown}},
		{name: "upsert by external id", method: "PATCH", path: v + "/sobjects/Contact/External_Id__c/E-42", body: `{"Email":"x@example.com"}`,
			want: want{op: OpUpsert, cat: CatWrite, object: "Contact", recordID: "E-42", mode: "external_id:External_Id__c"}},
		{name: "read by external id", path: v + "/sobjects/Contact/External_Id__c/E-42",
			want: want{op: OpRead, object: "Contact", recordID: "E-42", allFields: true}},
		{name: "sObject delete", method: "DELETE", path: v + "/sobjects/Contact/003D000000QV9n2IAD",
			want: want{op: OpDelete, cat: CatWrite, object: "Contact"}},
		{name: "_HttpMethod=DELETE on POST is a delete", method: "POST", path: v + "/sobjects/Contact/003D000000QV9n2IAD", query: "_HttpMethod=DELETE",
			want: want{op: OpDelete, cat: CatWrite, object: "Contact", method: "DELETE"}},
		{name: "_HttpMethod on GET is rejected", path: v + "/sobjects/Contact/003D000000QV9n2IAD", query: "_HttpMethod=DELETE",
			want: want{rejected: true}},
		{name: "X-HTTP-Method-Override header is rejected", method: "POST", path: v + "/sobjects/Contact/003D000000QV9n2IAD",
			header: http.Header{"X-Http-Method-Override": {"DELETE"}}, want: want{rejected: true}},
		{name: "_method parameter is rejected", method: "POST", path: v + "/sobjects/Contact", query: "_method=DELETE",
			want: want{rejected: true}},
		{name: "relationship path reads the related object", path: v + "/sobjects/Account/001D000000IqhSLIAZ/Contacts",
			want: want{op: OpRead, object: "Contact", recordID: "001D000000IqhSLIAZ", mode: "relationship", allFields: true}},
		{name: "unmapped relationship path is unknown", path: v + "/sobjects/Account/001D000000IqhSLIAZ/Secret_Things__r",
			want: want{op: OpUnknown}},
		{name: "describe is metadata", path: v + "/sobjects/Contact/describe",
			want: want{op: OpDescribe, cat: CatMetadata, object: "Contact"}},
		{name: "global describe is metadata", path: v + "/sobjects", want: want{op: OpDescribe, cat: CatMetadata}},
		{name: "limits is metadata", path: v + "/limits", want: want{op: OpDescribe, cat: CatMetadata}},
		{name: "list view results", path: v + "/sobjects/Contact/listviews/00BD0000005WcBeMAK/results",
			want: want{op: OpList, cat: CatRead, object: "Contact", allFields: true, kind: "listview"}},
		{name: ".xml suffix cannot be masked", path: v + "/sobjects/Contact/003D000000QV9n2IAD.xml",
			want: want{op: OpRead, object: "Contact", allFields: true, format: "unsupported"}},
		{name: "Accept: application/xml cannot be masked", path: v + "/sobjects/Contact/003D000000QV9n2IAD",
			header: http.Header{"Accept": {"application/xml"}}, want: want{op: OpRead, object: "Contact", allFields: true, format: "unsupported"}},
		// --- normalisation and rejection ---
		{name: "encoded slash is decoded and classified", path: "/services/data/v60.0/sobjects%2FContact%2F003D000000QV9n2IAD",
			want: want{op: OpRead, object: "Contact", allFields: true, path: v + "/sobjects/Contact/003D000000QV9n2IAD"}},
		{name: "encoded dot-dot is resolved", path: "/services/data/v60.0/limits/%2e%2e/sobjects/Opportunity/006D000000AbcdEIAR",
			want: want{op: OpRead, object: "Opportunity", allFields: true, path: v + "/sobjects/Opportunity/006D000000AbcdEIAR"}},
		{name: "double-encoded slash is rejected", path: "/services/data/v60.0/sobjects%252FContact", want: want{rejected: true}},
		{name: "doubled slashes are collapsed", path: "//services//data/v60.0//sobjects/Contact//003D000000QV9n2IAD",
			want: want{op: OpRead, object: "Contact", allFields: true, path: v + "/sobjects/Contact/003D000000QV9n2IAD"}},
		{name: "dot segments are resolved", path: "/services/./data/v60.0/x/../sobjects/Contact/003D000000QV9n2IAD",
			want: want{op: OpRead, object: "Contact", allFields: true}},
		{name: "dot-dot above the root is rejected", path: "/../services/data/v60.0/limits", want: want{rejected: true}},
		{name: "backslash is rejected", path: `/services/data/v60.0\sobjects`, want: want{rejected: true}},
		{name: "semicolon path parameter is rejected", path: "/services/data/v60.0/sobjects;x=1/Contact", want: want{rejected: true}},
		{name: "invalid percent-encoding is rejected", path: "/services/data/v60.0/sobjects/%zz", want: want{rejected: true}},
		{name: "encoded NUL is rejected", path: "/services/data/v60.0/sobjects/Contact%00", want: want{rejected: true}},
		{name: "OAuth token endpoint is never proxied", method: "POST", path: "/services/oauth2/token", want: want{rejected: true}},
		// --- unknown endpoints ---
		{name: "apexrest is unknown", path: "/services/apexrest/MyService", want: want{op: OpUnknown, cat: CatUnknown}},
		{name: "tooling is unknown", path: v + "/tooling/query", query: "q=SELECT+Id+FROM+ApexClass", want: want{op: OpUnknown}},
		{name: "SOAP is unknown", method: "POST", path: "/services/Soap/u/60.0", want: want{op: OpUnknown}},
		{name: "root is unknown", path: "/", want: want{op: OpUnknown}},
		// --- composite family ---
		{name: "composite classifies every sub-request", method: "POST", path: v + "/composite", body: "@salesforce/composite_request.json",
			want: want{op: OpComposite, cat: CatWrite, kind: "composite", subs: []string{"read:Contact", "query:Contact", "update:Account"}}},
		{name: "composite hiding an Opportunity read exposes it", method: "POST", path: v + "/composite", body: "@salesforce/composite_hiding_opportunity.json",
			want: want{op: OpComposite, cat: CatRead, subs: []string{"read:Contact", "query:Opportunity"}}},
		{name: "batch with relative URLs", method: "POST", path: v + "/composite/batch", body: "@salesforce/composite_batch_request.json",
			want: want{op: OpComposite, kind: "batch", subs: []string{"read:Contact", "query:Lead"}}},
		{name: "graph classifies sub-requests of every graph", method: "POST", path: v + "/composite/graph", body: "@salesforce/composite_graph_request.json",
			want: want{op: OpComposite, cat: CatWrite, kind: "graph", subs: []string{"create:Account", "create:Contact", "read:Lead"}}},
		{name: "composite with duplicate member is unknown", method: "POST", path: v + "/composite", body: "@salesforce/composite_duplicate_member.json",
			want: want{op: OpUnknown}},
		{name: "composite with case-folded member is unknown", method: "POST", path: v + "/composite", body: `{"CompositeRequest":[]}`,
			want: want{op: OpUnknown}},
		{name: "composite inside composite is an unknown sub-request", method: "POST", path: v + "/composite",
			body: `{"compositeRequest":[{"method":"POST","url":"/services/data/v60.0/composite","referenceId":"x","body":{"compositeRequest":[]}}]}`,
			want: want{op: OpComposite, cat: CatUnknown, subs: []string{"unknown:"}}},
		{name: "composite sub-request outside the REST API is unknown", method: "POST", path: v + "/composite",
			body: `{"compositeRequest":[{"method":"GET","url":"/services/apexrest/x","referenceId":"x"}]}`,
			want: want{op: OpComposite, cat: CatUnknown, subs: []string{"unknown:"}}},
		{name: "collections create with several types has one sub-request per type", method: "POST", path: v + "/composite/sobjects", body: "@salesforce/collections_create_mixed.json",
			want: want{op: OpCreate, cat: CatBulk, object: "*", subs: []string{"create:Account", "create:Contact"}}},
		{name: "collections retrieve", path: v + "/composite/sobjects/Contact", query: "ids=003D000000QV9n2IAD,003D000000QV9n3IAD&fields=Id,Email",
			want: want{op: OpList, cat: CatRead, object: "Contact", fields: []string{"Id", "Email"}}},
		{name: "collections delete maps ids to objects", method: "DELETE", path: v + "/composite/sobjects", query: "ids=003D000000QV9n2IAD,003D000000QV9n3IAD",
			want: want{op: OpDelete, cat: CatBulk, object: "Contact"}},
		{name: "collections delete of an unknown id prefix is unknown", method: "DELETE", path: v + "/composite/sobjects", query: "ids=a0BD000000QV9n2IAD",
			want: want{op: OpUnknown}},
		{name: "tree create includes child records", method: "POST", path: v + "/composite/tree/Account", body: "@salesforce/tree_account_contacts.json",
			want: want{op: OpCreate, object: "*", subs: []string{"create:Account", "create:Contact"}, cat: CatBulk}},
		// --- search ---
		{name: "SOSL with one RETURNING object", path: v + "/search", query: "q=FIND+%7BWang%7D+IN+ALL+FIELDS+RETURNING+Contact(Id,+Email+WHERE+Email+!%3D+null+LIMIT+5)",
			want: want{op: OpSearch, cat: CatRead, object: "Contact", fields: []string{"Id", "Email"}, kind: "search"}},
		{name: "SOSL with several objects has a sub-request per object", path: v + "/search", query: "q=FIND+%7BWang%7D+RETURNING+Contact(Email),+Lead",
			want: want{op: OpSearch, object: "*", subs: []string{"search:Contact", "search:Lead"}}},
		{name: "SOSL without RETURNING searches any object", path: v + "/search", query: "q=FIND+%7BRETURNING+Account%7D",
			want: want{op: OpSearch, object: "*", allFields: true}},
		{name: "parameterizedSearch GET with sobject", path: v + "/parameterizedSearch", query: "q=Wang&sobject=Contact&fields=Id,Email",
			want: want{op: OpSearch, object: "Contact", fields: []string{"Id", "Email"}}},
		{name: "parameterizedSearch POST with sobjects", method: "POST", path: v + "/parameterizedSearch", body: "@salesforce/parameterized_search_request.json",
			want: want{op: OpSearch, object: "*", subs: []string{"search:Account", "search:Contact"}}},
		// --- GraphQL ---
		{name: "GraphQL query of one object", method: "POST", path: v + "/graphql", body: "@salesforce/graphql_request.json",
			want: want{op: OpQuery, cat: CatRead, object: "Contact", fields: []string{"Id", "Name", "Email", "Account.Name"}, kind: "graphql"}},
		{name: "GraphQL query of two objects with a fragment", method: "POST", path: v + "/graphql", body: "@salesforce/graphql_two_objects.json",
			want: want{op: OpQuery, object: "*", subs: []string{"query:Contact", "query:Account"}}},
		{name: "GraphQL mutation is unknown", method: "POST", path: v + "/graphql", body: "@salesforce/graphql_mutation.json",
			want: want{op: OpUnknown}},
		// --- reports ---
		{name: "report with details is an export", path: v + "/analytics/reports/00OD0000001cxIEMAY", query: "includeDetails=true",
			want: want{op: OpReport, cat: CatExport, object: "Report", recordID: "00OD0000001cxIEMAY", allFields: true, kind: "report"}},
		{name: "report without details is a read", path: v + "/analytics/reports/00OD0000001cxIEMAY", query: "includeDetails=false",
			want: want{op: OpReport, cat: CatRead, allFields: true}},
		{name: "report POST is an export naming its columns", method: "POST", path: v + "/analytics/reports/00OD0000001cxIEMAY", body: `{"reportMetadata":{"detailColumns":["EMAIL","PHONE1"]}}`,
			want: want{op: OpReport, cat: CatExport, allFields: true, fields: []string{"EMAIL", "PHONE1"}}},
		{name: "report as XLSX cannot be masked", path: v + "/analytics/reports/00OD0000001cxIEMAY",
			header: http.Header{"Accept": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}},
			want:   want{op: OpReport, cat: CatExport, allFields: true, format: "unsupported"}},
		// --- UI API ---
		{name: "UI API record read maps the id prefix", path: v + "/ui-api/records/003D000000QV9n2IAD", query: "fields=Contact.Email",
			want: want{op: OpRead, object: "Contact", fields: []string{"Email"}, kind: "uiapi"}},
		{name: "UI API record of unknown prefix is unknown", path: v + "/ui-api/records/a0BD000000QV9n2IAD", want: want{op: OpUnknown}},
		{name: "UI API list records", path: v + "/ui-api/list-records/Contact/AllContacts",
			want: want{op: OpList, object: "Contact", allFields: true}},
		// --- Bulk 2.0 ---
		{name: "Bulk 2.0 query job", method: "POST", path: v + "/jobs/query", body: "@salesforce/bulk2_query_create_request.json",
			want: want{op: OpBulkQuery, cat: CatExport, object: "Contact", fields: []string{"Id", "Name", "Email", "MobilePhone", "Account.Owner.Email"}, kind: "job"}},
		{name: "Bulk 2.0 queryAll job", method: "POST", path: v + "/jobs/query", body: "@salesforce/bulk2_queryall_request.json",
			want: want{op: OpBulkQuery, cat: CatExport, object: "Contact", fields: []string{"Id", "Email"}, deleted: true}},
		{name: "Bulk 2.0 query job with unknown operation is unknown", method: "POST", path: v + "/jobs/query", body: `{"operation":"export","query":"SELECT Id FROM Contact"}`,
			want: want{op: OpUnknown}},
		{name: "Bulk 2.0 ingest job", method: "POST", path: v + "/jobs/ingest", body: "@salesforce/bulk2_ingest_create_request.json",
			want: want{op: OpBulkIngest, cat: CatBulk, object: "Contact", mode: "hardDelete"}},
		{name: "Bulk 2.0 status of a job not created through the gateway is not classified", path: v + "/jobs/query/750R0000000zlh9IAA", want: want{op: OpUnknown}},
		{name: "Bulk 2.0 results of an unknown job are unknown", path: v + "/jobs/query/750R0000000zlh9IAA/results", want: want{op: OpUnknown}},
		// --- Bulk 1.0 ---
		{name: "Bulk 1.0 XML query job", method: "POST", path: "/services/async/60.0/job", body: "@salesforce/bulk1_job_create.xml",
			want: want{op: OpBulkQuery, cat: CatExport, object: "Contact", allFields: true}},
		{name: "Bulk 1.0 SOQL batch of a job not created through the gateway is not classified", method: "POST", path: "/services/async/60.0/job/750D000000001SRIAY/batch", body: "SELECT Id, Email FROM Contact",
			want: want{op: OpUnknown}},
		{name: "Bulk 1.0 result of an unknown job is unknown", path: "/services/async/60.0/job/750D000000001SRIAY/batch/751D000000005MBIA0/result/752D0000000001A",
			want: want{op: OpUnknown}},
	}
	c := newTestClassifier(t, "salesforce", Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runCase(t, c, tc)
		})
	}
}

func TestClassifyZoho(t *testing.T) {
	t.Parallel()
	cases := []tcase{
		{name: "records list with fields", path: "/crm/v8/Contacts", query: "fields=Last_Name,Email&per_page=200",
			want: want{op: OpList, cat: CatRead, object: "Contacts", fields: []string{"Last_Name", "Email"}, kind: "records"}},
		{name: "records list without fields returns all", path: "/crm/v2/leads",
			want: want{op: OpList, object: "Leads", allFields: true}},
		{name: "record get", path: "/crm/v6/Contacts/554023000000527001",
			want: want{op: OpRead, object: "Contacts", recordID: "554023000000527001", allFields: true}},
		{name: "search", path: "/crm/v8/Contacts/search", query: "email=wang.fang%40customer-corp.cn",
			want: want{op: OpSearch, object: "Contacts", allFields: true}},
		{name: "related list of a module", path: "/crm/v8/Accounts/554023000000238121/Contacts",
			want: want{op: OpList, object: "Contacts", mode: "relationship", allFields: true}},
		{name: "related list not named after a module is unknown", path: "/crm/v8/Accounts/554023000000238121/Activities",
			want: want{op: OpUnknown}},
		{name: "COQL names module and dotted lookups", method: "POST", path: "/crm/v8/coql", body: "@zoho/coql_request.json",
			want: want{op: OpQuery, cat: CatRead, object: "Contacts", fields: []string{"Last_Name", "Email", "Mobile", "Account_Name.Account_Name"}}},
		{name: "COQL that does not parse is unknown", method: "POST", path: "/crm/v8/coql", body: `{"select_query": "select from"}`,
			want: want{op: OpUnknown}},
		{name: "create of several records is bulk", method: "POST", path: "/crm/v8/Contacts", body: "@zoho/records_create.json",
			want: want{op: OpCreate, cat: CatBulk, object: "Contacts", fields: []string{"Email", "Last_Name", "Mobile"}}},
		{name: "delete by ids", method: "DELETE", path: "/crm/v8/Contacts", query: "ids=1,2",
			want: want{op: OpDelete, cat: CatBulk, object: "Contacts"}},
		{name: "settings are metadata", path: "/crm/v8/settings/modules", want: want{op: OpDescribe, cat: CatMetadata}},
		{name: "org is metadata", path: "/crm/v8/org", want: want{op: OpDescribe, cat: CatMetadata}},
		{name: "users are a read of users", path: "/crm/v8/users", query: "type=AllUsers",
			want: want{op: OpList, cat: CatRead, object: "users", allFields: true}},
		{name: "bulk read job", method: "POST", path: "/crm/bulk/v8/read", body: "@zoho/bulk_read_create_request.json",
			want: want{op: OpBulkQuery, cat: CatExport, object: "Contacts", fields: []string{"Last_Name", "Email", "Mobile", "Owner"}}},
		{name: "bulk read status of a job not created through the gateway is not classified", path: "/crm/bulk/v8/read/554023000000568002", want: want{op: OpUnknown}},
		{name: "bulk read result of an unknown job is unknown", path: "/crm/bulk/v8/read/554023000000568002/result", want: want{op: OpUnknown}},
		{name: "bulk write job", method: "POST", path: "/crm/bulk/v8/write", body: "@zoho/bulk_write_request.json",
			want: want{op: OpBulkIngest, cat: CatBulk, object: "Leads", fields: []string{"Last_Name", "Email"}, mode: "insert"}},
		{name: "composite classifies every sub-request", method: "POST", path: "/crm/v8/__composite_requests", body: "@zoho/composite_request.json",
			want: want{op: OpComposite, cat: CatWrite, kind: "composite", subs: []string{"list:Contacts", "update:Deals", "describe:"}}},
		{name: "composite sub-request with an inline query and duplicate params is unknown", method: "POST", path: "/crm/v8/__composite_requests",
			body: `{"__composite_requests":[{"method":"GET","uri":"/crm/v8/Contacts?fields=Email","params":{"fields":"Mobile"}}]}`,
			want: want{op: OpComposite, cat: CatUnknown, subs: []string{"unknown:"}}},
		{name: "composite sub-request with an inline query", method: "POST", path: "/crm/v8/__composite_requests",
			body: `{"__composite_requests":[{"method":"GET","uri":"/crm/v8/Contacts?fields=Email"}]}`,
			want: want{op: OpComposite, cat: CatRead, subs: []string{"list:Contacts"}}},
		{name: "unknown page token is unknown", path: "/crm/v8/Contacts", query: "fields=Email&page_token=c8582e7f3a1b", want: want{op: OpUnknown}},
		{name: "GraphQL names the module and fields", method: "POST", path: "/crm/graphql", body: `{"query":"{ Records { Contacts(limit: 5) { _data { Email { value } Account_Name { Account_Name { value } } } _info { more_records } } } }"}`,
			want: want{op: OpQuery, cat: CatRead, object: "Contacts", fields: []string{"Email", "Account_Name.Account_Name"}, kind: "graphql"}},
		{name: "GraphQL Meta alone is metadata", method: "POST", path: "/crm/graphql", body: `{"query":"{ Meta { Modules { _data { api_name } } } }"}`,
			want: want{op: OpDescribe, cat: CatMetadata}},
		{name: "GraphQL mutation is unknown", method: "POST", path: "/crm/graphql", body: `{"query":"mutation { Records { Contacts { _data { Email { value } } } } }"}`,
			want: want{op: OpUnknown}},
		{name: "mass actions are unknown", method: "POST", path: "/crm/v8/Leads/actions/convert", want: want{op: OpUnknown}},
		{name: "_HttpMethod is rejected for Zoho", method: "POST", path: "/crm/v8/Contacts", query: "_HttpMethod=DELETE", want: want{rejected: true}},
		{name: "encoded traversal is resolved before classification", path: "/crm/v8/settings/%2e%2e/Contacts/1",
			want: want{op: OpRead, object: "Contacts", allFields: true, path: "/crm/v8/Contacts/1"}},
	}
	c := newTestClassifier(t, "zoho", Options{})
	for _, tc := range cases {
		tc.vendor = "zoho"
		t.Run(tc.name, func(t *testing.T) {
			runCase(t, c, tc)
		})
	}
}

func TestGenericIsUnknown(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "generic", Options{})
	runCase(t, c, tcase{path: "/api/v5/app/entry/data/list", method: "POST", want: want{op: OpUnknown, cat: CatUnknown}})
	runCase(t, c, tcase{path: "/api/../../x", want: want{rejected: true}})
	if _, err := NewClassifier("hubspot", Options{}); err == nil {
		t.Fatal("unknown upstream type accepted")
	}
}

func TestCompositeSubRequestHeadersAreChecked(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	res := classify(t, c, "alice", "POST", "/services/data/v60.0/composite", "",
		`{"compositeRequest":[{"method":"POST","url":"/services/data/v60.0/sobjects/Contact/003D000000QV9n2IAD","referenceId":"a","httpHeaders":{"X-HTTP-Method-Override":"DELETE"}}]}`)
	checkResult(t, res, want{op: OpComposite, cat: CatUnknown, subs: []string{"unknown:"}})
	res = classify(t, c, "alice", "POST", "/services/data/v60.0/composite/batch", "",
		`{"batchRequests":[{"method":"GET","url":"v60.0/sobjects/Contact/003D000000QV9n2IAD.xml"}]}`)
	checkResult(t, res, want{op: OpComposite, cat: CatRead, format: "unsupported", subs: []string{"read:Contact"}})
	res = classify(t, c, "alice", "POST", "/services/data/v60.0/composite/batch", "",
		`{"batchRequests":[{"method":"POST","url":"v60.0/sobjects/Contact/003D000000QV9n2IAD?_HttpMethod=DELETE"}]}`)
	checkResult(t, res, want{op: OpComposite, cat: CatWrite, subs: []string{"delete:Contact"}})
}

func TestDeepGraphQLIsUnknown(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	q := "query { uiapi { query { Contact { edges { node { " + strings.Repeat("A { ", 5000) + "Id" + strings.Repeat(" }", 5000) + " } } } } } }"
	body := `{"query": "` + q + `"}`
	res := classify(t, c, "alice", "POST", "/services/data/v60.0/graphql", "", body)
	checkResult(t, res, want{op: OpUnknown})
}
