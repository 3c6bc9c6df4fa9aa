package policy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/crmgw/crmgw/internal/confkey"
)

// opaEntry is what a reader of OPA's decision logs expects of a line.
type opaEntry struct {
	Labels     map[string]string `json:"labels"`
	DecisionID string            `json:"decision_id"`
	Bundles    map[string]struct {
		Revision string `json:"revision"`
	} `json:"bundles"`
	Path        string         `json:"path"`
	Input       map[string]any `json:"input"`
	Result      map[string]any `json:"result"`
	Erased      []string       `json:"erased"`
	Error       map[string]any `json:"error"`
	RequestedBy string         `json:"requested_by"`
	Timestamp   time.Time      `json:"timestamp"`
	Metrics     map[string]any `json:"metrics"`
	Custom      map[string]any `json:"custom"`
}

func readDecisionLog(t *testing.T, path string) []opaEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []opaEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		var e opaEntry
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("decision log line is not an OPA decision-log entry: %v\n%s", err, sc.Text())
		}
		out = append(out, e)
	}
	return out
}

// TestDecisionLogOfRealDecisions evaluates the default policies with the
// decision log on a real file: one entry per decision, cached ones too,
// in OPA's format, with the credential query parameter and the
// configured pointer erased.
func TestDecisionLogOfRealDecisions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "decisions.jsonl")
	e, err := New(context.Background(), Config{Paths: []string{policiesDir}, Timeout: 5 * time.Second,
		DecisionLog: &DecisionLogConfig{Type: "file", Path: path, Labels: map[string]string{"env": "test"},
			Erase: []string{"/input/action/query", "/input/subject/claims/sid"}}}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ins := benchInputs()
	ins[0].Request.Query = nil
	ins[0].Request.RawQuery = "q=SELECT+Id+FROM+Contact&access_token=caller-s3cret&Authtoken=zoho-s3cret"
	ins[0].Subject.Claims = map[string]any{"sid": "session-s3cret", "amr": []any{"mfa"}}
	var want []Decision
	for round := 0; round < 2; round++ { // the second round comes from the cache
		for _, in := range ins {
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, d)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, secret := range []string{"caller-s3cret", "zoho-s3cret", "session-s3cret", "SELECT Id, Name"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the decision log holds %q", secret)
		}
	}
	got := readDecisionLog(t, path)
	if len(got) != len(want) {
		t.Fatalf("%d entries for %d decisions", len(got), len(want))
	}
	ids := map[string]bool{}
	for i, g := range got {
		if ids[g.DecisionID] || g.DecisionID == "" {
			t.Errorf("entry %d: decision_id %q is not unique", i, g.DecisionID)
		}
		ids[g.DecisionID] = true
		if g.Path != "crmgw/authz/decision" || g.Bundles["crmgw"].Revision != e.Revision() || g.Labels["env"] != "test" ||
			g.Labels["id"] == "" || g.Labels["version"] == "" || g.RequestedBy != "10.20.1.7" || g.Custom["request_id"] != "01JTEST" {
			t.Errorf("entry %d: %+v", i, g)
		}
		if g.Result["allow"] != want[i].Allow || g.Result["reason"] != want[i].Reason {
			t.Errorf("entry %d: result %v, decision %+v", i, g.Result, want[i])
		}
		if g.Input["action"].(map[string]any)["operation"] != ins[i%len(ins)].Action.Operation || g.Timestamp.IsZero() {
			t.Errorf("entry %d: input %v", i, g.Input["action"])
		}
		if _, ok := g.Metrics["timer_crmgw_decide_ns"]; !ok {
			t.Errorf("entry %d: metrics %v", i, g.Metrics)
		}
		cached := i >= len(ins)
		if _, ok := g.Metrics["timer_rego_query_eval_ns"]; ok == cached {
			t.Errorf("entry %d (cached %v): OPA's evaluation timer %v", i, cached, g.Metrics)
		}
		if _, ok := g.Metrics["counter_crmgw_decision_cache_hit"]; ok != cached {
			t.Errorf("entry %d (cached %v): cache hit counter %v", i, cached, g.Metrics)
		}
	}
	first := got[0]
	q := first.Input["request"].(map[string]any)["query"].(map[string]any)
	if _, ok := q["q"]; !ok || len(q) != 1 {
		t.Errorf("input.request.query = %v, want only q", q)
	}
	if strings.Join(first.Erased, ",") == "" || !strings.Contains(strings.Join(first.Erased, ","), "/input/request/query/access_token") ||
		!strings.Contains(strings.Join(first.Erased, ","), "/input/request/query/Authtoken") ||
		!strings.Contains(strings.Join(first.Erased, ","), "/input/action/query") || !strings.Contains(strings.Join(first.Erased, ","), "/input/subject/claims/sid") {
		t.Errorf("erased = %v", first.Erased)
	}
	if e.DecisionLogStats() != (DecisionLogStats{Written: uint64(len(want))}) {
		t.Errorf("stats = %+v", e.DecisionLogStats())
	}
}

