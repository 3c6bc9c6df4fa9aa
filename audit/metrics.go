package audit

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the auditor's Prometheus series.
type metrics struct {
	recorded     prometheus.Counter
	recordWaits  prometheus.Counter
	queueDepth   prometheus.Gauge
	sinkQueue    *prometheus.GaugeVec
	spoolBytes   *prometheus.GaugeVec
	written      *prometheus.CounterVec
	failed       *prometheus.CounterVec
	dropped      *prometheus.CounterVec
	alertsFired  *prometheus.CounterVec
	alertsSent   *prometheus.CounterVec
	alertsFailed *prometheus.CounterVec
	alertsDedup  *prometheus.CounterVec
	alertErrors  prometheus.Counter
	alertDropped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		recorded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmgw_audit_events_recorded_total", Help: "Audit events handed to the auditor."}),
		recordWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmgw_audit_record_waits_total", Help: "Times Record found the queue full and waited for room."}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crmgw_audit_queue_depth", Help: "Events waiting for the writer goroutine."}),
		sinkQueue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmgw_audit_sink_queue_depth", Help: "Events waiting in a sink's memory queue."}, []string{"sink"}),
		spoolBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmgw_audit_spool_bytes", Help: "Bytes waiting in a sink's on-disk spool."}, []string{"sink"}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmgw_audit_events_written_total", Help: "Events a sink accepted."}, []string{"sink"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmgw_audit_events_failed_total", Help: "Events in failed delivery attempts (retried from the spool)."}, []string{"sink"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmgw_audit_events_dropped_total", Help: "Events lost for a sink, by reason (spool_full, spool_error, rejected, closed)."}, []string{"sink", "reason"}),
		alertsFired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmgw_alerts_fired_total", Help: "Alerts produced by the rules (before dedup)."}, []string{"rule"}),
		alertsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmgw_alerts_sent_total", Help: "Alerts delivered to an alert sink."}, []string{"sink"}),
		alertsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmgw_alerts_failed_total", Help: "Alerts an alert sink did not take after all retries."}, []string{"sink"}),
		alertsDedup: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmgw_alerts_deduped_total", Help: "Alerts suppressed as repeats within the dedup window."}, []string{"rule"}),
		alertErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmgw_alerts_eval_errors_total", Help: "Alert rule evaluations that failed."}),
		alertDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmgw_alerts_eval_dropped_total", Help: "Events not evaluated by the alert rules because their queue was full."}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range m.collectors() {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		m.unregister(reg)
		return nil, err
	}
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.recorded, m.recordWaits, m.queueDepth, m.sinkQueue, m.spoolBytes,
		m.written, m.failed, m.dropped, m.alertsFired, m.alertsSent, m.alertsFailed, m.alertsDedup,
		m.alertErrors, m.alertDropped}
}

// unregister removes the series again (New failed after registering them).
func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}
