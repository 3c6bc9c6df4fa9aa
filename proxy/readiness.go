package proxy

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// reloadState remembers the outcome of policy reloads for /readyz and
// /metrics: a refused reload leaves the previous revision in force, which
// is safe but must be visible (docs/audit.md "Readiness").
type reloadState struct {
	mu       sync.Mutex
	ok, fail float64
	lastErr  string
	lastAt   time.Time

	// The last configuration reload (SIGHUP) refused, and when: zero once
	// one is applied. Only the count of problems is kept for /readyz,
	// which needs no token: the problems themselves, which may quote the
	// file, are in the log.
	configProblems int
	configAt       time.Time
}

// noteConfigReload records the outcome of a configuration reload: the
// number of problems that refused it, 0 when it was applied.
func (g *Gateway) noteConfigReload(problems int) {
	g.reloads.mu.Lock()
	defer g.reloads.mu.Unlock()
	g.reloads.configProblems, g.reloads.configAt = problems, time.Now().UTC()
}

// configReloadDegraded is the /readyz entry of a refused configuration
// reload, or "".
func (g *Gateway) configReloadDegraded() string {
	g.reloads.mu.Lock()
	defer g.reloads.mu.Unlock()
	if g.reloads.configProblems == 0 {
		return ""
	}
	return fmt.Sprintf("last configuration reload refused at %s (%d problems, named in the log); the running configuration stays",
		g.reloads.configAt.Format(time.RFC3339), g.reloads.configProblems)
}

// NoteReload records the outcome of a policy reload (Server.Reload calls
// it; the engine keeps the previous revision when err is not nil).
func (g *Gateway) NoteReload(err error) {
	g.reloads.mu.Lock()
	defer g.reloads.mu.Unlock()
	g.reloads.lastAt = time.Now().UTC()
	if err != nil {
		g.reloads.fail++
		g.reloads.lastErr = err.Error()
		return
	}
	g.reloads.ok++
	g.reloads.lastErr = ""
}

// reloadDegraded is the /readyz entry of a refused reload, or "".
func (g *Gateway) reloadDegraded() string {
	g.reloads.mu.Lock()
	defer g.reloads.mu.Unlock()
	if g.reloads.lastErr == "" {
		return ""
	}
	return "last reload refused at " + g.reloads.lastAt.Format(time.RFC3339) +
		", the previous revision stays in force: " + g.reloads.lastErr
}

// healthCollector exposes, computed at each scrape so they never go stale:
// crmgw_policy_reloads_total{result}, crmgw_policy_revision_info{revision},
// crmgw_ready and crmgw_degraded{check} (1 per degraded state /readyz
// reports).
type healthCollector struct {
	g                              *Gateway
	reloads, revision, ready, degr *prometheus.Desc
}

// HealthCollector returns the collector of readiness and policy reload
// metrics, for the registry the admin listener serves.
func (g *Gateway) HealthCollector() prometheus.Collector {
	return &healthCollector{g: g,
		reloads:  prometheus.NewDesc("crmgw_policy_reloads_total", "Policy reloads by result (ok, refused).", []string{"result"}, nil),
		revision: prometheus.NewDesc("crmgw_policy_revision_info", "The policy revision in force (value 1).", []string{"revision"}, nil),
		ready:    prometheus.NewDesc("crmgw_ready", "1 when /readyz answers 200.", nil, nil),
		degr:     prometheus.NewDesc("crmgw_degraded", "Degraded states /readyz reports (value 1 each); none when all is well.", []string{"check"}, nil),
	}
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.reloads
	ch <- c.revision
	ch <- c.ready
	ch <- c.degr
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	c.g.reloads.mu.Lock()
	ok, fail := c.g.reloads.ok, c.g.reloads.fail
	c.g.reloads.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, ok, "ok")
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, fail, "refused")
	ch <- prometheus.MustNewConstMetric(c.revision, prometheus.GaugeValue, 1, c.g.decider.Revision())
	rep := c.g.readiness(nil)
	ready := 0.0
	if rep.Ready {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready)
	for k := range rep.Degraded {
		ch <- prometheus.MustNewConstMetric(c.degr, prometheus.GaugeValue, 1, k)
	}
}
