// Package policy decides every CRM request with embedded OPA: it loads the
// Rego modules and data files under policy.paths, compiles and prepares the
// decision query once, evaluates it per request with a deadline, and reloads
// on file change or on demand, keeping the last good revision when new files
// do not compile. Anything but a well-formed decision is a denial.
//
// The same loader serves Query, the generic evaluation used by the audit
// package for Rego alert rules, and RunTests, which runs the policies' own
// Rego tests for `crmgw validate`.
package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"go.uber.org/zap"
)

// Engine evaluates the authorization decision. It is safe for concurrent
// use; a reload swaps the prepared policies atomically, so an evaluation
// never sees half of a revision.
type Engine struct {
	ev      *evaluator
	mode    string
	timeout time.Duration
	dlog    *decisionLog // nil: decision logs off

	// cacheHits and cacheMisses count the decisions found in, and the
	// cacheable ones missing from, the decision cache (CacheStats).
	cacheHits, cacheMisses atomic.Uint64
}

// CacheStats returns how many decisions came from the decision cache and
// how many cacheable ones had to be evaluated, since the engine started
// (across reloads): crmgw_policy_decision_cache_total{result}.
func (e *Engine) CacheStats() (hits, misses uint64) {
	return e.cacheHits.Load(), e.cacheMisses.Load()
}

// keepAST hands the decision over as OPA's own value: parseDecision reads
// it without the intermediate Go maps rego would otherwise build.
func keepAST(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// noMetrics keeps rego from allocating a metrics registry per evaluation.
var noMetrics = metrics.NoOp()

// New loads and compiles the policies under cfg.Paths and prepares
// cfg.Decision. A file that does not parse or compile fails New with a
// *CompileError naming file:line:col. cfg gets its defaults applied.
func New(ctx context.Context, cfg Config, logger *zap.Logger) (*Engine, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("policy: invalid configuration: %w", err)
	}
	ev, err := newEvaluator(ctx, cfg.Paths, cfg.Bundle, cfg.Decision, *cfg.Watch, *cfg.CacheSize, logger)
	if err != nil {
		return nil, err
	}
	e := &Engine{ev: ev, mode: cfg.Mode, timeout: cfg.Timeout}
	if cfg.DecisionLog != nil {
		if e.dlog, err = newDecisionLog(cfg.DecisionLog, cfg.Decision, os.Stdout, logger); err != nil {
			ev.close()
			return nil, err
		}
	}
	return e, nil
}

// Decide evaluates the decision for in. The returned Decision is always
// usable: when the policy gives no well-formed decision (undefined, several
// results, evaluation error, timeout, wrong types) it is a denial with a
// generic Reason, and the error (wrapping ErrUndefined, ErrMultiple, ErrEval,
// ErrTimeout or ErrMalformed) says why, for the log.
func (e *Engine) Decide(ctx context.Context, in *Input) (Decision, error) {
	if e.dlog == nil {
		return e.decide(ctx, in, nil)
	}
	if in == nil {
		return e.decide(ctx, in, nil)
	}
	start := time.Now()
	rec := &decisionRecord{}
	d, err := e.decide(ctx, in, rec)
	e.dlog.log(e.dlog.entry(ctx, in, d, err, rec, start))
	return d, err
}

