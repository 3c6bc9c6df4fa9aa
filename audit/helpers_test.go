package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"
)

// testEvent is a realistic event; i varies the request id and records.
func testEvent(i int) *Event {
	ev := &Event{
		Time:      time.Date(2026, 11, 23, 9, 14, 3, 412000000, time.UTC).Add(time.Duration(i) * time.Second),
		RequestID: fmt.Sprintf("01JREQ%06d", i),
		Status:    StatusAllowed,
		Actor: Actor{
			User:     User{UID: "00u1", Email: "li.wei@example.com", Groups: []string{"sales"}},
			MFA:      true,
			Kind:     "user",
			ClientID: "",
		},
		SrcEndpoint:  Endpoint{IP: "10.20.1.7"},
		HTTPRequest:  HTTPRequest{Method: "GET", Path: "/services/data/v60.0/query", UserAgent: "jsforce/3.10"},
		HTTPResponse: HTTPResponse{Code: 200, Bytes: 4096},
		CRM: CRM{Upstream: "salesforce", Type: "salesforce", Operation: "query", Category: "read",
			Object: "Contact", Fields: []string{"Id", "Email"}, Records: int64(i % 50)},
		Decision: Decision{Allow: true, Enforced: true, Reason: "sales reps may read their contacts <&>",
			Masked: []string{"Contact.Email"}, PolicyRevision: "sha256:abc"},
		DurationMS: 84.2,
	}
	ev.Classify()
	return ev
}

// exportEvent is an allowed bulk export of n records by uid at t.
func exportEvent(i int, uid string, n int64, t time.Time) *Event {
	ev := testEvent(i)
	ev.Time = t
	ev.Actor.User.UID = uid
	ev.CRM.Operation, ev.CRM.Category, ev.CRM.Records = "bulk_result", "export", n
	ev.Classify()
	return ev
}

func fileConfig(t *testing.T, dir string) Config {
	t.Helper()
	cfg := Config{
		Sinks:    []SinkConfig{{Type: "file", Path: filepath.Join(dir, "audit.jsonl"), Fsync: "always"}},
		SpoolDir: filepath.Join(dir, "spool"),
	}
	return cfg
}

// start builds an auditor after SetDefaults and Validate, as the loader does.
func start(t *testing.T, cfg Config, alerts AlertsConfig, rules RuleEvaluator) (*Auditor, *prometheus.Registry) {
	t.Helper()
	cfg.SetDefaults()
	alerts.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	if err := alerts.Validate(); err != nil {
		t.Fatalf("alerts config: %v", err)
	}
	reg := prometheus.NewRegistry()
	a, err := New(cfg, alerts, rules, reg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a, reg
}

func closeAuditor(t *testing.T, a *Auditor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func writeLines(t *testing.T, path string, lines []string, trailingNewline bool) {
	t.Helper()
	s := strings.Join(lines, "\n")
	if trailingNewline {
		s += "\n"
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// opaRules evaluates the shipped alert rules with OPA directly, standing
// in for policy.Query.
type opaRules struct{ pq rego.PreparedEvalQuery }

func (o *opaRules) Eval(ctx context.Context, input any) ([]any, error) {
	rs, err := o.pq.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return nil, err
	}
	var out []any
	for _, r := range rs {
		for _, e := range r.Expressions {
			out = append(out, e.Value)
		}
	}
	return out, nil
}

var _ RuleEvaluator = (*opaRules)(nil)

func loadRules(t testing.TB, extraData string) RuleEvaluator {
	t.Helper()
	files := []string{"../policies/alerts.rego", "../policies/alerts_data.json"}
	if extraData != "" {
		p := filepath.Join(t.TempDir(), "override.json")
		if err := os.WriteFile(p, []byte(extraData), 0o600); err != nil {
			t.Fatal(err)
		}
		files = []string{"../policies/alerts.rego", p}
	}
	pq, err := rego.New(rego.Query("data.crmgw.alerts.alerts"), rego.Load(files, nil)).PrepareForEval(context.Background())
	if err != nil {
		t.Fatalf("preparing alert rules: %v", err)
	}
	return &opaRules{pq: pq}
}

func decodeEvent(t *testing.T, line string) Event {
	t.Helper()
	var ev Event
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("line is not an event: %v", err)
	}
	return ev
}

// value reads a counter or gauge (prometheus/testutil needs a module this
// repository does not carry).
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatal("not a counter or gauge")
	return 0
}

func gathered(t *testing.T, reg *prometheus.Registry, name string) bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return true
		}
	}
	return false
}
