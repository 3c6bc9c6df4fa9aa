// Command loadbench measures crmgw against a direct connection and plain
// reverse proxies, in one run, over loopback: throughput and latency
// percentiles of the same request (a 200-record Salesforce query with masked
// fields) sent with a fixed concurrency.
//
//	go run ./examples/loadbench [-duration 10s] [-concurrency 16] [-records 200]
//
// Targets: the sample CRM directly; a bare httputil.ReverseProxy (the floor
// any Go proxy pays); crmgw with every optional stage off (crmgw-plain: API
// key caller, allow-all policy without masks or caps, no limits; the
// response still streams through the record counter and one audit event is
// written, as crmgw always does); crmgw with every stage on (OIDC JWT caller,
// default policies, masking, rate limits, file audit); nginx and caddy as
// plain proxies when they are installed.
//
// The load generator is a separate process (this program with -generate),
// the same for every target, and so is the sample CRM (-serve-crm): the
// proxies under test never share a Go runtime, its scheduler or its garbage
// collector, with the upstream or the generator. -cpus places them (with
// taskset, on machines with 2+ CPUs):
//
//	proxy   (default) generator and sample CRM on CPU 0, the proxy under test
//	        alone on the other CPUs: as in production, where clients and the
//	        CRM are other machines. The "world" gets one core in every run.
//	gen     generator on CPU 0; sample CRM and proxy share the other CPUs: the
//	        proxy's work is weighed against the upstream's.
//	shared  no pinning: the kernel shares every CPU among all of them.
//
// Throughput is measured closed loop, each target in turn, in interleaved
// rounds. Added latency is measured open loop at half of crmgw's saturation
// rate: each proxy is paired with direct in one generator run that draws,
// for each request, which of the two it goes to, so both are measured over
// the same moments of the machine (its stalls hit both alike, where
// separate runs a few seconds apart differ in p99 by more than the proxy
// adds), and the p99 added is the proxy's minus direct's in the same run.
// The proxy gets the whole half-saturation rate, direct a fifth of all
// requests on top (-base-share); the added p99 is given per round (median
// and range) and pooled over all rounds' requests (-half-rounds rounds).
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/examples/samplecrm"
	"github.com/crmgw/crmgw/identity/oidctest"
	"github.com/crmgw/crmgw/proxy"
)

const sfToken = "loadbench-upstream-token"