// decide is Decide; rec, when not nil, receives what the decision log
// records (decisionlog.go).
func (e *Engine) decide(ctx context.Context, in *Input, rec *decisionRecord) (Decision, error) {
	p := e.ev.cur.Load()
	if in == nil {
		return deny(reasonNoInput, p.revision), errors.New("policy: nil input")
	}
	if err := ctx.Err(); err != nil {
		return deny(reasonEval, p.revision), fmt.Errorf("%w: %w", ErrEval, err)
	}
	// The cache key, in a pooled buffer; cached: the decision is looked up
	// and remembered under it.
	var key []byte
	cached := false
	if p.cache != nil {
		bp := keyBufs.Get().(*[]byte)
		key, cached = in.appendKey((*bp)[:0], p.shape)
		defer func() {
			if cap(key) <= 64<<10 { // a huge field list's buffer is not kept
				*bp = key[:0]
				keyBufs.Put(bp)
			}
		}()
		if cached {
			if d, ok := p.cache.get(key); ok {
				e.cacheHits.Add(1)
				d.Revision = p.revision
				if rec != nil {
					rec.cacheHit = true
				}
				return d, nil
			}
			e.cacheMisses.Add(1)
		}
	}
	value := in.value(p.shape)
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()

	// Cancellation through context.AfterFunc instead of rego's goroutine
	// per evaluation (see BenchmarkDecide).
	c := topdown.NewCancel()
	stop := context.AfterFunc(ctx, c.Cancel)
	m := noMetrics
	if rec != nil {
		rec.metrics = metrics.New() // OPA's timers, for the decision log
		m = rec.metrics
	}
	rs, err := p.query.Eval(ctx,
		rego.EvalParsedInput(value),
		rego.EvalMetrics(m),
		rego.EvalExternalCancel(c),
		rego.EvalGenerateJSON(keepAST))
	stop()
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return deny(reasonTimeout, p.revision), fmt.Errorf("%w after %s: %w", ErrTimeout, e.timeout, err)
		default:
			return deny(reasonEval, p.revision), fmt.Errorf("%w: %w", ErrEval, err)
		}
	}
	switch {
	case len(rs) == 0:
		return deny(reasonUndefined, p.revision), fmt.Errorf("%w: %s", ErrUndefined, e.ev.query)
	case len(rs) > 1 || len(rs[0].Expressions) != 1:
		return deny(reasonMultiple, p.revision), fmt.Errorf("%w: %d results for %s", ErrMultiple, len(rs), e.ev.query)
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return deny(reasonMalformed, p.revision), fmt.Errorf("%w: result is %T", ErrMalformed, rs[0].Expressions[0].Value)
	}
	if rec != nil {
		rec.result = t.Value
	}
	d, err := parseDecision(t.Value)
	if err != nil {
		return deny(reasonMalformed, p.revision), err
	}
	d.Revision = p.revision
	if cached {
		p.cache.put(key, d)
	}
	return d, nil
}

// Revision identifies the policies in force: "sha256:" and the hex SHA-256
// over the sorted (path relative to its policy path, content) of the loaded
// files. Audit events and /readyz report it.
func (e *Engine) Revision() string { return e.ev.cur.Load().revision }

// Files lists the policy and data files of the revision in force.
func (e *Engine) Files() []string {
	return append([]string(nil), e.ev.cur.Load().files...)
}

// Mode is ModeEnforce or ModeMonitor. In monitor mode the proxy decides and
// audits every request but lets denied ones through.
func (e *Engine) Mode() string { return e.mode }

// Reload loads the policy files again (the proxy calls it on SIGHUP). If they
// do not compile, it returns the *CompileError and the previous revision
// stays in force; otherwise the new revision replaces it atomically.
func (e *Engine) Reload(ctx context.Context) error {
	_, err := e.ev.reload(ctx)
	return err
}

// Close stops watching the policy files and writes out the decision log.
// Decide keeps working afterwards with the revision in force (its
// decisions are no longer logged: counted as dropped).
func (e *Engine) Close() error {
	err := e.ev.close()
	if e.dlog != nil {
		err = errors.Join(err, e.dlog.close())
	}
	return err
}

// DecisionLogStats counts the decision log's entries (zeros when off).
func (e *Engine) DecisionLogStats() DecisionLogStats {
	if e.dlog == nil {
		return DecisionLogStats{}
	}
	return DecisionLogStats{Written: e.dlog.written.Load(), Dropped: e.dlog.dropped.Load(), Failed: e.dlog.failed.Load()}
}
