package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmgw/crmgw/identity"
)

// statsCollector exposes counters the stages keep themselves, read at each
// scrape (docs/deploy.md "Metrics"):
// crmgw_policy_decision_cache_total{result="hit|miss"} and
// crmgw_identity_fetch_failures_total{kind="jwks|upstream_token"}. The
// stages count with atomics and know nothing of Prometheus.
type statsCollector struct {
	g            *Gateway
	cache, fetch *prometheus.Desc
}

// cacheStats is what the policy engine says of its decision cache.
type cacheStats interface {
	CacheStats() (hits, misses uint64)
}

// StatsCollector returns the collector of the decision cache's hits and of
// identity fetch failures, for the registry the admin listener serves.
func (g *Gateway) StatsCollector() prometheus.Collector {
	return &statsCollector{g: g,
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
	if cs, ok := c.g.decider.(cacheStats); ok {
		hits, misses := cs.CacheStats()
		ch <- prometheus.MustNewConstMetric(c.cache, prometheus.CounterValue, float64(hits), "hit")
		ch <- prometheus.MustNewConstMetric(c.cache, prometheus.CounterValue, float64(misses), "miss")
	}
	jwks, token := identity.FetchFailures()
	ch <- prometheus.MustNewConstMetric(c.fetch, prometheus.CounterValue, float64(jwks), "jwks")
	ch <- prometheus.MustNewConstMetric(c.fetch, prometheus.CounterValue, float64(token), "upstream_token")
}
