package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// entry is one chained event on its way to the sinks: the JSON line as
// written to the file (without newline) and, when it did not come back from
// a spool, the event it was made from. Sinks must not modify either.
type entry struct {
	line []byte
	ev   *Event
	// done, set for a start record (Begin), receives the outcome of its
	// write to the local log: nil once written, else why not.
	done chan<- error
	m    lineMeta
	mOK  bool
}

// meta returns the request id, status and seq of the entry.
func (e *entry) meta() lineMeta {
	if !e.mOK {
		if e.ev != nil {
			e.m = lineMeta{RequestID: e.ev.RequestID, Status: e.ev.Status}
			e.m.Chain.Seq = e.ev.Chain.Seq
		} else {
			e.m, _ = parseMeta(e.line)
		}
		e.mOK = true
	}
	return e.m
}

// settle tells a waiting Begin how its start record fared.
func (e *entry) settle(err error) {
	if e.done != nil {
		e.done <- err
		e.done = nil
	}
}

// event returns the decoded event (from the line when it came from a spool).
func (e *entry) event() (*Event, error) {
	if e.ev == nil {
		var ev Event
		if err := json.Unmarshal(e.line, &ev); err != nil {
			return nil, err
		}
		e.ev = &ev
	}
	return e.ev, nil
}

// sink is one audit destination. deliver is all or nothing: on error the
// whole batch is retried (or spooled).
type sink interface {
	deliver(ctx context.Context, batch []*entry) error
	close() error
}

// ticker is implemented by sinks with periodic work (file: fsync, rotation
// by age).
type ticker interface {
	tick() error
}

// permanentError marks a delivery the destination refused for good (HTTP
// 400/413/422): retrying cannot help, so the batch is dropped, counted and
// logged instead of blocking the sink forever.
type permanentError struct {
	err    error
	events int // how many events of the batch were refused; 0: all
}

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// runner feeds one sink from its own bounded queue, so a slow sink never
// slows the writer or the other sinks. Overflow and failed batches go to the
// sink's spool, which is replayed in order before anything newer.
//
// Ordering: the writer hands entries to the queue only while the spool is
// empty; once anything is spooled, newer entries are spooled too until the
// runner has replayed the spool. A failed batch (and the queue behind it)
// is older than anything spooled meanwhile, so it is put in front.
type runner struct {
	a    *Auditor
	name string
	// queued and written are this sink's children of the metric vectors,
	// looked up once: they change with every event.
	queued  prometheus.Gauge
	written prometheus.Counter
	cfg     SinkConfig
	s       sink
	q       chan *entry
	limit   int64 // spool bytes beyond which events are dropped

	mu       sync.Mutex // guards sp and spooling
	sp       *spool
	spooling bool
	full     atomic.Bool // spool at or above spool_max_bytes
	done     chan struct{}

	// anchor is set on the runner of the first file sink, the local audit
	// log: it never spools because its queue is full (the writer waits for
	// room instead), and it tracks open start records.
	anchor    *openTracker
	followers []*runner   // the anchor feeds the other sinks what it wrote
	failing   atomic.Bool // the last delivery failed (for the anchor: the log is not writable)
	// cursor persists the last delivered seq of a remote sink, from which
	// a restart re-sends what the local log holds beyond it.
	cursor *sinkCursor
}

// offer is called by one goroutine only: the writer, or for the sinks
// that follow the local log, the local log's runner.
func (r *runner) offer(e *entry) {
	for {
		r.mu.Lock()
		if !r.spooling {
			select {
			case r.q <- e:
				r.queued.Set(float64(len(r.q)))
				r.mu.Unlock()
				return
			default:
			}
			if r.anchor != nil {
				// The local log is only slow, not failed: wait for room
				// rather than spool (a spooled start record would make its
				// Begin fail). The lock is released so the runner can work.
				r.mu.Unlock()
				time.Sleep(50 * time.Microsecond)
				continue
			}
		}
		r.spoolLocked(false, e)
		r.mu.Unlock()
		e.settle(fmt.Errorf("%w: it is behind after a failed write", ErrLogUnavailable))
		return
	}
}

