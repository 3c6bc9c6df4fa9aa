package main

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	rtrace "runtime/trace"
	"slices"
	"testing"
	"time"

	"golang.org/x/exp/trace"
)

// A paired run sends to both targets, each request drawn on its own (the
// default) or in windows, and keeps their figures apart: the slow target's
// latencies and the failing target's errors are its own.
func TestPairedRunKeepsTargetsApart(t *testing.T) {
	for _, w := range []time.Duration{0, 5 * time.Millisecond} {
		t.Run("window="+w.String(), func(t *testing.T) {
			defer func(w time.Duration) { pairWindow = w }(pairWindow)
			pairWindow = w
			testPairedRun(t)
		})
	}
}

func testPairedRun(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * time.Millisecond)
		w.Write([]byte("slow"))
	}))
	defer slow.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer failing.Close()

	rs := drive([]target{{name: "slow", url: slow.URL}, {name: "failing", url: failing.URL}}, "/", 4, 600*time.Millisecond, 400)
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2", len(rs))
	}
	s, f := rs[0], rs[1]
	if s.requests == 0 || s.errors != 0 {
		t.Errorf("slow target: %d requests, %d errors; want some requests and no errors", s.requests, s.errors)
	}
	if f.requests != 0 || f.errors == 0 {
		t.Errorf("failing target: %d requests, %d errors; want errors only", f.requests, f.errors)
	}
	if s.p50 < 3*time.Millisecond {
		t.Errorf("slow target p50 %v, want at least its 3ms", s.p50)
	}
	total := s.requests + f.errors
	if total < 100 {
		t.Errorf("%d requests in all, want about 240", total)
	}
	if pairWindow > 0 {
		// Both got a share of the windows, and each rate is over its own
		// share: about 400/s while it was sent to.
		if s.rps < 200 || s.rps > 800 {
			t.Errorf("slow target at %.0f req/s over its windows, want about 400", s.rps)
		}
		return
	}
	// Drawn per request: the baseline (the second target) gets baseShare of
	// the requests, the first the rest, each rate over the whole run.
	if got := float64(f.errors) / float64(total); got < baseShare/2 || got > baseShare*1.6 {
		t.Errorf("baseline got %.2f of the requests, want about %.2f", got, baseShare)
	}
	if want := 400 * (1 - baseShare); s.rps < want*0.6 || s.rps > want*1.3 {
		t.Errorf("slow target at %.0f req/s, want about %.0f", s.rps, want)
	}
}

// Added latency is taken per round against direct in the same run.
func TestMedianLatencyPairsRounds(t *testing.T) {
	ms := time.Millisecond
	round := func(p99, base99 time.Duration) result {
		return result{name: "crmgw", p50: ms, p99: p99, base: &result{p50: ms / 2, p99: base99}}
	}
	by := map[string][]result{"crmgw": {round(12*ms, 11*ms), round(5*ms, 9*ms), round(20*ms, 18*ms)}}
	got := medianLatency([]target{{name: "crmgw"}}, by)
	if len(got) != 1 {
		t.Fatalf("%d results, want 1", len(got))
	}
	m := got[0]
	if m.addedP99 != ms || m.addedLo != -4*ms || m.addedHi != 2*ms {
		t.Errorf("added p99 %v (rounds %v to %v), want 1ms (-4ms to 2ms)", m.addedP99, m.addedLo, m.addedHi)
	}
	if m.addedP50 != ms/2 || m.base.p99 != 11*ms {
		t.Errorf("added p50 %v, direct p99 %v; want 500µs, 11ms", m.addedP50, m.base.p99)
	}
	if m.pooledN != 0 {
		t.Errorf("pooled over %d requests of rounds that kept none", m.pooledN)
	}
}

