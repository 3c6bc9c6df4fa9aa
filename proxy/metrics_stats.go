package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmgw/crmgw/identity"
	"github.com/crmgw/crmgw/policy"
)

// statsCollector exposes counters the stages keep themselves, read at each
// scrape (docs/deploy.md "Metrics"):
// crmgw_policy_decision_cache_total{result="hit|miss"} and
// crmgw_identity_fetch_failures_total{kind="jwks|upstream_token"}. The
// stages count with atomics and know nothing of Prometheus.
type statsCollector struct {
	engine       *policy.Engine
	cache, fetch *prometheus.Desc
}

// newStatsCollector returns the collector of the decision cache's hits and
// of identity fetch failures, for the registry the admin listener serves.
// It reads the engine itself: the gateway's decider may be the tracing
// decorator around it.
func newStatsCollector(e *policy.Engine) prometheus.Collector {
	return &statsCollector{engine: e,
		cache: prometheus.NewDesc("crmgw_policy_decision_cache_total",
			"Policy decisions taken from the decision cache (hit) and cacheable ones evaluated (miss).", []string{"result"}, nil),
		fetch: prometheus.NewDesc("crmgw_identity_fetch_failures_total",
			"Failed OIDC discovery or JWKS fetches (jwks) and failed requests for the gateway's CRM token (upstream_token).", []string{"kind"}, nil),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.cache
	ch <- c.fetch
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	hits, misses := c.engine.CacheStats()
	ch <- prometheus.MustNewConstMetric(c.cache, prometheus.CounterValue, float64(hits), "hit")
	ch <- prometheus.MustNewConstMetric(c.cache, prometheus.CounterValue, float64(misses), "miss")
	jwks, token := identity.FetchFailures()
	ch <- prometheus.MustNewConstMetric(c.fetch, prometheus.CounterValue, float64(jwks), "jwks")
	ch <- prometheus.MustNewConstMetric(c.fetch, prometheus.CounterValue, float64(token), "upstream_token")
}
