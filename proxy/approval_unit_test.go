package proxy

import (
	"testing"

	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/policy"
)

// A composite request hiding an export: the approval any part asks for
// holds the whole request, whichever part it is.
func TestMergedDecisionKeepsAnyPartsApproval(t *testing.T) {
	ap := &policy.Approval{Approvers: []string{"group:m"}, Reason: "export"}
	allow := policy.Decision{Allow: true}
	asks := policy.Decision{Allow: true, Approval: ap}
	for name, parts := range map[string][]policy.Decision{
		"container asks": {asks, allow, allow},
		"middle part":    {allow, asks, allow},
		"last part":      {allow, allow, asks},
	} {
		merged := parts[0]
		for _, p := range parts[1:] {
			merged = mergeDecision(merged, p)
		}
		if merged.Approval != ap || !merged.Allow {
			t.Errorf("%s: merged %+v", name, merged)
		}
	}
	if m := mergeDecision(asks, policy.Decision{Allow: false, Reason: "no"}); m.Allow {
		t.Error("an approval let a denied part through")
	}
}

func TestContinuations(t *testing.T) {
	for a, want := range map[*crm.Action]bool{
		{Operation: crm.OpQuery, Mode: "next_page"}: true,
		{Operation: crm.OpBulkResult}:               true,
		{Operation: crm.OpBulkQuery}:                false,
		{Operation: crm.OpQuery, Mode: "queryAll"}:  false,
	} {
		if isContinuation(a) != want {
			t.Errorf("%+v: continuation %v", *a, !want)
		}
	}
}

func TestEstimate(t *testing.T) {
	for _, c := range []struct {
		query string
		cap   int
		want  int64
	}{
		{"SELECT Id FROM Contact LIMIT 50", 2000, 50},
		{"SELECT Id FROM Contact limit 5000 offset 10", 2000, 2000},
		{"SELECT Id FROM Contact", 2000, 2000},
		{"SELECT Id FROM Contact LIMIT 50", 0, 50},
		{"SELECT Id, (SELECT Id FROM Contacts LIMIT 5) FROM Account", 0, 0},
	} {
		x := &exchange{maxRecords: c.cap}
		x.result.Action.Query = c.query
		if got := estimate(x); got != c.want {
			t.Errorf("%q cap %d: %d, want %d", c.query, c.cap, got, c.want)
		}
	}
}
