package proxy

import "net/http"

// notFound answers a request on a bulk job that is not the caller's
// (another subject's, or never created through the gateway) the way the
// CRM answers a job that does not exist, so the caller learns nothing of
// the job, and forwards nothing (docs/classification.md, "Bulk job
// lifecycle"). It is audited as a denial.
func (g *Gateway) notFound(rw http.ResponseWriter, x *exchange, crmType string) {
	code, reason := "NOT_FOUND", "The requested resource does not exist"
	if crmType == "zoho" {
		code, reason = "RESOURCE_NOT_FOUND", "the requested resource does not exist"
	}
	g.reject(rw, x, crmType, http.StatusNotFound, outcomeDenied, code, reason)
}
