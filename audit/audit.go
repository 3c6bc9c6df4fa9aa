// Package audit writes one tamper-evident event per request and raises
// alerts from them. The proxy fills an Event after the response finished
// and hands it to Auditor.Record, which only enqueues; a single writer
// goroutine links events into a SHA-256 hash chain (seq, prev, hash) and
// fans each out to the sinks (file with rotation, stdout, webhook/Splunk
// HEC, syslog RFC 5424/CEF), each with its own bounded queue and on-disk
// spool so a slow or failed sink neither slows the proxy nor loses events.
// Alert rules (a Rego query) run on every event in their own goroutine and
// go to alert sinks (webhook, Slack, Alertmanager, syslog), deduplicated per
// rule and subject. VerifyFile re-derives the chain from the written lines.
package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// ErrClosed is returned by Ready after Close.
var ErrClosed = errors.New("audit: closed")

// Auditor chains events and delivers them to the sinks and alert sinks.
type Auditor struct {
	cfg    Config
	logger *zap.Logger
	m      *metrics

	mu     sync.RWMutex // Record holds it shared; Close exclusively
	closed bool
	q      chan item

	// chain state, owned by the writer goroutine
	seq  int64
	prev string

	runners    []*runner
	anchor     *runner // the first file sink: the local audit log (nil: none)
	alerts     *alerter
	writerDone chan struct{}

	closing  chan struct{}      // closed when Close starts
	abortCtx context.Context    // cancelled when Close's context ends
	abort    context.CancelFunc //

	logMu   sync.Mutex
	logLast map[string]time.Time
	dropAcc map[string]int // lost events not yet reported in a log line
	dropMsg map[string]dropLine
	stdout  io.Writer
}

type item struct {
	ev    *Event
	usage any
	done  chan<- error // Begin waits on it
}

// New starts an auditor: it opens every sink and its spool, resumes the
// chain from the first file sink (its last line, or its spool's), and
// starts the writer, sink and alert goroutines. rules may be nil (no
// alerts); reg may be nil (no metrics registration). Defaults are filled
// and the configuration validated again.
func New(cfg Config, alerts AlertsConfig, rules RuleEvaluator, reg prometheus.Registerer, logger *zap.Logger) (*Auditor, error) {
	return newAuditor(cfg, alerts, rules, reg, logger, os.Stdout)
}

// minAlertSinkQueue is the least room for alerts waiting for one alert
// sink: alerts are rare, and a small alerts.queue_size (meant for the
// evaluation queue) must not make a second alert in flight be dropped.
const minAlertSinkQueue = 256

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

