package audit

import (
	"fmt"
	"net/http/httptest"
	"testing"
)

// Ways around the export alerts: drown the evaluation queue in noise (401s,
// reads) so that an export's event is skipped; the queue is one slot deep
// here, so almost every noise event is skipped, and the insider's exports
// must all be evaluated all the same. What is skipped is counted, logged
// and alerted on, with the same count as the metric.
func TestExportAlertsFireWhileTheEvaluationQueueIsSaturated(t *testing.T) {
	hook := &alertCollector{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	cfg := fileConfig(t, t.TempDir())
	a, _ := start(t, cfg, AlertsConfig{QueueSize: 1, Sinks: []SinkConfig{alertSink("webhook", srv.URL)}}, loadRules(t, ""))
	const exports = 5
	for i := 1; i <= 3000; i++ {
		if i%600 == 0 {
			a.Record(exportEvent(i, fmt.Sprintf("00u-insider-%d", i), 50000, workday10), nil)
			continue
		}
		ev := testEvent(i)
		ev.Actor = Actor{}
		ev.Status = StatusDenied
		a.Record(ev, nil)
	}
	closeAuditor(t, a)
	fired, reported := map[string]bool{}, 0
	for _, al := range hook.got() {
		switch al.Rule {
		case "bulk_export":
			fired[al.Subject] = true
		case "alert_evaluation_skipped":
			var n int
			if _, err := fmt.Sscanf(al.Summary, "%d audit events were not evaluated", &n); err != nil {
				t.Errorf("summary %q: %v", al.Summary, err)
			}
			reported += n
		}
	}
	if len(fired) != exports {
		t.Errorf("bulk_export fired for %d of %d exports", len(fired), exports)
	}
	dropped := value(t, a.m.alertDropped)
	if dropped == 0 {
		t.Fatal("the one-slot queue skipped nothing: the test saturates nothing")
	}
	if reported != int(dropped) {
		t.Errorf("alert_evaluation_skipped alerts report %d skipped events, the metric %v", reported, dropped)
	}
}
