package proxy

import (
	"reflect"
	"testing"

	"github.com/crmgw/crmgw/policy"
)

func TestMergeDecisionTakesTheStricterOfEachPart(t *testing.T) {
	a := policy.Decision{Allow: true, Reason: "ok", Mask: map[string]string{"Contact.Email": "partial"}, MaxRecords: 500}
	b := policy.Decision{Allow: false, Reason: "role intern may not read Opportunity", Mask: map[string]string{"Contact.Email": "redact", "*.Phone": "null"}, MaxRecords: 100}
	got := mergeDecision(a, b)
	if got.Allow || got.Reason != b.Reason {
		t.Errorf("one denial must deny the whole request with its reason: %+v", got)
	}
	want := map[string]string{"Contact.Email": "redact", "*.Phone": "null"}
	if !reflect.DeepEqual(got.Mask, want) {
		t.Errorf("mask %v, want %v", got.Mask, want)
	}
	if got.MaxRecords != 100 {
		t.Errorf("cap %d, want the smaller 100", got.MaxRecords)
	}
	if got := mergeDecision(policy.Decision{Allow: true}, policy.Decision{Allow: true, MaxRecords: 7}); got.MaxRecords != 7 {
		t.Errorf("a cap on one part applies to the whole: %d", got.MaxRecords)
	}
}