// The pooled p99 is taken over all rounds' requests together, not per
// round and not as a median of rounds.
func TestMedianLatencyPoolsRounds(t *testing.T) {
	ms := time.Millisecond
	with := func(slow ...time.Duration) []time.Duration {
		xs := make([]time.Duration, 100-len(slow), 100)
		for i := range xs {
			xs[i] = ms
		}
		return append(xs, slow...)
	}
	// Round 1: the target's slowest request 9 ms, direct's 1 ms (+8 ms).
	// Round 2: 5 ms against 4 ms (+1 ms). Pooled, 200 requests each: the
	// target's p99 is its second slowest, 5 ms, direct's 1 ms: +4 ms.
	r1 := result{name: "crmgw", lat: with(9 * ms), p99: 9 * ms, base: &result{lat: with(), p99: ms}}
	r2 := result{name: "crmgw", lat: with(5 * ms), p99: 5 * ms, base: &result{lat: with(4 * ms), p99: 4 * ms}}
	got := medianLatency([]target{{name: "crmgw"}}, map[string][]result{"crmgw": {r1, r2}})
	if len(got) != 1 {
		t.Fatalf("%d results, want 1", len(got))
	}
	m := got[0]
	if m.pooledP99 != 4*ms || m.pooledN != 200 {
		t.Errorf("pooled added p99 %v over %d requests, want 4ms over 200", m.pooledP99, m.pooledN)
	}
	if m.addedLo != ms || m.addedHi != 8*ms {
		t.Errorf("rounds %v to %v, want 1ms to 8ms", m.addedLo, m.addedHi)
	}
}

// The generator and the sample CRM run from -world when it is given (make
// bench-load: a build without the gateway's profile), else from this
// program.
func TestWorldIsTheGivenExecutable(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	defer func(w string) { worldExe = w }(worldExe)
	for _, tc := range []struct{ flag, want string }{{"", self}, {"bin/loadbench-world", "bin/loadbench-world"}} {
		worldExe = tc.flag
		if got, err := world(); err != nil || got != tc.want {
			t.Errorf("-world %q: %q, %v; want %q", tc.flag, got, err, tc.want)
		}
	}
}

