package crm

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/crmgw/crmgw/examples/samplecrm"
)

const (
	lookupSFToken   = "sf-lookup-token"
	lookupZohoToken = "zoho-lookup-token"
)

// credTransport is the gateway's credential towards the sample CRM.
type credTransport struct{ header string }

func (c credTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", c.header)
	return http.DefaultTransport.RoundTrip(r)
}

// createJob creates a bulk job directly on the sample CRM and returns its id.
func createJob(t *testing.T, base, auth, path, body string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := credTransport{auth}.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("create %s: %d %s", path, resp.StatusCode, b)
	}
	var job struct {
		ID   string `json:"id"`
		Data []struct {
			Details struct {
				ID string `json:"id"`
			} `json:"details"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &job); err != nil {
		t.Fatalf("create %s: %v in %s", path, err, b)
	}
	if job.ID == "" && len(job.Data) > 0 {
		job.ID = job.Data[0].Details.ID
	}
	if job.ID == "" {
		t.Fatalf("create %s: no job id in %s", path, b)
	}
	return job.ID
}

// LookupJob reads the object of a Salesforce Bulk 2.0 query job and of a
// Zoho bulk read job from the CRM's real job answers over HTTP.
func TestLookupJobReadsTheJobsObjectFromTheCRM(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(samplecrm.New(samplecrm.Options{Records: 5, Seed: 1, SalesforceToken: lookupSFToken, ZohoToken: lookupZohoToken}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL + "/") // a trailing slash on the configured URL is not doubled
	sf := credTransport{"Bearer " + lookupSFToken}
	zoho := credTransport{"Zoho-oauthtoken " + lookupZohoToken}
	ctx := context.Background()

	sfJob := createJob(t, srv.URL, sf.header, "/services/data/v60.0/jobs/query", `{"operation":"query","query":"SELECT Id, Email FROM Contact"}`)
	if obj, err := LookupJob(ctx, base, sf, "bulk2_query", sfJob); err != nil || obj != "Contact" {
		t.Errorf("bulk2_query %s = %q, %v; want Contact", sfJob, obj, err)
	}
	zJob := createJob(t, srv.URL, zoho.header, "/crm/bulk/v6/read", `{"query":{"module":{"api_name":"Leads"}}}`)
	if obj, err := LookupJob(ctx, base, zoho, "zoho_bulk_read", zJob); err != nil || obj != "Leads" {
		t.Errorf("zoho_bulk_read %s = %q, %v; want Leads", zJob, obj, err)
	}

	for _, c := range []struct {
		name, kind, id string
		rt             http.RoundTripper
		wantErr        string
	}{
		{"a job the CRM does not have", "bulk2_query", "750R0000000zzzzIAA", sf, "upstream status 404"},
		{"the gateway's credential refused", "bulk2_query", sfJob, credTransport{"Bearer wrong"}, "upstream status 401"},
		{"a Bulk 1.0 job (XML job info) is never looked up", "bulk1", "750R0000000zlh9IAA", sf, `not supported for "bulk1"`},
		{"an unknown kind", "bulk3", sfJob, sf, `not supported for "bulk3"`},
		{"an id leaving its path segment", "bulk2_query", sfJob + "/../../sobjects/Account", sf, "invalid job id"},
		{"an id with a query", "bulk2_query", sfJob + "?x=1", sf, "invalid job id"},
		{"an encoded id", "bulk2_query", "750%2F", sf, "invalid job id"},
		{"an empty id", "bulk2_query", "", sf, "invalid job id"},
	} {
		obj, err := LookupJob(ctx, base, c.rt, c.kind, c.id)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: %q, %v; want an error with %q", c.name, obj, err, c.wantErr)
		}
	}
}

// An answer that names no object is an error, never an empty object.
func TestLookupJobWithoutAnObjectIsAnError(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"id":"750R0000000zlh9IAA","state":"JobComplete"}`, `{"data":[]}`, `not json`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body)
		}))
		base, _ := url.Parse(srv.URL)
		obj, err := LookupJob(context.Background(), base, http.DefaultTransport, "bulk2_ingest", "750R0000000zlh9IAA")
		srv.Close()
		if err == nil || !strings.HasPrefix(err.Error(), "job lookup:") {
			t.Errorf("answer %s: %q, %v; want a job lookup error", body, obj, err)
		}
	}
}

// Wired as Options.LookupJob with AdoptUnboundJobs, a job created on the
// CRM outside the gateway is classified with the object the CRM names.
func TestAdoptedJobTakesTheObjectTheCRMNames(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(samplecrm.New(samplecrm.Options{Records: 5, Seed: 1, SalesforceToken: lookupSFToken}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	rt := credTransport{"Bearer " + lookupSFToken}
	c := newTestClassifier(t, "salesforce", Options{AdoptUnboundJobs: true, LookupJob: func(ctx context.Context, kind, id string) (string, error) {
		return LookupJob(ctx, base, rt, kind, id)
	}})
	job := createJob(t, srv.URL, rt.header, "/services/data/v60.0/jobs/query", `{"operation":"query","query":"SELECT Id, Name FROM Account"}`)
	checkResult(t, classify(t, c, "bob", "GET", "/services/data/v60.0/jobs/query/"+job+"/results", "", ""),
		want{op: OpBulkResult, cat: CatExport, object: "Account", allFields: true, format: "csv"})
	checkResult(t, classify(t, c, "bob", "GET", "/services/data/v60.0/jobs/query/750R0000000zzzzIAA/results", "", ""), want{op: OpUnknown})
}
