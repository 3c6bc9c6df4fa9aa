package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

// holdMin is the shortest hold of a scheduler slot that holdSummary counts:
// at half saturation a request arrives every 0.6 ms or so, so a hold this
// long makes one wait.
const holdMin = 500 * time.Microsecond

// holdKind is a kind of hold with how often it came and how long it lasted.
type holdKind struct {
	name     string
	n        int
	min, max time.Duration
	total    time.Duration
}

// holdEvent is what the accounting needs of a goroutine's state change.
type holdEvent struct {
	t        time.Duration // since the trace's start
	proc     int64         // the scheduler slot (P) it happened on, -1 if none
	g        int64
	from, to trace.GoState
	run, sys string // runKind and syscallName of its stack
}

// holds counts, from a goroutine's state changes in time order, the times
// one goroutine kept its scheduler slot for holdMin or longer: a run
// (running until it blocked, yielded or was preempted), named by its kind,
// or a system call, held from its start until another goroutine ran on the
// same slot (the runtime handed it on) or the call returned.
type holds struct {
	kinds   map[string]*holdKind
	running map[int64]time.Duration
	insys   map[int64]*inSyscall
}

type inSyscall struct {
	start, handed time.Duration // handed: another goroutine ran on proc
	proc          int64
	name          string
}

func newHolds() *holds {
	return &holds{kinds: map[string]*holdKind{}, running: map[int64]time.Duration{}, insys: map[int64]*inSyscall{}}
}

func (h *holds) add(name string, d time.Duration) {
	k := h.kinds[name]
	if k == nil {
		k = &holdKind{name: name}
		h.kinds[name] = k
	}
	if k.n == 0 || d < k.min {
		k.min = d
	}
	k.max = max(k.max, d)
	k.n++
	k.total += d
}

func (h *holds) event(e holdEvent) {
	if e.to == trace.GoRunning {
		h.running[e.g] = e.t
		for g, c := range h.insys {
			if g != e.g && c.handed == 0 && c.proc == e.proc {
				c.handed = e.t
			}
		}
	}
	if e.from == trace.GoRunning && e.to != trace.GoRunning {
		if t0, ok := h.running[e.g]; ok {
			if d := e.t - t0; d >= holdMin {
				h.add(e.run, d)
			}
			delete(h.running, e.g)
		}
	}
	if e.to == trace.GoSyscall {
		h.insys[e.g] = &inSyscall{start: e.t, proc: e.proc, name: e.sys}
	}
	if e.from == trace.GoSyscall && e.to != trace.GoSyscall {
		if c, ok := h.insys[e.g]; ok {
			end := e.t
			if c.handed != 0 {
				end = min(end, c.handed)
			}
			if d := end - c.start; d >= holdMin && c.name != "" {
				h.add("system call "+c.name, d)
			}
			delete(h.insys, e.g)
		}
	}
}

func (h *holds) summary() []holdKind {
	var out []holdKind
	for _, k := range h.kinds {
		out = append(out, *k)
	}
	slices.SortFunc(out, func(a, b holdKind) int { return strings.Compare(a.name, b.name) })
	return out
}

// holdSummary reads an execution trace (runtime/trace) and counts the holds
// of a scheduler slot (see holds) by what held it: the garbage collector's
// mark worker, the scavenger returning memory to the OS, the trace's own
// work, the gateway's request goroutines (one running that long is most
// often its thread descheduled by the OS: the trace counts wall-clock
// time), other goroutines, or a named system call. With one CPU and
// GOMAXPROCS 1 for the gateway, every such hold makes every connection
// wait. Written on golang.org/x/exp/trace, the Go team's trace parser.
func holdSummary(path string) ([]holdKind, time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r, err := trace.NewReader(f)
	if err != nil {
		return nil, 0, err
	}
	h := newHolds()
	var first, last trace.Time
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		if first == 0 {
			first = ev.Time()
		}
		last = ev.Time()
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		from, to := st.Goroutine()
		e := holdEvent{t: time.Duration(ev.Time() - first), proc: int64(ev.Proc()), g: int64(st.Resource.Goroutine()), from: from, to: to}
		if from == trace.GoRunning {
			e.run = runKind(st.Stack)
		}
		if to == trace.GoSyscall {
			e.sys = syscallName(st.Stack)
		}
		h.event(e)
	}
	return h.summary(), time.Duration(last - first), nil
}

// runKind names a goroutine's run by the functions on its stack.
func runKind(s trace.Stack) string {
	kind := "other goroutines"
	for fr := range s.Frames() {
		switch {
		case strings.HasPrefix(fr.Func, "runtime.gcBgMarkWorker"):
			return "GC mark worker"
		case strings.HasPrefix(fr.Func, "runtime.bgscavenge"):
			return "scavenger"
		case strings.HasPrefix(fr.Func, "runtime.traceAdvance") || strings.HasPrefix(fr.Func, "runtime/trace."):
			return "the trace itself"
		case strings.HasPrefix(fr.Func, "net/http.(*conn).serve"):
			kind = "request goroutines"
		}
	}
	return kind
}

// syscallName is the system call a goroutine entered, as syscall.Fsync or
// syscall.read, or "" where the stack does not say; waits for child
// processes (the load generator's) are not the gateway's.
func syscallName(s trace.Stack) string {
	name := ""
	for fr := range s.Frames() {
		if strings.HasPrefix(fr.Func, "os.(*Process)") || strings.HasPrefix(fr.Func, "os/exec.") {
			return ""
		}
		if name == "" && strings.HasPrefix(fr.Func, "syscall.") {
			name = fr.Func
		}
	}
	return name
}

// printHolds writes holdSummary's figures for the trace at path.
func printHolds(w io.Writer, path string) {
	kinds, span, err := holdSummary(path)
	if err != nil {
		fmt.Fprintf(w, "trace %s: %v\n", path, err)
		return
	}
	fmt.Fprintf(w, "\nScheduler slot held %v or longer in the traced crmgw round (%s, %.1f s):\n", holdMin, path, span.Seconds())
	if len(kinds) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, k := range kinds {
		fmt.Fprintf(w, "  %-30s %4d times, %s to %s, %s in all\n", k.name, k.n, ms(k.min), ms(k.max), ms(k.total))
	}
}
