package samplecrm

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const (
	sfTok   = "sf-test-token"
	zohoTok = "zoho-test-token"
)

var fixtures = filepath.Join("..", "..", "..", "..", "shared", "fixtures")

func fixtureDir(t testing.TB) string {
	t.Helper()
	for _, d := range []string{fixtures, "/work/shared/fixtures"} {
		if _, err := os.Stat(d); err == nil {
			return d
		}
	}
	t.Skip("fixtures directory not found")
	return ""
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureJSON(t testing.TB, name string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(readFixture(t, name), &v); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return v
}

type env struct {
	t   testing.TB
	crm *Server
	srv *httptest.Server
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	if opts.Records == 0 {
		opts.Records = 60
	}
	if opts.Seed == 0 {
		opts.Seed = 7
	}
	if opts.SalesforceToken == "" {
		opts.SalesforceToken = sfTok
	}
	if opts.ZohoToken == "" {
		opts.ZohoToken = zohoTok
	}
	crm := New(opts)
	srv := httptest.NewServer(crm)
	t.Cleanup(srv.Close)
	return &env{t: t, crm: crm, srv: srv}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body is not JSON (%v): %.300s", err, r.body)
	}
	return v
}

// do sends a request; auth is the whole Authorization value ("" for none).
func (e *env) do(method, target, auth string, body []byte, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+target, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

func (e *env) sf(method, target string, body []byte, hdr ...string) resp {
	e.t.Helper()
	return e.do(method, target, "Bearer "+sfTok, body, hdr...)
}

func (e *env) zoho(method, target string, body []byte, hdr ...string) resp {
	e.t.Helper()
	return e.do(method, target, "Zoho-oauthtoken "+zohoTok, body, hdr...)
}

func q(soql string) string { return url.QueryEscape(soql) }

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// sameShape checks got against the fixture want: the same keys in every
// object (a superset when subset is true), the same JSON kinds where both
// are non-null, array elements compared with the fixture's element at the
// same index (or its last one).
func sameShape(t testing.TB, where string, got, want any, subset bool) {
	t.Helper()
	if got == nil || want == nil {
		return // nullable either way
	}
	if jsonKind(got) != jsonKind(want) {
		t.Errorf("%s: got a %s, fixture has a %s", where, jsonKind(got), jsonKind(want))
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for _, k := range keys(w) {
			if _, ok := g[k]; !ok {
				t.Errorf("%s: missing key %q (got keys %v)", where, k, keys(g))
			}
		}
		if !subset {
			for _, k := range keys(g) {
				if _, ok := w[k]; !ok {
					t.Errorf("%s: extra key %q (fixture keys %v)", where, k, keys(w))
				}
			}
		}
		for k, wv := range w {
			sameShape(t, where+"."+k, g[k], wv, subset)
		}
	case []any:
		g := got.([]any)
		if len(w) == 0 {
			return
		}
		for i, gv := range g {
			sameShape(t, where+"["+itoa(i)+"]", gv, w[min(i, len(w)-1)], subset)
		}
	}
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

func TestResponsesHaveTheFixturesShapes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	contactID := "003D000000QV9n2IAD"
	cases := []struct {
		name    string
		method  string
		path    string
		body    []byte
		hdr     []string
		zoho    bool
		status  int
		fixture string
		subset  bool
	}{
		{name: "query with relationship paths pages like Salesforce", method: "GET",
			path: "/services/data/v60.0/query?q=" + q("SELECT Id, Name, Email, MobilePhone, Birthdate, Account.Name, Account.AnnualRevenue, Account.Owner.Email FROM Contact LIMIT 3"),
			hdr:  []string{"Sforce-Query-Options", "batchSize=2"}, status: 200, fixture: "salesforce/query_contacts.json"},
		{name: "child subquery nests Contacts records", method: "GET",
			path:   "/services/data/v60.0/query?q=" + q("SELECT Name, (SELECT LastName, Email FROM Contacts) FROM Account LIMIT 1"),
			status: 200, fixture: "salesforce/query_accounts_subquery.json"},
		{name: "sobject read with fields", method: "GET",
			path:   "/services/data/v60.0/sobjects/Contact/" + contactID + "?fields=Id,LastName,FirstName,Email,MobilePhone,National_ID__c,AccountId,OwnerId",
			status: 200, fixture: "salesforce/sobject_contact.json"},
		{name: "sobject collection get has null for a missing id", method: "GET",
			path:   "/services/data/v60.0/composite/sobjects/Contact?ids=" + contactID + ",003D000000QV9zzIAD&fields=Id,Email",
			status: 200, fixture: "salesforce/sobject_collection_get.json"},
		{name: "composite request from the fixture", method: "POST", path: "/services/data/v60.0/composite",
			body: readFixture(t, "salesforce/composite_request.json"), status: 200, fixture: "salesforce/composite_response.json", subset: true},
		{name: "composite batch from the fixture", method: "POST", path: "/services/data/v60.0/composite/batch",
			body: readFixture(t, "salesforce/composite_batch_request.json"), status: 200, fixture: "salesforce/composite_batch_response.json"},
		{name: "SOSL search over two objects", method: "GET",
			path:   "/services/data/v60.0/search?q=" + q("FIND {wang.fang} RETURNING Contact(Id, Email), Lead(Id, Email)"),
			status: 200, fixture: "salesforce/search_response.json"},
		{name: "GraphQL query from the fixture", method: "POST", path: "/services/data/v60.0/graphql",
			body: readFixture(t, "salesforce/graphql_request.json"), status: 200, fixture: "salesforce/graphql_response.json"},
		{name: "report with details", method: "GET", path: "/services/data/v60.0/analytics/reports/00OD0000001cxIEMAY?includeDetails=true",
			status: 200, fixture: "salesforce/report_details.json"},
		{name: "bulk query job from the fixture", method: "POST", path: "/services/data/v60.0/jobs/query",
			body: readFixture(t, "salesforce/bulk2_query_create_request.json"), status: 200, fixture: "salesforce/bulk2_query_job.json"},
		{name: "Salesforce without a token", method: "GET", path: "/services/data/v60.0/limits", hdr: []string{"Authorization", ""},
			status: 401, fixture: "salesforce/error_invalid_session.json"},
		{name: "Zoho records list", method: "GET", zoho: true,
			path:   "/crm/v6/Contacts?fields=Owner,Email,Mobile,Last_Name,First_Name,Full_Name,Account_Name,Created_Time&per_page=2",
			status: 200, fixture: "zoho/records_contacts.json"},
		{name: "Zoho COQL from the fixture", method: "POST", path: "/crm/v6/coql", zoho: true,
			body: readFixture(t, "zoho/coql_request.json"), status: 200, fixture: "zoho/coql_response.json"},
		{name: "Zoho bulk read from the fixture", method: "POST", path: "/crm/bulk/v6/read", zoho: true,
			body: readFixture(t, "zoho/bulk_read_create_request.json"), status: 201, fixture: "zoho/bulk_read_create_response.json"},
		{name: "Zoho with a wrong token", method: "GET", path: "/crm/v6/Contacts", hdr: []string{"Authorization", "Zoho-oauthtoken nope"},
			status: 401, fixture: "zoho/error_invalid_token.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r resp
			auth := "Bearer " + sfTok
			if tc.zoho {
				auth = "Zoho-oauthtoken " + zohoTok
			}
			if len(tc.hdr) == 2 && tc.hdr[0] == "Authorization" {
				auth, tc.hdr = tc.hdr[1], nil
			}
			r = e.do(tc.method, tc.path, auth, tc.body, tc.hdr...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %.400s", r.status, tc.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if !strings.HasPrefix(r.header.Get("Sforce-Limit-Info"), "api-usage=") {
				t.Errorf("Sforce-Limit-Info %q", r.header.Get("Sforce-Limit-Info"))
			}
			sameShape(t, tc.fixture, r.json(t), fixtureJSON(t, tc.fixture), tc.subset)
		})
	}
}