func main() {
	duration := flag.Duration("duration", 5*time.Second, "measuring time per target and round")
	rounds := flag.Int("rounds", 3, "rounds over all targets (interleaved, so a noisy moment hits every target alike); the median round is reported")
	halfRounds := flag.Int("half-rounds", 0, "rounds of the paired runs at half saturation (0: twice -rounds; their p99 is noisier than the throughput)")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up time per target")
	conc := flag.Int("concurrency", 16, "concurrent connections")
	records := flag.Int("records", 200, "records per query response")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the full-pipeline run (see -profile)")
	flag.StringVar(&worldExe, "world", "", "the executable that runs the load generator and the sample CRM (another build of this program; default this one): make bench-load gives one built without PGO, so that the gateway's profile (cmd/crmgw/default.pgo) speeds up the proxies under test only")
	flag.StringVar(&profileTarget, "profile", "crmgw", "the target -cpuprofile and -memprofile profile (crmgw, crmgw-plain or goproxy: they run in this process)")
	memprofile := flag.String("memprofile", "", "write an allocation profile after the full-pipeline run (see -profile)")
	traceFile := flag.String("trace", "", "write an execution trace of the half-saturation crmgw run")
	gogc := flag.Int("gogc", 0, "GOGC of the process the Go proxies run in (0: the Go runtime's, 100 unless GOGC is set)")
	holdsOf := flag.String("holds", "", "print how long goroutines held the scheduler slot in this execution trace (one written by -trace) and exit")
	procs := flag.Int("procs", 0, "GOMAXPROCS of the process the Go proxies run in (0: the Go runtime's choice, one per CPU it may use)")
	only := flag.String("only", "", "comma-separated targets to run (direct,goproxy,crmgw-plain,crmgw,nginx,caddy)")
	cpus := flag.String("cpus", defaultLayout(), "CPU layout: proxy (generator and CRM on CPU 0, proxy on the rest), gen (generator on CPU 0), shared")
	generate := flag.Bool("generate", false, "internal: run as the load generator and print the result as JSON")
	serveCRM := flag.Bool("serve-crm", false, "internal: run the sample CRM, print its URL, serve until stdin closes")
	genURL := flag.String("url", "", "internal: generator target URL (with path)")
	genAuth := flag.String("auth", "", "internal: generator Authorization header")
	genRate := flag.Float64("rate", 0, "internal: generator total rate (0: closed loop)")
	genBase := flag.String("base-url", "", "internal: generator baseline URL (with path), paired with -url (see -window)")
	genBaseAuth := flag.String("base-auth", "", "internal: generator Authorization header for -base-url")
	flag.DurationVar(&pairWindow, "window", pairWindow, "paired runs: how long the generator sends to one target before drawing again (0: each request is drawn on its own)")
	flag.Float64Var(&baseShare, "base-share", baseShare, "paired runs drawn per request: the share of requests sent to direct (the proxy gets the rest, at half of crmgw's saturation rate)")
	flag.Parse()
	if *holdsOf != "" {
		printHolds(os.Stdout, *holdsOf)
		return
	}
	if *serveCRM {
		if err := runCRM(); err != nil {
			fmt.Fprintln(os.Stderr, "loadbench sample CRM:", err)
			os.Exit(1)
		}
		return
	}
	if *generate {
		if err := generateLoad(*genURL, *genAuth, *genBase, *genBaseAuth, *conc, *duration, *genRate); err != nil {
			fmt.Fprintln(os.Stderr, "loadbench generator:", err)
			os.Exit(1)
		}
		return
	}
	if worldExe != "" {
		if _, err := exec.LookPath(worldExe); err != nil {
			fmt.Fprintf(os.Stderr, "loadbench: -world %q: %v\n", worldExe, err)
			os.Exit(2)
		}
	}
	if !(baseShare > 0 && baseShare < 1) {
		fmt.Fprintf(os.Stderr, "loadbench: -base-share %v: want a fraction between 0 and 1\n", baseShare)
		os.Exit(2)
	}
	switch *cpus {
	case "proxy", "gen", "shared":
	default:
		fmt.Fprintf(os.Stderr, "loadbench: -cpus %q: want proxy, gen or shared\n", *cpus)
		os.Exit(2)
	}
	if *cpus != "shared" && !canPin() && os.Getenv(pinnedEnv) == "" {
		fmt.Fprintln(os.Stderr, "loadbench: -cpus", *cpus, "needs taskset and 2+ CPUs; using shared")
		*cpus = "shared"
	}
	layout = *cpus
	if layout != "shared" && os.Getenv(pinnedEnv) == "" {
		// Re-run this program on the servers' CPUs; nginx and caddy,
		// started from it, inherit them.
		if err := repin(); err != nil {
			fmt.Fprintln(os.Stderr, "loadbench:", err)
			os.Exit(1)
		}
		return
	}
	tracePath = *traceFile
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if *gogc > 0 {
		debug.SetGCPercent(*gogc)
	}
	// In the re-run, the CPU count is the machine's (runtime.NumCPU now
	// counts only the CPUs this process may use).
	if n, err := strconv.Atoi(os.Getenv(pinnedEnv)); err == nil {
		totalCPUs = n
	}
	if *halfRounds <= 0 {
		*halfRounds = 2 * *rounds
	}
	if err := run(*duration, *warmup, *conc, *records, *rounds, *halfRounds, *cpuprofile, *memprofile, *only); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

type target struct {
	name string
	url  string
	auth string
	// cpu reads the CPU time used so far by the server side of the target:
	// the proxy's process (tree), or for direct the sample CRM's.
	cpu func() time.Duration
	// sys reads the read and write system calls made so far by the same
	// process (tree), from /proc/<pid>/io (0, 0 where there is none).
	sys func() (reads, writes int64)
	// heap reads the bytes and objects allocated so far on the Go heap of
	// the proxy under test, for the Go proxies, which run in this process
	// (nil for the others: their allocators are not Go's).
	heap func() (bytes, objects uint64)
}

type result struct {
	name     string
	requests int64
	errors   int64
	rps      float64
	p50, p90 time.Duration
	p99, max time.Duration
	bytes    int64
	seconds  float64
	// Over the rounds: the reported round's ratio to direct (same round),
	// the lowest and highest ratios, and the number of rounds.
	ratio, ratioLo, ratioHi float64
	rounds                  int
	// At half saturation: direct's figures from the same generator run
	// (paired), the latency added to direct's there (the median over the
	// rounds), the lowest and highest p99 added, and the p99 added over
	// all rounds' requests pooled (pooledN of the target's).
	base               *result
	addedP50, addedP99 time.Duration
	addedLo, addedHi   time.Duration
	pooledP99          time.Duration
	pooledN            int
	// pooledLo, pooledHi: a 90% interval of pooledP99 over the rounds
	// (bootstrap; see pooledInterval), set from four rounds on.
	pooledLo, pooledHi time.Duration
	// lat: a paired run's latencies, sorted (for pooling over rounds).
	lat []time.Duration
	// cpuPerReq is the server side's CPU time per request (see target.cpu).
	cpuPerReq time.Duration
	// readsPerReq, writesPerReq: the server side's read and write system
	// calls per request (see target.sys).
	readsPerReq, writesPerReq float64
	// heapPerReq, objsPerReq: the bytes and objects the proxy allocated
	// on the Go heap per request (see target.heap; 0 without it).
	heapPerReq, objsPerReq float64
}

func run(duration, warmup time.Duration, conc, records, rounds, halfRounds int, cpuprofile, memprofile, only string) error {
	if rounds < 1 {
		return fmt.Errorf("-rounds must be at least 1")
	}
	dir, err := os.MkdirTemp("", "crmgw-loadbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Upstream: the sample CRM.
	crmURL, crmPID, stopCRM, err := startCRM()
	if err != nil {
		return err
	}
	defer stopCRM()
	path := "/services/data/v60.0/query?q=" + url.QueryEscape(fmt.Sprintf(
		"SELECT Id, Name, Email, MobilePhone, Phone, Birthdate, Account.Name, Account.Owner.Email FROM Contact LIMIT %d", records))

	// A bare Go reverse proxy: the floor for any Go proxy.
	up, _ := url.Parse(crmURL)
	bare := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.Header.Set("Authorization", "Bearer "+sfToken)
		},
		// The same connection buffers as crmgw's upstream transport, and
		// no transparent gzip: without DisableCompression the transport asks
		// the CRM for gzip and inflates it, which the other targets do not.
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10,
			DisableCompression: true},
	}
	bareURL, stopBare, err := serve(bare)
	if err != nil {
		return err
	}
	defer stopBare()

	// crmgw, full pipeline.
	iss := oidctest.NewIssuer()
	defer iss.Close()
	gw, err := startGateway(dir, fullConfig(dir, crmURL, iss.URL()))
	if err != nil {
		return err
	}
	defer gw.Shutdown(context.Background())
	// crmgw with its optional stages off.
	plainCfg, err := plainConfig(filepath.Join(dir, "plain"), crmURL)
	if err != nil {
		return err
	}
	plain, err := startGateway(filepath.Join(dir, "plain"), plainCfg)
	if err != nil {
		return err
	}
	defer plain.Shutdown(context.Background())
	jwt := iss.Sign(map[string]any{
		"iss": iss.URL(), "sub": "00u-loadbench", "aud": "crmgw-bench", "email": "rep@example.com",
		"roles": []string{"sales_rep"}, "amr": []string{"pwd", "mfa"},
		"exp": time.Now().Add(2 * time.Hour).Unix(), "iat": time.Now().Unix(),
	})

	targets := []target{
		{"direct", crmURL, "Bearer " + sfToken, func() time.Duration { return treeCPU(crmPID) }, treeSyscalls(crmPID), nil},
		// Both Go proxies live in this process; only the one under load works.
		{"goproxy", bareURL, "", selfCPU, selfSyscalls, selfHeap},
		{"crmgw-plain", "http://" + plain.ProxyAddr(), "Bearer " + plainKey, selfCPU, selfSyscalls, selfHeap},
		{"crmgw", "http://" + gw.ProxyAddr(), "Bearer " + jwt, selfCPU, selfSyscalls, selfHeap},
	}
	if u, pid, stop, err := startNginx(dir, crmURL); err == nil {
		defer stop()
		targets = append(targets, target{"nginx", u, "Bearer " + sfToken, func() time.Duration { return treeCPU(pid) }, treeSyscalls(pid), nil})
	} else {
		fmt.Fprintln(os.Stderr, "nginx baseline skipped:", err)
	}
	if u, pid, stop, err := startCaddy(dir, crmURL); err == nil {
		defer stop()
		targets = append(targets, target{"caddy", u, "Bearer " + sfToken, func() time.Duration { return treeCPU(pid) }, treeSyscalls(pid), nil})
	} else {
		fmt.Fprintln(os.Stderr, "caddy baseline skipped:", err)
	}
	if only != "" {
		keep := targets[:0]
		for _, t := range targets {
			if strings.Contains(","+only+",", ","+t.name+",") {
				keep = append(keep, t)
			}
		}
		targets = keep
	}

	// Check each target answers the same kind of body first.
	for _, t := range targets {
		n, status, err := once(t, path)
		if err != nil || status != 200 {
			return fmt.Errorf("%s: status %d, %v", t.name, status, err)
		}
		fmt.Fprintf(os.Stderr, "%-8s ok, %d bytes per response\n", t.name, n)
	}

	for _, t := range targets {
		load(t, path, conc, warmup) // warm-up, discarded
	}
	byTarget := map[string][]result{}
	for round := 0; round < rounds; round++ {
		for _, t := range targets {
			r, err := measure(t, path, conc, duration, round == 0, cpuprofile, memprofile)
			if err != nil {
				return err
			}
			byTarget[t.name] = append(byTarget[t.name], r)
		}
	}
	results := medianRounds(targets, byTarget)

	// Added latency at half of the gateway's saturation throughput. Each
	// proxy is paired with direct in one generator run that draws for each
	// request which of the two it goes to (or alternates in windows, see
	// drive), so both see the same moments of this machine; rounds are
	// interleaved like the above. The proxy gets half of crmgw's saturation
	// rate, direct its baseShare on top.
	var half []result
	var gwRPS float64
	for _, r := range results {
		if r.name == "crmgw" {
			gwRPS = r.rps
		}
	}
	if gwRPS > 0 && len(targets) > 1 && targets[0].name == "direct" {
		rate := gwRPS / 2 // the proxy's
		halfBy := map[string][]result{}
		for round := range halfRounds {
			for _, t := range targets[1:] {
				var f *os.File
				if round == 0 && t.name == "crmgw" && tracePath != "" {
					if f, err = os.Create(tracePath); err != nil {
						return err
					}
					if err := trace.Start(f); err != nil {
						return err
					}
				}
				halfBy[t.name] = append(halfBy[t.name], paired(t, targets[0], path, conc, 2*duration, rate))
				if f != nil {
					trace.Stop()
					f.Close()
				}
			}
		}
		half = medianLatency(targets[1:], halfBy)
	}
	report(results, half, conc, records, duration)
	if tracePath != "" && len(half) > 0 {
		printHolds(os.Stdout, tracePath)
	}
	return nil
}

