package policy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/crmgw/crmgw/internal/buildinfo"
	"github.com/crmgw/crmgw/internal/confkey"
	"github.com/crmgw/crmgw/internal/jsonptr"
)

// Decision logs (docs/policies.md "Decision logs"): with policy.decision_log
// set, every decision is written as one JSON line in OPA's decision-log
// format (decision_id, path, input, result, timestamp, metrics, bundles,
// labels: the fields of OPA's logEntry), so tools that read OPA's
// decision logs read crmgw's. Decide only hands the entry to a bounded queue; one
// goroutine encodes and writes. A full queue drops the entry and counts it
// (Engine.DecisionLogStats). Off, Decide pays one nil check.

// DecisionLogConfig is policy.decision_log.
type DecisionLogConfig struct {
	// Type is file (JSON lines appended to Path) or stdout.
	Type string `yaml:"type"`
	// Path is the file of type: file.
	Path string `yaml:"path"`
	// QueueSize bounds the entries waiting to be written (default 10000);
	// beyond it new entries are dropped and counted.
	QueueSize int `yaml:"queue_size"`
	// Labels are added to every entry's labels, besides id (the host
	// name) and version (crmgw's).
	Labels map[string]string `yaml:"labels"`
	// Erase lists JSON pointers into the entry, under /input or /result
	// (e.g. /input/action/query), removed from every entry and named in
	// its "erased" list. Credential query parameters are always erased.
	Erase []string `yaml:"erase"`
}

// DefaultDecisionLogQueue is the default decision_log.queue_size.
const DefaultDecisionLogQueue = 10000

// SetDefaults fills queue_size.
func (c *DecisionLogConfig) SetDefaults() {
	if c.QueueSize == 0 {
		c.QueueSize = DefaultDecisionLogQueue
	}
}

// Validate reports every problem, each naming its key.
func (c *DecisionLogConfig) Validate() error {
	var errs []error
	switch c.Type {
	case "file":
		if c.Path == "" {
			errs = append(errs, confkey.Errorf("path", "a file decision log needs a path"))
		}
	case "stdout":
		if c.Path != "" {
			errs = append(errs, confkey.Errorf("path", "only type: file takes a path"))
		}
	default:
		errs = append(errs, confkey.Errorf("type", "must be file or stdout, got %q", c.Type))
	}
	if c.QueueSize < 1 {
		errs = append(errs, confkey.Errorf("queue_size", "must be at least 1, got %d", c.QueueSize))
	}
	for i, p := range c.Erase {
		if !jsonptr.Valid(p) || !(strings.HasPrefix(p, "/input/") || strings.HasPrefix(p, "/result/")) {
			errs = append(errs, confkey.Errorf(fmt.Sprintf("erase[%d]", i), "must be a JSON pointer under /input/ or /result/, got %q", p))
		}
	}
	return errors.Join(errs...)
}

// credentialParams are query parameters that carry a caller's credential
// (the proxy strips them before forwarding, docs/identity.md): the input's
// request.query may hold them, a decision log never does.
var credentialParams = []string{"authtoken", "access_token", "oauth_token"}

// logEntry is one decision in OPA's decision-log format: the fields and
// JSON names of OPA's logs.EventV1 that crmgw fills. Written out here
// rather than imported: OPA's logs plugin package brings its upload
// client, buffers and compression into the binary for this one struct.
type logEntry struct {
	Labels      map[string]string     `json:"labels"`
	DecisionID  string                `json:"decision_id"`
	TraceID     string                `json:"trace_id,omitempty"`
	SpanID      string                `json:"span_id,omitempty"`
	Bundles     map[string]bundleInfo `json:"bundles,omitempty"`
	Path        string                `json:"path,omitempty"`
	Input       *any                  `json:"input,omitempty"`
	Result      *any                  `json:"result,omitempty"`
	Erased      []string              `json:"erased,omitempty"`
	Error       *logError             `json:"error,omitempty"`
	RequestedBy string                `json:"requested_by,omitempty"`
	Timestamp   time.Time             `json:"timestamp"`
	Metrics     map[string]any        `json:"metrics,omitempty"`
	Custom      map[string]any        `json:"custom,omitempty"`
}

