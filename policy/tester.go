package policy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// TestReport is the outcome of the policies' Rego tests (test_ rules in
// *_test.rego files), as `opa test` would report it.
type TestReport struct {
	// Revision of the files tested (tests included, so it differs from the
	// Engine's revision, which leaves *_test.rego out).
	Revision string        `json:"revision"`
	Passed   int           `json:"passed"`
	Failed   int           `json:"failed"`
	Errored  int           `json:"errored"`
	Skipped  int           `json:"skipped"`
	Failures []TestFailure `json:"failures,omitempty"`
}

// OK reports whether every test that ran passed.
func (r TestReport) OK() bool { return r.Failed == 0 && r.Errored == 0 }

// TestFailure is one failed or erroring test.
type TestFailure struct {
	// Name is package and rule, e.g. data.crmgw.authz_test.test_intern_may_not_delete.
	Name string `json:"name"`
	// Location is file:line of the test rule.
	Location string `json:"location"`
	// Message is the error, or the expression that failed.
	Message string `json:"message"`
	// Output is what the test printed with print().
	Output string `json:"output,omitempty"`
}

// String formats the failure for a terminal: "file:line: name: message".
func (f TestFailure) String() string {
	return f.Location + ": " + f.Name + ": " + f.Message
}

// RunTests compiles the policies under paths together with their tests and
// runs every test_ rule. Files that do not parse or compile give a
// *CompileError; test failures are in the report, not the error.
func RunTests(ctx context.Context, paths []string) (TestReport, error) {
	b, err := loadBundle(paths, true)
	if err != nil {
		return TestReport{}, err
	}
	c, err := compileBundle(ctx, b)
	if err != nil {
		return TestReport{}, err
	}
	ch, err := tester.NewRunner().
		SetCompiler(ast.NewCompiler().
			WithDefaultRegoVersion(ast.RegoV1).
			WithEnablePrintStatements(true)).
		SetStore(c.store).
		SetModules(b.modules).
		CapturePrintOutput(true).
		EnableTracing(true). // to name the expression a failed test stopped at
		RunTests(ctx, nil)
	if err != nil {
		if ce := problemsFromAST(err); len(ce.Problems) > 0 && ce.Problems[0].Code != "" {
			return TestReport{}, ce
		}
		return TestReport{}, fmt.Errorf("policy: running tests: %w", err)
	}
	rep := TestReport{Revision: b.revision}
	for r := range ch {
		switch {
		case r.Skip:
			rep.Skipped++
		case r.Error != nil:
			rep.Errored++
			rep.Failures = append(rep.Failures, failure(r, r.Error.Error()))
		case r.Fail:
			rep.Failed++
			rep.Failures = append(rep.Failures, failure(r, failedAt(r)))
		default:
			rep.Passed++
		}
	}
	sort.Slice(rep.Failures, func(i, j int) bool { return rep.Failures[i].Location < rep.Failures[j].Location })
	return rep, nil
}

// failedAt names the last expression of the test's own file that failed,
// found in the evaluation trace.
func failedAt(r *tester.Result) string {
	for i := len(r.Trace) - 1; i >= 0; i-- {
		ev := r.Trace[i]
		if ev.Op != topdown.FailOp {
			continue
		}
		expr, ok := ev.Node.(*ast.Expr)
		if !ok || expr.Location == nil || r.Location == nil || expr.Location.File != r.Location.File {
			continue
		}
		return fmt.Sprintf("failed at %s:%d: %s", expr.Location.File, expr.Location.Row, strings.TrimSpace(string(expr.Location.Text)))
	}
	return "test failed"
}

func failure(r *tester.Result, msg string) TestFailure {
	f := TestFailure{Name: r.Package + "." + r.Name, Message: msg, Output: string(r.Output)}
	if r.Location != nil {
		f.Location = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
	}
	return f
}
