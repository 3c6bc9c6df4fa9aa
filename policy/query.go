package policy

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"go.uber.org/zap"
)

// Query is a prepared Rego query over the policy files, reloaded like the
// Engine (on file change and on Reload). The audit package evaluates alert
// rules with it, e.g. data.crmgw.alerts.alerts.
type Query struct {
	ev *evaluator
}

// NewQuery loads the policies under paths, watches them, and prepares query.
// Compile errors are a *CompileError naming file:line:col.
func NewQuery(ctx context.Context, paths []string, query string, logger *zap.Logger) (*Query, error) {
	if _, err := ast.ParseBody(query); err != nil {
		return nil, fmt.Errorf("policy: query %q: %w", query, err)
	}
	ev, err := newEvaluator(ctx, paths, nil, query, true, 0, logger)
	if err != nil {
		return nil, err
	}
	return &Query{ev: ev}, nil
}

// Eval evaluates the query with input (any value encoding/json can encode,
// or an ast.Value) and returns the values of its result set: a set or array
// result contributes its elements (so data.crmgw.alerts.alerts gives one
// map[string]any per alert), any other value is returned as is. Undefined
// is an empty result. Numbers are json.Number. Bound the time with ctx.
func (q *Query) Eval(ctx context.Context, input any) ([]any, error) {
	p := q.ev.cur.Load()
	opt := rego.EvalInput(input)
	if v, ok := input.(ast.Value); ok {
		opt = rego.EvalParsedInput(v)
	}
	rs, err := p.query.Eval(ctx, opt, rego.EvalMetrics(noMetrics))
	if err != nil {
		return nil, fmt.Errorf("policy: evaluating %s (revision %s): %w", q.ev.query, p.revision, err)
	}
	var out []any
	for _, r := range rs {
		for _, e := range r.Expressions {
			if vs, ok := e.Value.([]any); ok {
				out = append(out, vs...)
				continue
			}
			out = append(out, e.Value)
		}
	}
	return out, nil
}

// Revision identifies the loaded files, as Engine.Revision does.
func (q *Query) Revision() string { return q.ev.cur.Load().revision }

// Reload loads the files again; on error the previous revision stays.
func (q *Query) Reload(ctx context.Context) error {
	_, err := q.ev.reload(ctx)
	return err
}

// Close stops watching the files.
func (q *Query) Close() error { return q.ev.close() }
