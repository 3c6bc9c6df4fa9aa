package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Statuses of the records that make the audit survive a crash (see
// docs/audit.md "Crash safety").
const (
	// StatusPending marks a start record: the request was decided and is
	// about to be forwarded to the CRM. Its completion follows with the same
	// request_id.
	StatusPending = "pending"
	// StatusUnknown closes a start record found without a completion after
	// a restart: the gateway stopped while the request was in flight, so
	// what reached the caller is unknown.
	StatusUnknown = "unknown"
)

// ErrLogUnavailable is returned by Begin when the start record could not be
// made durable in the local audit log: the proxy refuses exports then.
var ErrLogUnavailable = errors.New("audit: the local audit log cannot be written")

// beginTimeout bounds how long Begin waits for the group commit. A local
// disk that takes longer is treated as unwritable.
const beginTimeout = 5 * time.Second

// beginTimers are the timers of Begin's wait, reused: every forwarded
// request waits once.
var beginTimers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// Begin appends a start record for a request that is about to be forwarded
// to the CRM and returns once it is in the local audit log (the first file
// sink): written, and fsynced too with audit.fsync: batch or always. Every
// start waiting at the same time shares one write (group commit). The
// record is a chained event with status "pending"; the completion that
// Record writes later carries the same request_id. After a crash, a start
// without a completion is closed on the next start with status "unknown".
//
// Without a file sink there is no local log and Begin records nothing. An
// error means the start is not durable (ErrLogUnavailable, ErrClosed): the
// caller should not forward an export. The auditor owns ev afterwards.
//
// Begin is Start followed by Started.Wait.
func (a *Auditor) Begin(ev *Event) error {
	s, err := a.Start(ev)
	if err != nil {
		return err
	}
	return s.Wait()
}

// Started is a start record on its way to the local audit log.
type Started struct {
	a    *Auditor
	done chan error // nil: nothing to wait for (no local log)
}

// Start hands a start record to the writer and returns at once; Wait
// returns once it is in the local audit log, as Begin does. A request that
// may go to the CRM before its start record is durable (one that is not an
// export: docs/audit.md "Crash safety") calls Wait before the first byte of
// its answer goes to the caller, so the record's write overlaps the CRM's
// round trip. The auditor owns ev afterwards.
func (a *Auditor) Start(ev *Event) (Started, error) {
	if a.anchor == nil {
		return Started{}, nil
	}
	ev.Status = StatusPending
	ev.Classify()
	done := make(chan error, 1)
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		return Started{}, ErrClosed
	}
	a.m.recorded.Inc()
	select {
	case a.q <- item{ev: ev, done: done}:
	default:
		a.m.recordWaits.Inc()
		a.q <- item{ev: ev, done: done}
	}
	a.mu.RUnlock()
	return Started{a: a, done: done}, nil
}

// Pending reports whether Wait still has to be called.
func (s Started) Pending() bool { return s.done != nil }

// Wait returns once the start record is in the local audit log, or why it
// is not (ErrLogUnavailable, ErrClosed). Call it once.
func (s Started) Wait() error {
	if s.done == nil {
		return nil
	}
	select {
	case err := <-s.done:
		return err // written already: no timer
	default:
	}
	t := beginTimers.Get().(*time.Timer)
	t.Reset(beginTimeout)
	defer func() {
		t.Stop() // since Go 1.23 a stopped timer's channel is empty: reusable
		beginTimers.Put(t)
	}()
	select {
	case err := <-s.done:
		return err
	case <-t.C:
		return fmt.Errorf("%w: no write within %s", ErrLogUnavailable, beginTimeout)
	case <-s.a.abortCtx.Done():
		return ErrClosed
	}
}

// openTracker follows, in the anchor file sink's runner, which start
// records are in the log without their completion, and persists where the
// oldest of them begins (the checkpoint), so a restart scans only the end
// of the log for requests cut short.
type openTracker struct {
	path    string           // checkpoint file
	open    map[string]int64 // request_id -> seq of its start record
	written int64            // highest seq written to the log
	saved   int64            // checkpoint last saved
}

func newOpenTracker(spoolDir string) *openTracker {
	return &openTracker{path: filepath.Join(spoolDir, "open-from"), open: map[string]int64{}}
}

// wrote updates the tracker after a batch reached the log.
func (t *openTracker) wrote(batch []*entry) {
	for _, e := range batch {
		m := e.meta()
		if m.Chain.Seq > t.written {
			t.written = m.Chain.Seq
		}
		if m.Status == StatusPending {
			t.open[m.RequestID] = m.Chain.Seq
		} else if len(t.open) > 0 {
			delete(t.open, m.RequestID)
		}
	}
}

// checkpoint is the seq from which a restart must scan: the oldest open
// start, else the next seq to be written.
func (t *openTracker) checkpoint() int64 {
	from := t.written + 1
	for _, s := range t.open {
		from = min(from, s)
	}
	return from
}

// save writes the checkpoint if it moved. Saving an older checkpoint than
// necessary only makes the next restart scan more.
func (t *openTracker) save() error {
	if t.written == 0 {
		return nil
	}
	c := t.checkpoint()
	if c == t.saved {
		return nil
	}
	if err := writeFileAtomic(t.path, []byte(strconv.FormatInt(c, 10)+"\n")); err != nil {
		return err
	}
	t.saved = c
	return nil
}

func readSeqFile(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil && n >= 0
}

// writeFileAtomic replaces path with data (write to a temporary file, then
// rename), so a crash leaves the old or the new content, never a torn one.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// lineMeta is the part of an event line the crash recovery and the sink
// cursors need.
type lineMeta struct {
	RequestID string `json:"request_id"`
	Status    string `json:"status"`
	Chain     struct {
		Seq int64 `json:"seq"`
	} `json:"chain"`
}

func parseMeta(line []byte) (lineMeta, bool) {
	var m lineMeta
	if err := json.Unmarshal(line, &m); err != nil || m.Chain.Seq < 1 {
		return m, false
	}
	return m, true
}
