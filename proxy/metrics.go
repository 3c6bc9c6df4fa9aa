package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's own Prometheus series; the stages register
// theirs (rate-limit rejections, audit queue depth) on the same registry.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	records  *prometheus.CounterVec
	masked   *prometheus.CounterVec
	ops      *opsMetrics // metrics_ops.go
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "crmgw", Name: "requests_total",
			Help: "Requests by upstream, CRM operation, outcome (allowed, denied, rate_limited, unauthenticated, rejected, failed) and status code.",
		}, []string{"upstream", "operation", "decision", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "crmgw", Name: "request_duration_seconds",
			Help:    "Time from request to the last byte of the response, by upstream and operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"upstream", "operation"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "crmgw", Name: "records_out_total",
			Help: "Records that left the gateway towards callers, by upstream and category.",
		}, []string{"upstream", "category"}),
		masked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "crmgw", Name: "masked_fields_total",
			Help: "Responses in which a field was masked, by Object.Field.",
		}, []string{"field"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.records, m.masked)
	}
	m.ops = newOpsMetrics(reg)
	return m
}
