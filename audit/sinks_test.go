package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// eventCollector is a webhook receiver (generic format) that records the
// chain seq of every event it accepted, after refusing the first `refuse`
// requests with 503.
type eventCollector struct {
	mu     sync.Mutex
	seqs   []int64
	refuse atomic.Int64
	calls  atomic.Int64
}

func (c *eventCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.calls.Add(1)
	if c.refuse.Add(-1) >= 0 {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	var evs []Event
	if err := json.NewDecoder(r.Body).Decode(&evs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, ev := range evs {
		c.seqs = append(c.seqs, ev.Chain.Seq)
	}
	c.mu.Unlock()
}

func (c *eventCollector) received() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.seqs...)
}

func assertInOrder(t *testing.T, seqs []int64, n int) {
	t.Helper()
	if len(seqs) != n {
		t.Fatalf("received %d events, want %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("event %d has seq %d: lost, duplicated or reordered", i, s)
		}
	}
}

func webhookSinkConfig(url string) SinkConfig {
	return SinkConfig{Type: "webhook", Name: "siem", URL: url, BatchSize: 7,
		FlushInterval: time.Millisecond, RetryInitial: time.Millisecond, RetryMax: 5 * time.Millisecond, Timeout: 5 * time.Second}
}

func TestWebhookRefusingForAWhileLosesNothing(t *testing.T) {
	c := &eventCollector{}
	c.refuse.Store(5)
	srv := httptest.NewServer(c)
	defer srv.Close()
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	cfg.Sinks = append(cfg.Sinks, webhookSinkConfig(srv.URL))
	a, reg := start(t, cfg, AlertsConfig{}, nil)
	for i := 1; i <= 300; i++ {
		a.Record(testEvent(i), nil)
	}
	closeAuditor(t, a)
	assertInOrder(t, c.received(), 300)
	if got := value(t, a.m.failed.WithLabelValues("siem")); got == 0 {
		t.Error("no failed delivery counted while the webhook refused")
	}
	if got := value(t, a.m.written.WithLabelValues("siem")); got != 300 {
		t.Errorf("written = %v, want 300", got)
	}
	if !gathered(t, reg, "crmgw_audit_events_written_total") {
		t.Error("metrics not registered on the passed registry")
	}
}

// flakyServer serves c on a fixed address that can be taken down and
// brought back (the same listener address, as a restarted SIEM would).
type flakyServer struct {
	addr string
	h    http.Handler
	srv  *http.Server
}

func newFlakyServer(t *testing.T, h http.Handler) *flakyServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyServer{addr: l.Addr().String(), h: h}
	l.Close() // down until up() is called
	return f
}

func (f *flakyServer) up(t *testing.T) {
	l, err := net.Listen("tcp", f.addr)
	if err != nil {
		t.Fatalf("re-listening on %s: %v", f.addr, err)
	}
	f.srv = &http.Server{Handler: f.h}
	go f.srv.Serve(l)
}

func (f *flakyServer) down() {
	if f.srv != nil {
		f.srv.Close()
	}
}

func TestWebhookDownThenBackOnTheSameAddressLosesNothing(t *testing.T) {
	c := &eventCollector{}
	fs := newFlakyServer(t, c)
	defer fs.down()
	dir := t.TempDir()
	cfg := Config{Sinks: []SinkConfig{webhookSinkConfig("http://" + fs.addr + "/hook")}, SpoolDir: filepath.Join(dir, "spool")}
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	for i := 1; i <= 150; i++ {
		a.Record(testEvent(i), nil)
	}
	// Wait until the sink has failed at least once (and spooled).
	waitFor(t, "a failed delivery", func() bool { return value(t, a.m.failed.WithLabelValues("siem")) > 0 })
	for i := 151; i <= 200; i++ {
		a.Record(testEvent(i), nil)
	}
	fs.up(t)
	for i := 201; i <= 250; i++ {
		a.Record(testEvent(i), nil)
	}
	closeAuditor(t, a)
	assertInOrder(t, c.received(), 250)
}

