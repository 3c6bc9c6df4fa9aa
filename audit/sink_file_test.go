package audit

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRotationByAge(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: workday10}
	s, err := openFileSink(SinkConfig{Type: "file", Path: filepath.Join(dir, "audit.jsonl"), RotateEvery: time.Hour, Fsync: "never"})
	if err != nil {
		t.Fatal(err)
	}
	s.now = clock.now
	s.opened = clock.now()
	write := func(i int) {
		ev := testEvent(i)
		normalise(ev)
		ev.Chain = Chain{Seq: int64(i), Prev: GenesisPrev}
		line, err := seal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.deliver(context.Background(), []*entry{{line: line, ev: ev}}); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	clock.advance(30 * time.Minute)
	write(2)
	if err := s.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(RotatedFiles(s.cfg.Path)); n != 1 {
		t.Fatalf("rotated before rotate_every: %d files", n)
	}
	clock.advance(31 * time.Minute)
	if err := s.tick(); err != nil { // idle: the ticker rotates
		t.Fatal(err)
	}
	write(3)
	s.close()
	files := RotatedFiles(s.cfg.Path)
	if len(files) != 2 || !strings.Contains(files[0], "-20261123T110100.000000000Z.jsonl") {
		t.Fatalf("files = %v", files)
	}
	if got := readLines(t, files[0]); len(got) != 2 {
		t.Errorf("rotated file has %d lines, want 2", len(got))
	}
}
