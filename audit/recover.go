package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// outcomeUnknownReason is the error of the event that closes a start
// record found without its completion.
const outcomeUnknownReason = "the gateway stopped before the request completed; what reached the caller is unknown"

// sinkCursor is the last seq a remote sink delivered (or refused for
// good), persisted in its spool directory as "delivered". Saved about once
// a second and after each spool batch: after a crash, up to that much is
// sent again (at least once; receivers de-duplicate on request_id and
// chain.seq).
type sinkCursor struct {
	path        string
	last, saved int64
}

func (c *sinkCursor) advance(batch []*entry) {
	for _, e := range batch {
		c.last = max(c.last, e.meta().Chain.Seq)
	}
}

func (c *sinkCursor) save() error {
	if c.last == c.saved {
		return nil
	}
	if err := writeFileAtomic(c.path, []byte(formatSeq(c.last))); err != nil {
		return err
	}
	c.saved = c.last
	return nil
}

func formatSeq(n int64) string {
	b, _ := json.Marshal(n)
	return string(b) + "\n"
}

// remoteSink reports whether a sink type delivers off the host, so its
// delivery is resumed from the local log after a restart.
func remoteSink(typ string) bool { return typ == "webhook" || typ == "syslog" }

// catchUp runs in New before the goroutines start. A remote sink with a
// cursor gets its spool rebuilt from the local log: every event after the
// cursor, in order (what sat in its memory queue when the process died is
// in the log). A sink seen for the first time starts at the current end of
// the log. Events still in the local log's own spool (not yet in its file)
// reach the sink when that spool is replayed into the file.
func (a *Auditor) catchUp(r *runner) {
	r.cursor = &sinkCursor{path: filepath.Join(r.sp.dir, "delivered")}
	c, ok := readSeqFile(r.cursor.path)
	if !ok {
		r.cursor.last, r.cursor.saved = a.seq, -1 // written now, even at 0
		if err := r.cursor.save(); err != nil {
			a.logger.Warn("audit sink cursor could not be saved", zap.String("sink", r.name), zap.Error(err))
		}
		return
	}
	r.cursor.last, r.cursor.saved = c, c
	if c >= a.seq {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.sp.reset(); err != nil {
		a.logger.Error("audit: sink spool could not be reset; resuming from it", zap.String("sink", r.name), zap.Error(err))
		return
	}
	var chunk []*entry
	n := 0
	err := eachLogLine(a.anchor.cfg.Path, c+1, func(_ lineMeta, line []byte) {
		chunk = append(chunk, &entry{line: line})
		n++
		if len(chunk) == 1024 {
			r.spoolLocked(false, chunk...)
			chunk = chunk[:0]
		}
	})
	r.spoolLocked(false, chunk...)
	if err != nil {
		a.logger.Error("audit: reading the local log to resume a sink", zap.String("sink", r.name), zap.Error(err))
	}
	a.logger.Info("audit sink resumes from the local log", zap.String("sink", r.name),
		zap.Int64("after_seq", c), zap.Int("events", n))
}

// recoverOpen finds start records without a completion (the process died
// while they were in flight) from the checkpoint on, in the local log and
// its spool, and returns the events that close them: status "unknown",
// severity at least high.
func (a *Auditor) recoverOpen() []*Event {
	r := a.anchor
	from, ok := readSeqFile(r.anchor.path)
	if !ok {
		// No checkpoint yet: the current file is what a previous run of
		// this version can have left open.
		from, _ = firstSeq(r.cfg.Path)
	}
	open := map[string][]byte{}
	var order []string
	see := func(m lineMeta, line []byte) {
		if m.Status == StatusPending {
			if _, dup := open[m.RequestID]; !dup {
				order = append(order, m.RequestID)
			}
			open[m.RequestID] = line
			return
		}
		delete(open, m.RequestID)
	}
	if err := eachLogLine(r.cfg.Path, from, see); err != nil {
		a.logger.Error("audit: reading the local log for open requests", zap.Error(err))
	}
	if err := r.sp.each(func(line []byte) {
		if m, ok := parseMeta(line); ok {
			see(m, line)
		}
	}); err != nil {
		a.logger.Error("audit: reading the local log's spool for open requests", zap.Error(err))
	}
	var out []*Event
	for _, id := range order {
		line, ok := open[id]
		if !ok {
			continue
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			continue
		}
		ev.Chain = Chain{}
		ev.Status = StatusUnknown
		ev.Error = outcomeUnknownReason
		ev.Classify()
		ev.Severity = maxSeverity(ev.Severity, SeverityHigh)
		out = append(out, &ev)
	}
	if len(out) > 0 {
		a.logger.Warn("audit: requests in flight when the gateway stopped closed with outcome unknown",
			zap.Int("events", len(out)), zap.Int64("from_seq", from))
	}
	return out
}

// eachLogLine calls fn, in order, for every complete line of the local log
// at path (its rotated files, then the current one) whose seq is at least
// from. Files that end before from are not read.
func eachLogLine(path string, from int64, fn func(lineMeta, []byte)) error {
	files := RotatedFiles(path)
	start := 0
	for i := len(files) - 1; i > 0; i-- {
		if first, ok := firstSeq(files[i]); ok && first <= from {
			start = i
			break
		}
	}
	var errs []error
	for _, name := range files[start:] {
		errs = append(errs, eachFileLine(name, from, fn))
	}
	return errors.Join(errs...)
}

func eachFileLine(name string, from int64, fn func(lineMeta, []byte)) error {
	f, err := openRegular(name)
	if f == nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			line = line[:len(line)-1]
			if m, ok := parseMeta(line); ok && m.Chain.Seq >= from {
				fn(m, line)
			}
		}
		if err == io.EOF {
			return nil // a torn last line is left to verify
		}
		if err != nil {
			return err
		}
	}
}

// openRegular opens a regular file for reading; anything else (a missing
// file, a device such as /dev/full) gives nil: there is no log to read.
func openRegular(name string) (*os.File, error) {
	info, err := os.Stat(name)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, nil
	}
	return os.Open(name)
}

func firstSeq(name string) (int64, bool) {
	f, _ := openRegular(name)
	if f == nil {
		return 0, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		return 0, false
	}
	m, ok := parseMeta(line)
	return m.Chain.Seq, ok
}