// spoolLocked writes entries to the spool (in front with front=true).
func (r *runner) spoolLocked(front bool, es ...*entry) {
	if len(es) == 0 {
		return
	}
	// Keep what fits under the limit, in order; drop the rest.
	room := r.limit - r.sp.bytes
	lines := make([][]byte, 0, len(es))
	for _, e := range es {
		room -= int64(len(e.line) + 1)
		if room < 0 {
			break
		}
		lines = append(lines, e.line)
	}
	if dropped := len(es) - len(lines); dropped > 0 {
		r.a.m.dropped.WithLabelValues(r.name, "spool_full").Add(float64(dropped))
		r.a.logDrops("spool-full-"+r.name, "audit spool full: events dropped since the last such line",
			dropped, zap.String("sink", r.name), zap.String("on_full", r.a.cfg.OnFull))
		if len(lines) == 0 {
			r.updateFull()
			return
		}
	}
	var err error
	if front {
		err = r.sp.prepend(lines...)
	} else {
		err = r.sp.append(lines...)
	}
	if err != nil {
		r.a.m.dropped.WithLabelValues(r.name, "spool_error").Add(float64(len(lines)))
		r.a.logDrops("spool-err-"+r.name, "audit spool write failed: events dropped since the last such line",
			len(lines), zap.String("sink", r.name), zap.Error(err))
		return
	}
	r.spooling = true
	r.updateFull()
}

func (r *runner) updateFull() {
	r.full.Store(r.sp.bytes >= int64(r.a.cfg.SpoolMaxBytes))
	r.a.m.spoolBytes.WithLabelValues(r.name).Set(float64(max(r.sp.bytes, 0)))
}

// run is the runner goroutine. It returns when the writer closed the queue
// and everything was delivered or spooled, or when Close's context ended.
func (r *runner) run() {
	defer close(r.done)
	if r.anchor != nil {
		defer func() {
			for _, f := range r.followers {
				close(f.q)
			}
		}()
	}
	every := time.Second
	if r.cfg.Type == "file" && r.cfg.Fsync == "interval" {
		every = r.cfg.FsyncInterval
	}
	tk := time.NewTicker(every)
	defer tk.Stop()
	ctx := r.a.abortCtx
	queueOpen := true
	for {
		r.mu.Lock()
		spooling := r.spooling
		r.mu.Unlock()
		if spooling && len(r.q) == 0 {
			if !r.replay(ctx) {
				r.abort(queueOpen)
				return
			}
			continue
		}
		if !queueOpen {
			return
		}
		select {
		case e, ok := <-r.q:
			if !ok {
				queueOpen = false
				continue
			}
			batch, open := r.collect(e)
			queueOpen = queueOpen && open
			if err := r.deliver(ctx, batch); err != nil {
				r.mu.Lock()
				rest := r.drainQueueLocked()
				r.spoolLocked(true, append(batch, rest...)...)
				r.mu.Unlock()
			}
		case <-tk.C:
			r.saveState()
			if t, ok := r.s.(ticker); ok {
				if err := t.tick(); err != nil {
					r.a.logLimited("tick-"+r.name, "audit sink periodic flush failed", zap.String("sink", r.name), zap.Error(err))
				}
			}
		case <-ctx.Done():
			r.abort(queueOpen)
			return
		}
	}
}

// collect gathers a batch starting with e: whatever is queued, and when
// flush_interval is set, what arrives within it. It reports false once the
// queue is closed.
func (r *runner) collect(e *entry) ([]*entry, bool) {
	batch := []*entry{e}
	var timer <-chan time.Time
	if r.cfg.FlushInterval > 0 {
		t := time.NewTimer(r.cfg.FlushInterval)
		defer t.Stop()
		timer = t.C
	}
	for len(batch) < r.cfg.BatchSize {
		select {
		case e, ok := <-r.q:
			if !ok {
				return batch, false
			}
			batch = append(batch, e)
			continue
		default:
		}
		if timer == nil {
			break
		}
		select {
		case e, ok := <-r.q:
			if !ok {
				return batch, false
			}
			batch = append(batch, e)
		case <-timer:
			timer = nil
		case <-r.a.closing:
			timer = nil
		}
	}
	r.queued.Set(float64(len(r.q)))
	return batch, true
}

func (r *runner) drainQueueLocked() []*entry {
	var rest []*entry
	for {
		select {
		case e, ok := <-r.q:
			if !ok {
				return rest
			}
			rest = append(rest, e)
		default:
			return rest
		}
	}
}

