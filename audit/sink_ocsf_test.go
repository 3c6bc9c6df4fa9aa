package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmgw/crmgw/internal/confkey"
)

// ocsfReceiver is a webhook receiver that keeps every event it got as raw
// JSON: a generic JSON array, or newline-separated HEC envelopes.
type ocsfReceiver struct {
	hec  bool
	mu   sync.Mutex
	evs  []json.RawMessage
	meta []string // HEC sourcetype of each event
	auth []string
	// down answers 503 while set.
	down bool
}

func (c *ocsfReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	c.auth = append(c.auth, r.Header.Get("Authorization"))
	if !c.hec {
		var evs []json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&evs); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.evs = append(c.evs, evs...)
		return
	}
	dec := json.NewDecoder(r.Body)
	for {
		var e struct {
			Sourcetype string          `json:"sourcetype"`
			Event      json.RawMessage `json:"event"`
		}
		if err := dec.Decode(&e); err == io.EOF {
			return
		} else if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.evs = append(c.evs, e.Event)
		c.meta = append(c.meta, e.Sourcetype)
	}
}

func (c *ocsfReceiver) events() []json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]json.RawMessage(nil), c.evs...)
}

func (c *ocsfReceiver) setDown(down bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
}

// assertOCSF validates every event and checks that they are the chain's
// events 1..n in order (unmapped.chain.seq).
func assertOCSF(t *testing.T, sink string, evs []json.RawMessage, n int) {
	t.Helper()
	s := ocsfSchema(t)
	if len(evs) != n {
		t.Fatalf("%s: %d events, want %d", sink, len(evs), n)
	}
	for i, raw := range evs {
		if err := s.Validate(raw); err != nil {
			t.Fatalf("%s: event %d is not valid OCSF: %v\n%s", sink, i, err, raw)
		}
		var o OCSFEvent
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		if o.Unmapped.Chain.Seq != int64(i+1) || o.Unmapped.Chain.Hash == "" || o.Metadata.UID != o.Unmapped.Chain.Hash {
			t.Fatalf("%s: event %d carries chain %+v, uid %q", sink, i, o.Unmapped.Chain, o.Metadata.UID)
		}
	}
}

// TestOCSFSinks runs the local log (native) with an OCSF file, stdout,
// webhook, Splunk HEC and syslog sink: the local log still verifies, and
// every other sink gets every event, in order, as valid OCSF, also after
// the webhook was down and its events came back from the spool.
func TestOCSFSinks(t *testing.T) {
	dir := t.TempDir()
	generic := &ocsfReceiver{}
	generic.setDown(true)
	hec := &ocsfReceiver{hec: true}
	gsrv, hsrv := httptest.NewServer(generic), httptest.NewServer(hec)
	defer gsrv.Close()
	defer hsrv.Close()
	ls := newTCPSyslog(t)
	var out syncBuffer

	cfg := fileConfig(t, dir)
	wh := webhookSinkConfig(gsrv.URL)
	wh.Format = FormatOCSF
	sh := webhookSinkConfig(hsrv.URL + "/services/collector/event")
	sh.Name, sh.Format, sh.Token = "splunk", FormatSplunkHECOCSF, "hec-s3cret"
	cfg.Sinks = append(cfg.Sinks,
		SinkConfig{Type: "file", Path: filepath.Join(dir, "ocsf.jsonl"), Format: FormatOCSF},
		SinkConfig{Type: "stdout", Format: FormatOCSF},
		wh, sh,
		SinkConfig{Type: "syslog", Address: "tcp://" + ls.l.Addr().String(), Format: FormatOCSF},
	)
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := newAuditor(cfg, AlertsConfig{}, nil, nil, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	for i := 1; i <= n; i++ {
		ev := testEvent(i)
		if i%3 == 0 {
			ev = exportEvent(i, "00u1", 5000, time.Date(2026, 11, 23, 9, 0, i, 0, time.UTC))
			ev.Actor = Actor{User: User{UID: "etl"}, ClientID: "etl", Kind: "client", Issuer: "crmgw:api_key"}
		}
		a.Record(ev, nil)
	}
	waitFor(t, "the webhook's events in its spool", func() bool { return !a.Healthy() || a.Degraded()["audit_sink_siem"] != "" })
	generic.setDown(false)
	waitFor(t, "the webhook to catch up", func() bool { return len(generic.events()) == n })
	closeAuditor(t, a)

	rep, err := VerifyFile(filepath.Join(dir, "audit.jsonl"), RequireGenesis())
	if err != nil || !rep.OK() || rep.Events != n {
		t.Fatalf("the local log does not verify: %+v, %v", rep, err)
	}
	var file []json.RawMessage
	for _, l := range readLines(t, filepath.Join(dir, "ocsf.jsonl")) {
		file = append(file, json.RawMessage(l))
	}
	assertOCSF(t, "file", file, n)
	var stdout []json.RawMessage
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		stdout = append(stdout, json.RawMessage(sc.Text()))
	}
	assertOCSF(t, "stdout", stdout, n)
	assertOCSF(t, "webhook", generic.events(), n)
	assertOCSF(t, "splunk_hec_ocsf", hec.events(), n)
	for _, h := range hec.auth {
		if h != "Splunk hec-s3cret" {
			t.Fatalf("splunk_hec_ocsf Authorization = %q", h)
		}
	}
	if hec.meta[0] != "crmgw:audit:ocsf" {
		t.Errorf("sourcetype = %q", hec.meta[0])
	}
	waitFor(t, "every syslog frame", func() bool { return len(ls.got()) == n })
	var frames []json.RawMessage
	for _, f := range ls.got() {
		frames = append(frames, json.RawMessage(parseRFC5424(t, f).msg))
	}
	assertOCSF(t, "syslog", frames, n)

	var o OCSFEvent
	json.Unmarshal(file[2], &o)
	if o.Actor.User != nil || o.Actor.AppUID != "etl" || o.ActivityID != OCSFActivityRead || o.Unmapped.Activity != "export" {
		t.Errorf("the API key's export is %+v as %+v", o.Actor, o.Unmapped)
	}
}

