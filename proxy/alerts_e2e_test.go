package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// alertReceiver is a webhook alert sink: it keeps every alert it was sent.
type alertReceiver struct {
	mu     sync.Mutex
	alerts []map[string]any
}

func (a *alertReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var one map[string]any
	var many []map[string]any
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case json.Unmarshal(b, &many) == nil:
		a.alerts = append(a.alerts, many...)
	case json.Unmarshal(b, &one) == nil:
		a.alerts = append(a.alerts, one)
	}
}

// rules waits until every rule in want has fired (or 10 s passed) and
// returns the rules seen.
func (a *alertReceiver) rules(want ...string) []string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		var got []string
		for _, al := range a.alerts {
			if r, ok := al["rule"].(string); ok && !slices.Contains(got, r) {
				got = append(got, r)
			}
		}
		a.mu.Unlock()
		all := true
		for _, w := range want {
			all = all && slices.Contains(got, w)
		}
		if all || time.Now().After(deadline) {
			slices.Sort(got)
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// policiesWithAlertThresholds copies the default policies into a temporary
// directory with alert thresholds a test can reach in a few requests.
func policiesWithAlertThresholds(t *testing.T, thresholds string) string {
	t.Helper()
	src := policiesDir(t)
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if en.IsDir() || filepath.Ext(en.Name()) == ".go" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if en.Name() == "alerts_data.json" {
			b = []byte(thresholds)
		}
		if err := os.WriteFile(filepath.Join(dst, en.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestEveryDefaultAlertRuleFiresThroughTheGateway drives real requests
// through the gateway until each rule of policies/alerts.rego has fired at
// a webhook receiver: the rules' own unit tests build events by hand, this
// one proves the events the proxy writes carry what the rules read.
func TestEveryDefaultAlertRuleFiresThroughTheGateway(t *testing.T) {
	recv := &alertReceiver{}
	hook := httptest.NewServer(recv)
	defer hook.Close()
	pol := policiesWithAlertThresholds(t, `{"crmgw": {"alerts_config": {
		"bulk_export_records": 10,
		"working_hours": {"start": 0, "end": 0, "utc_offset_minutes": 0, "weekends": true},
		"volume_baseline_records_1h": 1,
		"volume_baselines": {},
		"volume_factor": 1,
		"denials_10m": 3}}}`)
	e := newEnv(t, envOptions{
		policies: pol,
		identity: "  trusted_proxies: [127.0.0.1/32]\n",
		limits: "ratelimit:\n  store: memory\n  quotas:\n" +
			"    - {name: export-per-day, key: subject, records: 100000, window: 24h, categories: [export, bulk]}\n" +
			"    - {name: reads, key: subject, records: 100000, window: 24h, categories: [read]}\n",
		extraYAML: "alerts:\n  rules: data.crmgw.alerts.alerts\n  sinks:\n    - {type: webhook, url: " + hook.URL + "}\n",
	})

	// A manager with MFA exports contacts twice (Bulk 2.0 query and results): over the export threshold
	// (bulk_export), outside the (empty) working hours, and over the
	// hourly baseline of one record (record_volume_spike, from the
	// limiter's usage counters on the second export).
	claims := e.issuer.Claims("00u-manager", audience)
	claims["roles"] = []string{"sales_manager"}
	claims["amr"] = []string{"pwd", "mfa"}
	claims["email"] = "manager@example.com"
	manager := bearer(e.issuer.Sign(claims))
	for i := 0; i < 2; i++ {
		resp := e.do("POST", "/services/data/v60.0/jobs/query", manager,
			strings.NewReader(`{"operation":"query","query":"SELECT Id, Name, Email FROM Contact LIMIT 500"}`), "Content-Type", "application/json")
		b := readAll(t, resp)
		var job struct{ ID string }
		if resp.StatusCode != 200 || json.Unmarshal(b, &job) != nil || job.ID == "" {
			t.Fatalf("manager's bulk query: %d %s", resp.StatusCode, b)
		}
		resp = e.do("GET", "/services/data/v60.0/jobs/query/"+job.ID+"/results", manager, nil)
		if b := readAll(t, resp); resp.StatusCode != 200 {
			t.Fatalf("manager's bulk results: %d %s", resp.StatusCode, b)
		}
	}

	// An intern probes: three denied deletes in a row.
	for i := 0; i < 3; i++ {
		resp := e.do("DELETE", "/services/data/v60.0/sobjects/Contact/003000000000001AAA", bearer(internKey), nil)
		if readAll(t, resp); resp.StatusCode != 403 {
			t.Fatalf("intern's delete: want 403, got %d", resp.StatusCode)
		}
	}

	// An API key from its usual network, the same /24, then a new one.
	for _, ip := range []string{"10.1.1.1", "10.1.1.2", "192.0.2.9"} {
		resp := e.do("GET", contactQuery, bearer(repKey), nil, "X-Forwarded-For", ip)
		if readAll(t, resp); resp.StatusCode != 200 {
			t.Fatalf("rep's query from %s: %d", ip, resp.StatusCode)
		}
	}

	want := []string{"api_key_new_network", "bulk_export", "export_outside_working_hours", "record_volume_spike", "repeated_denials"}
	if got := recv.rules(want...); !slices.Equal(got, want) {
		t.Fatalf("alert rules fired = %v, want each of %v", got, want)
	}
}
