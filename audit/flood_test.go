package audit

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// limitedSIEM is a webhook receiver with a body limit, as Splunk HEC and
// most HTTP collectors have: a larger POST is answered 413.
type limitedSIEM struct {
	limit int64
	mu    sync.Mutex
	got   map[int64]Event
	posts int
}

func (s *limitedSIEM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var evs []Event
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.limit)).Decode(&evs)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts++
	for _, ev := range evs {
		s.got[ev.Chain.Seq] = ev
	}
}

func (s *limitedSIEM) event(seq int64) (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, ok := s.got[seq]
	return ev, ok
}

// bigEvent is an unauthenticated request's event as a flood makes it: a
// 60 KB user agent (cut) and as many field names as the caps allow.
func bigEvent(i int) *Event {
	ev := testEvent(i)
	ev.Status, ev.Actor = StatusDenied, Actor{}
	ev.HTTPRequest.UserAgent = strings.Repeat("U", 60<<10)
	ev.CRM.Fields = make([]string, 400)
	for j := range ev.CRM.Fields {
		ev.CRM.Fields[j] = strings.Repeat("f", 250)
	}
	ev.Classify()
	return ev
}

// Ways around: a flood of large events pushing POSTs over the receiver's
// limit (the old behaviour dropped the whole batch, an insider's export
// with it); a sink configured with a max_body above the receiver's limit;
// one event too large for the receiver on its own.
func TestInsiderExportReachesA1MBReceiverDuringAFloodOfLargeEvents(t *testing.T) {
	for _, maxBody := range []string{"default", "above the receiver's limit"} {
		t.Run(maxBody, func(t *testing.T) {
			rx := &limitedSIEM{limit: 1 << 20, got: map[int64]Event{}}
			srv := httptest.NewServer(rx)
			defer srv.Close()
			sc := webhookSinkConfig(srv.URL)
			sc.BatchSize = 100
			// About 8 MB through a JSON decoder under the race detector:
			// a busy machine needs more than the helper's 5s per POST.
			sc.Timeout = 30 * time.Second
			if maxBody != "default" {
				sc.MaxBody = 16 << 20
			}
			cfg := Config{Sinks: []SinkConfig{sc}, SpoolDir: t.TempDir()}
			a, reg := start(t, cfg, AlertsConfig{}, nil)
			const n = 120 // about 8 MB of events: many times the receiver's limit
			for i := 1; i <= n; i++ {
				if i == n/2 {
					a.Record(exportEvent(i, "00u-insider", 5000, time.Now()), nil)
					continue
				}
				a.Record(bigEvent(i), nil)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := a.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			ev, ok := rx.event(n / 2)
			if !ok || ev.Actor.User.UID != "00u-insider" || ev.CRM.Category != "export" || ev.CRM.Records != 5000 {
				t.Fatalf("the insider's export did not reach the receiver whole: %v %+v", ok, ev.CRM)
			}
			for seq := int64(1); seq <= n; seq++ {
				if _, ok := rx.event(seq); !ok {
					t.Fatalf("event %d lost", seq)
				}
			}
			if gathered(t, reg, "crmgw_audit_events_dropped_total") {
				t.Error("events were dropped")
			}
		})
	}
}

func TestEventTooLargeForTheReceiverArrivesAsAStubInItsChainPosition(t *testing.T) {
	rx := &limitedSIEM{limit: 64 << 10, got: map[int64]Event{}}
	srv := httptest.NewServer(rx)
	defer srv.Close()
	cfg := Config{Sinks: []SinkConfig{webhookSinkConfig(srv.URL)}, SpoolDir: t.TempDir()}
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	a.Record(testEvent(1), nil)
	big := exportEvent(2, "00u-insider", 900, time.Now())
	big.Subrequests = make([]CRM, 50)
	for i := range big.Subrequests {
		big.Subrequests[i] = CRM{Operation: "query", Category: "export", Object: "Contact", Fields: bigEvent(0).CRM.Fields[:32]}
	}
	a.Record(big, nil)
	a.Record(testEvent(3), nil)
	closeAuditor(t, a)
	stub, ok := rx.event(2)
	if !ok {
		t.Fatal("the oversized event left no trace at the receiver")
	}
	if stub.Actor.User.UID != "00u-insider" || stub.CRM.Category != "export" || stub.CRM.Records != 900 ||
		!strings.HasPrefix(stub.Error, "oversize:") || stub.Chain.Hash == "" || stub.Chain.Prev == "" {
		t.Errorf("stub: %+v", stub)
	}
	for _, seq := range []int64{1, 3} {
		if ev, ok := rx.event(seq); !ok || strings.HasPrefix(ev.Error, "oversize") {
			t.Errorf("event %d: %v %q", seq, ok, ev.Error)
		}
	}
}

// The "spool full" log lines add up to the dropped-events metric: an
// operator reading the log sees how many were lost, not one per 10 s.
func TestSpoolFullLogLinesAddUpToTheMetric(t *testing.T) {
	fs := newFlakyServer(t, &eventCollector{}) // never comes up
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	cfg.Sinks = append(cfg.Sinks, webhookSinkConfig("http://"+fs.addr+"/hook"))
	cfg.SpoolMaxBytes = 64 << 10
	cfg.OnFull = OnFullDrop
	cfg.SetDefaults()
	core, logs := observer.New(zap.ErrorLevel)
	a, err := New(cfg, AlertsConfig{}, nil, prometheus.NewRegistry(), zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 600; i++ {
		a.Record(testEvent(i), nil)
	}
	waitFor(t, "the file sink to write every event", func() bool {
		return value(t, a.m.written.WithLabelValues("file-0")) == 600
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	a.Close(ctx)
	cancel()
	dropped := value(t, a.m.dropped.WithLabelValues("siem", "spool_full"))
	logged := 0
	for _, e := range logs.FilterMessageSnippet("audit spool full").All() {
		logged += int(e.ContextMap()["events"].(int64))
	}
	if dropped < 100 || float64(logged) != dropped {
		t.Errorf("log lines report %d dropped events, the metric %v", logged, dropped)
	}
}
