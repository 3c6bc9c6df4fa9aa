package ratelimit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/crmgw/crmgw/ratelimit"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// The proxy's use: Allow before the CRM, cap max_records, Record after.
func Example() {
	l, err := ratelimit.New(ratelimit.Config{
		Limits: []ratelimit.LimitConfig{{Name: "per-subject", Key: "subject", Rate: 20, Per: time.Second, Burst: 40}},
		Quotas: []ratelimit.QuotaConfig{{Name: "export-per-day", Records: 10000, Window: 24 * time.Hour, Categories: []string{"export", "bulk"}}},
	}, prometheus.NewRegistry(), zap.NewNop())
	if err != nil {
		panic(err)
	}
	defer l.Close()
	ctx := context.Background()
	req := ratelimit.Request{Subject: "00u1", IP: "10.20.1.7", Upstream: "salesforce", Operation: "bulk_result", Category: "export"}

	res, _ := l.Allow(ctx, req)
	if !res.Allowed {
		fmt.Println("429, Retry-After:", res.Headers.Get("Retry-After"))
		return
	}
	maxRecords := int64(2000) // the policy's max_records
	if res.RemainingRecords >= 0 {
		maxRecords = min(maxRecords, res.RemainingRecords)
	}
	fmt.Println("max_records:", maxRecords)
	fmt.Println(res.Headers.Get("RateLimit-Policy"))
	fmt.Println(res.Headers.Get("RateLimit"))

	_ = l.Record(ctx, req, 1500) // what actually left
	res, _ = l.Allow(ctx, req)
	fmt.Println("remaining:", res.RemainingRecords, "usage:", res.Usage.Records["24h"], "records,", res.Usage.Requests["1m"], "requests")
	// Output:
	// max_records: 2000
	// "per-subject";q=40;w=1
	// "per-subject";r=39;t=1
	// remaining: 8500 usage: 1500 records, 2 requests
}
