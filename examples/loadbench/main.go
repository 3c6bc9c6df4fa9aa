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
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/trace"
	"strconv"
	"strings"
	"time"

	"github.com/crmgw/crmgw/identity/oidctest"
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

// layout is the -cpus layout; totalCPUs is the machine's CPU count;
// tracePath receives an execution trace of the half-saturation crmgw run.
var (
	tracePath     string
	worldExe      string // -world
	profileTarget = "crmgw"
	layout        = "shared"
	totalCPUs     = runtime.NumCPU()
)