func TestSpoolSurvivesARestartWhileTheSinkIsDown(t *testing.T) {
	c := &eventCollector{}
	fs := newFlakyServer(t, c)
	defer fs.down()
	dir := t.TempDir()
	cfg := Config{Sinks: []SinkConfig{webhookSinkConfig("http://" + fs.addr + "/hook")}, SpoolDir: filepath.Join(dir, "spool")}
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	for i := 1; i <= 40; i++ {
		a.Record(testEvent(i), nil)
	}
	// The sink is down: Close gives up quickly and leaves the events spooled.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := a.Close(ctx)
	cancel()
	if err == nil {
		t.Fatal("Close with the sink down and a short deadline reported success")
	}
	fs.up(t)
	a, _ = start(t, cfg, AlertsConfig{}, nil)
	for i := 41; i <= 50; i++ {
		a.Record(testEvent(i), nil)
	}
	closeAuditor(t, a)
	got := c.received()
	// Without a file sink the chain restarts at 1 after a restart; what
	// matters here is that the 40 spooled events come first, in order,
	// then the 10 new ones.
	if len(got) != 50 {
		t.Fatalf("received %d events, want 50", len(got))
	}
	for i := 0; i < 40; i++ {
		if got[i] != int64(i+1) {
			t.Fatalf("spooled event %d has seq %d", i, got[i])
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestFullSpoolWithDropCountsDroppedEvents(t *testing.T) {
	fs := newFlakyServer(t, &eventCollector{}) // never comes up
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	cfg.Sinks = append(cfg.Sinks, webhookSinkConfig("http://"+fs.addr+"/hook"))
	cfg.SpoolMaxBytes = 64 << 10
	cfg.OnFull = OnFullDrop
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	const n = 400 // ~800 bytes each: well above 64KiB
	for i := 1; i <= n; i++ {
		a.Record(testEvent(i), nil)
	}
	// The file sink is unaffected: it takes every event.
	waitFor(t, "the file sink to write every event", func() bool {
		return value(t, a.m.written.WithLabelValues("file-0")) == n
	})
	waitFor(t, "dropped events", func() bool {
		return value(t, a.m.dropped.WithLabelValues("siem", "spool_full")) > 0
	})
	// The webhook never returns: Close gives up after a short while.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	a.Close(ctx)
	cancel()
	if !a.AcceptingExports() {
		t.Error("on_full: drop must never refuse exports")
	}
	rep, err := VerifyFile(cfg.Sinks[0].Path, RequireGenesis())
	if err != nil || !rep.OK() || rep.Events != n {
		t.Fatalf("file sink: %+v, %v", rep, err)
	}
}

func TestFullSpoolWithBlockExportsRefusesExportsUntilTheSinkReturns(t *testing.T) {
	c := &eventCollector{}
	fs := newFlakyServer(t, c)
	defer fs.down()
	dir := t.TempDir()
	cfg := Config{Sinks: []SinkConfig{webhookSinkConfig("http://" + fs.addr + "/hook")},
		SpoolDir: filepath.Join(dir, "spool"), SpoolMaxBytes: 64 << 10, OnFull: OnFullBlockExports,
		// A short memory queue so events reach the spool (and fill it) one
		// by one rather than in one failed batch.
		QueueSize: 10}
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	if !a.AcceptingExports() || a.Ready() != nil || !a.Healthy() {
		t.Fatal("a fresh auditor must accept exports and be ready")
	}
	n := 0
	for a.AcceptingExports() {
		n++
		if n > 5000 {
			t.Fatal("spool never filled")
		}
		a.Record(testEvent(n), nil)
		if n%50 == 0 {
			time.Sleep(time.Millisecond) // let the runner spool
		}
	}
	// A full spool is the SIEM's outage, shared by every replica: it pauses
	// exports and is reported as degraded, it does not make the replica
	// unready (reads keep being served and audited locally).
	if a.Ready() != nil || a.Healthy() {
		t.Errorf("a full spool: Ready %v (want nil), Healthy %v (want false)", a.Ready(), a.Healthy())
	}
	if d := a.Degraded()["audit_sink_siem"]; !strings.Contains(d, "spool full") {
		t.Errorf("Degraded must name the full spool, got %q", d)
	}
	fs.up(t)
	waitFor(t, "exports accepted again", a.AcceptingExports)
	closeAuditor(t, a)
	// Below twice the limit nothing was dropped.
	if d := value(t, a.m.dropped.WithLabelValues("siem", "spool_full")); d != 0 {
		t.Errorf("%v events dropped below twice spool_max_bytes", d)
	}
	assertInOrder(t, c.received(), n)
}

func TestSplunkHECFormat(t *testing.T) {
	type hecEvent struct {
		Time       json.Number     `json:"time"`
		Host       string          `json:"host"`
		Source     string          `json:"source"`
		Sourcetype string          `json:"sourcetype"`
		Event      json.RawMessage `json:"event"`
	}
	var mu sync.Mutex
	var got []hecEvent
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		auth = append(auth, r.Header.Get("Authorization"))
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		for {
			var e hecEvent
			if err := dec.Decode(&e); err == io.EOF {
				break
			} else if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			got = append(got, e)
		}
		io.WriteString(w, `{"text":"Success","code":0}`)
	}))
	defer srv.Close()
	sc := webhookSinkConfig(srv.URL + "/services/collector/event")
	sc.Format, sc.Token = "splunk_hec", "hec-s3cret"
	a, _ := start(t, Config{Sinks: []SinkConfig{sc}, SpoolDir: t.TempDir()}, AlertsConfig{}, nil)
	for i := 1; i <= 10; i++ {
		a.Record(testEvent(i), nil)
	}
	closeAuditor(t, a)
	if len(got) != 10 {
		t.Fatalf("got %d HEC events, want 10", len(got))
	}
	for _, h := range auth {
		if h != "Splunk hec-s3cret" {
			t.Fatalf("Authorization = %q", h)
		}
	}
	first := got[0]
	if first.Sourcetype != "crmgw:audit" || first.Source != "crmgw" {
		t.Errorf("sourcetype/source = %q/%q", first.Sourcetype, first.Source)
	}
	if want := time.Date(2026, 11, 23, 9, 14, 4, 0, time.UTC).Unix(); first.Time.String() != strconv.FormatInt(want, 10)+".412" {
		t.Errorf("time = %s, want epoch seconds with ms of the event", first.Time)
	}
	var ev Event
	if err := json.Unmarshal(first.Event, &ev); err != nil || ev.Chain.Seq != 1 || ev.RequestID != "01JREQ000001" {
		t.Errorf("event = %+v, %v", ev, err)
	}
}

