// Sampling /proc: CPU time and system calls of this process and of a
// process tree, and the Go heap.

package main

import (
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// selfCPU is this process's CPU time (all threads).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfSyscalls is this process's read and write system calls so far.
func selfSyscalls() (reads, writes int64) { return procSyscalls("self") }

// selfHeap reads this process's cumulative heap allocations (runtime/metrics:
// exact counts, unlike the sampled allocation profile).
func selfHeap() (bytes, objects uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// procSyscalls reads syscr and syscw (read and write system calls, of
// every thread) from /proc/<pid>/io; 0, 0 where it cannot.
func procSyscalls(pid string) (reads, writes int64) {
	b, err := os.ReadFile("/proc/" + pid + "/io")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "syscr":
			reads = n
		case "syscw":
			writes = n
		}
	}
	return reads, writes
}

// treeSyscalls reads the system calls of root and its live descendants
// (nginx's workers), as treeCPU reads their CPU time.
func treeSyscalls(root int) func() (int64, int64) {
	return func() (reads, writes int64) {
		for _, pid := range procTree(root) {
			r, w := procSyscalls(strconv.Itoa(pid))
			reads, writes = reads+r, writes+w
		}
		return reads, writes
	}
}

// treeCPU is the CPU time of pid and its live descendants (nginx's workers),
// from /proc/<pid>/stat utime+stime in clock ticks of 1/100 s (USER_HZ on
// Linux). 0 where /proc is not there.
func treeCPU(root int) time.Duration {
	var ticks int64
	for _, pid := range procTree(root) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		if f := statFields(b); len(f) >= 13 {
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += ut + st
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// statFields are the fields of /proc/<pid>/stat after the command name
// (in parentheses, and it may hold spaces): f[1] is the parent's pid.
func statFields(b []byte) []string {
	return strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
}

// procTree is root and its live descendants, from /proc/<pid>/stat; nil
// where /proc is not there.
func procTree(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if f := statFields(b); len(f) >= 2 {
			parent[pid], _ = strconv.Atoi(f[1])
		}
	}
	var tree []int
	for pid := range parent {
		for q := pid; q > 1; q = parent[q] {
			if q == root {
				tree = append(tree, pid)
				break
			}
			if _, ok := parent[q]; !ok {
				break
			}
		}
	}
	return tree
}