// The system call counts come from /proc: a write to a file is one more
// write call of this process, and the process tree of this process holds
// it.
func TestSyscallCounts(t *testing.T) {
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Skip("no /proc/self/io here")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, w0 := selfSyscalls()
	for range 10 {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	r1, w1 := selfSyscalls()
	if w1-w0 < 10 || r1 <= 0 {
		t.Fatalf("writes %d -> %d after 10 writes, reads %d", w0, w1, r1)
	}
	if tr, tw := treeSyscalls(os.Getpid())(); tw < w1 || tr < r1 {
		t.Fatalf("tree of this process: %d reads, %d writes; the process alone %d, %d", tr, tw, r1, w1)
	}
}

// The pooled percentile without building the union is the union's.
func TestPooledPercentile(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rounds := make([][]time.Duration, 5)
	for i := range rounds {
		rounds[i] = make([]time.Duration, 50+rng.IntN(500))
		for j := range rounds[i] {
			rounds[i][j] = time.Duration(rng.ExpFloat64() * float64(time.Millisecond) * float64(i+1))
		}
		slices.Sort(rounds[i])
	}
	for _, idx := range [][]int{{0}, {0, 1, 2, 3, 4}, {4, 4, 1}, {2, 2, 2, 2, 2}} {
		var union []time.Duration
		for _, i := range idx {
			union = append(union, rounds[i]...)
		}
		slices.Sort(union)
		for _, p := range []float64{.5, .9, .99, .999} {
			if got, want := pooledPercentile(rounds, idx, p), percentile(union, p); got != want {
				t.Errorf("rounds %v p%v: %v, want %v", idx, p*100, got, want)
			}
		}
	}
}

// The interval says how far the pooled figure moves with the rounds: none
// when every round is alike, and covering it when one round has a stall.
func TestPooledInterval(t *testing.T) {
	ramp := func(n int, step, plus time.Duration) []time.Duration {
		xs := make([]time.Duration, n)
		for i := range xs {
			xs[i] = time.Duration(i)*step + plus
		}
		return xs
	}
	var lat, base [][]time.Duration
	for range 6 {
		lat = append(lat, ramp(1000, time.Microsecond, 300*time.Microsecond))
		base = append(base, ramp(1000, time.Microsecond, 0))
	}
	if lo, hi := pooledInterval(lat, base, .99, 500); lo != 300*time.Microsecond || hi != lo {
		t.Fatalf("alike rounds: interval %v to %v, want 300µs to 300µs", lo, hi)
	}
	// One round's slowest 3% of the target's requests stalled by 20 ms.
	stalled := ramp(1000, time.Microsecond, 300*time.Microsecond)
	for i := 970; i < 1000; i++ {
		stalled[i] += 20 * time.Millisecond
	}
	lat[2] = stalled
	var all, baseAll []time.Duration
	for i := range lat {
		all, baseAll = append(all, lat[i]...), append(baseAll, base[i]...)
	}
	slices.Sort(all)
	slices.Sort(baseAll)
	est := percentile(all, .99) - percentile(baseAll, .99)
	lo, hi := pooledInterval(lat, base, .99, 2000)
	if lo > est || hi < est || hi-lo < 5*time.Millisecond {
		t.Fatalf("one stalled round: interval %v to %v around the pooled %v, want it to cover it and be wide", lo, hi, est)
	}
}

// The accounting: a run is held until its goroutine stops running; a
// system call until another goroutine runs on the same slot or it returns;
// another slot's goroutines do not end it; short ones are not counted.
func TestHolds(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	h := newHolds()
	for _, e := range []holdEvent{
		{t: ms(0), proc: 0, g: 1, from: trace.GoRunnable, to: trace.GoRunning},
		{t: ms(2), proc: 0, g: 1, from: trace.GoRunning, to: trace.GoWaiting, run: "GC mark worker"}, // a 2 ms run
		{t: ms(2), proc: 0, g: 2, from: trace.GoRunnable, to: trace.GoRunning},
		{t: ms(2.1), proc: 0, g: 2, from: trace.GoRunning, to: trace.GoSyscall, run: "request goroutines", sys: "syscall.Fsync"},
		{t: ms(2.5), proc: 1, g: 3, from: trace.GoRunnable, to: trace.GoRunning},                         // another slot: still held
		{t: ms(2.6), proc: 1, g: 3, from: trace.GoRunning, to: trace.GoWaiting, run: "other goroutines"}, // 0.1 ms: not counted
		{t: ms(3.1), proc: 0, g: 4, from: trace.GoRunnable, to: trace.GoRunning},                         // handed on after 1 ms
		{t: ms(3.2), proc: 0, g: 4, from: trace.GoRunning, to: trace.GoWaiting, run: "other goroutines"},
		{t: ms(9), proc: 0, g: 2, from: trace.GoSyscall, to: trace.GoRunnable}, // the call returns at 9 ms
		{t: ms(10), proc: 0, g: 5, from: trace.GoRunnable, to: trace.GoRunning},
		{t: ms(10.1), proc: 0, g: 5, from: trace.GoRunning, to: trace.GoSyscall, sys: "syscall.write"},
		{t: ms(11), proc: 0, g: 5, from: trace.GoSyscall, to: trace.GoRunning},                              // 0.9 ms, nobody else ran
		{t: ms(11.2), proc: 0, g: 5, from: trace.GoRunning, to: trace.GoWaiting, run: "request goroutines"}, // 0.2 ms run
	} {
		h.event(e)
	}
	got := map[string]holdKind{}
	for _, k := range h.summary() {
		got[k.name] = k
	}
	want := map[string]time.Duration{"GC mark worker": ms(2), "system call syscall.Fsync": ms(1), "system call syscall.write": ms(0.9)}
	if len(got) != len(want) {
		t.Fatalf("kinds %+v, want %v", got, want)
	}
	for name, d := range want {
		if k := got[name]; k.n != 1 || k.total != d {
			t.Errorf("%s: %+v, want once for %v", name, k, d)
		}
	}
}

// holdSummary reads a real execution trace: a goroutine that computes for
// 3 ms shows as one hold of about that length.
func TestHoldSummary(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // as the gateway runs in the benchmark
	runtime.GC()
	path := filepath.Join(t.TempDir(), "trace.out")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := rtrace.Start(f); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		x := 0
		for start := time.Now(); time.Since(start) < 3*time.Millisecond; {
			x++
		}
		_ = x
	}()
	<-done
	rtrace.Stop()
	f.Close()

	kinds, span, err := holdSummary(path)
	if err != nil {
		t.Fatal(err)
	}
	var longest time.Duration
	for _, k := range kinds {
		if k.name == "other goroutines" {
			longest = k.max
		}
	}
	if longest < 2*time.Millisecond || longest > 50*time.Millisecond {
		t.Errorf("the 3 ms computation: longest hold %v (all: %+v)", longest, kinds)
	}
	if span < 3*time.Millisecond {
		t.Errorf("trace span %v, want at least the 3 ms of work", span)
	}
	if _, _, err := holdSummary(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing trace gave no error")
	}
}
