package audit

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Ways around the crash guarantee, each a test below:
//   - kill the gateway between forwarding and the completion event: the
//     start record is already in the log, the restart closes it (unknown);
//   - kill it twice: the unknown event is itself a completion, so the second
//     restart does not close the request again;
//   - kill it while events sit in a remote sink's memory queue: the sink
//     resumes from the local log after its persisted cursor;
//   - make the local log unwritable: Begin fails, exports are refused,
//     /readyz fails (the replica cannot audit).

func TestBeginWritesTheStartRecordBeforeReturning(t *testing.T) {
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	cfg.Fsync = "batch"
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	ev := exportEvent(1, "00u1", 0, time.Now())
	if err := a.Begin(ev); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	// No Close: the line must be in the file as soon as Begin returned.
	lines := readLines(t, cfg.Sinks[0].Path)
	if len(lines) != 1 {
		t.Fatalf("log has %d lines after Begin, want the start record", len(lines))
	}
	got := decodeEvent(t, lines[0])
	if got.Status != StatusPending || got.RequestID != "01JREQ000001" || got.Activity != "export" {
		t.Errorf("start record = status %q id %q activity %q", got.Status, got.RequestID, got.Activity)
	}
	closeAuditor(t, a)
}

func TestConcurrentBeginsShareWritesAndAllReturn(t *testing.T) {
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	cfg.Fsync = "batch"
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	var wg sync.WaitGroup
	for i := 1; i <= 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Begin(testEvent(i)); err != nil {
				t.Errorf("Begin %d: %v", i, err)
			}
			a.Record(testEvent(i), nil)
		}()
	}
	wg.Wait()
	closeAuditor(t, a)
	if n := len(readLines(t, cfg.Sinks[0].Path)); n != 400 {
		t.Errorf("log has %d lines, want 200 starts and 200 completions", n)
	}
	rep, err := VerifyFile(cfg.Sinks[0].Path)
	if err != nil || !rep.OK() {
		t.Errorf("verify: %v %v", rep, err)
	}
}

func TestRestartClosesStartsWithoutCompletionAsUnknown(t *testing.T) {
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	for i := 1; i <= 3; i++ {
		if err := a.Begin(exportEvent(i, "00u1", 0, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	done := exportEvent(2, "00u1", 500, time.Now())
	a.Record(done, nil)
	// The state a kill leaves: starts 1 and 3 in the log, no completion.
	closeAuditor(t, a)

	for restart := 0; restart < 2; restart++ {
		a, _ = start(t, cfg, AlertsConfig{}, nil)
		closeAuditor(t, a)
	}
	lines := readLines(t, cfg.Sinks[0].Path)
	var unknown []string
	for _, l := range lines {
		ev := decodeEvent(t, l)
		if ev.Status == StatusUnknown {
			unknown = append(unknown, ev.RequestID)
			if ev.Severity != SeverityHigh || ev.Error != outcomeUnknownReason || ev.CRM.Category != "export" {
				t.Errorf("unknown event: severity %q error %q category %q", ev.Severity, ev.Error, ev.CRM.Category)
			}
		}
	}
	if len(unknown) != 2 || unknown[0] != "01JREQ000001" || unknown[1] != "01JREQ000003" {
		t.Errorf("closed as unknown: %v, want requests 1 and 3 once each across two restarts", unknown)
	}
	rep, err := VerifyFiles(RotatedFiles(cfg.Sinks[0].Path), RequireGenesis())
	if err != nil || !rep.OK() {
		t.Errorf("the unknown events must be chained like any other: %v %v", rep, err)
	}
}

func TestRemoteSinkResumesFromTheLocalLogAfterItsCursor(t *testing.T) {
	c := &eventCollector{}
	srv := httptest.NewServer(c)
	defer srv.Close()
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	cfg.Sinks = append(cfg.Sinks, webhookSinkConfig(srv.URL))
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	for i := 1; i <= 30; i++ {
		a.Record(testEvent(i), nil)
	}
	closeAuditor(t, a)
	assertInOrder(t, c.received(), 30)
	// A kill loses what sat in the sink's memory queue: the cursor on disk
	// says 12 were delivered (a cursor saved before the rest went out).
	cur := filepath.Join(cfg.SpoolDir, "siem", "delivered")
	if err := os.WriteFile(cur, []byte("12\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.seqs = c.seqs[:12]
	c.mu.Unlock()
	a, _ = start(t, cfg, AlertsConfig{}, nil)
	waitFor(t, "the 18 events after the cursor resent", func() bool { return len(c.received()) == 30 })
	a.Record(testEvent(31), nil)
	closeAuditor(t, a)
	assertInOrder(t, c.received(), 31)
	if n, ok := readSeqFile(cur); !ok || n != 31 {
		t.Errorf("cursor after close = %d, want 31", n)
	}
}

func TestUnwritableLogFailsBeginRefusesExportsAndReadiness(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to read-only files")
	}
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	defer closeAuditor(t, a)
	if err := a.Begin(testEvent(1)); err != nil {
		t.Fatal(err)
	}
	// The disk turns bad: the current file is replaced by a directory, so
	// the reopen after a failed write fails too.
	fs := a.anchor.s.(*fileSink)
	fs.f.Close() // the next write fails
	os.Remove(cfg.Sinks[0].Path)
	os.Mkdir(cfg.Sinks[0].Path, 0o700)
	if err := a.Begin(testEvent(2)); err == nil {
		t.Fatal("Begin succeeded while the log cannot be written")
	}
	if a.AcceptingExports() {
		t.Error("exports accepted while the local log cannot be written")
	}
	if a.Ready() == nil {
		t.Error("ready while the local log cannot be written")
	}
	os.Remove(cfg.Sinks[0].Path)
	waitFor(t, "the log writable again", func() bool { return a.Ready() == nil && a.AcceptingExports() })
}

func TestRequestCutShortByACrashRaisesAnAlertOnRestart(t *testing.T) {
	hook := &alertCollector{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	if err := a.Begin(exportEvent(1, "00u-insider", 0, workday10)); err != nil {
		t.Fatal(err)
	}
	closeAuditor(t, a) // the state a kill leaves: a start, no completion
	a, _ = start(t, cfg, AlertsConfig{Sinks: []SinkConfig{alertSink("webhook", srv.URL)}}, loadRules(t, ""))
	closeAuditor(t, a)
	for _, al := range hook.got() {
		if al.Rule == "outcome_unknown" && al.Subject == "00u-insider" && al.RequestID == "01JREQ000001" {
			return
		}
	}
	t.Fatalf("no outcome_unknown alert: %+v", hook.got())
}