func TestFixtureRecordsAreTheFirstGeneratedRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.sf("GET", "/services/data/v60.0/query?q="+q("SELECT Id, Name, Email, MobilePhone, Birthdate, Account.Name, Account.AnnualRevenue, Account.Owner.Email FROM Contact LIMIT 2"), nil)
	got := r.json(t).(map[string]any)["records"].([]any)
	want := fixtureJSON(t, "salesforce/query_contacts.json").(map[string]any)["records"].([]any)
	for i := range want {
		g, _ := json.Marshal(got[i])
		w, _ := json.Marshal(want[i])
		if !bytes.Equal(g, w) {
			t.Errorf("record %d:\n got %s\nwant %s", i, g, w)
		}
	}
}

func TestBulkQueryResultsAreCSVLikeTheFixture(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Records: 25})
	job := e.sf("POST", "/services/data/v61.0/jobs/query", readFixture(t, "salesforce/bulk2_query_create_request.json")).json(t).(map[string]any)
	id := job["id"].(string)
	if !strings.HasPrefix(id, "750") || job["state"] != "JobComplete" || job["object"] != "Contact" {
		t.Fatalf("job %v", job)
	}
	if got := e.sf("GET", "/services/data/v61.0/jobs/query/"+id, nil).json(t).(map[string]any); got["id"] != id {
		t.Fatalf("job info %v", got)
	}
	wantHeader := strings.SplitN(string(readFixture(t, "salesforce/bulk2_query_results.csv")), "\n", 2)[0]
	seen := map[string]bool{}
	locator := ""
	pages := 0
	for {
		target := "/services/data/v61.0/jobs/query/" + id + "/results?maxRecords=10"
		if locator != "" {
			target += "&locator=" + locator
		}
		r := e.sf("GET", target, nil)
		if r.status != 200 || r.header.Get("Content-Type") != "text/csv" {
			t.Fatalf("status %d type %q: %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		if first := strings.SplitN(string(r.body), "\n", 2)[0]; first != wantHeader {
			t.Fatalf("header row %q, want %q", first, wantHeader)
		}
		rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatalf("CSV does not parse: %v", err)
		}
		if n := r.header.Get("Sforce-NumberOfRecords"); n != itoa(len(rows)-1) {
			t.Errorf("Sforce-NumberOfRecords %q for %d rows", n, len(rows)-1)
		}
		for _, row := range rows[1:] {
			if seen[row[0]] {
				t.Errorf("record %s returned twice", row[0])
			}
			seen[row[0]] = true
			if len(row) != 5 {
				t.Errorf("row has %d cells", len(row))
			}
		}
		pages++
		locator = r.header.Get("Sforce-Locator")
		if locator == "null" {
			break
		}
		if pages > 10 {
			t.Fatal("locator never ends")
		}
	}
	if len(seen) != 25 || pages != 3 {
		t.Errorf("got %d records in %d pages, want 25 in 3", len(seen), pages)
	}
	if !seen["003D000000QV9n4IAD"] {
		t.Error("the quoted-name record is missing")
	}
	r := e.sf("GET", "/services/data/v61.0/jobs/query/"+id+"/results?locator=bm9wZQ", nil)
	if r.status != 400 {
		t.Errorf("bad locator: status %d", r.status)
	}
}

func TestQueryPagingReachesEveryRecordOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Records: 50, PageSize: 7})
	seen := map[string]bool{}
	next := "/services/data/v59.0/queryAll?q=" + q("SELECT Id, Email, Account.Name FROM Contact")
	total := -1
	for pages := 0; next != ""; pages++ {
		if pages > 20 {
			t.Fatal("too many pages")
		}
		body := e.sf("GET", next, nil).json(t).(map[string]any)
		total = int(body["totalSize"].(float64))
		for _, rec := range body["records"].([]any) {
			id := rec.(map[string]any)["Id"].(string)
			if seen[id] {
				t.Fatalf("record %s seen twice", id)
			}
			seen[id] = true
		}
		next, _ = body["nextRecordsUrl"].(string)
		if (next == "") != body["done"].(bool) {
			t.Fatalf("done=%v with nextRecordsUrl %q", body["done"], next)
		}
		if next != "" && !strings.HasPrefix(next, "/services/data/v59.0/query/01g") {
			t.Fatalf("nextRecordsUrl %q", next)
		}
	}
	if total != 50 || len(seen) != 50 {
		t.Errorf("totalSize %d, distinct records %d, want 50", total, len(seen))
	}
	if r := e.sf("GET", "/services/data/v59.0/query/01gBOGUS-7", nil); r.status != 400 || !strings.Contains(string(r.body), "INVALID_QUERY_LOCATOR") {
		t.Errorf("bad locator: %d %s", r.status, r.body)
	}
}

func TestZohoPagingReachesEveryRecordOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Records: 45})
	seen := map[string]bool{}
	target := "/crm/v7/Contacts?fields=Email&per_page=20"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		body := e.zoho("GET", target, nil).json(t).(map[string]any)
		for _, rec := range body["data"].([]any) {
			id := rec.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("record %s seen twice", id)
			}
			seen[id] = true
		}
		info := body["info"].(map[string]any)
		if !info["more_records"].(bool) {
			if info["next_page_token"] != nil {
				t.Errorf("last page has a next_page_token")
			}
			break
		}
		target = "/crm/v7/Contacts?fields=Email&per_page=20&page_token=" + info["next_page_token"].(string)
	}
	if len(seen) != 45 {
		t.Errorf("got %d records, want 45", len(seen))
	}
	for _, bad := range []string{"fields=Email&page_token=zzzz", "fields=Email&page_token=ffffffffffff", "fields=Email&per_page=500", "fields=Nope", "fields=Email&page=0"} {
		if r := e.zoho("GET", "/crm/v7/Contacts?"+bad, nil); r.status != 400 {
			t.Errorf("%s: status %d", bad, r.status)
		}
	}
	if r := e.zoho("GET", "/crm/v8/Contacts", nil); r.status != 400 || !strings.Contains(string(r.body), "REQUIRED_PARAM_MISSING") {
		t.Errorf("v8 without fields: %d %s", r.status, r.body)
	}
}

func TestTokensAreChecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	cases := []struct {
		name, path, auth string
		status           int
	}{
		{"Salesforce Bearer token", "/services/data/v60.0/limits", "Bearer " + sfTok, 200},
		{"Salesforce OAuth scheme", "/services/data/v60.0/limits", "OAuth " + sfTok, 200},
		{"Salesforce scheme is case-insensitive", "/services/data/v60.0/limits", "bearer " + sfTok, 200},
		{"Salesforce wrong token", "/services/data/v60.0/limits", "Bearer wrong", 401},
		{"Salesforce token prefix only", "/services/data/v60.0/limits", "Bearer " + sfTok[:4], 401},
		{"Salesforce missing header", "/services/data/v60.0/limits", "", 401},
		{"Salesforce Zoho token", "/services/data/v60.0/limits", "Bearer " + zohoTok, 401},
		{"Salesforce Basic auth", "/services/data/v60.0/limits", "Basic " + sfTok, 401},
		{"Zoho token", "/crm/v2/Leads?per_page=1", "Zoho-oauthtoken " + zohoTok, 200},
		{"Zoho wrong token", "/crm/v2/Leads", "Zoho-oauthtoken wrong", 401},
		{"Zoho needs its own scheme", "/crm/v2/Leads", "Bearer " + zohoTok, 401},
		{"Zoho Salesforce token", "/crm/v2/Leads", "Zoho-oauthtoken " + sfTok, 401},
		{"Zoho bulk is checked too", "/crm/bulk/v2/read/1", "", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", tc.path, tc.auth, nil)
			if r.status != tc.status {
				t.Errorf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
		})
	}
}

func TestTokenEndpointsIssueAcceptedTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{ClientID: "cid", ClientSecret: "csecret", RefreshToken: "rt"})
	form := func(target string, v url.Values) resp {
		req, _ := http.NewRequest("POST", e.srv.URL+target, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return resp{res.StatusCode, res.Header, b}
	}
	r := form("/services/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"csecret"}})
	if r.status != 200 {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	tok := r.json(t).(map[string]any)
	sameShape(t, "token", tok, fixtureJSON(t, "salesforce/token_response.json"), false)
	if tok["instance_url"] != e.srv.URL {
		t.Errorf("instance_url %v, want %s", tok["instance_url"], e.srv.URL)
	}
	if _, ok := tok["expires_in"]; ok {
		t.Error("Salesforce token responses have no expires_in")
	}
	access := tok["access_token"].(string)
	if r := e.do("GET", "/services/data/v60.0/limits", "Bearer "+access, nil); r.status != 200 {
		t.Errorf("issued token refused: %d", r.status)
	}
	e.crm.ExpireTokens()
	if r := e.do("GET", "/services/data/v60.0/limits", "Bearer "+access, nil); r.status != 401 || !strings.Contains(string(r.body), "INVALID_SESSION_ID") {
		t.Errorf("expired token: %d %s", r.status, r.body)
	}
	if r := e.sf("GET", "/services/data/v60.0/limits", nil); r.status != 200 {
		t.Errorf("static token refused after ExpireTokens: %d", r.status)
	}
	for name, v := range map[string]url.Values{
		"wrong secret":      {"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"nope"}},
		"unknown grant":     {"grant_type": {"password"}, "client_id": {"cid"}},
		"bad refresh token": {"grant_type": {"refresh_token"}, "client_id": {"cid"}, "refresh_token": {"nope"}},
		"garbage assertion": {"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"a.b.c"}},
	} {
		if r := form("/services/oauth2/token", v); r.status != 400 || r.json(t).(map[string]any)["error"] == nil {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// Zoho: refresh_token grant.
	r = form("/oauth/v2/token?grant_type=refresh_token&refresh_token=rt&client_id=cid&client_secret=csecret", nil)
	zt := r.json(t).(map[string]any)
	sameShape(t, "zoho token", zt, fixtureJSON(t, "zoho/token_response.json"), false)
	if zt["api_domain"] != e.srv.URL || zt["expires_in"] != 3600.0 {
		t.Errorf("zoho token %v", zt)
	}
	if r := e.do("GET", "/crm/v6/users", "Zoho-oauthtoken "+zt["access_token"].(string), nil); r.status != 200 {
		t.Errorf("issued Zoho token refused: %d", r.status)
	}
	r = form("/oauth/v2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"stolen"}, "client_id": {"cid"}, "client_secret": {"csecret"}})
	if r.status != 200 || r.json(t).(map[string]any)["error"] != "invalid_code" {
		t.Errorf("bad Zoho refresh token: %d %s", r.status, r.body)
	}
}

func TestCompressionIsHonoured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	target := "/services/data/v60.0/query?q=" + q("SELECT Id, Email FROM Contact LIMIT 20")
	plain := e.sf("GET", target, nil, "Accept-Encoding", "identity").body
	cases := []struct {
		accept, want string
		decode       func(io.Reader) (io.Reader, error)
	}{
		{"gzip", "gzip", func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }},
		{"deflate", "deflate", func(r io.Reader) (io.Reader, error) { return zlib.NewReader(r) }},
		{"deflate, gzip;q=0.5", "gzip", func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }},
		{"gzip;q=0, deflate", "deflate", func(r io.Reader) (io.Reader, error) { return zlib.NewReader(r) }},
		{"br", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.accept, func(t *testing.T) {
			// Disable the transport's own gzip handling by setting the header.
			r := e.sf("GET", target, nil, "Accept-Encoding", tc.accept)
			if got := r.header.Get("Content-Encoding"); got != tc.want {
				t.Fatalf("Content-Encoding %q, want %q", got, tc.want)
			}
			body := r.body
			if tc.decode != nil {
				if !strings.Contains(r.header.Get("Vary"), "Accept-Encoding") {
					t.Error("no Vary: Accept-Encoding")
				}
				rd, err := tc.decode(bytes.NewReader(r.body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(rd); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(body, plain) {
				t.Errorf("decoded body differs from the plain one")
			}
		})
	}
	// Errors and CSV are compressed as well; 204 has no encoding.
	if r := e.do("GET", target, "Bearer nope", nil, "Accept-Encoding", "gzip"); r.header.Get("Content-Encoding") != "gzip" {
		t.Error("401 not compressed")
	}
	if r := e.sf("DELETE", "/services/data/v60.0/sobjects/Contact/003D000000QV9n4IAD", nil, "Accept-Encoding", "gzip"); r.status != 204 || r.header.Get("Content-Encoding") != "" || len(r.body) != 0 {
		t.Errorf("204: %d %q %q", r.status, r.header.Get("Content-Encoding"), r.body)
	}
}

func TestGzipRequestBodiesAreAccepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(`{"operation":"query","query":"SELECT Id FROM Lead"}`))
	_ = zw.Close()
	r := e.sf("POST", "/services/data/v60.0/jobs/query", buf.Bytes(), "Content-Encoding", "gzip")
	if r.status != 200 || r.json(t).(map[string]any)["object"] != "Lead" {
		t.Fatalf("gzip body: %d %s", r.status, r.body)
	}
	if r := e.sf("POST", "/services/data/v60.0/jobs/query", []byte("not gzip"), "Content-Encoding", "gzip"); r.status != 400 {
		t.Errorf("broken gzip body: %d", r.status)
	}
	// The recorded body is what arrived on the wire.
	reqs := e.crm.Requests()
	if !bytes.Equal(reqs[0].Body, buf.Bytes()) {
		t.Error("recorded body is not the received bytes")
	}
}

func TestSOQLEvaluation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Records: 200})
	cases := []struct {
		name   string
		soql   string
		status int
		check  func(t *testing.T, body map[string]any)
	}{
		{"WHERE Id equality finds one", "SELECT Id, Name FROM Contact WHERE Id = '003D000000QV9n2IAD'", 200, wantTotal(1)},
		{"15-character id matches", "SELECT Id FROM Account WHERE Id = '001D000000IqhSL'", 200, wantTotal(1)},
		{"string equality ignores case", "SELECT Id FROM Contact WHERE Email = 'WANG.FANG@customer-corp.cn'", 200, wantTotal(1)},
		{"relationship path in WHERE", "SELECT Id, Account.Name FROM Contact WHERE Account.Name = 'Customer Corp' LIMIT 500", 200,
			func(t *testing.T, b map[string]any) {
				for _, r := range b["records"].([]any) {
					if r.(map[string]any)["Account"].(map[string]any)["Name"] != "Customer Corp" {
						t.Errorf("record %v", r)
					}
				}
			}},
		{"null comparison", "SELECT Id FROM Contact WHERE AccountId = null AND Email != null", 200, func(t *testing.T, b map[string]any) {
			if b["totalSize"].(float64) == 0 {
				t.Error("no contacts without an account")
			}
		}},
		{"LIKE and OR", "SELECT Id, Email FROM Contact WHERE Email LIKE 'wang.%' OR Email LIKE '%@customer-corp.cn'", 200, func(t *testing.T, b map[string]any) {
			for _, r := range b["records"].([]any) {
				em := r.(map[string]any)["Email"].(string)
				if !strings.HasPrefix(em, "wang.") && !strings.HasSuffix(em, "@customer-corp.cn") {
					t.Errorf("email %s", em)
				}
			}
		}},
		{"IN list", "SELECT Id FROM Lead WHERE Status IN ('Closed - Converted', 'Open - Not Contacted') LIMIT 3", 200, wantTotal(3)},
		{"numeric comparison and ORDER BY DESC", "SELECT Name, AnnualRevenue FROM Account WHERE AnnualRevenue > 1000000 ORDER BY AnnualRevenue DESC LIMIT 5", 200,
			func(t *testing.T, b map[string]any) {
				last := 1e18
				for _, r := range b["records"].([]any) {
					v := r.(map[string]any)["AnnualRevenue"].(float64)
					if v > last || v <= 1000000 {
						t.Errorf("revenue %v after %v", v, last)
					}
					last = v
				}
			}},
		{"OFFSET skips", "SELECT Id FROM Contact ORDER BY Id LIMIT 2 OFFSET 1", 200, wantTotal(2)},
		{"COUNT()", "SELECT COUNT() FROM Contact", 200, wantTotal(200)},
		{"COUNT(Id) alias gives an AggregateResult", "SELECT COUNT(Id) n FROM Opportunity", 200, func(t *testing.T, b map[string]any) {
			r := b["records"].([]any)[0].(map[string]any)
			if r["attributes"].(map[string]any)["type"] != "AggregateResult" || r["n"].(float64) != 40 {
				t.Errorf("aggregate %v", r)
			}
		}},
		{"FIELDS(ALL) selects every column", "SELECT FIELDS(ALL) FROM Contact LIMIT 1", 200, func(t *testing.T, b map[string]any) {
			r := b["records"].([]any)[0].(map[string]any)
			for _, f := range []string{"National_ID__c", "Bank_Account__c", "Birthdate", "MobilePhone", "OwnerId"} {
				if _, ok := r[f]; !ok {
					t.Errorf("FIELDS(ALL) lacks %s", f)
				}
			}
		}},
		{"keywords are case-insensitive", "select id from contact where email = 'wang.fang@customer-corp.cn' limit 1", 200, wantTotal(1)},
		{"unknown field", "SELECT Id, Salary__c FROM Contact", 400, wantError("INVALID_FIELD")},
		{"unknown relationship", "SELECT Boss.Email FROM Contact", 400, nil},
		{"unknown object", "SELECT Id FROM Spaceship", 400, nil},
		{"unknown child relationship", "SELECT Name, (SELECT Id FROM Spaceships) FROM Account", 400, nil},
		{"missing FROM", "SELECT Id, Email", 400, nil},
		{"unterminated string", "SELECT Id FROM Contact WHERE Email = 'x", 400, wantError("MALFORMED_QUERY")},
		{"GROUP BY with aliases and MAX", "SELECT LeadSource src, COUNT(Id) n, MAX(MobilePhone) FROM Contact GROUP BY LeadSource", 200,
			func(t *testing.T, b map[string]any) {
				recs := b["records"].([]any)
				total := 0.0
				for _, r := range recs {
					m := r.(map[string]any)
					if get := m["attributes"].(map[string]any)["type"]; get != "AggregateResult" || m["src"] == nil || m["expr0"] == nil {
						t.Errorf("record %v: want an AggregateResult keyed src, n, expr0", m)
					}
					if s, _ := m["expr0"].(string); len(s) < 8 {
						t.Errorf("MAX(MobilePhone) = %v, want a phone number", m["expr0"])
					}
					total += m["n"].(float64)
				}
				if len(recs) < 2 || total != 200 {
					t.Errorf("%d groups counting %v contacts, want several groups counting 200", len(recs), total)
				}
			}},
		{"an ungrouped field in an aggregate query", "SELECT Name, COUNT(Id) FROM Contact GROUP BY LeadSource", 400, wantError("MALFORMED_QUERY")},
		{"garbage", "DROP TABLE Contact", 400, wantError("MALFORMED_QUERY")},
		{"negative LIMIT", "SELECT Id FROM Contact LIMIT -1", 400, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.sf("GET", "/services/data/v60.0/query?q="+q(tc.soql), nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status != 200 {
				arr, ok := r.json(t).([]any)
				if !ok || len(arr) != 1 || arr[0].(map[string]any)["errorCode"] == nil || arr[0].(map[string]any)["message"] == nil {
					t.Fatalf("error body not in Salesforce shape: %s", r.body)
				}
				if tc.check != nil {
					tc.check(t, arr[0].(map[string]any))
				}
				return
			}
			if tc.check != nil {
				tc.check(t, r.json(t).(map[string]any))
			}
		})
	}
	if r := e.sf("GET", "/services/data/v60.0/query", nil); r.status != 400 {
		t.Errorf("query without q: %d", r.status)
	}
}

func wantTotal(n int) func(*testing.T, map[string]any) {
	return func(t *testing.T, b map[string]any) {
		t.Helper()
		if got := int(b["totalSize"].(float64)); got != n {
			t.Errorf("totalSize %d, want %d", got, n)
		}
		if recs, ok := b["records"].([]any); ok && len(recs) != n && n <= 2000 && !(len(recs) == 0 && n > 0) {
			t.Errorf("%d records, want %d", len(recs), n)
		}
	}
}

func wantError(code string) func(*testing.T, map[string]any) {
	return func(t *testing.T, b map[string]any) {
		t.Helper()
		if b["errorCode"] != code {
			t.Errorf("errorCode %v, want %s", b["errorCode"], code)
		}
	}
}

func TestWritesAreVisibleToReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.sf("POST", "/services/data/v60.0/sobjects/Contact", []byte(`{"LastName":"Testperson","FirstName":"Ada","Email":"ada@example.com","AccountId":"001D000000IqhSLIAZ"}`))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	created := r.json(t).(map[string]any)
	id := created["id"].(string)
	if created["success"] != true || len(created["errors"].([]any)) != 0 || !strings.HasPrefix(id, "003") || len(id) != 18 {
		t.Fatalf("create result %v", created)
	}
	get := func() map[string]any {
		r := e.sf("GET", "/services/data/v60.0/sobjects/Contact/"+id+"?fields=Email,Name,Account.Name", nil)
		if r.status != 200 {
			t.Fatalf("read: %d %s", r.status, r.body)
		}
		return r.json(t).(map[string]any)
	}
	if rec := get(); rec["Email"] != "ada@example.com" || rec["Name"] != "Ada Testperson" || rec["Account"].(map[string]any)["Name"] != "Customer Corp" {
		t.Errorf("created record %v", rec)
	}
	if r := e.sf("PATCH", "/services/data/v60.0/sobjects/Contact/"+id, []byte(`{"Email":null,"MobilePhone":"13912345678"}`)); r.status != 204 {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	if rec := get(); rec["Email"] != nil {
		t.Errorf("updated record %v", rec)
	}
	if r := e.sf("GET", "/services/data/v60.0/query?q="+q("SELECT Id FROM Contact WHERE MobilePhone = '13912345678'"), nil).json(t).(map[string]any); r["totalSize"] != 1.0 {
		t.Errorf("query after update: %v", r)
	}
	if r := e.sf("DELETE", "/services/data/v60.0/sobjects/Contact/"+id, nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	if r := e.sf("GET", "/services/data/v60.0/sobjects/Contact/"+id, nil); r.status != 404 {
		t.Errorf("read after delete: %d", r.status)
	}
	if r := e.sf("DELETE", "/services/data/v60.0/sobjects/Contact/"+id, nil); r.status != 404 {
		t.Errorf("second delete: %d", r.status)
	}
	cq := "SELECT Id, IsDeleted FROM Contact WHERE Id = '" + id + "'"
	if r := e.sf("GET", "/services/data/v60.0/query?q="+q(cq), nil).json(t).(map[string]any); r["totalSize"] != 0.0 {
		t.Errorf("query sees a deleted record: %v", r)
	}
	if r := e.sf("GET", "/services/data/v60.0/queryAll?q="+q(cq), nil).json(t).(map[string]any); r["totalSize"] != 1.0 ||
		r["records"].([]any)[0].(map[string]any)["IsDeleted"] != true {
		t.Errorf("queryAll: %v", r)
	}
	bad := []struct{ name, body, code string }{
		{"unknown field", `{"LastName":"X","Salary__c":1}`, "INVALID_FIELD"},
		{"read-only field", `{"LastName":"X","Id":"003x"}`, "INVALID_FIELD_FOR_INSERT_UPDATE"},
		{"missing required field", `{"Email":"x@example.com"}`, "REQUIRED_FIELD_MISSING"},
		{"dangling reference", `{"LastName":"X","AccountId":"001000000000000AAA"}`, "INVALID_CROSS_REFERENCE_KEY"},
		{"not JSON", `{"LastName":`, "JSON_PARSER_ERROR"},
		{"nested object", `{"LastName":{"a":1}}`, "JSON_PARSER_ERROR"},
	}
	for _, b := range bad {
		r := e.sf("POST", "/services/data/v60.0/sobjects/Contact", []byte(b.body))
		if r.status != 400 || !strings.Contains(string(r.body), b.code) {
			t.Errorf("%s: %d %s", b.name, r.status, r.body)
		}
	}
	// Upsert by external id field.
	if r := e.sf("PATCH", "/services/data/v60.0/sobjects/Lead/Email/new.lead@example.com", []byte(`{"LastName":"New","Company":"Acme"}`)); r.status != 201 {
		t.Errorf("upsert insert: %d %s", r.status, r.body)
	}
	if r := e.sf("PATCH", "/services/data/v60.0/sobjects/Lead/Email/new.lead@example.com", []byte(`{"Company":"Acme 2"}`)); r.status != 200 {
		t.Errorf("upsert update: %d %s", r.status, r.body)
	}
	if r := e.sf("GET", "/services/data/v60.0/sobjects/Lead/Email/new.lead@example.com?fields=Company", nil).json(t).(map[string]any); r["Company"] != "Acme 2" {
		t.Errorf("upserted lead %v", r)
	}
}

func TestZohoEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Records: 30})
	first := e.zoho("GET", "/crm/v2/Contacts?per_page=1", nil).json(t).(map[string]any)["data"].([]any)[0].(map[string]any)
	id := first["id"].(string)
	if owner := first["Owner"].(map[string]any); owner["email"] != "li.wei@seller.example" || owner["name"] != "Li Wei" {
		t.Errorf("Owner lookup %v", owner)
	}
	if r := e.zoho("GET", "/crm/v2/Contacts/"+id, nil).json(t).(map[string]any); r["data"].([]any)[0].(map[string]any)["id"] != id {
		t.Errorf("get by id %v", r)
	}
	if r := e.zoho("GET", "/crm/v2/Contacts/554023000399999999", nil); r.status != 204 {
		t.Errorf("missing record: %d", r.status)
	}
	if r := e.zoho("GET", "/crm/v2/Contacts/search?email=wang.fang@customer-corp.cn", nil).json(t).(map[string]any); len(r["data"].([]any)) != 1 {
		t.Errorf("search by email %v", r)
	}
	if r := e.zoho("GET", "/crm/v2/Contacts/search?criteria="+url.QueryEscape("(Last_Name:equals:Wang)"), nil).json(t).(map[string]any); len(r["data"].([]any)) < 1 {
		t.Errorf("search by criteria %v", r)
	}
	if r := e.zoho("GET", "/crm/v2/Contacts/search?word=zzzzzz", nil); r.status != 204 {
		t.Errorf("search without hits: %d", r.status)
	}
	if r := e.zoho("GET", "/crm/v2/Contacts/search", nil); r.status != 400 {
		t.Errorf("search without criteria: %d", r.status)
	}
	if r := e.zoho("GET", "/crm/v2/Spaceships", nil); r.status != 400 || !strings.Contains(string(r.body), "INVALID_MODULE") {
		t.Errorf("unknown module: %d %s", r.status, r.body)
	}
	users := e.zoho("GET", "/crm/v3/users", nil).json(t).(map[string]any)
	if n := len(users["users"].([]any)); n != 20 {
		t.Errorf("%d users", n)
	}
	for _, m := range []string{"Accounts", "Leads", "Deals"} {
		r := e.zoho("GET", "/crm/v5/"+m+"?per_page=3", nil)
		if r.status != 200 || len(r.json(t).(map[string]any)["data"].([]any)) != 3 {
			t.Errorf("%s: %d %.200s", m, r.status, r.body)
		}
	}
	// Create, then find it with COQL.
	r := e.zoho("POST", "/crm/v6/Contacts", []byte(`{"data":[{"Last_Name":"Neu","Email":"neu@example.de","Account_Name":{"id":"554023000200000001"}}]}`))
	if r.status != 201 || r.json(t).(map[string]any)["data"].([]any)[0].(map[string]any)["status"] != "success" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	coql := e.zoho("POST", "/crm/v6/coql", []byte(`{"select_query":"select Email, Account_Name.Account_Name, Owner from Contacts where Last_Name = 'Neu'"}`)).json(t).(map[string]any)
	rec := coql["data"].([]any)[0].(map[string]any)
	if rec["Email"] != "neu@example.de" || rec["Account_Name.Account_Name"] != "Customer Corp" || rec["id"] == nil {
		t.Errorf("coql %v", rec)
	}
	for name, body := range map[string]string{
		"missing mandatory field": `{"data":[{"Email":"x@example.com"}]}`,
		"unknown field":           `{"data":[{"Last_Name":"X","Salary":1}]}`,
		"empty data":              `{"data":[]}`,
		"not JSON":                `nope`,
	} {
		if r := e.zoho("POST", "/crm/v6/Contacts", []byte(body)); r.status != 400 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	for name, body := range map[string]string{
		"syntax":         `{"select_query":"select from"}`,
		"unknown column": `{"select_query":"select Salary from Contacts"}`,
		"unknown module": `{"select_query":"select id from Spaceships"}`,
		"no query":       `{}`,
	} {
		if r := e.zoho("POST", "/crm/v6/coql", []byte(body)); r.status != 400 || r.json(t).(map[string]any)["status"] != "error" {
			t.Errorf("coql %s: %d %s", name, r.status, r.body)
		}
	}
	if r := e.zoho("DELETE", "/crm/v6/Contacts?ids="+id, nil); r.status != 200 {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	if r := e.zoho("GET", "/crm/v6/Contacts/"+id, nil); r.status != 204 {
		t.Errorf("read after delete: %d", r.status)
	}
}

func TestZohoBulkReadZipHoldsOneCSV(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Records: 40})
	created := e.zoho("POST", "/crm/bulk/v6/read", readFixture(t, "zoho/bulk_read_create_request.json")).json(t).(map[string]any)
	id := created["data"].([]any)[0].(map[string]any)["details"].(map[string]any)["id"].(string)
	status := e.zoho("GET", "/crm/bulk/v6/read/"+id, nil).json(t)
	sameShape(t, "bulk status", status, fixtureJSON(t, "zoho/bulk_read_status.json"), false)
	result := status.(map[string]any)["data"].([]any)[0].(map[string]any)["result"].(map[string]any)
	dl := result["download_url"].(string)
	if dl != "/crm/bulk/v6/read/"+id+"/result" || result["count"] != 40.0 {
		t.Fatalf("result %v", result)
	}
	r := e.zoho("GET", dl, nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/zip" {
		t.Fatalf("result: %d %q", r.status, r.header.Get("Content-Type"))
	}
	zr, err := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != id+".csv" {
		t.Fatalf("zip holds %d files, first %q", len(zr.File), zr.File[0].Name)
	}
	f, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "Id,Last_Name,Email,Mobile,Owner" {
		t.Errorf("header %q", got)
	}
	if len(rows) != 41 {
		t.Errorf("%d rows, want 41", len(rows))
	}
	if r := e.zoho("GET", "/crm/bulk/v6/read/123/result", nil); r.status != 404 {
		t.Errorf("unknown job: %d", r.status)
	}
	if r := e.zoho("POST", "/crm/bulk/v6/read", []byte(`{"query":{"module":{"api_name":"Spaceships"}}}`)); r.status != 400 {
		t.Errorf("unknown module: %d", r.status)
	}
}

