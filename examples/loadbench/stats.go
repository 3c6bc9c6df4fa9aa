// Statistics over rounds: medians, percentiles, pooled percentiles of
// paired rounds and their bootstrap interval.

package main

import (
	"math/rand/v2"
	"slices"
	"sort"
	"time"
)

// perTarget applies f, in the targets' order, to each target's rounds and
// direct's rounds (the same round at the same index).
func perTarget(targets []target, by map[string][]result, f func(rs, direct []result) result) []result {
	var out []result
	for _, t := range targets {
		if rs := by[t.name]; len(rs) > 0 {
			out = append(out, f(rs, by["direct"]))
		}
	}
	return out
}

// medianRounds picks, per target, the round with the median ratio to direct
// in the same round, and records the range of those ratios.
func medianRounds(targets []target, by map[string][]result) []result {
	return perTarget(targets, by, func(rs, direct []result) result {
		type rr struct {
			r     result
			ratio float64
		}
		var xs []rr
		for i, r := range rs {
			ratio := 0.0
			if i < len(direct) && direct[i].rps > 0 {
				ratio = r.rps / direct[i].rps
			}
			xs = append(xs, rr{r, ratio})
		}
		sort.Slice(xs, func(i, j int) bool { return xs[i].ratio < xs[j].ratio })
		m := xs[len(xs)/2].r
		m.ratio, m.ratioLo, m.ratioHi = xs[len(xs)/2].ratio, xs[0].ratio, xs[len(xs)-1].ratio
		m.rounds = len(xs)
		for _, x := range xs {
			m.errors += x.r.errors
		}
		m.errors -= xs[len(xs)/2].r.errors
		return m
	})
}

// medianLatency gives, per target, the median over the rounds of each
// latency percentile, of direct's in the same runs and of the latency added
// to direct's in the same run, and the range of the p99 added.
func medianLatency(targets []target, by map[string][]result) []result {
	med := func(rs []result, f func(result) time.Duration) time.Duration {
		xs := make([]time.Duration, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	var out []result
	for _, t := range targets {
		rs := by[t.name]
		if len(rs) == 0 {
			continue
		}
		var base result
		m := rs[0]
		m.rps, m.errors, m.rounds, m.base = 0, 0, len(rs), &base
		for i, r := range rs {
			if r.base == nil { // the generator failed
				rs[i].base = &result{}
			}
			m.rps += r.rps / float64(len(rs))
			m.errors += r.errors + rs[i].base.errors
		}
		m.addedLo = slices.Min(deltas(rs, func(r result) time.Duration { return r.p99 }))
		m.addedHi = slices.Max(deltas(rs, func(r result) time.Duration { return r.p99 }))
		m.p50 = med(rs, func(r result) time.Duration { return r.p50 })
		m.p90 = med(rs, func(r result) time.Duration { return r.p90 })
		m.p99 = med(rs, func(r result) time.Duration { return r.p99 })
		base.p50 = med(rs, func(r result) time.Duration { return r.base.p50 })
		base.p99 = med(rs, func(r result) time.Duration { return r.base.p99 })
		m.addedP50 = median(deltas(rs, func(r result) time.Duration { return r.p50 }))
		m.addedP99 = median(deltas(rs, func(r result) time.Duration { return r.p99 }))
		// Pooled: the p99 of all rounds' requests to the target against
		// that of all rounds' requests to direct. Each round's p99 rests on
		// its slowest 1% (a few dozen requests), so one stall of the machine
		// moves it by milliseconds; the pooled figure weighs every round by
		// its requests and leans on many more.
		lats, baseLats := make([][]time.Duration, len(rs)), make([][]time.Duration, len(rs))
		every := make([]int, len(rs)) // each round once
		n, baseN := 0, 0
		for i, r := range rs {
			slices.Sort(r.lat) // sorted by the generator already: a pass
			slices.Sort(r.base.lat)
			lats[i], baseLats[i], every[i] = r.lat, r.base.lat, i
			n, baseN = n+len(r.lat), baseN+len(r.base.lat)
		}
		if n > 0 && baseN > 0 {
			m.pooledP99 = pooledPercentile(lats, every, .99) - pooledPercentile(baseLats, every, .99)
			m.pooledN = n
			if len(rs) >= minIntervalRounds {
				m.pooledLo, m.pooledHi = pooledInterval(lats, baseLats, .99, 2000)
			}
		}
		m.lat = nil
		out = append(out, m)
	}
	return out
}

// minIntervalRounds is the fewest paired rounds pooledInterval is given:
// with fewer, drawing rounds with replacement says little.
const minIntervalRounds = 4

// pooledInterval is a 90% bootstrap interval of the pooled added
// percentile p: rounds are drawn with replacement, as many as there are,
// and for each draw the p of the drawn rounds' requests to the target,
// pooled, less that of their requests to direct (the same rounds: the
// pairing is kept). Rounds, not requests, are drawn because the tail comes
// in stalls that hit a round's requests together: the spread between
// rounds is what says how far another run's pooled figure may land. The
// draws are seeded, so a run's interval can be recomputed.
func pooledInterval(lat, base [][]time.Duration, p float64, draws int) (lo, hi time.Duration) {
	rng := rand.New(rand.NewPCG(1, 2))
	idx := make([]int, len(lat))
	est := make([]time.Duration, draws)
	for d := range est {
		for i := range idx {
			idx[i] = rng.IntN(len(lat))
		}
		est[d] = pooledPercentile(lat, idx, p) - pooledPercentile(base, idx, p)
	}
	slices.Sort(est)
	return est[draws*5/100], est[draws*95/100]
}

// pooledPercentile is percentile(p) of the union of the rounds idx names
// (each sorted; a round named twice counts twice), without building the
// union: the smallest latency t with enough of the requests at or under it,
// found by bisection on t, each step counting by binary search per round.
func pooledPercentile(rounds [][]time.Duration, idx []int, p float64) time.Duration {
	n, top := 0, time.Duration(0)
	for _, i := range idx {
		if r := rounds[i]; len(r) > 0 {
			n += len(r)
			top = max(top, r[len(r)-1])
		}
	}
	if n == 0 {
		return 0
	}
	want := min(n-1, int(p*float64(n))) + 1 // percentile's index, counted from 1
	lo, hi := time.Duration(0), top
	for lo < hi {
		mid := lo + (hi-lo)/2
		c := 0
		for _, i := range idx {
			k, _ := slices.BinarySearch(rounds[i], mid+1) // requests at or under mid
			c += k
		}
		if c >= want {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// deltas is, per paired round, f of the target minus f of direct.
func deltas(rs []result, f func(result) time.Duration) []time.Duration {
	xs := make([]time.Duration, len(rs))
	for i, r := range rs {
		xs[i] = f(r) - f(*r.base)
	}
	return xs
}

// median sorts xs and returns its middle element (the upper one of two).
func median(xs []time.Duration) time.Duration {
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// percentile is the p-th quantile of the sorted latencies lat (0 if none).
func percentile(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[min(len(lat)-1, int(p*float64(len(lat))))]
}

// summarize gives the percentiles of one target's latencies.
func summarize(name string, lat []time.Duration, errs, nbytes int64, elapsed time.Duration) result {
	slices.Sort(lat)
	r := result{name: name, requests: int64(len(lat)), errors: errs, bytes: nbytes,
		p50: percentile(lat, .50), p90: percentile(lat, .90), p99: percentile(lat, .99), lat: lat}
	if len(lat) > 0 {
		r.max = lat[len(lat)-1]
	}
	r.seconds = elapsed.Seconds()
	r.rps = float64(len(lat)) / r.seconds
	return r
}