// syslogFrame is a parsed RFC 5424 message.
type syslogFrame struct {
	pri                               int
	version                           string
	timestamp, host, app, proc, msgID string
	sd, msg                           string
}

func parseRFC5424(t *testing.T, s string) syslogFrame {
	t.Helper()
	if !strings.HasPrefix(s, "<") {
		t.Fatalf("frame %q does not start with <PRI>", s)
	}
	end := strings.IndexByte(s, '>')
	pri, err := strconv.Atoi(s[1:end])
	if err != nil || pri < 0 || pri > 191 {
		t.Fatalf("bad PRI in %q", s)
	}
	parts := strings.SplitN(s[end+1:], " ", 8)
	if len(parts) != 8 {
		t.Fatalf("frame %q has %d header parts", s, len(parts))
	}
	f := syslogFrame{pri: pri, version: parts[0], timestamp: parts[1], host: parts[2], app: parts[3],
		proc: parts[4], msgID: parts[5], sd: parts[6], msg: parts[7]}
	if f.version != "1" || f.sd != "-" {
		t.Fatalf("frame %q: version %q, sd %q", s, f.version, f.sd)
	}
	if _, err := time.Parse(time.RFC3339Nano, f.timestamp); err != nil {
		t.Fatalf("frame timestamp %q: %v", f.timestamp, err)
	}
	return f
}

// tcpSyslog accepts RFC 6587 octet-counted frames.
type tcpSyslog struct {
	l      net.Listener
	mu     sync.Mutex
	frames []string
}

func newTCPSyslog(t *testing.T) *tcpSyslog {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpSyslog{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.read(c)
		}
	}()
	t.Cleanup(func() { l.Close() })
	return s
}

func (s *tcpSyslog) read(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		lenStr, err := br.ReadString(' ')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(lenStr))
		if err != nil {
			s.add("BAD FRAMING: " + lenStr)
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		s.add(string(buf))
	}
}

func (s *tcpSyslog) add(f string) {
	s.mu.Lock()
	s.frames = append(s.frames, f)
	s.mu.Unlock()
}

func (s *tcpSyslog) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.frames...)
}

