package policy

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// The decision's approval object is read strictly: a policy asking for an
// approval nobody can give, or for a grant of no length, is malformed
// (a denial), never an allow.
func TestDecisionApproval(t *testing.T) {
	tests := []struct {
		name     string
		approval string
		want     *Approval
		wantErr  bool
	}{
		{"full", `{"approvers": ["group:sales_managers", "role:cfo"], "ttl": "4h", "reason": "big export"}`,
			&Approval{Approvers: []string{"group:sales_managers", "role:cfo"}, TTL: 4 * time.Hour, Reason: "big export"}, false},
		{"no ttl: the gateway's default", `{"approvers": ["group:m"]}`, &Approval{Approvers: []string{"group:m"}}, false},
		{"null: none", `null`, nil, false},
		{"no approvers", `{"approvers": [], "ttl": "4h"}`, nil, true},
		{"approver without kind", `{"approvers": ["sales_managers"]}`, nil, true},
		{"approver of another kind", `{"approvers": ["user:boss"]}`, nil, true},
		{"approver not a string", `{"approvers": [1]}`, nil, true},
		{"ttl not a duration", `{"approvers": ["group:m"], "ttl": "4 hours"}`, nil, true},
		{"ttl negative", `{"approvers": ["group:m"], "ttl": "-1h"}`, nil, true},
		{"ttl a number", `{"approvers": ["group:m"], "ttl": 3600}`, nil, true},
		{"unknown key", `{"approvers": ["group:m"], "approver": "x"}`, nil, true},
		{"not an object", `true`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writePolicy(t, map[string]string{"authz.rego": `package crmgw.authz

decision := {"allow": true, "reason": "ok", "approval": ` + tt.approval + `}
`})
			e := newEngine(t, Config{Paths: []string{dir}})
			d, err := e.Decide(context.Background(), input(subject(true, "admin"), act("bulk_query", "export", "Contact")))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) || d.Allow {
					t.Fatalf("decision %+v, %v; want a malformed denial", d, err)
				}
				return
			}
			if err != nil || !d.Allow {
				t.Fatalf("decision %+v, %v", d, err)
			}
			if (d.Approval == nil) != (tt.want == nil) {
				t.Fatalf("approval = %+v, want %+v", d.Approval, tt.want)
			}
			if tt.want != nil && (!slices.Equal(d.Approval.Approvers, tt.want.Approvers) || d.Approval.TTL != tt.want.TTL || d.Approval.Reason != tt.want.Reason) {
				t.Errorf("approval = %+v, want %+v", d.Approval, tt.want)
			}
		})
	}
}

// Policies read input.approval and input.subject.watch, through the cache:
// a decision for one approval state is not handed to another.
func TestPolicyReadsApprovalAndWatch(t *testing.T) {
	dir := writePolicy(t, map[string]string{"authz.rego": `package crmgw.authz

import rego.v1

default decision := {"allow": false, "reason": "no"}

decision := {"allow": true, "reason": "approved"} if input.approval.status == "approved"

decision := {"allow": true, "reason": "not watched"} if {
	input.approval.status == "none"
	not "departing" in input.subject.watch
}
`})
	e := newEngine(t, Config{Paths: []string{dir}})
	ctx := context.Background()
	in := input(subject(true, "admin"), act("bulk_query", "export", "Contact"))
	check := func(want string) {
		t.Helper()
		d, err := e.Decide(ctx, in)
		if err != nil || d.Reason != want {
			t.Errorf("decision %+v, %v; want %q", d, err, want)
		}
	}
	check("not watched")
	in.Subject.Watch = []string{"departing"}
	check("no")
	in.Approval.Status = "approved"
	check("approved")
	in.Approval.Status = "pending"
	check("no")
}