func newAuditor(cfg Config, alerts AlertsConfig, rules RuleEvaluator, reg prometheus.Registerer, logger *zap.Logger, stdout io.Writer) (_ *Auditor, err error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	// The loader has done this already; repeating it is harmless and makes
	// New safe with a hand-built Config.
	cfg.Sinks = append([]SinkConfig(nil), cfg.Sinks...)
	alerts.Sinks = append([]SinkConfig(nil), alerts.Sinks...)
	cfg.SetDefaults()
	alerts.SetDefaults()
	if err := errors.Join(cfg.Validate(), alerts.Validate()); err != nil {
		return nil, fmt.Errorf("audit: invalid configuration: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("audit: metrics: %w", err)
	}
	a := &Auditor{
		cfg: cfg, logger: logger, m: m,
		q:          make(chan item, cfg.QueueSize),
		prev:       GenesisPrev,
		writerDone: make(chan struct{}),
		closing:    make(chan struct{}),
		logLast:    map[string]time.Time{},
		stdout:     stdout,
	}
	a.abortCtx, a.abort = context.WithCancel(context.Background()) // delivery outlives requests; Close bounds it
	defer func() {
		if err != nil {
			a.abort()
			a.closeRunners()
			m.unregister(reg)
		}
	}()
	anchored := false
	for _, sc := range cfg.Sinks {
		r, err := a.openRunner(sc)
		if err != nil {
			return nil, err
		}
		a.runners = append(a.runners, r)
		if fs, ok := r.s.(*fileSink); ok && !anchored {
			anchored = true
			a.resume(fs, r.sp)
			r.anchor = newOpenTracker(cfg.SpoolDir)
			a.anchor = r
		}
	}
	var unknown []*Event
	if a.anchor != nil {
		a.anchor.followers = a.followers()
		unknown = a.recoverOpen()
		for _, r := range a.runners {
			if remoteSink(r.cfg.Type) {
				a.catchUp(r)
			}
		}
	}
	if rules != nil && len(alerts.Sinks) > 0 {
		al := &alerter{
			a: a, cfg: alerts, rules: rules,
			q:      make(chan alertItem, alerts.QueueSize),
			prio:   make(chan alertItem, alerts.QueueSize),
			done:   make(chan struct{}),
			dedup:  map[string]time.Time{},
			denied: newSlidingCounter(denialWindow),
			nets:   &networkMemory{clients: map[string]map[netip.Prefix]struct{}{}},
			now:    time.Now,
		}
		for _, sc := range alerts.Sinks {
			s, err := newAlertSender(sc, alerts.DedupWindow)
			if err != nil {
				return nil, err
			}
			al.sinks = append(al.sinks, &alertRunner{a: a, name: sc.Name, cfg: sc, s: s,
				q: make(chan *Alert, max(alerts.QueueSize, minAlertSinkQueue)), done: make(chan struct{})})
		}
		a.alerts = al
	}
	for _, r := range a.runners {
		go r.run()
	}
	if a.alerts != nil {
		for _, s := range a.alerts.sinks {
			go s.run()
		}
		go a.alerts.run()
	}
	go a.writer()
	for _, ev := range unknown {
		a.Record(ev, nil)
	}
	return a, nil
}

func (a *Auditor) openRunner(sc SinkConfig) (*runner, error) {
	var s sink
	var err error
	switch sc.Type {
	case "file":
		s, err = openFileSink(sc)
	case "stdout":
		s = newStdoutSink(a.stdout, sc.Format)
	case "webhook":
		s, err = newWebhookSink(sc)
	case "syslog":
		s, err = newSyslogSink(sc)
	default:
		err = fmt.Errorf("audit: unknown sink type %q", sc.Type)
	}
	if err != nil {
		return nil, err
	}
	sp, err := openSpool(filepath.Join(a.cfg.SpoolDir, unsafeName.ReplaceAllString(sc.Name, "_")), int64(a.cfg.SpoolMaxBytes))
	if err != nil {
		s.close()
		return nil, err
	}
	limit := int64(a.cfg.SpoolMaxBytes)
	if a.cfg.OnFull == OnFullBlockExports {
		limit *= 2
	}
	r := &runner{a: a, name: sc.Name, cfg: sc, s: s, sp: sp, limit: limit,
		q: make(chan *entry, a.cfg.QueueSize), done: make(chan struct{}),
		queued: a.m.sinkQueue.WithLabelValues(sc.Name), written: a.m.written.WithLabelValues(sc.Name)}
	r.spooling = !sp.empty()
	r.updateFull()
	return r, nil
}

// resume continues the chain where the anchor file sink left it: its spool
// holds newer events than its file, if any.
func (a *Auditor) resume(fs *fileSink, sp *spool) {
	if tail := sp.tail(); tail != nil {
		if seq, hash, ok := lastChainOf(tail); ok {
			a.seq, a.prev = seq, hash
			return
		}
	}
	if seq, hash, ok := fs.lastChain(); ok {
		a.seq, a.prev = seq, hash
	}
}

// Record hands ev to the writer. It does not block unless the queue is
// full (the writer cannot keep up), in which case it waits for room rather
// than lose the event (counted in crmgw_audit_record_waits_total). After
// Record the auditor owns ev: the caller must not touch it again. usage
// (the usage counters of the policy input, or nil) is passed to the alert
// rules as input.usage.
func (a *Auditor) Record(ev *Event, usage any) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		a.m.dropped.WithLabelValues("all", "closed").Inc()
		a.logLimited("record-closed", "audit event recorded after Close: dropped", zap.String("request_id", ev.RequestID))
		return
	}
	a.m.recorded.Inc()
	select {
	case a.q <- item{ev: ev, usage: usage}:
	default:
		a.m.recordWaits.Inc()
		a.q <- item{ev: ev, usage: usage}
	}
}

