package proxy

import (
	"reflect"
	"testing"
)

// TestRuleCacheCompilesEachMaskMapOnce: a decision's map is compiled once
// and its rules reused; another map (even with the same keys) is compiled
// on its own, an invalid mask is an error every time, and the cache stays
// bounded.
func TestRuleCacheCompilesEachMaskMapOnce(t *testing.T) {
	var c ruleCache
	mask := map[string]string{"Contact.Email": "redact"}
	r1, err := c.rules(mask)
	if err != nil || r1.Empty() {
		t.Fatalf("rules: %v, %v", r1, err)
	}
	if r2, _ := c.rules(mask); r2 != r1 {
		t.Error("the same map was compiled again")
	}
	other := map[string]string{"Contact.Email": "partial"}
	if r3, _ := c.rules(other); r3 == r1 || !reflect.DeepEqual(r3.Keys(), []string{"Contact.Email"}) {
		t.Error("another map got the first map's rules")
	}
	bad := map[string]string{"Contact.Email": "shred"}
	for range 2 {
		if _, err := c.rules(bad); err == nil {
			t.Fatal("an invalid mask compiled")
		}
	}
	if r, err := c.rules(nil); err != nil || !r.Empty() {
		t.Errorf("no mask: %v, %v", r, err)
	}
	for range maxRuleCache + 10 {
		if _, err := c.rules(map[string]string{"Lead.Phone": "null"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.m); n > maxRuleCache {
		t.Errorf("cache holds %d maps, bound %d", n, maxRuleCache)
	}
}