// runCRM is the sample CRM process.
func runCRM() error {
	crm := samplecrm.New(samplecrm.Options{Records: 5000, Seed: 1, SalesforceToken: sfToken})
	u, stop, err := serve(crm)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Println(u)
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
	return nil
}

// world is the executable of the generator and the sample CRM: -world,
// else this program.
func world() (string, error) {
	if worldExe != "" {
		return worldExe, nil
	}
	return os.Executable()
}

// startCRM runs the sample CRM as a child process.
func startCRM() (string, int, func(), error) {
	exe, err := world()
	if err != nil {
		return "", 0, nil, err
	}
	// In the gen layout the CRM shares the proxy's CPUs (this process's).
	cmd := exec.Command(exe, "-serve-crm")
	if layout == "proxy" {
		cmd = onCPU0(exe, "-serve-crm")
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", 0, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return "", 0, nil, fmt.Errorf("sample CRM did not start: %v", err)
	}
	return strings.TrimSpace(line), cmd.Process.Pid, func() { stdin.Close(); _ = cmd.Wait() }, nil
}

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

func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// plainKey is crmgw-plain's API key.
const plainKey = "loadbench-plain-api-key"

// upstreamConfig is the part both crmgw configurations share: listeners,
// logging and the sample CRM as upstream (no gzip on loopback, like the
// direct and plain-proxy runs).
func upstreamConfig(crmURL string) string {
	return fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0"}
log: {level: error}
upstreams:
  - name: salesforce
    type: salesforce
    url: %s
    compression: none
    auth: {type: static, token: %s}
`, crmURL, sfToken)
}

// plainConfig is crmgw with its optional stages off: an API key caller, a
// policy that allows everything without masks or caps, no rate limits.
func plainConfig(dir, crmURL string) (string, error) {
	// The policy directory holds the policy alone: the loader would take
	// the configuration file beside it for policy data.
	policies := filepath.Join(dir, "policy")
	if err := os.MkdirAll(policies, 0o755); err != nil {
		return "", err
	}
	allow := "package crmgw.authz\n\ndecision := {\"allow\": true, \"reason\": \"load benchmark: allow all\"}\n"
	if err := os.WriteFile(filepath.Join(policies, "allow.rego"), []byte(allow), 0o644); err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(plainKey))
	return upstreamConfig(crmURL) + fmt.Sprintf(`identity:
  api_keys:
    - {id: loadbench, key_sha256: %s, roles: [admin]}
policy:
  paths: [%q]
audit:
  sinks:
    - {type: file, path: %q}
`, hex.EncodeToString(sum[:]), policies, filepath.Join(dir, "audit.jsonl")), nil
}

// fullConfig is crmgw with every stage on.
func fullConfig(dir, crmURL, issuer string) string {
	_, file, _, _ := runtime.Caller(0)
	policies := filepath.Join(filepath.Dir(file), "..", "..", "policies")
	return upstreamConfig(crmURL) + fmt.Sprintf(`identity:
  oidc:
    - {issuer: %q, audience: crmgw-bench}
policy:
  paths: [%q]
masking:
  hmac_key: loadbench-hmac-key-0123
ratelimit:
  store: memory
  limits:
    - {name: per-subject, key: subject, rate: 1000000, per: 1s, burst: 1000000}
    - {name: per-ip, key: ip, rate: 1000000, per: 1s, burst: 1000000}
  preauth:
    per_ip: {rate: 1000000, per: 1s}
    global: {rate: 1000000, per: 1s}
  quotas:
    - {name: export-per-day, key: subject, records: 100000000, window: 24h, categories: [export, bulk]}
audit:
  sinks:
    - {type: file, path: %q}
`, issuer, policies, filepath.Join(dir, "audit.jsonl"))
}

func startGateway(dir, cfg string) (*proxy.Server, error) {
	p := filepath.Join(dir, "crmgw.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	c, err := config.Load(p)
	if err != nil {
		return nil, err
	}
	s, err := proxy.NewServer(context.Background(), c, zap.NewNop())
	if err != nil {
		return nil, err
	}
	return s, s.Start()
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startNginx(dir, crmURL string) (string, int, func(), error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return "", 0, nil, fmt.Errorf("not installed (apt-get install nginx)")
	}
	addr, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	nd := filepath.Join(dir, "nginx")
	_ = os.MkdirAll(nd, 0o755)
	conf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  upstream crm { server %[3]s; keepalive 64; }
  server {
    listen %[2]s;
    location / {
      proxy_pass http://crm;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`, nd, addr, strings.TrimPrefix(crmURL, "http://"))
	cp := filepath.Join(nd, "nginx.conf")
	if err := os.WriteFile(cp, []byte(conf), 0o644); err != nil {
		return "", 0, nil, err
	}
	return startServer(exec.Command(bin, "-c", cp, "-p", nd), addr)
}

