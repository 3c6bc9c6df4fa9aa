package policy

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

const denyAll = `package crmgw.authz

decision := {"allow": false, "reason": "closed for maintenance", "mask": {}, "max_records": 0}
`

func decideRead(t *testing.T, e *Engine) Decision {
	t.Helper()
	d, err := e.Decide(context.Background(), input(subject(false, "sales_rep"), act("read", "read", "Contact")))
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	return d
}

func TestReloadSwapsInANewPolicyAndRevision(t *testing.T) {
	dir := writePolicy(t, map[string]string{"authz.rego": allowAll})
	e := newEngine(t, Config{Paths: []string{dir}})
	before := e.Revision()
	if d := decideRead(t, e); !d.Allow {
		t.Fatalf("first policy should allow: %+v", d)
	}

	writeFile(t, filepath.Join(dir, "authz.rego"), denyAll)
	if err := e.Reload(context.Background()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	d := decideRead(t, e)
	if d.Allow || d.Reason != "closed for maintenance" {
		t.Errorf("after reload: %+v, want the new policy's denial", d)
	}
	if e.Revision() == before || d.Revision != e.Revision() {
		t.Errorf("revision %q -> %q (decision %q), want a new one", before, e.Revision(), d.Revision)
	}
}

func TestReloadOfABrokenPolicyKeepsTheLastGoodOne(t *testing.T) {
	dir := writePolicy(t, map[string]string{"authz.rego": allowAll})
	e := newEngine(t, Config{Paths: []string{dir}})
	before := e.Revision()

	writeFile(t, filepath.Join(dir, "authz.rego"), "package crmgw.authz\n\ndecision := {\"allow\": true\n")
	err := e.Reload(context.Background())
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("Reload error = %v, want a *CompileError", err)
	}
	if p := ce.Problems[0]; p.File != filepath.Join(dir, "authz.rego") || p.Line == 0 || p.Code != "rego_parse_error" {
		t.Errorf("problem = %+v, want a parse error located in authz.rego", p)
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, "authz.rego")+":") {
		t.Errorf("error %q does not name the file", err)
	}
	if e.Revision() != before {
		t.Errorf("revision changed to %q after a failed reload", e.Revision())
	}
	if d := decideRead(t, e); !d.Allow {
		t.Errorf("the last good policy is not in force: %+v", d)
	}
}

func TestReloadWithUnchangedFilesKeepsTheRevision(t *testing.T) {
	e := defaultEngine(t)
	before := e.Revision()
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.Revision() != before {
		t.Errorf("revision %q -> %q without a change", before, e.Revision())
	}
}

// waitFor polls cond until it holds or a generous deadline passes: file
// events are asynchronous. This bounds the wait; it asserts nothing about speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWatcherReloadsOnFileChange(t *testing.T) {
	dir := writePolicy(t, map[string]string{"authz.rego": allowAll})
	on := true
	e, err := New(context.Background(), Config{Paths: []string{dir}, Watch: &on}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	first := e.Revision()

	writeFile(t, filepath.Join(dir, "authz.rego"), denyAll)
	waitFor(t, "the watcher to load the new policy", func() bool { return e.Revision() != first })
	if d := decideRead(t, e); d.Allow {
		t.Errorf("new policy not in force: %+v", d)
	}

	// A broken save is rejected; the good policy stays.
	second := e.Revision()
	writeFile(t, filepath.Join(dir, "authz.rego"), "package crmgw.authz\n\ndecision := {\n")
	// A new file in a new subdirectory is picked up too (and proves the
	// watcher survived the broken save).
	writeFile(t, filepath.Join(dir, "sub", "extra.rego"), "package crmgw.extra\n\nx := 1\n")
	time.Sleep(2 * debounce)
	writeFile(t, filepath.Join(dir, "authz.rego"), allowAll)
	waitFor(t, "the watcher to load the fixed policy", func() bool { return e.Revision() != second })
	if d := decideRead(t, e); !d.Allow {
		t.Errorf("fixed policy not in force: %+v", d)
	}

	if err := e.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestDecideDuringReloadsSeesWholeRevisions(t *testing.T) {
	dir := writePolicy(t, map[string]string{"authz.rego": allowAll})
	e := newEngine(t, Config{Paths: []string{dir}})
	done := make(chan struct{})
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				d, err := e.Decide(context.Background(), input(subject(false, "sales_rep"), act("read", "read", "Contact")))
				if err != nil {
					errs <- err
					return
				}
				// Each revision's policy gives one consistent answer.
				if d.Allow != (d.Reason == "everything goes") {
					errs <- errors.New("mixed decision: " + d.Reason)
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		policy := allowAll
		if i%2 == 0 {
			policy = denyAll
		}
		writeFile(t, filepath.Join(dir, "authz.rego"), policy)
		if err := e.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for w := 0; w < 4; w++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
