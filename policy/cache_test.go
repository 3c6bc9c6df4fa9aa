package policy

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestDecisionCacheKeepsRecentEntriesWithinItsSize(t *testing.T) {
	c := newDecisionCache(4)
	key := func(i int) []byte { return fmt.Appendf(nil, "n%d", i) }
	for i := range 10 {
		c.put(key(i), Decision{Reason: fmt.Sprint(i)})
		// Entry 0 is used all along: it must survive every rotation.
		if d, ok := c.get(key(0)); !ok || d.Reason != "0" {
			t.Fatalf("after %d puts, entry 0 = %+v, %v", i+1, d, ok)
		}
	}
	if d, ok := c.get(key(9)); !ok || d.Reason != "9" {
		t.Errorf("latest entry = %+v, %v", d, ok)
	}
	if _, ok := c.get(key(3)); ok {
		t.Error("entry 3 is still held after 6 newer ones in a cache of 4")
	}
	if held := len(c.cur) + len(c.old); held > 4 {
		t.Errorf("cache holds %d entries, size is 4", held)
	}
}

// The default policies are cacheable, and a cached decision is the one
// evaluation gives for that subject and action, not for another.
func TestCachedDecisionsFollowTheInputTheyDependOn(t *testing.T) {
	e := defaultEngine(t)
	if e.ev.cur.Load().cache == nil {
		t.Fatal("the default policies should be cached")
	}
	ctx := context.Background()
	export := act("bulk_query", "export", "Contact")
	cases := []struct {
		in    *Input
		allow bool
	}{
		{input(subject(true, "sales_manager"), export), true},
		{input(subject(false, "sales_manager"), export), false}, // no MFA
		{input(subject(true, "sales_rep"), export), false},
		{input(subject(true, "sales_manager"), act("bulk_query", "export", "Case")), false},
	}
	for round := range 3 {
		for i, c := range cases {
			d, err := e.Decide(ctx, c.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != c.allow || d.Revision != e.Revision() {
				t.Errorf("round %d case %d: %+v, want allow=%v", round, i, d, c.allow)
			}
		}
	}
	// Fields the policies do not read may differ: same decision, from the cache.
	in := input(subject(true, "sales_manager"), export)
	in.Request.ID, in.Subject.Email = "01OTHER", "someone@example.com"
	if d, _ := e.Decide(ctx, in); !d.Allow || d.MaxRecords != 2000 {
		t.Errorf("decision for the same subject and action = %+v", d)
	}
}

func TestPoliciesThatCannotBeCachedAreEvaluatedEveryTime(t *testing.T) {
	head := "package crmgw.authz\n\n"
	for name, src := range map[string]string{
		"nondeterministic builtin": `decision := {"allow": true, "reason": sprintf("%d", [time.now_ns()])}`,
		"request time":             `decision := {"allow": true, "reason": input.request.time}`,
		"whole input":              `decision := {"allow": true, "reason": sprintf("%d", [count(input)])}`,
		"print":                    `decision := {"allow": true} if print("deciding")`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, Config{Paths: []string{writePolicy(t, map[string]string{"p.rego": head + src})}})
			if e.ev.cur.Load().cache != nil {
				t.Error("policy is cached")
			}
		})
	}
	zero := 0
	e := newEngine(t, Config{Paths: []string{policiesDir}, CacheSize: &zero})
	if e.ev.cur.Load().cache != nil {
		t.Error("cache_size 0 should turn the cache off")
	}
}

func TestReloadedDataIsNotAnsweredFromTheCache(t *testing.T) {
	dir := writePolicy(t, map[string]string{
		"p.rego": `package crmgw.authz

decision := {"allow": data.crmgw.open, "reason": "by data"}
`,
		"data.json": `{"crmgw": {"open": true}}`,
	})
	e := newEngine(t, Config{Paths: []string{dir}})
	if d := decideRead(t, e); !d.Allow {
		t.Fatalf("open policy denied: %+v", d)
	}
	writeFile(t, filepath.Join(dir, "data.json"), `{"crmgw": {"open": false}}`)
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := decideRead(t, e); d.Allow {
		t.Errorf("decision after closing the data = %+v", d)
	}
}

func TestCacheSizeMustNotBeNegative(t *testing.T) {
	n := -1
	cfg := Config{Paths: []string{"p"}, CacheSize: &n}
	cfg.SetDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "cache_size") || !strings.Contains(err.Error(), "negative") {
		t.Errorf("Validate = %v", err)
	}
}

// Many goroutines deciding at once share the cache (run under -race).
func TestCachedDecisionsAreSafeForConcurrentUse(t *testing.T) {
	e := defaultEngine(t)
	ins := benchInputs()
	want := make([]Decision, len(ins))
	for i, in := range ins {
		want[i], _ = e.Decide(context.Background(), in)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := (g + i) % len(ins)
				d, err := e.Decide(context.Background(), ins[k])
				if err != nil || d.Allow != want[k].Allow || d.Reason != want[k].Reason || len(d.Mask) != len(want[k].Mask) {
					errs <- fmt.Sprintf("goroutine %d input %d: %+v, %v", g, k, d, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
