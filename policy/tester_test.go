package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestDefaultPolicyRegoTestsPass(t *testing.T) {
	rep, err := RunTests(context.Background(), []string{policiesDir})
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	for _, f := range rep.Failures {
		t.Errorf("%s\n%s", f, f.Output)
	}
	if !rep.OK() || rep.Passed < 40 {
		t.Errorf("report = %+v, want every test to pass", rep)
	}
	t.Logf("rego tests: %d passed", rep.Passed)
}

func TestRunTestsReportsFailuresWithNameAndLocation(t *testing.T) {
	dir := writePolicy(t, map[string]string{
		"authz.rego": allowAll,
		"authz_test.rego": `package crmgw.authz_test

import data.crmgw.authz

test_allows if {
	authz.decision.allow
}

test_denies if {
	print("decision was", authz.decision)
	authz.decision.allow == false
}

test_errors if {
	1 / 0 == 1
	x := {"a": 1}
	x.a == 1
}

todo_test_later if {
	false
}
`,
	})
	rep, err := RunTests(context.Background(), []string{dir})
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	if rep.Passed != 1 || rep.Failed+rep.Errored != 2 || rep.Skipped != 1 || rep.OK() {
		t.Errorf("report = %+v, want 1 passed, 2 failed or errored, 1 skipped", rep)
	}
	var denies *TestFailure
	for i, f := range rep.Failures {
		if strings.HasSuffix(f.Name, "test_denies") {
			denies = &rep.Failures[i]
		}
	}
	if denies == nil {
		t.Fatalf("no failure for test_denies in %+v", rep.Failures)
	}
	if denies.Name != "data.crmgw.authz_test.test_denies" || !strings.HasSuffix(denies.Location, "authz_test.rego:9") {
		t.Errorf("failure = %+v, want name and file:line", denies)
	}
	if !strings.Contains(denies.Message, "authz.decision.allow == false") || !strings.Contains(denies.Output, "decision was") {
		t.Errorf("failure = %+v, want the failing expression and the printed output", denies)
	}
}

func TestRunTestsWithABrokenTestFileIsACompileError(t *testing.T) {
	dir := writePolicy(t, map[string]string{
		"authz.rego":      allowAll,
		"authz_test.rego": "package crmgw.authz_test\n\ntest_x if { y }\n",
	})
	_, err := RunTests(context.Background(), []string{dir})
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "authz_test.rego:3") {
		t.Fatalf("error = %v, want a *CompileError naming authz_test.rego:3", err)
	}
}