// bundleInfo is a bundle's revision.
type bundleInfo struct {
	Revision string `json:"revision,omitempty"`
}

// decisionLog writes decision-log entries from its own goroutine.
type decisionLog struct {
	path   string // the decision's path, "crmgw/authz/decision"
	labels map[string]string
	erase  [][]string // the tokens of each Erase pointer

	mu     sync.RWMutex // log holds it shared; close exclusively
	closed bool
	q      chan *logEntry
	done   chan struct{}

	w       *bufio.Writer
	f       *os.File // nil for stdout
	logger  *zap.Logger
	written atomic.Uint64
	dropped atomic.Uint64
	failed  atomic.Uint64
}

func newDecisionLog(c *DecisionLogConfig, query string, stdout io.Writer, logger *zap.Logger) (*decisionLog, error) {
	host, _ := os.Hostname()
	l := &decisionLog{
		path:   strings.ReplaceAll(strings.TrimPrefix(query, "data."), ".", "/"),
		labels: map[string]string{"id": host, "version": buildinfo.Version(), "app": "crmgw"},
		q:      make(chan *logEntry, c.QueueSize),
		done:   make(chan struct{}),
		logger: logger,
	}
	for k, v := range c.Labels {
		l.labels[k] = v
	}
	for _, p := range c.Erase {
		l.erase = append(l.erase, jsonptr.Tokens(p))
	}
	switch c.Type {
	case "file":
		if err := os.MkdirAll(filepath.Dir(c.Path), 0o750); err != nil {
			return nil, fmt.Errorf("policy: decision log: %w", err)
		}
		f, err := os.OpenFile(c.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, fmt.Errorf("policy: decision log: %w", err)
		}
		l.f, l.w = f, bufio.NewWriterSize(f, 64<<10)
	default:
		l.w = bufio.NewWriterSize(stdout, 64<<10)
	}
	go l.run()
	return l, nil
}

// decisionRecord is what Decide leaves for the log: OPA's metrics of the
// evaluation, the raw result, and whether the cache answered.
type decisionRecord struct {
	metrics  metrics.Metrics
	result   ast.Value
	cacheHit bool
}

// entry builds the log entry of one decision. It runs in Decide (the input
// belongs to the caller once Decide returns), only with the log on.
func (l *decisionLog) entry(ctx context.Context, in *Input, d Decision, err error, rec *decisionRecord, start time.Time) *logEntry {
	ev := &logEntry{
		Labels:      l.labels,
		DecisionID:  ulid.Make().String(),
		Path:        l.path,
		Timestamp:   start.UTC(),
		RequestedBy: in.Request.RemoteAddr,
		Bundles:     map[string]bundleInfo{"crmgw": {Revision: d.Revision}},
		Custom:      map[string]any{"request_id": in.Request.ID},
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		ev.TraceID, ev.SpanID = sc.TraceID().String(), sc.SpanID().String()
	}
	input, jerr := ast.JSON(in.Value())
	if jerr == nil {
		ev.Input = &input
	}
	if err != nil {
		ev.Error = &logError{Code: errorCode(err), Message: err.Error()}
	}
	var result any
	switch {
	case rec.result != nil: // also a malformed one, next to its error
		if r, jerr := ast.JSON(rec.result); jerr == nil {
			result = r
		}
	case err == nil:
		// Served from the decision cache: the decision as crmgw read it.
		result = decisionResult(d)
	}
	if result != nil {
		ev.Result = &result
	}
	m := map[string]any{"timer_crmgw_decide_ns": time.Since(start).Nanoseconds()}
	if rec.metrics != nil {
		for k, v := range rec.metrics.All() {
			m[k] = v
		}
	}
	if rec.cacheHit {
		m["counter_crmgw_decision_cache_hit"] = 1
	}
	ev.Metrics = m
	l.scrub(ev)
	return ev
}

