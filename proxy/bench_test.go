package proxy

import (
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// BenchmarkGatewayQuery200 sends the load benchmark's request through the
// whole gateway over loopback, one request per op: a 200-record Contact
// query with each record's Account and its Owner, from an OIDC JWT caller,
// decided by the default policies, masked, counted against memory rate
// limits and a quota, audited to a file. The figure includes the sample
// CRM and the client, which share this process (examples/loadbench runs
// them apart, and compares the gateway with a direct connection).
func BenchmarkGatewayQuery200(b *testing.B) {
	e := newEnv(b, envOptions{records: 200, limits: `ratelimit:
  store: memory
  limits:
    - {name: per-subject, key: subject, rate: 1000000, per: 1s, burst: 1000000}
    - {name: per-ip, key: ip, rate: 1000000, per: 1s, burst: 1000000}
  preauth:
    per_ip: {rate: 1000000, per: 1s}
    global: {rate: 1000000, per: 1s}
  quotas:
    - {name: export-per-day, key: subject, records: 100000000, window: 24h, categories: [export, bulk]}
`})
	tok := bearer(e.issuer.Sign(map[string]any{
		"iss": e.issuer.URL(), "sub": "00u-bench", "aud": audience, "email": "rep@example.com", "roles": []string{"sales_rep"},
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	}))
	path := "/services/data/v60.0/query?q=" + url.QueryEscape(
		"SELECT Id, Name, Email, MobilePhone, Phone, Birthdate, Account.Name, Account.Owner.Email FROM Contact LIMIT 200")
	req, err := http.NewRequest("GET", e.base+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", tok)
	buf := make([]byte, 64<<10)
	get := func() int64 {
		resp, err := e.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("status %d, %d bytes: %v", resp.StatusCode, n, err)
		}
		return n
	}
	b.SetBytes(get()) // also warms the identity, policy and rule caches
	b.ReportAllocs()
	for b.Loop() {
		get()
	}
}
