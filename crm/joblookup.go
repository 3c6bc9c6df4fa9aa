package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// jobLookupTimeout bounds one job lookup: it runs while the caller's
// request waits for its classification.
const jobLookupTimeout = 10 * time.Second

// LookupJob asks the CRM at base which object a bulk job reads, for jobs the
// gateway has not seen created (another replica, or before a restart). rt
// carries the gateway's own credential; the caller's policy decision still
// applies to the object found. kind is one of Options.LookupJob's kinds:
// "bulk2_query" and "bulk2_ingest" (Salesforce Bulk API 2.0 job info,
// "object"), "zoho_bulk_read" (Zoho bulk read job details,
// data[0].query.module.api_name). Bulk API 1.0 job info is XML unless the
// job was JSON, so "bulk1" is not looked up: an unknown Bulk 1.0 job stays
// unknown (denied). A job id that could leave its path segment, a status
// other than 200, or an answer without an object is an error.
func LookupJob(ctx context.Context, base *url.URL, rt http.RoundTripper, kind, jobID string) (string, error) {
	if jobID == "" || strings.ContainsAny(jobID, "/?#%") {
		return "", errors.New("job lookup: invalid job id")
	}
	var p string
	switch kind {
	case "bulk2_query":
		p = "/services/data/v60.0/jobs/query/" + jobID
	case "bulk2_ingest":
		p = "/services/data/v60.0/jobs/ingest/" + jobID
	case "zoho_bulk_read":
		p = "/crm/bulk/v6/read/" + jobID
	default:
		return "", fmt.Errorf("job lookup not supported for %q", kind)
	}
	ctx, cancel := context.WithTimeout(ctx, jobLookupTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base.String(), "/")+p, nil)
	if err != nil {
		return "", err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("job lookup: upstream status %d", resp.StatusCode)
	}
	var job struct {
		Object string `json:"object"`
		Data   []struct {
			Query struct {
				Module struct {
					APIName string `json:"api_name"`
				} `json:"module"`
			} `json:"query"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&job); err != nil {
		return "", fmt.Errorf("job lookup: %w", err)
	}
	if job.Object != "" {
		return job.Object, nil
	}
	if len(job.Data) > 0 && job.Data[0].Query.Module.APIName != "" {
		return job.Data[0].Query.Module.APIName, nil
	}
	return "", errors.New("job lookup: no object in the job")
}
