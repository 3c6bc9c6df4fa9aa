package proxy

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmgw/crmgw/internal/buildinfo"
)

// Operational series (docs/deploy.md "Metrics"): what runs, how busy it is,
// and the bound on label values that come from outside the configuration.

// maxFieldLabels bounds the distinct Object.Field values of
// crmgw_masked_fields_total. Field names come from the CRM's responses and
// the policy's wildcards (*.SSN__c matches every object that has one), so
// their number is the CRM's to decide; past the bound they count as
// "other" and the series set stays bounded.
const maxFieldLabels = 1000

// opsMetrics are the build-info and in-flight series.
type opsMetrics struct {
	inFlight prometheus.Gauge

	fieldsMu sync.Mutex
	fields   map[string]struct{}
}

func newOpsMetrics(reg prometheus.Registerer) *opsMetrics {
	m := &opsMetrics{
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "crmgw", Name: "requests_in_flight",
			Help: "Requests the proxy listener is serving now (from arrival until the audit event is handed over).",
		}),
		fields: map[string]struct{}{},
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "crmgw", Name: "build_info",
		Help: "Always 1; the labels name the running binary's version, commit and Go release.",
	}, []string{"version", "commit", "goversion"})
	build.WithLabelValues(buildinfo.Version(), buildinfo.Commit(), buildinfo.GoVersion()).Set(1)
	if reg != nil {
		reg.MustRegister(m.inFlight, build)
	}
	return m
}

// fieldLabel is f while fewer than maxFieldLabels distinct fields were
// seen (or f is one of them), else "other".
func (m *opsMetrics) fieldLabel(f string) string {
	m.fieldsMu.Lock()
	defer m.fieldsMu.Unlock()
	if _, ok := m.fields[f]; ok {
		return f
	}
	if len(m.fields) >= maxFieldLabels {
		return "other"
	}
	m.fields[f] = struct{}{}
	return f
}

// trackInFlight counts the request in until the returned func runs.
func (g *Gateway) trackInFlight() func() {
	if g.metrics == nil || g.metrics.ops == nil {
		return noEnd
	}
	g.metrics.ops.inFlight.Inc()
	return g.metrics.ops.inFlight.Dec
}