// writer is the single goroutine that orders events, computes the chain
// and fans out.
func (a *Auditor) writer() {
	defer close(a.writerDone)
	for it := range a.q {
		a.m.queueDepth.Set(float64(len(a.q)))
		ev := it.ev
		normalise(ev)
		ev.Chain = Chain{Seq: a.seq + 1, Prev: a.prev}
		line, err := seal(ev)
		if err != nil {
			// Only a value JSON cannot represent (NaN duration) gets here.
			a.m.dropped.WithLabelValues("all", "unencodable").Inc()
			a.logLimited("seal", "audit event cannot be encoded: dropped", zap.String("request_id", ev.RequestID), zap.Error(err))
			if it.done != nil {
				it.done <- fmt.Errorf("audit: start record cannot be encoded: %w", err)
			}
			continue
		}
		a.seq, a.prev = ev.Chain.Seq, ev.Chain.Hash
		e := &entry{line: line, ev: ev}
		if a.anchor != nil {
			// The other sinks are fed by the local log's runner once it
			// wrote the event: no sink gets ahead of the log, so after a
			// crash the log holds everything any sink may have seen.
			e.done = it.done
			a.anchor.offer(e)
		} else {
			for _, r := range a.runners {
				r.offer(e)
			}
		}
		if ev.Status == StatusPending {
			continue // the completion (or the unknown outcome) is evaluated
		}
		if a.alerts != nil {
			a.alerts.enqueue(alertItem{e: e, usage: it.usage})
		}
	}
	for _, r := range a.runners {
		if a.anchor == nil || r == a.anchor {
			close(r.q) // the anchor closes the others' queues when it is done
		}
	}
	if a.alerts != nil {
		close(a.alerts.q)
		close(a.alerts.prio)
	}
}

// followers are the runners fed by the local log's runner.
func (a *Auditor) followers() []*runner {
	out := make([]*runner, 0, len(a.runners))
	for _, r := range a.runners {
		if r != a.anchor {
			out = append(out, r)
		}
	}
	return out
}

// normalise makes every event look alike to a SIEM: UTC time, the OCSF
// class, empty lists rather than null.
func normalise(ev *Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Time = ev.Time.UTC()
	ev.ClassUID = ClassAPIActivity
	bound(ev)
	if ev.Activity == "" || ev.Severity == "" {
		act, sev := ev.Activity, ev.Severity
		ev.Classify()
		if act != "" {
			ev.Activity = act
		}
		if sev != "" {
			ev.Severity = sev
		}
	}
	if ev.Actor.User.Groups == nil {
		ev.Actor.User.Groups = []string{}
	}
	if ev.CRM.Fields == nil {
		ev.CRM.Fields = []string{}
	}
	if ev.Decision.Masked == nil {
		ev.Decision.Masked = []string{}
	}
}

// AcceptingExports reports whether export and bulk requests may proceed:
// false while the local audit log cannot be written (fail closed), and with
// on_full: block_exports while any sink's spool is full. The proxy refuses
// such requests with 503 meanwhile.
func (a *Auditor) AcceptingExports() bool {
	if a.anchor != nil && a.anchor.failing.Load() {
		return false
	}
	if a.cfg.OnFull != OnFullBlockExports {
		return true
	}
	for _, r := range a.runners {
		if r.full.Load() {
			return false
		}
	}
	return true
}

// Healthy reports whether every sink keeps up: no spool is full.
func (a *Auditor) Healthy() bool {
	for _, r := range a.runners {
		if r.full.Load() {
			return false
		}
	}
	return true
}

// Ready is for /readyz: an error only when this replica cannot audit
// safely: after Close, or while the local audit log cannot be written. A
// sink that is down or behind, or a full spool, is a degraded state
// (Degraded), not a reason to take the replica out of the load balancer:
// every replica shares the same SIEM.
func (a *Auditor) Ready() error {
	a.mu.RLock()
	closed := a.closed
	a.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if a.anchor != nil && a.anchor.failing.Load() {
		return fmt.Errorf("audit: the local audit log (sink %s) cannot be written", a.anchor.name)
	}
	return nil
}