func TestRequestsAreRecorded(t *testing.T) {
	t.Parallel()
	var hooked []string
	e := newEnv(t, Options{OnRequest: func(r *http.Request) { hooked = append(hooked, r.URL.Path) }, MaxRecordedBody: 8})
	e.sf("POST", "/services/data/v60.0/composite/batch?x=1", readFixture(t, "salesforce/composite_batch_request.json"), "X-Custom", "yes")
	reqs := e.crm.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d recorded requests (composite sub-requests must not be recorded)", len(reqs))
	}
	got := reqs[0]
	if got.Method != "POST" || got.Path != "/services/data/v60.0/composite/batch" || got.RawQuery != "x=1" ||
		got.Authorization != "Bearer "+sfTok || got.Header.Get("Authorization") != "Bearer "+sfTok || got.Header.Get("X-Custom") != "yes" {
		t.Errorf("recorded %+v", got)
	}
	if string(got.Body) != "{\n  \"hal" || !got.BodyTruncated {
		t.Errorf("recorded body %q truncated=%v", got.Body, got.BodyTruncated)
	}
	if !slices.Equal(hooked, []string{"/services/data/v60.0/composite/batch"}) {
		t.Errorf("OnRequest saw %v", hooked)
	}
	e.crm.Reset()
	if len(e.crm.Requests()) != 0 {
		t.Error("Reset kept requests")
	}
	if r := e.sf("GET", "/services/data/v60.0/limits", nil); !strings.HasPrefix(r.header.Get("Sforce-Limit-Info"), "api-usage=1/") {
		t.Errorf("usage after Reset: %q", r.header.Get("Sforce-Limit-Info"))
	}
}

func TestRecordingIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{MaxRecorded: 3})
	for i := 0; i < 5; i++ {
		e.sf("GET", "/services/data/v60.0/limits?i="+itoa(i), nil)
	}
	reqs := e.crm.Requests()
	if len(reqs) != 3 || reqs[0].RawQuery != "i=2" || reqs[2].RawQuery != "i=4" {
		t.Errorf("kept %d, first %q", len(reqs), reqs[0].RawQuery)
	}
	off := newEnv(t, Options{MaxRecorded: -1})
	off.sf("GET", "/services/data/v60.0/limits", nil)
	if len(off.crm.Requests()) != 0 {
		t.Error("recording not disabled")
	}
}

func TestSlowUpstreamStreamsRecordByRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Records: 20})
	// With a one-hour pause between records, the first record can only
	// arrive if the response is streamed; cancelling ends the handler.
	for _, tc := range []struct{ name, path, auth, end string }{
		{"query", "/services/data/v60.0/query?q=" + q("SELECT Id FROM Contact"), "Bearer " + sfTok, "]}"},
		{"bulk results", "", "Bearer " + sfTok, "003SC0000000020"},
		{"zoho list", "/crm/v6/Contacts?fields=Email", "Zoho-oauthtoken " + zohoTok, `"info"`},
		{"report", "/services/data/v60.0/analytics/reports/00OD0000001cxIEMAY?includeDetails=true", "Bearer " + sfTok, "aggregates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.path
			if target == "" {
				id := e.sf("POST", "/services/data/v60.0/jobs/query", []byte(`{"operation":"query","query":"SELECT Id FROM Contact"}`)).json(t).(map[string]any)["id"].(string)
				target = "/services/data/v60.0/jobs/query/" + id + "/results"
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+target, nil)
			req.Header.Set("Authorization", tc.auth)
			req.Header.Set("X-Samplecrm-Slow", "1h")
			res, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			buf := make([]byte, 0, 4096)
			for !bytes.Contains(buf, []byte("003D000000QV9n2IAD")) && !bytes.Contains(buf, []byte("554023000300000001")) && !bytes.Contains(buf, []byte(`"Fang"`)) {
				chunk := make([]byte, 512)
				n, err := res.Body.Read(chunk)
				buf = append(buf, chunk[:n]...)
				if err != nil {
					t.Fatalf("read: %v after %q", err, buf)
				}
			}
			if bytes.Contains(buf, []byte(tc.end)) {
				t.Errorf("the whole body arrived at once: %q", buf)
			}
			cancel()
		})
	}
}

func TestLargeQueryStreamsAllRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Records: 5000, PageSize: 250000})
	req, _ := http.NewRequest("GET", e.srv.URL+"/services/data/v60.0/query?q="+q("SELECT Id, Name, Email, Account.Owner.Email FROM Contact LIMIT 200000"), nil)
	req.Header.Set("Authorization", "Bearer "+sfTok)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.ContentLength != -1 {
		t.Errorf("Content-Length %d: the body was buffered, not streamed", res.ContentLength)
	}
	var body struct {
		TotalSize int              `json:"totalSize"`
		Done      bool             `json:"done"`
		Records   []map[string]any `json:"records"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.TotalSize != 5000 || !body.Done || len(body.Records) != 5000 {
		t.Errorf("totalSize %d done %v records %d", body.TotalSize, body.Done, len(body.Records))
	}
}

func TestOtherSalesforceEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	cases := []struct {
		name, method, path string
		body               string
		status             int
		contains           string
	}{
		{"versions", "GET", "/services/data/", "", 200, `"version":"60.0"`},
		{"resources", "GET", "/services/data/v62.0/", "", 200, `"sobjects"`},
		{"sobjects list", "GET", "/services/data/v60.0/sobjects", "", 200, `"name":"Opportunity"`},
		{"sobject basic info", "GET", "/services/data/v60.0/sobjects/Case", "", 200, `"objectDescribe"`},
		{"describe", "GET", "/services/data/v60.0/sobjects/Contact/describe", "", 200, `"relationshipName":"Account"`},
		{"object names are case-insensitive", "GET", "/services/data/v60.0/sobjects/contact/003D000000QV9n2IAD?fields=Email", "", 200, `"type":"Contact"`},
		{"parent relationship path", "GET", "/services/data/v60.0/sobjects/Contact/003D000000QV9n2IAD/Account", "", 200, `"Name":"Customer Corp"`},
		{"child relationship path", "GET", "/services/data/v60.0/sobjects/Account/001D000000IqhSLIAZ/Contacts", "", 200, `"totalSize"`},
		{"limits", "GET", "/services/data/v60.0/limits", "", 200, `"DailyApiRequests"`},
		{"unknown record", "GET", "/services/data/v60.0/sobjects/Contact/003D000000QV9zzIAD", "", 404, "NOT_FOUND"},
		{"unknown object", "GET", "/services/data/v60.0/sobjects/Spaceship/x", "", 404, "NOT_FOUND"},
		{"bad version", "GET", "/services/data/60/query?q=x", "", 404, "NOT_FOUND"},
		{"unknown resource", "GET", "/services/data/v60.0/tooling/query", "", 404, "NOT_FOUND"},
		{"Apex REST is unknown", "GET", "/services/apexrest/foo", "", 404, "NOT_FOUND"},
		{"method not allowed", "DELETE", "/services/data/v60.0/query?q=x", "", 405, "METHOD_NOT_ALLOWED"},
		{"collection without fields", "GET", "/services/data/v60.0/composite/sobjects/Contact?ids=003D000000QV9n2IAD", "", 400, "INVALID_FIELD"},
		{"collection by POST", "POST", "/services/data/v60.0/composite/sobjects/Contact", `{"ids":["003D000000QV9n2IAD"],"fields":["Email"]}`, 200, "wang.fang"},
		{"collection create", "POST", "/services/data/v60.0/composite/sobjects", `{"records":[{"attributes":{"type":"Account"},"Name":"New Co"},{"attributes":{"type":"Nope"}}]}`, 200, `"success":false`},
		{"composite with broken JSON", "POST", "/services/data/v60.0/composite", `{"compositeRequest":`, 400, "JSON_PARSER_ERROR"},
		{"composite with too many", "POST", "/services/data/v60.0/composite", `{"compositeRequest":[]}`, 400, "INVALID_BATCH_REQUEST"},
		{"composite sub-request outside the API", "POST", "/services/data/v60.0/composite", `{"compositeRequest":[{"method":"GET","url":"/services/apexrest/x","referenceId":"a"}]}`, 200, `"httpStatusCode":400`},
		{"SOSL without RETURNING", "GET", "/services/data/v60.0/search?q=" + q("FIND {Customer Corp}"), "", 200, `"type":"Account"`},
		{"SOSL malformed", "GET", "/services/data/v60.0/search?q=" + q("SEARCH x"), "", 400, "MALFORMED_SEARCH"},
		{"GraphQL with where, cursor and pageInfo", "POST", "/services/data/v60.0/graphql", `{"query":"query { uiapi { query { Contact(first: 1, where: {Email: {like: \"wang%\"}}) { edges { cursor node { Id Email { value displayValue } Owner { Email { value } } } } pageInfo { hasNextPage endCursor } totalCount } } } }"}`, 200, `"hasNextPage"`},
		{"GraphQL unknown field", "POST", "/services/data/v60.0/graphql", `{"query":"{ uiapi { query { Contact { edges { node { Salary { value } } } } } } }"}`, 200, `"errors":[{"message"`},
		{"GraphQL syntax error", "POST", "/services/data/v60.0/graphql", `{"query":"{ uiapi { query { Contact ( { } } }"}`, 200, `"data":null`},
		{"GraphQL mutation refused", "POST", "/services/data/v60.0/graphql", `{"query":"mutation { x }"}`, 200, `"data":null`},
		{"report without details", "GET", "/services/data/v60.0/analytics/reports/00OD0000001cxIEMAY", "", 200, `"rows":[]`},
		{"unknown report", "GET", "/services/data/v60.0/analytics/reports/nope", "", 404, "NOT_FOUND"},
		{"bulk job with subquery refused", "POST", "/services/data/v60.0/jobs/query", `{"operation":"query","query":"SELECT Name, (SELECT Id FROM Contacts) FROM Account"}`, 400, "INVALIDJOB"},
		{"bulk job with bad operation", "POST", "/services/data/v60.0/jobs/query", `{"operation":"delete","query":"SELECT Id FROM Account"}`, 400, "INVALIDJOB"},
		{"bulk job with bad SOQL", "POST", "/services/data/v60.0/jobs/query", `{"operation":"query","query":"SELECT Nope FROM Account"}`, 400, "INVALID_FIELD"},
		{"bulk ingest not served", "POST", "/services/data/v60.0/jobs/ingest", `{}`, 404, "NOT_FOUND"},
		{"unknown bulk job", "GET", "/services/data/v60.0/jobs/query/750000000000000AAA", "", 404, "NOT_FOUND"},
		{"token endpoint without client", "POST", "/services/oauth2/token", "", 400, "invalid_client_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			r := e.sf(tc.method, tc.path, body)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.contains) {
				t.Errorf("status %d (want %d), body %.500s (want %q)", r.status, tc.status, r.body, tc.contains)
			}
		})
	}
}

func TestGeneratedDataIsDeterministicAndValid(t *testing.T) {
	t.Parallel()
	a, b, c := New(Options{Records: 300, Seed: 42}), New(Options{Records: 300, Seed: 42}), New(Options{Records: 300, Seed: 43})
	rowsOf := func(s *Server) []*row { return s.objects["contact"].snapshot().rows }
	same, differ := true, false
	for i, r := range rowsOf(a) {
		if !slices.Equal(r.v, rowsOf(b)[i].v) {
			same = false
		}
		if !slices.Equal(r.v, rowsOf(c)[i].v) {
			differ = true
		}
	}
	if !same || !differ {
		t.Errorf("same seed same data: %v; other seed other data: %v", same, differ)
	}
	o := a.objects["contact"]
	nid, bank, birth := o.field("National_ID__c").col, o.field("Bank_Account__c").col, o.field("Birthdate").col
	ids, hanzi, western := 0, 0, 0
	emails := map[string]bool{}
	for _, r := range rowsOf(a) {
		if v := r.v[nid]; v != "" {
			ids++
			if len(v) != 18 || nationalIDCheck(v[:17]) != v[17:] {
				t.Errorf("national id %s has a bad check character", v)
			}
			if bd := r.v[birth]; bd != "" && strings.ReplaceAll(bd, "-", "") != v[6:14] {
				t.Errorf("national id %s does not match birthdate %s", v, bd)
			}
		} else {
			western++
		}
		if v := r.v[bank]; luhnCheck(v[:len(v)-1]) != v[len(v)-1:] {
			t.Errorf("bank account %s fails Luhn", v)
		}
		if strings.ContainsAny(r.v[o.field("Name").col], "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗") {
			hanzi++
		}
		if em := r.v[o.field("Email").col]; em != "" {
			if emails[em] {
				t.Errorf("duplicate email %s", em)
			}
			emails[em] = true
		}
	}
	if ids == 0 || hanzi == 0 || western == 0 {
		t.Errorf("national ids %d, hanzi names %d, western names %d", ids, hanzi, western)
	}
	if n := len(a.objects["account"].snapshot().rows); n != 30 {
		t.Errorf("%d accounts, want 30", n)
	}
}

func TestIDSuffixMatchesSalesforce(t *testing.T) {
	t.Parallel()
	// Known 15 -> 18 conversions.
	for in, want := range map[string]string{
		"001D000000IqhSL": "IAZ",
		"003D000000QV9n2": "IAD",
		"005D0000001KyEI": "IA0",
	} {
		if got := idSuffix(in); got != want {
			t.Errorf("idSuffix(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestFailureKnobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for _, tc := range []struct {
		path, auth, status, want string
	}{
		{"/services/data/v60.0/limits", "Bearer " + sfTok, "503", `"errorCode":"SERVER_UNAVAILABLE"`},
		{"/services/data/v60.0/limits", "Bearer " + sfTok, "429", `"errorCode":"REQUEST_LIMIT_EXCEEDED"`},
		{"/crm/v6/users", "Zoho-oauthtoken " + zohoTok, "500", `"code":"INTERNAL_ERROR"`},
	} {
		r := e.do("GET", tc.path, tc.auth, nil, "X-Samplecrm-Status", tc.status)
		if itoa(r.status) != tc.status || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s with status %s: %d %s", tc.path, tc.status, r.status, r.body)
		}
	}
	if r := e.do("GET", "/services/data/v60.0/limits", "Bearer wrong", nil, "X-Samplecrm-Status", "503"); r.status != 401 {
		t.Errorf("the token is checked before a forced failure: %d", r.status)
	}
	// Abort after 5 records: the client sees a broken body, not a clean end.
	for _, accept := range []string{"identity", "gzip"} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/services/data/v60.0/query?q="+q("SELECT Id FROM Contact"), nil)
		req.Header.Set("Authorization", "Bearer "+sfTok)
		req.Header.Set("X-Samplecrm-Abort-After", "5")
		req.Header.Set("Accept-Encoding", accept)
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil {
			t.Errorf("%s: body read to a clean end despite the abort", accept)
		}
	}
}
