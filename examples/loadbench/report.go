// The report: the throughput and added-latency tables.

package main

import (
	"fmt"
	"os"
	"runtime"
	"text/tabwriter"
	"time"
)

func report(results, half []result, conc, records int, d time.Duration) {
	host, _ := os.Hostname()
	where := "generator, sample CRM and proxies share all CPUs"
	switch layout {
	case "proxy":
		where = fmt.Sprintf("generator and sample CRM on CPU 0, proxy on CPUs 1-%d (GOMAXPROCS %d)", totalCPUs-1, runtime.GOMAXPROCS(0))
	case "gen":
		where = fmt.Sprintf("generator on CPU 0, sample CRM and proxy on CPUs 1-%d (GOMAXPROCS %d)", totalCPUs-1, runtime.GOMAXPROCS(0))
	}
	rounds := 0
	if len(results) > 0 {
		rounds = results[0].rounds
	}
	fmt.Printf("\nloadbench: %d-record Salesforce query, concurrency %d, %d interleaved rounds of %s per target (median round shown), %d CPUs, %s (%s, %s/%s)\n\n",
		records, conc, rounds, d, totalCPUs, where, host, runtime.GOOS, runtime.GOARCH)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tvs direct\tvs direct, all rounds\tserver CPU/req\treads+writes/req\theap/req\tp50\tp90\tp99\tmax\terrors\t")
	for _, r := range results {
		heap := "-" // not a Go proxy in this process
		if r.objsPerReq > 0 {
			heap = fmt.Sprintf("%.1f KB, %.0f obj", r.heapPerReq/1000, r.objsPerReq)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f-%.2f\t%dµs\t%.1f+%.1f\t%s\t%s\t%s\t%s\t%s\t%d\t\n", r.name, r.rps, r.ratio, r.ratioLo, r.ratioHi,
			r.cpuPerReq.Microseconds(), r.readsPerReq, r.writesPerReq, heap, ms(r.p50), ms(r.p90), ms(r.p99), ms(r.max), r.errors)
	}
	tw.Flush()
	if len(half) > 0 {
		how := "drawing for each request which of the two it goes to"
		if pairWindow > 0 {
			how = fmt.Sprintf("alternating between them in random %s windows", pairWindow)
		}
		fmt.Printf("\nAt half of crmgw's saturation throughput (open loop; each proxy paired with direct in one generator run\n"+
			"%s; median of %d interleaved rounds; pooled: the p99s of all rounds' requests together,\n"+
			"with a 90%% bootstrap interval over the rounds from four rounds on):\n\n", how, half[0].rounds)
		tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "target\treq/s\tp50\tp90\tp99\tdirect p50\tdirect p99\tadded p50\tadded p99\tadded p99, all rounds\tadded p99, pooled\tpooled, 90% interval\terrors\t")
		for _, r := range half {
			interval := "-" // too few rounds to say
			if r.rounds >= minIntervalRounds {
				interval = ms(r.pooledLo) + " to " + ms(r.pooledHi)
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s to %s\t%s\t%s\t%d\t\n", r.name, r.rps, ms(r.p50), ms(r.p90), ms(r.p99),
				ms(r.base.p50), ms(r.base.p99), ms(r.addedP50), ms(r.addedP99), ms(r.addedLo), ms(r.addedHi), ms(r.pooledP99), interval, r.errors)
		}
		tw.Flush()
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }
