package proxy

import (
	"testing"

	"github.com/crmgw/crmgw/audit"
)

func TestAuditChainOfARealRunVerifies(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 0; i < 5; i++ {
		readAll(t, e.do("GET", contactQuery, bearer(repKey), nil))
	}
	readAll(t, e.do("DELETE", "/services/data/v60.0/sobjects/Contact/003000000000001AAA", bearer(internKey), nil))
	if evs := e.auditEvents(6); len(evs) != 6 {
		t.Fatalf("want 6 events, got %d", len(evs))
	}
	rep, err := audit.VerifyFile(e.dir + "/audit.jsonl")
	// 6 completions and the start records of the 5 forwarded requests.
	if err != nil || !rep.OK() || rep.Events != 11 {
		t.Fatalf("chain: %+v %v", rep, err)
	}
}
