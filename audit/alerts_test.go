package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// alertCollector is a generic JSON webhook receiver that decodes alerts
// strictly in the shape docs/audit.md "Alerts" gives.
type alertCollector struct {
	mu     sync.Mutex
	alerts []Alert
	bad    []string
}

func (c *alertCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a struct {
		Rule      string          `json:"rule"`
		Severity  string          `json:"severity"`
		Summary   string          `json:"summary"`
		Time      time.Time       `json:"time"`
		RequestID string          `json:"request_id"`
		Event     json.RawMessage `json:"event"`
		Subject   string          `json:"subject"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := dec.Decode(&a); err != nil {
		c.bad = append(c.bad, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.alerts = append(c.alerts, Alert{Rule: a.Rule, Severity: a.Severity, Summary: a.Summary, Time: a.Time,
		RequestID: a.RequestID, Event: a.Event, Subject: a.Subject})
}

func (c *alertCollector) got() []Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Alert(nil), c.alerts...)
}

func alertSink(typ, url string) SinkConfig {
	return SinkConfig{Type: typ, Name: typ, URL: url, RetryInitial: time.Millisecond, RetryMax: 5 * time.Millisecond}
}

// workday10 is Monday 2026-11-23 10:00 UTC: inside working hours.
var workday10 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// postableAlert mirrors Alertmanager's OpenAPI v2 postableAlert schema
// (api/v2/openapi.yaml): labels required, the rest optional.
type amPostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     *string           `json:"startsAt"`
	EndsAt       *string           `json:"endsAt"`
	GeneratorURL *string           `json:"generatorURL"`
}

func TestAlertRulesFireToEveryAlertSink(t *testing.T) {
	hook := &alertCollector{}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()

	var mu sync.Mutex
	var slack []map[string]any
	var am [][]amPostableAlert
	var amPath string
	slackSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		slack = append(slack, m)
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	defer slackSrv.Close()
	amSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []amPostableAlert
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		am, amPath = append(am, batch), r.URL.Path
		mu.Unlock()
	}))
	defer amSrv.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp := newTCPSyslog(t)

	alerts := AlertsConfig{Sinks: []SinkConfig{
		alertSink("webhook", hookSrv.URL),
		alertSink("slack", slackSrv.URL+"/services/T000/B000/XXXX"),
		alertSink("alertmanager", amSrv.URL),
		{Type: "syslog", Name: "syslog-udp", Address: "udp://" + udp.LocalAddr().String()},
		{Type: "syslog", Name: "syslog-tcp", Address: "tcp://" + tcp.l.Addr().String(), Format: "cef"},
	}}
	a, _ := start(t, fileConfig(t, t.TempDir()), alerts, loadRules(t, ""))
	a.Record(exportEvent(1, "00u1", 20000, workday10), nil)
	a.Record(testEvent(2), nil) // a small read: no alert
	closeAuditor(t, a)

	got := hook.got()
	if len(got) != 1 || len(hook.bad) > 0 {
		t.Fatalf("webhook got %+v (bad: %v), want one alert", got, hook.bad)
	}
	al := got[0]
	if al.Rule != "bulk_export" || al.Severity != "high" || al.RequestID != "01JREQ000001" || al.Subject != "00u1" ||
		!strings.Contains(al.Summary, "00u1 exported 20000 Contact records") || al.Time.IsZero() {
		t.Errorf("alert = %+v", al)
	}
	var ev Event
	if err := json.Unmarshal(al.Event, &ev); err != nil || ev.Chain.Hash == "" || ev.CRM.Records != 20000 {
		t.Errorf("alert event = %+v, %v; want the chained event", ev, err)
	}

	mu.Lock()
	if len(slack) != 1 || !strings.Contains(slack[0]["text"].(string), "[HIGH] bulk_export") {
		t.Errorf("slack got %v", slack)
	}
	if len(am) != 1 || len(am[0]) != 1 || amPath != "/api/v2/alerts" {
		t.Fatalf("alertmanager got %v at %q", am, amPath)
	}
	pa := am[0][0]
	mu.Unlock()
	if pa.Labels["alertname"] != "bulk_export" || pa.Labels["severity"] != "high" || pa.Labels["subject"] != "00u1" ||
		pa.Annotations["request_id"] != "01JREQ000001" || pa.Annotations["summary"] == "" {
		t.Errorf("postableAlert = %+v", pa)
	}
	if pa.StartsAt == nil || pa.EndsAt == nil {
		t.Fatalf("startsAt/endsAt missing: %+v", pa)
	}
	starts, err1 := time.Parse(time.RFC3339, *pa.StartsAt)
	ends, err2 := time.Parse(time.RFC3339, *pa.EndsAt)
	if err1 != nil || err2 != nil || !ends.After(starts) {
		t.Errorf("startsAt %q endsAt %q: %v %v", *pa.StartsAt, *pa.EndsAt, err1, err2)
	}

	buf := make([]byte, 65536)
	udp.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := udp.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	f := parseRFC5424(t, string(buf[:n]))
	var sa Alert
	if f.msgID != "alert" || f.pri != 16*8+3 || json.Unmarshal([]byte(f.msg), &sa) != nil || sa.Rule != "bulk_export" {
		t.Errorf("udp syslog frame = %+v", f)
	}
	waitFor(t, "the tcp syslog alert", func() bool { return len(tcp.got()) == 1 })
	g := parseRFC5424(t, tcp.got()[0])
	if !strings.HasPrefix(g.msg, "CEF:0|crmgw|crmgw|1|bulk_export|") || !strings.Contains(g.msg, "externalId=01JREQ000001") {
		t.Errorf("tcp syslog CEF = %q", g.msg)
	}
}

func TestAlertsAreDeduplicatedPerRuleAndSubject(t *testing.T) {
	hook := &alertCollector{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	alerts := AlertsConfig{Sinks: []SinkConfig{alertSink("webhook", srv.URL)}, DedupWindow: time.Hour}
	a, _ := start(t, fileConfig(t, t.TempDir()), alerts, loadRules(t, ""))
	clock := &fakeClock{t: workday10}
	a.alerts.now = clock.now
	a.Record(exportEvent(1, "00u1", 20000, workday10), nil)
	a.Record(exportEvent(2, "00u1", 30000, workday10), nil) // same rule, same subject: deduped
	a.Record(exportEvent(3, "00u2", 20000, workday10), nil) // another subject
	waitFor(t, "three evaluations", func() bool {
		return value(t, a.m.alertsFired.WithLabelValues("bulk_export")) == 3
	})
	clock.advance(61 * time.Minute)
	a.Record(exportEvent(4, "00u1", 20000, workday10), nil) // window over: alerts again
	closeAuditor(t, a)
	var ids []string
	for _, al := range hook.got() {
		ids = append(ids, al.RequestID)
	}
	if strings.Join(ids, ",") != "01JREQ000001,01JREQ000003,01JREQ000004" {
		t.Errorf("alerts for %v", ids)
	}
	if d := value(t, a.m.alertsDedup.WithLabelValues("bulk_export")); d != 1 {
		t.Errorf("deduped = %v, want 1", d)
	}
	if s := value(t, a.m.alertsSent.WithLabelValues("webhook")); s != 3 {
		t.Errorf("sent = %v, want 3", s)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestInProcessDenialCounterFeedsTheProbingRule(t *testing.T) {
	hook := &alertCollector{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	a, _ := start(t, fileConfig(t, t.TempDir()), AlertsConfig{Sinks: []SinkConfig{alertSink("webhook", srv.URL)}}, loadRules(t, ""))
	for i := 1; i <= 25; i++ {
		ev := testEvent(i)
		ev.Status, ev.Decision.Allow, ev.HTTPResponse.Code = StatusDenied, false, 403
		ev.Classify()
		a.Record(ev, nil)
	}
	closeAuditor(t, a)
	got := hook.got()
	if len(got) != 1 || got[0].Rule != "repeated_denials" || got[0].RequestID != "01JREQ000020" {
		t.Fatalf("alerts = %+v, want one repeated_denials at the 20th denial", got)
	}
	if !strings.Contains(got[0].Summary, "denied 20 times") {
		t.Errorf("summary = %q", got[0].Summary)
	}
}

func TestProxyDenialCounterIsMergedWithTheLocalOne(t *testing.T) {
	hook := &alertCollector{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	a, _ := start(t, fileConfig(t, t.TempDir()), AlertsConfig{Sinks: []SinkConfig{alertSink("webhook", srv.URL)}}, loadRules(t, ""))
	ev := testEvent(1)
	ev.Status, ev.Decision.Allow = StatusDenied, false
	// The shared (Redis) counter already saw 30 denials across replicas.
	a.Record(ev, map[string]any{"denials": map[string]any{"10m": 30}})
	closeAuditor(t, a)
	if got := hook.got(); len(got) != 1 || !strings.Contains(got[0].Summary, "denied 30 times") {
		t.Fatalf("alerts = %+v", got)
	}
}

func TestAPIKeyFromANewNetworkAlerts(t *testing.T) {
	hook := &alertCollector{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	a, _ := start(t, fileConfig(t, t.TempDir()), AlertsConfig{Sinks: []SinkConfig{alertSink("webhook", srv.URL)}}, loadRules(t, ""))
	for i, ip := range []string{"10.20.0.5", "10.20.0.77", "198.51.100.4", "10.20.0.9"} {
		ev := testEvent(i + 1)
		ev.Actor = Actor{ClientID: "etl-nightly", Kind: "client"}
		ev.SrcEndpoint.IP = ip
		a.Record(ev, nil)
	}
	// A human from a new network is not this rule's business.
	ev := testEvent(9)
	ev.SrcEndpoint.IP = "203.0.113.8"
	a.Record(ev, nil)
	closeAuditor(t, a)
	got := hook.got()
	if len(got) != 1 || got[0].Rule != "api_key_new_network" || got[0].RequestID != "01JREQ000003" ||
		!strings.Contains(got[0].Summary, "198.51.100.4") {
		t.Fatalf("alerts = %+v, want one for the third request", got)
	}
}

func TestUsageFromTheRateLimiterReachesTheRules(t *testing.T) {
	hook := &alertCollector{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	a, _ := start(t, fileConfig(t, t.TempDir()), AlertsConfig{Sinks: []SinkConfig{alertSink("webhook", srv.URL)}}, loadRules(t, ""))
	type usage struct {
		Records map[string]int64 `json:"records"`
	}
	a.Record(testEvent(1), usage{Records: map[string]int64{"1h": 500}})
	a.Record(testEvent(2), usage{Records: map[string]int64{"1h": 50000}})
	closeAuditor(t, a)
	if got := hook.got(); len(got) != 1 || got[0].Rule != "record_volume_spike" || got[0].RequestID != "01JREQ000002" {
		t.Fatalf("alerts = %+v", got)
	}
}

type failingRules struct{}

func (failingRules) Eval(context.Context, any) ([]any, error) { return nil, errors.New("boom") }

func TestFailingRulesAreCountedAndEventsStillWritten(t *testing.T) {
	srv := httptest.NewServer(&alertCollector{})
	defer srv.Close()
	cfg := fileConfig(t, t.TempDir())
	a, _ := start(t, cfg, AlertsConfig{Sinks: []SinkConfig{alertSink("webhook", srv.URL)}}, failingRules{})
	a.Record(testEvent(1), nil)
	closeAuditor(t, a)
	if v := value(t, a.m.alertErrors); v != 1 {
		t.Errorf("eval errors = %v", v)
	}
	if rep, _ := VerifyFile(cfg.Sinks[0].Path); rep.Events != 1 {
		t.Errorf("event not written: %+v", rep)
	}
}

func TestAlertSinkDownIsRetriedThenCounted(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		c := calls
		mu.Unlock()
		if c <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	a, _ := start(t, fileConfig(t, t.TempDir()), AlertsConfig{Sinks: []SinkConfig{alertSink("webhook", srv.URL)}}, loadRules(t, ""))
	a.Record(exportEvent(1, "00u1", 20000, workday10), nil)
	closeAuditor(t, a)
	if calls != 3 || value(t, a.m.alertsSent.WithLabelValues("webhook")) != 1 {
		t.Errorf("calls = %d, sent = %v; want two retries then success", calls, value(t, a.m.alertsSent.WithLabelValues("webhook")))
	}
}

// TestRealAlertmanagerAcceptsTheAlerts posts to a real Alertmanager (the
// Debian prometheus-alertmanager package) and reads the alert back.
func TestRealAlertmanagerAcceptsTheAlerts(t *testing.T) {
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		if bin, err = exec.LookPath("alertmanager"); err != nil {
			t.Skip("alertmanager is not installed")
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "am.yml")
	os.WriteFile(conf, []byte("route:\n  receiver: sink\nreceivers:\n  - name: sink\n"), 0o600)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--config.file="+conf, "--storage.path="+dir, "--web.listen-address="+addr, "--cluster.listen-address=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://" + addr
	waitFor(t, "alertmanager ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	a, _ := start(t, fileConfig(t, t.TempDir()), AlertsConfig{Sinks: []SinkConfig{alertSink("alertmanager", base)}}, loadRules(t, ""))
	a.Record(exportEvent(1, "00u1", 20000, workday10), nil)
	closeAuditor(t, a)
	if v := value(t, a.m.alertsSent.WithLabelValues("alertmanager")); v != 1 {
		t.Fatalf("alertmanager did not take the alert (sent=%v, failed=%v)", v, value(t, a.m.alertsFailed.WithLabelValues("alertmanager")))
	}
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Labels["alertname"] != "bulk_export" || got[0].Annotations["request_id"] != "01JREQ000001" {
		t.Fatalf("alertmanager holds %s", fmt.Sprint(got))
	}
}
