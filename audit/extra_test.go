package audit

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmgw/crmgw/policy"
	"github.com/prometheus/client_golang/prometheus"
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

func TestRotationByAge(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: workday10}
	s, err := openFileSink(SinkConfig{Type: "file", Path: filepath.Join(dir, "audit.jsonl"), RotateEvery: time.Hour, Fsync: "never"})
	if err != nil {
		t.Fatal(err)
	}
	s.now = clock.now
	s.opened = clock.now()
	write := func(i int) {
		ev := testEvent(i)
		normalise(ev)
		ev.Chain = Chain{Seq: int64(i), Prev: GenesisPrev}
		line, err := seal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.deliver(context.Background(), []*entry{{line: line, ev: ev}}); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	clock.advance(30 * time.Minute)
	write(2)
	if err := s.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(RotatedFiles(s.cfg.Path)); n != 1 {
		t.Fatalf("rotated before rotate_every: %d files", n)
	}
	clock.advance(31 * time.Minute)
	if err := s.tick(); err != nil { // idle: the ticker rotates
		t.Fatal(err)
	}
	write(3)
	s.close()
	files := RotatedFiles(s.cfg.Path)
	if len(files) != 2 || !strings.Contains(files[0], "-20261123T110100.000000000Z.jsonl") {
		t.Fatalf("files = %v", files)
	}
	if got := readLines(t, files[0]); len(got) != 2 {
		t.Errorf("rotated file has %d lines, want 2", len(got))
	}
}

func TestSyslogSinkOverTLS(t *testing.T) {
	srv := httptest.NewTLSServer(nil) // for its certificate only
	defer srv.Close()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: srv.TLS.Certificates})
	if err != nil {
		t.Fatal(err)
	}
	ls := &tcpSyslog{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go ls.read(c)
		}
	}()
	defer l.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	sc := SinkConfig{Type: "syslog", Address: "tls://" + l.Addr().String(), TLS: &TLSConfig{CAFile: ca}}
	a, _ := start(t, Config{Sinks: []SinkConfig{sc}, SpoolDir: t.TempDir()}, AlertsConfig{}, nil)
	a.Record(testEvent(1), nil)
	closeAuditor(t, a)
	waitFor(t, "a TLS syslog frame", func() bool { return len(ls.got()) == 1 })
	if f := parseRFC5424(t, ls.got()[0]); !strings.Contains(f.msg, `"request_id":"01JREQ000001"`) {
		t.Errorf("frame = %+v", f)
	}
}

func TestSyslogSinkRefusesAnUntrustedServer(t *testing.T) {
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: srv.TLS.Certificates})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	sc := SinkConfig{Type: "syslog", Name: "siem", Address: "tls://" + l.Addr().String(), RetryInitial: time.Millisecond, RetryMax: time.Millisecond}
	a, _ := start(t, Config{Sinks: []SinkConfig{sc}, SpoolDir: t.TempDir()}, AlertsConfig{}, nil)
	a.Record(testEvent(1), nil)
	waitFor(t, "a failed delivery", func() bool { return value(t, a.m.failed.WithLabelValues("siem")) > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	a.Close(ctx)
	if w := value(t, a.m.written.WithLabelValues("siem")); w != 0 {
		t.Errorf("an event went to a server with an untrusted certificate")
	}
}

// FuzzVerify: no line, however broken, makes verification panic or pass a
// line whose hash does not match.
func FuzzVerify(f *testing.F) {
	ev := testEvent(1)
	normalise(ev)
	ev.Chain = Chain{Seq: 1, Prev: GenesisPrev}
	line, _ := seal(ev)
	f.Add(string(line))
	f.Add(`{"chain":{"seq":1,"prev":"` + GenesisPrev + `","hash":"` + GenesisPrev + `"}}`)
	f.Add("{}\n[]\nnull\n")
	f.Add(`{"a":"\u0000\ud800","chain":{"seq":1e400}}`)
	f.Fuzz(func(t *testing.T, s string) {
		rep, err := Verify(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() && rep.Events > 0 {
			// Whatever verified must re-verify from its own report.
			again, _ := Verify(strings.NewReader(s), WithStart(rep.FirstSeq, rep.FirstPrev))
			if !again.OK() || again.LastHash != rep.LastHash {
				t.Fatalf("inconsistent: %+v vs %+v", rep, again)
			}
		}
	})
}

func TestNewFailsCleanlyAndCanBeRetried(t *testing.T) {
	reg := prometheus.NewRegistry()
	bad := Config{Sinks: []SinkConfig{{Type: "file", Path: "/proc/crmgw-cannot-write/audit.jsonl"}}, SpoolDir: t.TempDir()}
	if _, err := New(bad, AlertsConfig{}, nil, reg, zaptest.NewLogger(t)); err == nil {
		t.Fatal("New with an unwritable file sink succeeded")
	}
	if _, err := New(Config{Sinks: []SinkConfig{{Type: "kafka"}}}, AlertsConfig{}, nil, reg, nil); err == nil ||
		!strings.Contains(err.Error(), "sinks[0].type") {
		t.Fatalf("invalid config: %v", err)
	}
	a, err := New(fileConfig(t, t.TempDir()), AlertsConfig{}, nil, reg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("New after a failed New on the same registry: %v", err)
	}
	closeAuditor(t, a)
}