func TestSyslogSinkOverTCPWithCEF(t *testing.T) {
	ls := newTCPSyslog(t)
	sc := SinkConfig{Type: "syslog", Name: "qradar", Address: "tcp://" + ls.l.Addr().String(), Format: "cef"}
	a, _ := start(t, Config{Sinks: []SinkConfig{sc}, SpoolDir: t.TempDir()}, AlertsConfig{}, nil)
	a.Record(exportEvent(1, "00u1", 5000, time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)), nil)
	a.Record(testEvent(2), nil)
	closeAuditor(t, a)
	waitFor(t, "two syslog frames", func() bool { return len(ls.got()) == 2 })
	frames := ls.got()
	f := parseRFC5424(t, frames[0])
	if f.pri != 16*8+3 || f.app != "crmgw" || f.msgID != "audit" {
		t.Errorf("header = %+v, want local0.err from crmgw/audit", f)
	}
	want := "CEF:0|crmgw|crmgw|1|export|CRM export Contact|8|"
	if !strings.HasPrefix(f.msg, want) {
		t.Fatalf("msg = %q, want prefix %q", f.msg, want)
	}
	for _, kv := range []string{"externalId=01JREQ000001", "suser=li.wei@example.com", "src=10.20.1.7", "cn1=5000", "cs5=sales reps may read their contacts <&>"} {
		if !strings.Contains(f.msg, kv) {
			t.Errorf("CEF %q lacks %q", f.msg, kv)
		}
	}
	if g := parseRFC5424(t, frames[1]); g.pri != 16*8+6 || !strings.HasPrefix(g.msg, "CEF:0|crmgw|crmgw|1|read|") {
		t.Errorf("second frame = %+v", g)
	}
}

func TestSyslogSinkOverUDPWithJSON(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	sc := SinkConfig{Type: "syslog", Address: "udp://" + pc.LocalAddr().String()}
	a, _ := start(t, Config{Sinks: []SinkConfig{sc}, SpoolDir: t.TempDir()}, AlertsConfig{}, nil)
	a.Record(testEvent(1), nil)
	closeAuditor(t, a)
	buf := make([]byte, 65536)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	f := parseRFC5424(t, string(buf[:n]))
	var ev Event
	if err := json.Unmarshal([]byte(f.msg), &ev); err != nil || ev.Chain.Seq != 1 {
		t.Fatalf("msg is not the chained event: %v", err)
	}
}

func TestStdoutSinkWritesJSONLines(t *testing.T) {
	var out syncBuffer
	cfg := Config{SpoolDir: t.TempDir()}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := newAuditor(cfg, AlertsConfig{}, nil, nil, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	a.Record(testEvent(1), nil)
	a.Record(testEvent(2), nil)
	closeAuditor(t, a)
	rep, err := Verify(strings.NewReader(out.String()), RequireGenesis())
	if err != nil || !rep.OK() || rep.Events != 2 {
		t.Fatalf("stdout: %+v, %v", rep, err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRecordAfterCloseIsCountedNotPanicking(t *testing.T) {
	a, _ := start(t, fileConfig(t, t.TempDir()), AlertsConfig{}, nil)
	closeAuditor(t, a)
	a.Record(testEvent(1), nil)
	if got := value(t, a.m.dropped.WithLabelValues("all", "closed")); got != 1 {
		t.Errorf("dropped after close = %v", got)
	}
	if a.Ready() != ErrClosed {
		t.Errorf("Ready after Close = %v", a.Ready())
	}
	if err := a.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestPermanentlyRefusedBatchIsDroppedAndCounted(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "bad", http.StatusBadRequest)
	}))
	defer srv.Close()
	a, _ := start(t, Config{Sinks: []SinkConfig{webhookSinkConfig(srv.URL)}, SpoolDir: t.TempDir()}, AlertsConfig{}, nil)
	a.Record(testEvent(1), nil)
	closeAuditor(t, a)
	// The event, then its stub; both refused: one counted drop, no retry.
	if calls.Load() != 2 || value(t, a.m.dropped.WithLabelValues("siem", "rejected")) != 1 {
		t.Errorf("calls=%d dropped=%v, want the event and its stub tried once each and one counted drop", calls.Load(),
			value(t, a.m.dropped.WithLabelValues("siem", "rejected")))
	}
}
