// Load generation: the generator process (-generate), the open- and
// closed-loop drivers and the pairing of a proxy with direct.

package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// genResult is what a generator process prints; Base holds the baseline's
// figures when the run alternated with one.
type genResult struct {
	Requests, Errors, Bytes int64
	Seconds                 float64
	P50, P90, P99, Max      time.Duration
	Base                    *genResult `json:",omitempty"`
	// Lat: every latency of a paired run, sorted (nanoseconds).
	Lat []time.Duration `json:",omitempty"`
}

func (g genResult) result(name string) result {
	r := result{name: name, requests: g.Requests, errors: g.Errors, bytes: g.Bytes,
		p50: g.P50, p90: g.P90, p99: g.P99, max: g.Max, seconds: g.Seconds, lat: g.Lat}
	if g.Seconds > 0 {
		r.rps = float64(g.Requests) / g.Seconds
	}
	if g.Base != nil {
		b := g.Base.result("direct")
		r.base = &b
	}
	return r
}

func (r result) gen() genResult {
	return genResult{Requests: r.requests, Errors: r.errors, Bytes: r.bytes, Seconds: r.seconds,
		P50: r.p50, P90: r.p90, P99: r.p99, Max: r.max}
}

// spawn runs one generator process against t (alternating with base when
// it is not nil) and reads its result.
func spawn(t target, base *target, path string, conc int, d time.Duration, rate float64) result {
	exe, err := world()
	if err != nil {
		return result{name: t.name, errors: 1}
	}
	args := []string{"-generate", "-url", t.url + path, "-auth", t.auth,
		"-concurrency", fmt.Sprint(conc), "-duration", d.String(), "-rate", fmt.Sprint(rate)}
	if base != nil {
		args = append(args, "-base-url", base.url+path, "-base-auth", base.auth, "-window", pairWindow.String(),
			"-base-share", fmt.Sprint(baseShare))
	}
	cmd := onCPU0(exe, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var g genResult
	if err == nil {
		err = json.Unmarshal(out, &g)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: generator: %v\n", t.name, err)
		return result{name: t.name, errors: 1}
	}
	return g.result(t.name)
}

// generateLoad is the generator process: it drives url (and baseURL in
// alternation) and prints a genResult.
func generateLoad(url, auth, baseURL, baseAuth string, conc int, d time.Duration, rate float64) error {
	if url == "" {
		return fmt.Errorf("-url is required")
	}
	ts := []target{{name: "target", url: url, auth: auth}}
	if baseURL != "" {
		ts = append(ts, target{name: "base", url: baseURL, auth: baseAuth})
	}
	rs := drive(ts, "", conc, d, rate)
	g := rs[0].gen()
	if len(rs) > 1 {
		b := rs[1].gen()
		b.Lat, g.Lat = rs[1].lat, rs[0].lat
		g.Base = &b
	}
	return json.NewEncoder(os.Stdout).Encode(g)
}

// pairWindow is how long a paired run sends to one of its two targets
// before it draws again which one is next; 0 (the default): each request is
// drawn on its own, which is what makes a 1 ms difference visible: with
// windows, a stall of the world (the sample CRM's garbage collections, for
// one, tens of milliseconds of slowed answers every few seconds) falls
// mostly in one target's windows, and direct paired with itself (A/A)
// differs in p99 by several milliseconds; drawn per request, both targets
// share every stall and A/A differs by a fraction of one.
var pairWindow time.Duration

// baseShare is the share of a paired run's requests (drawn per request)
// that go to the baseline, direct. The proxy gets the whole half-saturation
// rate, so its core is half busy as the measurement intends (split half and
// half, it would get a quarter of its saturation), and direct a fifth of
// all requests on top (a quarter of the proxy's rate): the world serves
// 1.25 times the rate, and direct's p99 rests on fewer requests, which is
// why the rounds are pooled (-half-rounds).
var baseShare = 0.2

// drive runs conc workers against ts for d: closed loop, or open loop at
// rate requests per second in all. With two targets (ts[1] the baseline)
// each request goes to one of them drawn at random, the baseline with
// probability baseShare (fixed seeds; random, not alternate, so no periodic
// event on the machine falls on one target only), and each target's rate is
// its own requests over the run; or with pairWindow > 0 the run is cut in
// windows and each window's requests go to one target drawn with equal odds
// (a request belongs to the window it was sent in), each target's rate
// taken over its windows: both targets are measured over the same moments
// with the same connections warm.
func drive(ts []target, path string, conc int, d time.Duration, rate float64) []result {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		lat     = make([][]time.Duration, len(ts))
		errs    = make([]atomic.Int64, len(ts))
		nbytes  = make([]atomic.Int64, len(ts))
		stop    = time.Now().Add(d)
		started = time.Now()
	)
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(conc) / rate)
	}
	// The part of the run over which each target's rate is taken: all of
	// it, or with windows its windows (each window's target drawn in
	// advance).
	share := make([]float64, len(ts))
	var which []uint8
	switch {
	case len(ts) == 1:
		share[0] = 1
	case pairWindow > 0:
		which = make([]uint8, max(1, int(d/pairWindow))+1)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range which {
			which[i] = uint8(rng.IntN(len(ts)))
		}
		for _, k := range which[:len(which)-1] {
			share[k] += 1 / float64(len(which)-1)
		}
	default:
		for k := range share {
			share[k] = 1
		}
	}
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make([][]time.Duration, len(ts))
			rng := rand.New(rand.NewPCG(3, uint64(w)))
			next := time.Now().Add(time.Duration(w) * interval / time.Duration(conc))
			for time.Now().Before(stop) {
				if interval > 0 {
					if wait := time.Until(next); wait > 0 {
						time.Sleep(wait)
					}
					next = next.Add(interval)
				}
				t0 := time.Now()
				k := 0
				switch {
				case which != nil:
					k = int(which[min(len(which)-1, int(t0.Sub(started)/pairWindow))])
				case len(ts) == 2:
					if rng.Float64() < baseShare {
						k = 1
					}
				case len(ts) > 2:
					k = rng.IntN(len(ts))
				}
				n, status, err := once(ts[k], path)
				if err != nil || status != 200 {
					errs[k].Add(1)
					continue
				}
				local[k] = append(local[k], time.Since(t0))
				nbytes[k].Add(n)
			}
			mu.Lock()
			for k := range local {
				lat[k] = append(lat[k], local[k]...)
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(started)
	rs := make([]result, len(ts))
	for k, t := range ts {
		rs[k] = summarize(t.name, lat[k], errs[k].Load(), nbytes[k].Load(), time.Duration(float64(elapsed)*share[k]))
	}
	return rs
}