func startCaddy(dir, crmURL string) (string, int, func(), error) {
	bin, err := exec.LookPath("caddy")
	if err != nil {
		return "", 0, nil, fmt.Errorf("not installed (apt-get install caddy)")
	}
	addr, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	cf := filepath.Join(dir, "Caddyfile")
	conf := fmt.Sprintf("{\n  admin off\n  auto_https off\n}\nhttp://%s {\n  reverse_proxy %s\n}\n", addr, strings.TrimPrefix(crmURL, "http://"))
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(bin, "run", "--config", cf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	return startServer(cmd, addr)
}

// startServer starts a baseline proxy in its own process group (stopping
// it kills nginx's workers too) and waits until it listens on addr. It
// returns the URL, the pid and the stop function.
func startServer(cmd *exec.Cmd, addr string) (string, int, func(), error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
	if err := waitListening(addr); err != nil {
		stop()
		return "", 0, nil, err
	}
	return "http://" + addr, cmd.Process.Pid, stop, nil
}

func waitListening(addr string) error {
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not start listening", addr)
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

const pinnedEnv = "CRMGW_LOADBENCH_PINNED"

// layout is the -cpus layout; totalCPUs is the machine's CPU count;
// tracePath receives an execution trace of the half-saturation crmgw run.
var (
	tracePath     string
	worldExe      string // -world
	profileTarget = "crmgw"
	layout        = "shared"
	totalCPUs     = runtime.NumCPU()
)

func canPin() bool {
	_, err := exec.LookPath("taskset")
	return err == nil && runtime.NumCPU() >= 2
}

func defaultLayout() string {
	if canPin() {
		return "proxy"
	}
	return "shared"
}

// onCPU0 runs name with args on CPU 0 in the pinned layouts.
func onCPU0(name string, args ...string) *exec.Cmd {
	if layout == "shared" {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", "0", name}, args...)...)
}

// repin runs this program again on CPUs 1..n-1.
func repin() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cpus := fmt.Sprintf("1-%d", runtime.NumCPU()-1)
	// The layout goes along explicitly: on one CPU, the default would be shared.
	args := append([]string{"-c", cpus, exe}, os.Args[1:]...)
	args = append(args, "-cpus", layout)
	cmd := exec.Command("taskset", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), pinnedEnv+"="+strconv.Itoa(runtime.NumCPU()))
	return cmd.Run()
}

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
// drawn on its own. Windows of 5 ms were the default before: a stall of the
// world (the sample CRM's garbage collections, for one: every ~2 s at half
// saturation, ~20 ms of slowed answers each) mostly fell in one target's
// windows, and direct paired with itself (A/A, 10 s runs at 1700/s) then
// differed in p99 by -1.9 to +4.6 ms; drawn per request, by -0.4 to +0.3
// ms, so a 1 ms target can be told apart at all.
var pairWindow time.Duration

// baseShare is the share of a paired run's requests (drawn per request)
// that go to the baseline, direct. Drawn half and half before, the proxy
// got half of the half-saturation rate, a quarter of its saturation: its
// core was a quarter busy, not half. Now the proxy gets the whole rate and
// direct a fifth of all requests on top (a quarter of the proxy's rate):
// the world serves 1.25 times the rate, direct's p99 rests on fewer
// requests (pool the rounds, -half-rounds).
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