// TestOCSFStubOfAnOversizedEvent: an event the receiver cannot take whole
// goes to an OCSF sink as a stub that is valid OCSF too.
func TestOCSFStubOfAnOversizedEvent(t *testing.T) {
	rcv := &ocsfReceiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	sc := webhookSinkConfig(srv.URL)
	sc.Format, sc.MaxBody = FormatOCSF, 4<<10
	a, _ := start(t, Config{Sinks: []SinkConfig{sc}, SpoolDir: t.TempDir()}, AlertsConfig{}, nil)
	big := testEvent(1)
	for i := 0; i < 200; i++ {
		big.CRM.Fields = append(big.CRM.Fields, strings.Repeat("F", 40)+string(rune('a'+i%26)))
	}
	a.Record(big, nil)
	closeAuditor(t, a)
	evs := rcv.events()
	assertOCSF(t, "webhook", evs, 1)
	var o OCSFEvent
	json.Unmarshal(evs[0], &o)
	if !strings.HasPrefix(o.Unmapped.Error, "oversize:") {
		t.Errorf("the stub's error = %q", o.Unmapped.Error)
	}
}

func TestOCSFFormatConfig(t *testing.T) {
	ok := Config{Sinks: []SinkConfig{
		{Type: "file", Path: "/var/log/crmgw/audit.jsonl"},
		{Type: "file", Path: "/var/log/crmgw/ocsf.jsonl", Format: "ocsf"},
		{Type: "stdout", Format: "ocsf"},
		{Type: "webhook", URL: "https://siem.example.com/in", Format: "ocsf"},
		{Type: "webhook", URL: "https://splunk.example.com:8088/services/collector/event", Format: "splunk_hec_ocsf", Token: "t"},
		{Type: "syslog", Address: "tcp://siem.example.com:601", Format: "ocsf"},
	}}
	ok.SetDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("format: ocsf on every sink type: %v", err)
	}

	bad := Config{Sinks: []SinkConfig{
		{Type: "file", Path: "/var/log/crmgw/audit.jsonl", Format: "ocsf"},
		{Type: "stdout", Format: "cef"},
		{Type: "webhook", URL: "https://splunk.example.com:8088/services/collector/event", Format: "splunk_hec_ocsf"},
		{Type: "syslog", Address: "tcp://siem.example.com:601", Format: "ocsf-1.8"},
		{Type: "file", Path: "/var/log/crmgw/b.jsonl", Format: "xml"},
	}}
	bad.SetDefaults()
	problems := map[string]string{}
	for _, e := range confkey.Flatten(bad.Validate()) {
		var ce *confkey.Error
		if errors.As(e, &ce) {
			problems[ce.Key] = ce.Msg
		}
	}
	for key, want := range map[string]string{
		"sinks[0].format": "the first file sink is the local audit log",
		"sinks[1].format": `must be json or ocsf, got "cef"`,
		"sinks[2].token":  "splunk_hec_ocsf needs the HEC token",
		"sinks[3].format": `must be json, cef or ocsf, got "ocsf-1.8"`,
		"sinks[4].format": `must be json or ocsf, got "xml"`,
	} {
		if !strings.Contains(problems[key], want) {
			t.Errorf("%s: %q, want it to say %q (all: %v)", key, problems[key], want, problems)
		}
	}

	alerts := AlertsConfig{Sinks: []SinkConfig{{Type: "syslog", Address: "udp://127.0.0.1:514", Format: "ocsf"},
		{Type: "webhook", URL: "https://soc.example.com/hook", Format: "ocsf"}}}
	alerts.SetDefaults()
	err := alerts.Validate()
	if err == nil || !strings.Contains(err.Error(), `sinks[0].format: must be json or cef, got "ocsf"`) ||
		!strings.Contains(err.Error(), `sinks[1].format: must be one of generic, splunk_hec, got "ocsf"`) {
		t.Errorf("alert sinks take no ocsf: %v", err)
	}
}
