// Measuring one target: closed-loop load (profiled when asked), open-loop
// load paired with direct, and single requests.

package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"time"
)

// measure runs one closed-loop measurement of t; the first round of the
// -profile target is profiled when asked.
func measure(t target, path string, conc int, d time.Duration, first bool, cpuprofile, memprofile string) (result, error) {
	profile := first && t.name == profileTarget
	if profile && cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return result{}, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return result{}, err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	cpu0 := t.cpu()
	r0, w0 := t.sys()
	var b0, o0 uint64
	if t.heap != nil {
		b0, o0 = t.heap()
	}
	r := load(t, path, conc, d)
	if r.requests > 0 {
		r.cpuPerReq = (t.cpu() - cpu0) / time.Duration(r.requests)
		r1, w1 := t.sys()
		r.readsPerReq, r.writesPerReq = float64(r1-r0)/float64(r.requests), float64(w1-w0)/float64(r.requests)
		if t.heap != nil {
			b1, o1 := t.heap()
			r.heapPerReq, r.objsPerReq = float64(b1-b0)/float64(r.requests), float64(o1-o0)/float64(r.requests)
		}
	}
	if profile && memprofile != "" {
		f, err := os.Create(memprofile)
		if err != nil {
			return result{}, err
		}
		_ = pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
	return r, nil
}

var client = &http.Client{
	Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024, DisableCompression: true},
	Timeout:   30 * time.Second,
}

func once(t target, path string) (int64, int, error) {
	req, _ := http.NewRequest("GET", t.url+path, nil)
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return n, resp.StatusCode, err
}

// load runs conc closed-loop workers for d, in the generator process.
func load(t target, path string, conc int, d time.Duration) result {
	return spawn(t, nil, path, conc, d, 0)
}

// paired runs t open loop at rate (spread over conc workers) with base
// (direct) beside it in one generator run (see drive): drawn per request,
// base gets baseShare of all requests on top of t's rate; in windows, each
// gets rate while it is sent to. The result holds base's.
func paired(t, base target, path string, conc int, d time.Duration, rate float64) result {
	total := rate
	if pairWindow == 0 {
		total = rate / (1 - baseShare)
	}
	r := spawn(t, &base, path, conc, d, total)
	r.name += fmt.Sprintf(" @%.0f/s", rate)
	return r
}
