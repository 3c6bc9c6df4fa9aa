package proxy

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMonitorModeAuditsButNeverBlocks(t *testing.T) {
	e := newEnv(t, envOptions{mode: "monitor"})
	resp := e.do("DELETE", "/services/data/v60.0/sobjects/Contact/003000000000001AAA", bearer(internKey), nil)
	readAll(t, resp)
	if resp.StatusCode == 403 {
		t.Fatal("monitor mode blocked a request")
	}
	if n := len(e.crm.Requests()); n != 1 {
		t.Fatalf("monitor mode: the request must reach the CRM, got %d", n)
	}
	evs := e.auditEvents(1)
	if get(evs[0], "decision", "allow") != false || get(evs[0], "decision", "enforced") != false {
		t.Fatalf("monitor-mode event must record the denial as not enforced: %v", evs[0]["decision"])
	}
}

// A policy that reads the request's query and headers sees them as sent
// (the query parsed by the engine, escapes decoded), also when its
// decisions come from the cache: a cached allow for one query or agent is
// never handed to another.
func TestPolicyReadsQueryAndHeaders(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(`package crmgw.authz

default decision := {"allow": false, "reason": "debug requests and blocked agents are refused"}

decision := {"allow": true, "reason": "ok"} if {
	not input.request.query.debug
	input.request.headers["user-agent"] != "blocked-agent/1"
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{policies: dir})
	q := "/services/data/v60.0/query?q=SELECT+Id+FROM+Contact+LIMIT+1"
	cases := []struct {
		name, path, agent string
		want              int
	}{
		{"plain", q, "jsforce/3.10", 200},
		{"debug", q + "&debug=1", "jsforce/3.10", 403},
		{"debug, name escaped", q + "&%64ebug=1", "jsforce/3.10", 403},
		{"blocked agent", q, "blocked-agent/1", 403},
		{"other agent", q, "blocked-agent/2", 200},
	}
	for round := range 3 { // rounds 2 and 3 are answered from the decision cache
		for _, c := range cases {
			resp := e.do("GET", c.path, bearer(repKey), nil, "User-Agent", c.agent)
			body := readAll(t, resp)
			if resp.StatusCode != c.want {
				t.Errorf("round %d, %s: status %d, want %d: %s", round, c.name, resp.StatusCode, c.want, body)
			}
		}
	}
}