// scrub removes credential query parameters and the configured pointers,
// naming each in ev.Erased.
func (l *decisionLog) scrub(ev *logEntry) {
	if ev.Input != nil {
		if q, ok := lookup(*ev.Input, []string{"request", "query"}).(map[string]any); ok {
			for k := range q {
				for _, c := range credentialParams {
					if strings.EqualFold(k, c) {
						delete(q, k)
						ev.Erased = append(ev.Erased, "/input/request/query/"+k)
					}
				}
			}
		}
	}
	for _, toks := range l.erase {
		var root *any
		switch toks[0] {
		case "input":
			root = ev.Input
		case "result":
			root = ev.Result
		}
		if root == nil || len(toks) < 2 {
			continue
		}
		parent, ok := lookup(*root, toks[1:len(toks)-1]).(map[string]any)
		if !ok {
			continue
		}
		if _, ok := parent[toks[len(toks)-1]]; ok {
			delete(parent, toks[len(toks)-1])
			ev.Erased = append(ev.Erased, "/"+strings.Join(toks, "/"))
		}
	}
}

func lookup(v any, toks []string) any {
	for _, t := range toks {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[t]
	}
	return v
}

// logError is an evaluation error as OPA's decision logs carry it.
type logError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *logError) Error() string { return e.Message }

func errorCode(err error) string {
	switch {
	case errors.Is(err, ErrUndefined):
		return "undefined"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrMultiple):
		return "multiple_results"
	case errors.Is(err, ErrMalformed):
		return "malformed_decision"
	}
	return "eval_error"
}

// decisionResult is a cached decision as a JSON value, in the names of
// the decision contract (docs/policies.md).
func decisionResult(d Decision) any {
	m := map[string]any{"allow": d.Allow, "reason": d.Reason, "max_records": d.MaxRecords}
	if len(d.Mask) > 0 {
		m["mask"] = d.Mask
	}
	if len(d.AllowFilter) > 0 {
		m["allow_filter"] = d.AllowFilter
	}
	if d.Approval != nil {
		m["approval"] = map[string]any{"approvers": d.Approval.Approvers, "ttl": d.Approval.TTL.String(), "reason": d.Approval.Reason}
	}
	for k, v := range d.Extra {
		m[k] = v
	}
	return m
}

// log queues ev; with the queue full it is dropped and counted.
func (l *decisionLog) log(ev *logEntry) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.dropped.Add(1)
		return
	}
	select {
	case l.q <- ev:
	default:
		l.dropped.Add(1)
	}
}

func (l *decisionLog) run() {
	defer close(l.done)
	var last time.Time
	for ev := range l.q {
		b, err := json.Marshal(ev)
		if err == nil {
			l.w.Write(b)
			err = l.w.WriteByte('\n')
		}
		if err == nil && len(l.q) == 0 {
			err = l.w.Flush()
		}
		if err != nil {
			l.failed.Add(1)
			if time.Since(last) > 10*time.Second {
				last = time.Now()
				l.logger.Error("decision log write failed", zap.Error(err))
			}
			continue
		}
		l.written.Add(1)
	}
}

// close writes what is queued and closes the file.
func (l *decisionLog) close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.q)
	l.mu.Unlock()
	<-l.done
	err := l.w.Flush()
	if l.f != nil {
		if serr := l.f.Sync(); err == nil {
			err = serr
		}
		if cerr := l.f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("policy: decision log: %w", err)
	}
	return nil
}

// DecisionLogStats counts the decision-log entries written, dropped
// (queue full, or after Close) and failed (write errors); zeros when the
// log is off.
type DecisionLogStats struct {
	Written, Dropped, Failed uint64
}
