package identity

import "sync/atomic"

// Fetch failures, for crmgw_identity_fetch_failures_total (docs/identity.md,
// "Metrics"): every failed OIDC discovery or JWKS fetch, and every failed
// request for the gateway's own CRM token. Process-wide counters: a reload
// builds new issuers and credentials, and the counts must go on.
var (
	jwksFailures  atomic.Uint64
	tokenFailures atomic.Uint64
)

// FetchFailures returns how many OIDC discovery or JWKS fetches and how
// many upstream token requests have failed since the process started.
func FetchFailures() (jwks, token uint64) {
	return jwksFailures.Load(), tokenFailures.Load()
}
