package policy

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// benchInputs are typical requests: an allowed query with masks, a denied
// delete, an export with a cap, a composite sub-request.
func benchInputs() []*Input {
	container := act("composite", "write", "")
	sub := act("read", "read", "Opportunity")
	sub.Parent = &container
	q := ActionInput{Operation: "query", Category: "read", Object: "Contact",
		Fields: []string{"Id", "Name", "Email", "Phone", "MobilePhone", "Account.Owner.Email"},
		Query:  "SELECT Id, Name, Email, Phone, MobilePhone, Account.Owner.Email FROM Contact"}
	return []*Input{
		input(subject(true, "sales_rep"), q),
		input(subject(true, "intern"), act("delete", "write", "Contact")),
		input(subject(true, "sales_manager"), act("bulk_query", "export", "Contact")),
		input(subject(false, "intern"), sub),
	}
}

// cpuTime is the process's user+system CPU time: on a shared machine it
// shows the cost of an operation better than wall time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// recordLatency reports p50/p99 of the per-iteration durations.
func recordLatency(b *testing.B, durations []time.Duration) {
	if len(durations) == 0 {
		return
	}
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)*50/100].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(durations[len(durations)*99/100].Nanoseconds()), "p99-ns")
}

// benchEngine uses a generous timeout: on a shared machine a descheduled
// goroutine would otherwise turn a stall into a failed benchmark; the stalls
// still show in p99.
func benchEngine(b *testing.B) *Engine {
	return newEngine(b, Config{Paths: []string{policiesDir}, Timeout: 5 * time.Second})
}

// BenchmarkDecide is the production path: hand-built input value,
// AfterFunc cancellation, default policies.
func BenchmarkDecide(b *testing.B) {
	e := benchEngine(b)
	ins := benchInputs()
	ctx := context.Background()
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := e.Decide(ctx, ins[i%len(ins)]); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	recordLatency(b, durations)
}

// BenchmarkDecideParallel measures throughput with every core busy.
func BenchmarkDecideParallel(b *testing.B) {
	e := benchEngine(b)
	ins := benchInputs()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := e.Decide(context.Background(), ins[i%len(ins)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkDecideJSONInput is the alternative kept for comparison: the Input
// struct given to rego as is, which converts it through a JSON round trip,
// and rego's own goroutine per evaluation for cancellation.
func BenchmarkDecideJSONInput(b *testing.B) {
	e := benchEngine(b)
	pq := e.ev.cur.Load().query
	ins := benchInputs()
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rs, err := pq.Eval(ctx, rego.EvalInput(ins[i%len(ins)]))
		cancel()
		if err != nil || len(rs) != 1 {
			b.Fatal(err)
		}
		if _, err := parseDecision(rs[0].Expressions[0].Value); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	recordLatency(b, durations)
}

// BenchmarkInputValue compares building the input value alone.
func BenchmarkInputValue(b *testing.B) {
	in := benchInputs()[0]
	b.Run("ast", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = in.Value()
		}
	})
	b.Run("json-roundtrip", func(b *testing.B) {
		// What rego.EvalInput does with a struct.
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := ast.InterfaceToValue(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