// Degraded describes what is wrong without making the replica unready,
// by sink name: a spool full (exports paused under on_full: block_exports),
// near full (over 80%), or a sink whose last delivery failed. Empty when
// all is well.
func (a *Auditor) Degraded() map[string]string {
	var out map[string]string
	add := func(k, v string) {
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	for _, r := range a.runners {
		r.mu.Lock()
		bytes := r.sp.bytes
		r.mu.Unlock()
		switch {
		case r.full.Load() && a.cfg.OnFull == OnFullBlockExports:
			add("audit_sink_"+r.name, "spool full: exports paused until it drains")
		case r.full.Load():
			add("audit_sink_"+r.name, "spool full: new events for this sink are dropped")
		case bytes > int64(a.cfg.SpoolMaxBytes)/10*8:
			add("audit_sink_"+r.name, "spool over 80% full")
		case r.failing.Load():
			add("audit_sink_"+r.name, "delivery failing: events spooled and retried")
		}
	}
	return out
}

// Close stops accepting events, delivers everything queued (retrying sinks
// that are down) and fsyncs, until ctx ends; what is left then stays in the
// spools for the next start. It returns the first error closing a sink.
func (a *Auditor) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	close(a.q)
	close(a.closing)
	a.mu.Unlock()

	stop := context.AfterFunc(ctx, a.abort)
	defer stop()
	<-a.writerDone
	for _, r := range a.runners {
		<-r.done
	}
	if a.alerts != nil {
		<-a.alerts.done
		for _, s := range a.alerts.sinks {
			<-s.done
		}
	}
	a.abort()
	a.flushDropLogs()
	err := a.closeRunners()
	if ctx.Err() != nil {
		return errors.Join(fmt.Errorf("audit: close: %w (undelivered events stay in the spool)", ctx.Err()), err)
	}
	return err
}

func (a *Auditor) closeRunners() error {
	var errs []error
	for _, r := range a.runners {
		if err := r.close(); err != nil {
			errs = append(errs, fmt.Errorf("audit: closing sink %s: %w", r.name, err))
		}
	}
	if a.alerts != nil {
		for _, s := range a.alerts.sinks {
			s.s.close()
		}
	}
	return errors.Join(errs...)
}

// logDrops counts n lost events under key and logs, at most once per 10s
// per key, how many were lost since its last line: the sum of the lines
// equals the dropped-events metric.
func (a *Auditor) logDrops(key, msg string, n int, fields ...zap.Field) {
	now := time.Now()
	a.logMu.Lock()
	if a.dropAcc == nil {
		a.dropAcc, a.dropMsg = map[string]int{}, map[string]dropLine{}
	}
	a.dropAcc[key] += n
	a.dropMsg[key] = dropLine{msg, fields}
	last, ok := a.logLast[key]
	if ok && now.Sub(last) < 10*time.Second {
		a.logMu.Unlock()
		return
	}
	total := a.dropAcc[key]
	a.dropAcc[key] = 0
	a.logLast[key] = now
	a.logMu.Unlock()
	a.logger.Error(msg, append(fields, zap.Int("events", total))...)
}

type dropLine struct {
	msg    string
	fields []zap.Field
}

// flushDropLogs logs the losses not reported yet (on Close).
func (a *Auditor) flushDropLogs() {
	a.logMu.Lock()
	defer a.logMu.Unlock()
	for key, n := range a.dropAcc {
		if n > 0 {
			l := a.dropMsg[key]
			a.logger.Error(l.msg, append(l.fields, zap.Int("events", n))...)
			a.dropAcc[key] = 0
		}
	}
}

// logLimited logs at most once per 10s per key, so a failing sink cannot
// flood the log.
func (a *Auditor) logLimited(key, msg string, fields ...zap.Field) {
	now := time.Now()
	a.logMu.Lock()
	last, ok := a.logLast[key]
	if ok && now.Sub(last) < 10*time.Second {
		a.logMu.Unlock()
		return
	}
	a.logLast[key] = now
	a.logMu.Unlock()
	a.logger.Error(msg, fields...)
}
