package main

import (
	"encoding/json"
	"testing"
)

// TestJSForceBulk1Unchanged drives the demo over https with jsforce's Bulk
// API 1.0 (conn.bulk): its X-SFDC-Session is the caller's credential, its
// XML job is bound to the manager who created it (the sales rep polling
// it gets NOT_FOUND), the CSV result is cut at the export cap with the
// national ids masked, and the intern's export is refused in Bulk 1.0's
// error shape, which jsforce surfaces as the CRMGW_FORBIDDEN errorCode.
func TestJSForceBulk1Unchanged(t *testing.T) {
	needNodeModule(t, "jsforce")
	r := startDemo(t)
	out := runNode(t, r, "jsforce_bulk1.mjs", "GW="+r.https, "KEY="+managerKey, "REP="+repKey, "INTERN="+internKey)
	t.Logf("jsforce bulk: %s", out)
	var got struct {
		Export struct {
			Rows              int
			Phone, NationalID string
		} `json:"export"`
		OtherPoll, OwnerPoll, InternExport string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("jsforce output %q: %v", out, err)
	}
	if got.Export.Rows != 2000 || got.Export.Phone == "" || got.Export.Phone == "****" || got.Export.NationalID != "****" {
		t.Errorf("bulk.query through the gateway: %+v, want the cap of 2000 rows, phones and masked national ids", got.Export)
	}
	if got.OtherPoll != "NOT_FOUND" || got.OwnerPoll != "Open" {
		t.Errorf("the manager's job polled by the sales rep: %q, by the manager: %q", got.OtherPoll, got.OwnerPoll)
	}
	if got.InternExport != "CRMGW_FORBIDDEN" {
		t.Errorf("the intern's bulk.query surfaced as %q, want the CRMGW_FORBIDDEN errorCode", got.InternExport)
	}
}
