package audit

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crmgw/crmgw/policy"
	"go.uber.org/zap/zaptest"
)

var _ RuleEvaluator = (*policy.Query)(nil)

// TestPolicyQueryDrivesTheAlerts wires the alert rules the way the proxy
// does: through policy.NewQuery.
func TestPolicyQueryDrivesTheAlerts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q, err := policy.NewQuery(ctx, []string{"../policies/alerts.rego", "../policies/alerts_data.json"},
		"data.crmgw.alerts.alerts", zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	hook := &alertCollector{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	a, _ := start(t, fileConfig(t, t.TempDir()), AlertsConfig{Sinks: []SinkConfig{alertSink("webhook", srv.URL)}}, q)
	a.Record(exportEvent(1, "00u1", 20000, time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC)), nil)
	closeAuditor(t, a)
	var rules []string
	for _, al := range hook.got() {
		rules = append(rules, al.Rule)
	}
	if len(rules) != 2 || !strings.Contains(strings.Join(rules, ","), "bulk_export") ||
		!strings.Contains(strings.Join(rules, ","), "export_outside_working_hours") {
		t.Fatalf("alerts = %v", rules)
	}
}
