package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
)

func benchAuditor(b *testing.B, queue int) *Auditor {
	b.Helper()
	dir := b.TempDir()
	cfg := Config{Sinks: []SinkConfig{{Type: "file", Path: filepath.Join(dir, "audit.jsonl")}},
		SpoolDir: filepath.Join(dir, "spool"), QueueSize: queue}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	a, err := New(cfg, AlertsConfig{}, nil, nil, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// recordOnly is an auditor whose writer only drains the queue, so the
// benchmark measures what Record adds to a request (the enqueue) and not
// the writer competing for the same 2 cores (BenchmarkPipeline measures
// that).
func recordOnly(b *testing.B) (*Auditor, func()) {
	m, err := newMetrics(nil)
	if err != nil {
		b.Fatal(err)
	}
	a := &Auditor{q: make(chan item, 10000), m: m, logger: zap.NewNop()}
	done := make(chan struct{})
	go func() {
		for range a.q {
		}
		close(done)
	}()
	return a, func() {
		a.mu.Lock()
		close(a.q)
		a.mu.Unlock()
		<-done
	}
}

// BenchmarkRecord is the cost Record adds to a request.
func BenchmarkRecord(b *testing.B) {
	a, stop := recordOnly(b)
	defer stop()
	ev := testEvent(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.Record(ev, nil)
	}
}

// BenchmarkRecordParallel is Record from many request goroutines at once.
func BenchmarkRecordParallel(b *testing.B) {
	a, stop := recordOnly(b)
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ev := testEvent(1)
		for pb.Next() {
			a.Record(ev, nil)
		}
	})
}

// BenchmarkPipeline is the whole path per event: chain (marshal, RFC 8785
// canonical form, SHA-256) and the file sink (fsync: interval), measured
// until Close has written everything.
func BenchmarkPipeline(b *testing.B) {
	a := benchAuditor(b, 10000)
	evs := make([]*Event, 1024)
	for i := range evs {
		evs[i] = testEvent(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A fresh copy: the auditor owns what it was given.
		ev := *evs[i%len(evs)]
		a.Record(&ev, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a.Close(ctx)
}

// BenchmarkAlertRules is one evaluation of the shipped alert rules (done
// off the request path, in the alert goroutine).
func BenchmarkAlertRules(b *testing.B) {
	rules := loadRules(b, "")
	ev := exportEvent(1, "00u1", 20000, workday10)
	normalise(ev)
	ev.Chain = Chain{Seq: 1, Prev: GenesisPrev}
	line, err := seal(ev)
	if err != nil {
		b.Fatal(err)
	}
	e := &entry{line: line, ev: ev}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dec := json.NewDecoder(bytes.NewReader(e.line))
		dec.UseNumber()
		var obj any
		if err := dec.Decode(&obj); err != nil {
			b.Fatal(err)
		}
		if _, err := rules.Eval(context.Background(), map[string]any{"event": obj, "usage": map[string]any{}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeal is the writer goroutine's encoding of one event: the direct
// encoders against the encoding/json + jsontext way they replace.
func BenchmarkSeal(b *testing.B) {
	for _, c := range []struct {
		name string
		seal func(*Event) ([]byte, error)
	}{{"direct", seal}, {"library", sealLibrary}} {
		b.Run(c.name, func(b *testing.B) {
			ev := testEvent(1)
			normalise(ev)
			b.ReportAllocs()
			for b.Loop() {
				ev.Chain = Chain{Seq: 1, Prev: GenesisPrev}
				if _, err := c.seal(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBegin is what the start record adds to a forwarded request:
// Begin returns once the record is in the local log. With concurrent
// requests (parallel) the records waiting at the same time share one write
// and, with fsync: batch/always, one fsync (group commit).
func BenchmarkBegin(b *testing.B) {
	for _, fsync := range []string{"interval", "batch", "always"} {
		for _, parallel := range []bool{false, true} {
			name := fsync
			if parallel {
				name += "/parallel-16"
			}
			b.Run(name, func(b *testing.B) {
				dir := b.TempDir()
				cfg := Config{Sinks: []SinkConfig{{Type: "file", Path: filepath.Join(dir, "audit.jsonl")}},
					SpoolDir: filepath.Join(dir, "spool"), Fsync: fsync}
				cfg.SetDefaults()
				a, err := New(cfg, AlertsConfig{}, nil, nil, zap.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				defer a.Close(context.Background())
				b.ReportAllocs()
				b.ResetTimer()
				if !parallel {
					for i := 0; b.Loop(); i++ {
						if err := a.Begin(testEvent(i)); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.SetParallelism(8) // 16 goroutines on 2 cores, as c=16 load
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						if err := a.Begin(testEvent(i)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
