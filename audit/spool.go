package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// spool is one sink's on-disk queue: append-only segment files of JSON
// lines (seg-00000001.jsonl, ...) and a cursor file naming the segment and
// offset up to which lines were delivered. Consumed segments are deleted.
// Delivery is at least once: after a crash between a delivery and the
// cursor update the last batch is sent again.
//
// A spool is not safe for concurrent use; the sink runner serialises it.
type spool struct {
	dir     string
	segMax  int64
	segs    []int64 // segment numbers, ascending
	sizes   map[int64]int64
	w       *os.File // the last segment, open for appending
	readSeg int64    // segment of the cursor
	readOff int64    // offset of the cursor in readSeg
	bytes   int64    // bytes not yet delivered
}

func openSpool(dir string, maxBytes int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	segMax := min(max(maxBytes/8, 64<<10), 16<<20)
	s := &spool{dir: dir, segMax: segMax, sizes: map[int64]int64{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	for _, e := range ents {
		n, ok := segNumber(e.Name())
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("audit: spool: %w", err)
		}
		s.segs = append(s.segs, n)
		s.sizes[n] = info.Size()
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i] < s.segs[j] })
	if len(s.segs) > 0 {
		s.readSeg = s.segs[0]
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cursor")); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			seg, err1 := strconv.ParseInt(f[0], 10, 64)
			off, err2 := strconv.ParseInt(f[1], 10, 64)
			if size, ok := s.sizes[seg]; ok && err1 == nil && err2 == nil && off <= size {
				s.readSeg, s.readOff = seg, off
			}
		}
	}
	// Drop segments before the cursor (a crash after the cursor moved).
	for len(s.segs) > 0 && s.segs[0] < s.readSeg {
		os.Remove(s.segPath(s.segs[0]))
		delete(s.sizes, s.segs[0])
		s.segs = s.segs[1:]
	}
	for _, n := range s.segs {
		s.bytes += s.sizes[n]
	}
	s.bytes -= s.readOff
	return s, nil
}

func segNumber(name string) (int64, bool) {
	if !strings.HasPrefix(name, "seg-") || !strings.HasSuffix(name, ".jsonl") {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, "seg-"), ".jsonl"), 10, 64)
	return n, err == nil
}

func (s *spool) segPath(n int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("seg-%08d.jsonl", n))
}

// empty reports whether every spooled line was delivered.
func (s *spool) empty() bool { return s.bytes <= 0 }

// append writes lines (each without newline) at the end of the spool.
func (s *spool) append(lines ...[]byte) error {
	if len(s.segs) == 0 || s.sizes[s.segs[len(s.segs)-1]] >= s.segMax {
		if err := s.newSegment(); err != nil {
			return err
		}
	}
	if s.w == nil {
		f, err := os.OpenFile(s.segPath(s.segs[len(s.segs)-1]), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("audit: spool: %w", err)
		}
		s.w = f
	}
	n, err := s.w.Write(joinLines(lines))
	last := s.segs[len(s.segs)-1]
	s.sizes[last] += int64(n)
	s.bytes += int64(n)
	if err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	return nil
}

