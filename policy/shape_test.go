package policy

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// shapeString renders a shape as sorted "part.field" entries ("part" alone
// for a whole part, "*" for everything).
func shapeString(s *inputShape) string {
	if s.all {
		return "*"
	}
	var out []string
	for part, fields := range s.parts {
		if fields == nil {
			out = append(out, part)
			continue
		}
		for f := range fields {
			out = append(out, part+"."+f)
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func compileDir(t *testing.T, dir string) *ast.Compiler {
	t.Helper()
	b, err := loadBundle([]string{dir}, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := compileBundle(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return c.compiler
}

func TestShapeOfTheDefaultPolicy(t *testing.T) {
	// alerts.rego sits in the same directory and reads input.usage and
	// input.event; the decision cannot reach it, so it adds nothing.
	// approvals.rego reads the query (its LIMIT) and the watch list.
	c := compileDir(t, policiesDir)
	got := shapeString(shapeOf(c, ast.MustParseBody("data.crmgw.authz.decision")))
	want := "action.category action.object action.operation action.parent action.query subject.issuer subject.issuer_primary subject.kind subject.mfa subject.roles subject.watch"
	if got != want {
		t.Errorf("shape = %q\nwant    %q", got, want)
	}
}

func TestShapeOfPolicies(t *testing.T) {
	head := "package crmgw.authz\n\n"
	tests := []struct {
		name, src, want string
	}{
		{"fields", `decision := {"allow": input.subject.mfa, "reason": input.request.headers["user-agent"]}`,
			"request.headers subject.mfa"},
		{"whole input", `decision := {"allow": count(input) > 0}`, "*"},
		{"whole input through object.get", `decision := {"allow": object.get(input, ["subject", "mfa"], false)}`, "*"},
		{"whole input through walk", `decision := {"allow": true} if { some p, v in walk(input); v == "x" }`, "*"},
		{"variable first key", `decision := {"allow": true} if { some k; input[k].x == 1 }`, "*"},
		{"variable second key", `decision := {"allow": true} if { some k; input.request[k] == "x" }`, "request"},
		{"whole part", `decision := {"allow": count(input.usage) > 0}`, "usage"},
		{"deeper paths count as their field", `decision := {"allow": input.usage.records["1h"] < 10}`, "usage.records"},
		{"reached through a function", `decision := {"allow": f("a")}
f(x) if input.request.query[x]`, "request.query"},
		{"reached through else", `decision := {"allow": false} if input.subject.kind == "x" else := {"allow": input.action.all_fields}`,
			"action.all_fields subject.kind"},
		{"reached through a dynamic data reference", `decision := {"allow": data.crmgw.authz[name]} if some name in ["a", "b"]
a if input.upstream.name == "x"
b if input.upstream.type == "y"`, "upstream.name upstream.type"},
		{"unreachable rules do not count", `decision := {"allow": input.subject.mfa}
other if input.request.path == "/"`, "subject.mfa"},
		{"with input", `decision := {"allow": x} if x := f with input as {}
f := true`, "*"},
		// A missed field would reach the policy as undefined, and a deny
		// rule testing it would not fire: every way of reaching a rule counts.
		{"function replaced with with", `decision := {"allow": x} if x := f(1) with f as g
f(_) := false
g(_) := input.request.path == "/x"`, "request.path"},
		{"rule replaced with with", `decision := {"allow": x} if x := r with r as s
r := false
s := input.request.method == "GET"`, "request.method"},
		{"another package as a whole", `decision := {"allow": count(data.acme) > 0}`, "upstream.name"},
		{"an imported package", `import data.acme
decision := {"allow": acme.ok}`, "upstream.name"},
		{"every", `decision := {"allow": true} if every k, v in input.request.headers { v != k }`, "request.headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := compileDir(t, writePolicy(t, map[string]string{"p.rego": head + tt.src,
				"acme.rego": "package acme\n\nok := input.upstream.name == \"x\"\n"}))
			if got := shapeString(shapeOf(c, ast.MustParseBody("data.crmgw.authz.decision"))); got != tt.want {
				t.Errorf("shape = %q, want %q", got, tt.want)
			}
		})
	}
}

// Whatever the shape leaves out, the decision is the one the whole input
// gives: the default policies decide every test input identically both ways.
func TestPrunedInputDecidesLikeTheWholeInput(t *testing.T) {
	e := defaultEngine(t)
	p := e.ev.cur.Load()
	if p.shape.all {
		t.Fatal("the default policies should not need the whole input")
	}
	container := act("composite", "write", "")
	sub := act("read", "read", "Opportunity")
	sub.Parent = &container
	inputs := append(benchInputs(),
		input(subject(false, "sales_manager"), act("bulk_query", "export", "Account")),
		input(subject(true, "sales_rep", "marketing"), act("query", "read", "Contact")),
		input(subject(true), act("read", "read", "Contact")),
		input(subject(true, "ceo"), act("read", "read", "Contact")),
		input(clientSubject("integration"), act("bulk_ingest", "bulk", "Contacts")),
		input(subject(true, "admin"), act("describe", "metadata", "")),
		input(subject(true, "admin"), act("unknown", "unknown", "")),
		input(subject(true, "support"), container),
		input(subject(true, "support"), ActionInput{Operation: "composite", Category: "write", Parent: &container}),
	)
	ctx := context.Background()
	for i, in := range inputs {
		pruned, err := e.Decide(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := p.query.Eval(ctx, rego.EvalParsedInput(in.Value()), rego.EvalGenerateJSON(keepAST))
		if err != nil || len(rs) != 1 {
			t.Fatal(err)
		}
		whole, err := parseDecision(rs[0].Expressions[0].Value.(*ast.Term).Value)
		if err != nil {
			t.Fatal(err)
		}
		whole.Revision = pruned.Revision
		if pruned.Allow != whole.Allow || pruned.Reason != whole.Reason || pruned.MaxRecords != whole.MaxRecords || !maps.Equal(pruned.Mask, whole.Mask) {
			t.Errorf("input %d: pruned %+v, whole %+v", i, pruned, whole)
		}
	}
}