// deliver sends one batch, counting the outcome. A permanent refusal drops
// the batch (counted and logged) and reports success so the sink moves on.
func (r *runner) deliver(ctx context.Context, batch []*entry) error {
	dctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	err := r.s.deliver(dctx, batch)
	cancel()
	n := float64(len(batch))
	if err == nil {
		r.written.Add(n)
		r.delivered(batch, nil)
		return nil
	}
	var perm *permanentError
	if errors.As(err, &perm) {
		dropped := len(batch)
		if perm.events > 0 {
			dropped = perm.events
		}
		r.written.Add(float64(len(batch) - dropped))
		r.a.m.failed.WithLabelValues(r.name).Add(float64(dropped))
		r.a.m.dropped.WithLabelValues(r.name, "rejected").Add(float64(dropped))
		r.a.logDrops("rejected-"+r.name, "audit sink refused events for good: dropped since the last such line",
			dropped, zap.String("sink", r.name), zap.Error(err))
		r.delivered(batch, err)
		return nil
	}
	r.a.m.failed.WithLabelValues(r.name).Add(n)
	r.failing.Store(true)
	for _, e := range batch {
		e.settle(fmt.Errorf("%w: %v", ErrLogUnavailable, err))
	}
	r.a.logLimited("fail-"+r.name, "audit sink delivery failed: spooling and retrying",
		zap.String("sink", r.name), zap.Int("events", len(batch)), zap.Error(err))
	return err
}

// delivered records a batch the sink is done with: the anchor's open
// starts, a remote sink's cursor, and the Begin calls waiting for it.
func (r *runner) delivered(batch []*entry, err error) {
	r.failing.Store(false)
	if r.anchor != nil {
		r.anchor.wrote(batch) // also fills every entry's meta: read-only from here
	}
	if r.cursor != nil {
		r.cursor.advance(batch)
	}
	for _, e := range batch {
		if err != nil {
			e.settle(fmt.Errorf("%w: %v", ErrLogUnavailable, err))
		} else {
			e.settle(nil)
		}
	}
	if r.anchor != nil {
		for _, f := range r.followers {
			for _, e := range batch {
				f.offer(e)
			}
		}
	}
}

// replay delivers the spool in order, retrying with exponential backoff,
// until it is empty. It returns false if ctx ended first.
func (r *runner) replay(ctx context.Context) bool {
	wait := r.cfg.RetryInitial
	for {
		r.mu.Lock()
		lines, c, err := r.sp.peek(r.cfg.BatchSize)
		if err == nil && len(lines) == 0 {
			r.sp.commit(c)
			if r.sp.empty() {
				r.spooling = false
			}
			r.updateFull()
			r.mu.Unlock()
			return true
		}
		r.mu.Unlock()
		if err == nil {
			batch := make([]*entry, len(lines))
			for i, l := range lines {
				batch[i] = &entry{line: l}
			}
			if err = r.deliver(ctx, batch); err == nil {
				r.mu.Lock()
				r.sp.commit(c)
				r.updateFull()
				r.mu.Unlock()
				r.saveState()
				wait = r.cfg.RetryInitial
				continue
			}
		} else {
			r.a.logLimited("spool-read-"+r.name, "audit spool read failed", zap.String("sink", r.name), zap.Error(err))
		}
		if ctx.Err() != nil {
			return false
		}
		if !backoff(ctx, &wait, r.cfg.RetryMax) {
			return false
		}
	}
}

// backoff waits about *wait (half of it fixed, half random, so replicas do
// not retry in step), then doubles *wait up to limit. It returns false if
// ctx ended first.
func backoff(ctx context.Context, wait *time.Duration, limit time.Duration) bool {
	t := time.NewTimer(*wait/2 + rand.N(*wait/2+1))
	defer t.Stop()
	*wait = min(*wait*2, limit)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// abort runs when Close's context ended: whatever is still queued goes to
// the spool (and so does whatever the writer still hands over) so the next
// start replays it.
func (r *runner) abort(queueOpen bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if queueOpen {
		r.spoolLocked(true, r.drainQueueLocked()...)
	}
	r.spooling = true
}

// saveState persists the anchor's checkpoint and a sink's cursor.
func (r *runner) saveState() {
	if r.anchor != nil {
		if err := r.anchor.save(); err != nil {
			r.a.logLimited("checkpoint", "audit checkpoint could not be saved", zap.Error(err))
		}
	}
	if r.cursor != nil {
		if err := r.cursor.save(); err != nil {
			r.a.logLimited("cursor-"+r.name, "audit sink cursor could not be saved", zap.String("sink", r.name), zap.Error(err))
		}
	}
}

func (r *runner) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.saveState()
	err := r.s.close()
	if cerr := r.sp.close(); err == nil {
		err = cerr
	}
	return err
}
