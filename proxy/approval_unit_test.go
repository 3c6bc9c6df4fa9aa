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
