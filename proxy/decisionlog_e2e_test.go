package proxy

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDecisionLogThroughTheGateway: with policy.decision_log on, every
// request's decision reaches the file in OPA's format, joined to the
// request by its id, and the entries are counted in /metrics.
func TestDecisionLogThroughTheGateway(t *testing.T) {
	e := newEnv(t, envOptions{policy: "  decision_log: {type: file, path: decisions.jsonl}\n"})
	var ids []string
	for _, r := range []struct{ method, path, key string }{
		{"GET", contactQuery + "&access_token=caller-s3cret", repKey},
		{"DELETE", "/services/data/v60.0/sobjects/Contact/003000000000001AAA", internKey},
	} {
		resp := e.do(r.method, r.path, bearer(r.key), nil)
		readAll(t, resp)
		ids = append(ids, resp.Header.Get("X-Request-Id"))
	}
	e.auditEvents(2)
	if err := e.srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.dir, "decisions.jsonl")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "caller-s3cret") || strings.Contains(string(raw), repKey) {
		t.Fatal("the decision log holds the caller's credential")
	}
	byRequest := map[string][]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		id, _ := m["custom"].(map[string]any)["request_id"].(string)
		byRequest[id] = append(byRequest[id], m)
	}
	for i, id := range ids {
		entries := byRequest[id]
		if len(entries) == 0 {
			t.Fatalf("request %d (%s): no decision-log entry", i, id)
		}
		m := entries[0]
		if m["path"] != "crmgw/authz/decision" || m["decision_id"] == "" || get(m, "input", "request", "id") != id ||
			get(m, "result", "allow") == nil || get(m, "bundles", "crmgw", "revision") == "" {
			t.Errorf("request %d: entry %v", i, m)
		}
	}
	if get(byRequest[ids[0]][0], "result", "allow") != true || get(byRequest[ids[1]][0], "result", "allow") != false {
		t.Errorf("the sales rep's query and the intern's delete are logged as %v and %v",
			get(byRequest[ids[0]][0], "result"), get(byRequest[ids[1]][0], "result"))
	}
}

// TestDecisionLogMetrics: the entries are counted by outcome.
func TestDecisionLogMetrics(t *testing.T) {
	e := newEnv(t, envOptions{policy: "  decision_log: {type: file, path: decisions.jsonl}\n"})
	readAll(t, e.do("GET", contactQuery, bearer(repKey), nil))
	e.auditEvents(1)
	resp, err := http.Get(e.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`crmgw_policy_decision_log_entries_total{outcome="dropped"} 0`, `crmgw_policy_decision_log_entries_total{outcome="written"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