func (s *spool) newSegment() error {
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
	n := int64(1)
	if len(s.segs) > 0 {
		n = s.segs[len(s.segs)-1] + 1
	}
	f, err := os.OpenFile(s.segPath(n), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	if len(s.segs) == 0 {
		s.readSeg, s.readOff = n, 0
	}
	s.segs = append(s.segs, n)
	s.sizes[n] = 0
	s.w = f
	return nil
}

// prepend puts lines in front of every undelivered line (a failed batch
// and the queue behind it are older than what the writer spooled
// meanwhile). They go to a new segment numbered before the first one.
func (s *spool) prepend(lines ...[]byte) error {
	if s.empty() || len(s.segs) == 0 || s.readOff != 0 || s.readSeg != s.segs[0] {
		return s.append(lines...)
	}
	n := s.segs[0] - 1
	f, err := os.OpenFile(s.segPath(n), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	buf := joinLines(lines)
	_, err = f.Write(buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(s.segPath(n))
		return fmt.Errorf("audit: spool: %w", err)
	}
	s.segs = append([]int64{n}, s.segs...)
	s.sizes[n] = int64(len(buf))
	s.bytes += int64(len(buf))
	s.readSeg, s.readOff = n, 0
	s.saveCursor()
	return nil
}

// joinLines ends every line with a newline, in one buffer (one write).
func joinLines(lines [][]byte) []byte {
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	buf := make([]byte, 0, n)
	for _, l := range lines {
		buf = append(buf, l...)
		buf = append(buf, '\n')
	}
	return buf
}

// cursor is a position in the spool.
type cursor struct{ seg, off int64 }

// peek reads up to max lines from the cursor and returns them with the
// position after them. Lines are read from one segment at a time.
func (s *spool) peek(max int) ([][]byte, cursor, error) {
	return s.peekAt(cursor{s.readSeg, s.readOff}, max)
}

// each calls fn for every undelivered line, in order, without moving the
// cursor.
func (s *spool) each(fn func([]byte)) error {
	c := cursor{s.readSeg, s.readOff}
	for {
		lines, next, err := s.peekAt(c, 1024)
		if err != nil {
			return err
		}
		if len(lines) == 0 {
			return nil
		}
		for _, l := range lines {
			fn(l)
		}
		c = next
	}
}

// reset deletes every spooled line (the sink is about to be fed again
// from the local log).
func (s *spool) reset() error {
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
	var errs []error
	for _, seg := range s.segs {
		if err := os.Remove(s.segPath(seg)); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(filepath.Join(s.dir, "cursor")); err != nil && !os.IsNotExist(err) {
		errs = append(errs, err)
	}
	s.segs, s.sizes = nil, map[int64]int64{}
	s.readSeg, s.readOff, s.bytes = 0, 0, 0
	if len(errs) > 0 {
		return fmt.Errorf("audit: spool reset: %w", errors.Join(errs...))
	}
	return nil
}

func (s *spool) peekAt(c cursor, max int) ([][]byte, cursor, error) {
	for len(s.segs) > 0 {
		if c.off < s.sizes[c.seg] {
			break
		}
		// The cursor segment is consumed: move to the next one, if any.
		i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i] > c.seg })
		if i == len(s.segs) {
			return nil, c, nil
		}
		c = cursor{s.segs[i], 0}
	}
	if len(s.segs) == 0 {
		return nil, c, nil
	}
	f, err := os.Open(s.segPath(c.seg))
	if err != nil {
		return nil, c, fmt.Errorf("audit: spool: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(c.off, io.SeekStart); err != nil {
		return nil, c, fmt.Errorf("audit: spool: %w", err)
	}
	br := bufio.NewReader(io.LimitReader(f, s.sizes[c.seg]-c.off))
	var out [][]byte
	for len(out) < max {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			c.off += int64(len(line))
			out = append(out, line[:len(line)-1])
			continue
		}
		if err == io.EOF {
			// A torn last line (crash mid-append): skip it.
			c.off += int64(len(line))
			break
		}
		if err != nil {
			return nil, c, fmt.Errorf("audit: spool: %w", err)
		}
	}
	return out, c, nil
}

// commit moves the cursor to c (after a successful delivery of the lines
// peek returned), deleting segments wholly consumed.
func (s *spool) commit(c cursor) {
	delivered := int64(0)
	for _, seg := range s.segs {
		switch {
		case seg < s.readSeg || seg > c.seg:
		case seg == s.readSeg && seg == c.seg:
			delivered += c.off - s.readOff
		case seg == s.readSeg:
			delivered += s.sizes[seg] - s.readOff
		case seg == c.seg:
			delivered += c.off
		default:
			delivered += s.sizes[seg]
		}
	}
	s.bytes -= delivered
	s.readSeg, s.readOff = c.seg, c.off
	// Delete consumed segments, keeping the one being written.
	for len(s.segs) > 1 && s.segs[0] < c.seg {
		os.Remove(s.segPath(s.segs[0]))
		delete(s.sizes, s.segs[0])
		s.segs = s.segs[1:]
	}
	if s.bytes <= 0 && len(s.segs) > 0 {
		// Everything delivered: start afresh so the spool does not grow.
		if s.w != nil {
			s.w.Close()
			s.w = nil
		}
		for _, seg := range s.segs {
			os.Remove(s.segPath(seg))
		}
		s.segs, s.sizes = nil, map[int64]int64{}
		s.readSeg, s.readOff, s.bytes = 0, 0, 0
		os.Remove(filepath.Join(s.dir, "cursor"))
		return
	}
	s.saveCursor()
}

func (s *spool) saveCursor() {
	tmp := filepath.Join(s.dir, "cursor.tmp")
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d %d\n", s.readSeg, s.readOff)), 0o600); err == nil {
		os.Rename(tmp, filepath.Join(s.dir, "cursor"))
	}
}

// tail returns the end of the newest non-empty segment (its last complete
// line is the newest event spooled, to resume a chain).
func (s *spool) tail() []byte {
	if s.empty() || len(s.segs) == 0 {
		return nil
	}
	for i := len(s.segs) - 1; i >= 0; i-- {
		b, err := readTail(s.segPath(s.segs[i]), 1<<20)
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			return b
		}
	}
	return nil
}

func (s *spool) close() error {
	if s.w != nil {
		err := s.w.Close()
		s.w = nil
		return err
	}
	return nil
}

// readTail returns up to n bytes from the end of a file.
func readTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(info.Size()-n, 0)
	b := make([]byte, info.Size()-off)
	_, err = f.ReadAt(b, off)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}