func TestDecisionLogOfAFailedEvaluation(t *testing.T) {
	dir := t.TempDir()
	rego := filepath.Join(dir, "p.rego")
	os.WriteFile(rego, []byte("package crmgw.authz\n\ndecision := {\"allow\": \"yes\"} if input.subject.kind == \"user\"\n"), 0o600)
	path := filepath.Join(dir, "decisions.jsonl")
	e := newEngine(t, Config{Paths: []string{rego}, DecisionLog: &DecisionLogConfig{Type: "file", Path: path}})
	if _, err := e.Decide(context.Background(), input(clientSubject("integration"), act("read", "read", "Contact"))); !errors.Is(err, ErrUndefined) {
		t.Fatalf("err = %v", err)
	}
	if _, err := e.Decide(context.Background(), input(subject(true, "sales_rep"), act("read", "read", "Contact"))); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	e.Close()
	got := readDecisionLog(t, path)
	if len(got) != 2 || got[0].Error["code"] != "undefined" || got[0].Result != nil ||
		got[1].Error["code"] != "malformed_decision" || got[1].Result["allow"] != "yes" {
		t.Fatalf("entries = %+v", got)
	}
}

// blockingWriter holds every write until released.
type blockingWriter struct{ release chan struct{} }

func (w *blockingWriter) Write(p []byte) (int, error) { <-w.release; return len(p), nil }

func TestDecisionLogDropsWhenItsQueueIsFull(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	c := &DecisionLogConfig{Type: "stdout", QueueSize: 2}
	l, err := newDecisionLog(c, DefaultDecision, w, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	in := input(subject(true, "sales_rep"), act("read", "read", "Contact"))
	for i := 0; i < 10; i++ {
		// Entries big enough that one fills the writer's buffer, so the
		// writer goroutine blocks and the queue fills.
		ev := l.entry(context.Background(), in, Decision{Allow: true, Reason: strings.Repeat("r", 70<<10)}, nil, &decisionRecord{}, time.Now())
		l.log(ev)
	}
	if d := l.dropped.Load(); d < 7 {
		t.Errorf("dropped %d of 10 with a queue of 2 and a blocked writer", d)
	}
	close(w.release)
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	if l.written.Load()+l.dropped.Load() != 10 {
		t.Errorf("written %d + dropped %d != 10", l.written.Load(), l.dropped.Load())
	}
}

func TestDecisionLogConfig(t *testing.T) {
	c := Config{Paths: []string{"p"}, DecisionLog: &DecisionLogConfig{Type: "kafka", QueueSize: -1, Erase: []string{"/subject", "input/x"}}}
	c.SetDefaults()
	keys := map[string]bool{}
	for _, e := range confkey.Flatten(c.Validate()) {
		var ce *confkey.Error
		if errors.As(e, &ce) {
			keys[ce.Key] = true
		}
	}
	for _, k := range []string{"decision_log.type", "decision_log.queue_size", "decision_log.erase[0]", "decision_log.erase[1]"} {
		if !keys[k] {
			t.Errorf("no problem named %s (got %v)", k, keys)
		}
	}
	c = Config{Paths: []string{"p"}, DecisionLog: &DecisionLogConfig{Type: "file"}}
	c.SetDefaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "decision_log.path: a file decision log needs a path") {
		t.Errorf("file without path: %v", err)
	}
	if c.DecisionLog.QueueSize != DefaultDecisionLogQueue {
		t.Errorf("queue_size default = %d", c.DecisionLog.QueueSize)
	}
}

// BenchmarkDecideWithDecisionLog is BenchmarkDecide with the decision log
// on (to a discarded stdout): the cost of logging every decision.
func BenchmarkDecideWithDecisionLog(b *testing.B) {
	e := benchEngine(b)
	l, err := newDecisionLog(&DecisionLogConfig{Type: "stdout", QueueSize: 1 << 16}, DefaultDecision, io.Discard, zaptest.NewLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	e.dlog = l
	benchDecide(b, e)
}
