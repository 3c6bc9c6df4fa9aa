package audit

import (
	"strings"
	"testing"
)

func peekAll(t *testing.T, s *spool) []string {
	t.Helper()
	lines, _, err := s.peek(1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range lines {
		out = append(out, string(l))
	}
	return out
}

func TestSpoolKeepsOrderAcrossPrependCommitAndReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !s.empty() {
		t.Fatal("a new spool is not empty")
	}
	s.append([]byte("c"), []byte("d"))
	s.prepend([]byte("a"), []byte("b")) // older: a failed batch, in its own segment
	if got := strings.Join(peekAll(t, s), ","); got != "a,b" {
		t.Fatalf("first segment = %s", got)
	}
	_, c, _ := s.peek(1000)
	s.commit(c)
	lines, c, _ := s.peek(1)
	if string(lines[0]) != "c" {
		t.Fatalf("then = %s", lines[0])
	}
	s.commit(c)
	s.append([]byte("e"))
	s.close()

	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(peekAll(t, s), ","); got != "d,e" || s.empty() {
		t.Fatalf("after reopen = %s", got)
	}
	if got := strings.TrimSpace(string(s.tail())); !strings.HasSuffix(got, "\ne") {
		t.Errorf("tail = %q", got)
	}
	_, c, _ = s.peek(10)
	s.commit(c)
	if !s.empty() {
		t.Error("spool not empty after delivering everything")
	}
	s.close()
	if s, _ = openSpool(dir, 1<<20); !s.empty() {
		t.Error("reopened spool not empty")
	}
}

func TestSpoolSpansSegments(t *testing.T) {
	s, err := openSpool(t.TempDir(), 64<<10) // 64KiB segments
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 1000))
	for i := 0; i < 200; i++ {
		if err := s.append(line); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.segs) < 3 {
		t.Fatalf("%d segments, want several", len(s.segs))
	}
	n := 0
	for !s.empty() {
		lines, c, err := s.peek(37)
		if err != nil {
			t.Fatal(err)
		}
		n += len(lines)
		s.commit(c)
	}
	if n != 200 {
		t.Errorf("read back %d lines, want 200", n)
	}
}
