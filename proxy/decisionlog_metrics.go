package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmgw/crmgw/policy"
)

// registerDecisionLogMetrics exposes the policy decision log's counters
// (docs/policies.md "Decision logs") as
// crmgw_policy_decision_log_entries_total{outcome="written|dropped|failed"}.
func registerDecisionLogMetrics(reg prometheus.Registerer, e *policy.Engine) {
	if reg == nil {
		return
	}
	for _, outcome := range []string{"written", "dropped", "failed"} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "crmgw", Name: "policy_decision_log_entries_total",
			Help:        "Decision-log entries by outcome: written, dropped (queue full or after shutdown) or failed (write error).",
			ConstLabels: prometheus.Labels{"outcome": outcome},
		}, func() float64 {
			s := e.DecisionLogStats()
			switch outcome {
			case "written":
				return float64(s.Written)
			case "dropped":
				return float64(s.Dropped)
			}
			return float64(s.Failed)
		}))
	}
}
