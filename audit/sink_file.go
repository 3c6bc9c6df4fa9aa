package audit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// fileSink writes JSON lines to a file, rotating it by size and/or age.
// A rotated file is renamed to <stem>-<UTC time><ext> next to the current
// one; the chain simply continues in the new file.
type fileSink struct {
	cfg      SinkConfig
	f        *os.File
	w        *bufio.Writer
	size     int64
	opened   time.Time
	dirty    bool
	lastSync time.Time
	now      func() time.Time
}

func openFileSink(cfg SinkConfig) (*fileSink, error) {
	s := &fileSink{cfg: cfg, now: time.Now}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("audit: file sink: %w", err)
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *fileSink) open() error {
	f, err := os.OpenFile(s.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("audit: file sink: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: file sink: %w", err)
	}
	s.f, s.size, s.opened = f, info.Size(), s.now()
	if s.size > 0 {
		// The age of an existing file counts from its creation as far as
		// we know it: its modification time is the best cheap estimate.
		s.opened = info.ModTime()
		// A crash mid-line leaves a torn last line: end it so the next
		// event starts on a line of its own (verify reports the torn one).
		tail, err := readTail(s.cfg.Path, 1)
		if err == nil && len(tail) == 1 && tail[0] != '\n' {
			n, _ := f.Write([]byte("\n"))
			s.size += int64(n)
		}
	}
	s.w = bufio.NewWriterSize(f, 64<<10)
	return nil
}

// lastChain finds where the chain stood: the last valid line of the current
// file, else of the newest rotated file.
func (s *fileSink) lastChain() (int64, string, bool) {
	if tail, err := readTail(s.cfg.Path, 1<<20); err == nil {
		if seq, hash, ok := lastChainOf(tail); ok {
			return seq, hash, true
		}
	}
	rotated := rotatedFiles(s.cfg.Path)
	for i := len(rotated) - 1; i >= 0; i-- {
		if tail, err := readTail(rotated[i], 1<<20); err == nil {
			if seq, hash, ok := lastChainOf(tail); ok {
				return seq, hash, true
			}
		}
	}
	return 0, "", false
}

// RotatedFiles lists the rotated files of the audit file at path, oldest
// first, followed by path itself if it exists: the order `crmgw audit
// verify` needs to check the whole chain.
func RotatedFiles(path string) []string {
	files := rotatedFiles(path)
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	}
	return files
}

func rotatedFiles(path string) []string {
	ext := filepath.Ext(path)
	stem := strings.TrimSuffix(path, ext)
	matches, _ := filepath.Glob(stem + "-[0-9]*T*Z" + ext)
	sort.Strings(matches) // the UTC timestamps sort in time order
	return matches
}

func (s *fileSink) deliver(_ context.Context, batch []*entry) error {
	if s.w == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if s.cfg.RotateEvery > 0 && s.size > 0 && s.now().Sub(s.opened) >= s.cfg.RotateEvery {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	ocsf, bad := s.cfg.Format == FormatOCSF, 0
	for _, e := range batch {
		line, ok := entryLine(e, ocsf)
		if !ok {
			bad++
			continue
		}
		n := int64(len(line) + 1)
		if s.cfg.MaxSize > 0 && s.size > 0 && s.size+n > int64(s.cfg.MaxSize) {
			if err := s.rotate(); err != nil {
				return err
			}
		}
		s.w.Write(line)
		if err := s.w.WriteByte('\n'); err != nil {
			return s.fail(err)
		}
		s.size += n
	}
	if err := s.w.Flush(); err != nil {
		return s.fail(err)
	}
	s.dirty = true
	switch {
	case s.cfg.Fsync == "always",
		s.cfg.Fsync == "batch" && waitedFor(batch),
		s.cfg.Fsync != "never" && s.now().Sub(s.lastSync) >= s.cfg.FsyncInterval:
		if err := s.sync(); err != nil {
			return err
		}
	}
	return unconvertible(bad)
}

// waitedFor reports whether a Begin waits for the batch (fsync: batch
// syncs before it answers: one fsync for every start record waiting).
func waitedFor(batch []*entry) bool {
	for _, e := range batch {
		if e.done != nil {
			return true
		}
	}
	return false
}

// fail drops the buffered writer after a write error: the batch is retried
// from the spool on a fresh file handle. A partial line may remain; the
// reopen ends it with a newline and verify names it.
func (s *fileSink) fail(err error) error {
	s.f.Close()
	s.f, s.w = nil, nil
	return fmt.Errorf("audit: file sink: %w", err)
}

func (s *fileSink) sync() error {
	s.lastSync = s.now()
	if !s.dirty || s.f == nil {
		return nil
	}
	s.dirty = false
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("audit: file sink: fsync: %w", err)
	}
	return nil
}

func (s *fileSink) tick() error {
	if s.cfg.RotateEvery > 0 && s.f != nil && s.size > 0 && s.now().Sub(s.opened) >= s.cfg.RotateEvery {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	if s.cfg.Fsync == "never" {
		return nil
	}
	return s.sync()
}

// rotate closes the current file (flushed and fsynced), renames it with
// its rotation time and opens a fresh one.
func (s *fileSink) rotate() error {
	if err := s.w.Flush(); err != nil {
		return s.fail(err)
	}
	if s.cfg.Fsync != "never" {
		if err := s.f.Sync(); err != nil {
			return s.fail(err)
		}
	}
	if err := s.f.Close(); err != nil {
		s.f, s.w = nil, nil
		return fmt.Errorf("audit: file sink: %w", err)
	}
	s.f, s.w = nil, nil
	ext := filepath.Ext(s.cfg.Path)
	stem := strings.TrimSuffix(s.cfg.Path, ext)
	t := s.now().UTC()
	var target string
	for i := 0; ; i++ {
		// Fixed-width nanoseconds so names sort in time order.
		target = fmt.Sprintf("%s-%s.%09dZ%s", stem, t.Format("20060102T150405"), t.Nanosecond()+i, ext)
		if _, err := os.Stat(target); os.IsNotExist(err) {
			break
		}
	}
	if err := os.Rename(s.cfg.Path, target); err != nil {
		return fmt.Errorf("audit: file sink: rotate: %w", err)
	}
	return s.open()
}

func (s *fileSink) close() error {
	if s.f == nil {
		return nil
	}
	err := s.w.Flush()
	if s.cfg.Fsync != "never" {
		if serr := s.f.Sync(); err == nil {
			err = serr
		}
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f, s.w = nil, nil
	return err
}

// stdoutSink writes JSON lines to standard output (or w in tests): the
// native events, or with ocsf their OCSF form.
type stdoutSink struct {
	w    *bufio.Writer
	ocsf bool
}

func (s *stdoutSink) deliver(_ context.Context, batch []*entry) error {
	bad := 0
	for _, e := range batch {
		line, ok := entryLine(e, s.ocsf)
		if !ok {
			bad++
			continue
		}
		s.w.Write(line)
		s.w.WriteByte('\n')
	}
	if err := s.w.Flush(); err != nil {
		return err
	}
	return unconvertible(bad)
}

func (s *stdoutSink) close() error { return s.w.Flush() }

func newStdoutSink(w io.Writer, format string) *stdoutSink {
	return &stdoutSink{w: bufio.NewWriter(w), ocsf: format == FormatOCSF}
}

var (
	_ sink   = (*fileSink)(nil)
	_ ticker = (*fileSink)(nil)
	_ sink   = (*stdoutSink)(nil)
)
