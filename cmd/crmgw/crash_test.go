package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/examples/samplecrm"
)

// TestMain lets the crash test run this test binary as the gateway (serve,
// audit verify) instead of building a second binary.
func TestMain(m *testing.M) {
	if os.Getenv("CRMGW_TEST_AS_CLI") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// siem is a webhook receiver (generic format) that keeps the chain seq of
// every event it got, answering each POST after delay.
type siem struct {
	delay time.Duration
	mu    sync.Mutex
	seqs  map[int64]bool
}

func (s *siem) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(s.delay)
	var evs []audit.Event
	if err := json.NewDecoder(r.Body).Decode(&evs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for _, ev := range evs {
		s.seqs[ev.Chain.Seq] = true
	}
	s.mu.Unlock()
}

func (s *siem) has(seq int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seqs[seq]
}

// adminReady reports whether the gateway whose admin listener is at admin
// answers /readyz with 200.
func adminReady(admin string) bool {
	resp, err := http.Get("http://" + admin + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Killed outright (crash, OOM kill, node loss of the process), the
// gateway must not lose the audit of what it answered: c=16 load, SIGKILL
// at a random moment three times, restart. Every request the client got a
// status line for has its completion event in the local log, or its start
// record closed as "unknown" by the restart; every event reaches the
// webhook receiver, also one that takes 500 ms per POST; the chain
// verifies across all restarts.
func TestAuditSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the gateway several times")
	}
	for _, delay := range []time.Duration{0, 500 * time.Millisecond} {
		t.Run(fmt.Sprintf("receiver_%s", delay), func(t *testing.T) { crashRun(t, delay) })
	}
}

func crashRun(t *testing.T, delay time.Duration) {
	const key = "crash-test-api-key-0123456789"
	crm := httptest.NewServer(samplecrm.New(samplecrm.Options{Records: 200, Seed: 7, SalesforceToken: "sf-token"}))
	defer crm.Close()
	rx := &siem{delay: delay, seqs: map[int64]bool{}}
	hook := httptest.NewServer(rx)
	defer hook.Close()

	dir := t.TempDir()
	_, file, _, _ := runtime.Caller(0)
	policies := filepath.Join(filepath.Dir(file), "..", "..", "policies")
	listen, admin := freePort(t), freePort(t)
	sum := sha256.Sum256([]byte(key))
	logPath := filepath.Join(dir, "audit.jsonl")
	cfg := fmt.Sprintf(`server:
  listen: %s
admin:
  listen: %s
upstreams:
  - name: salesforce
    type: salesforce
    url: %s
    auth: {type: static, token: sf-token}
identity:
  api_keys:
    - {id: rep, key_sha256: %s, roles: [sales_rep]}
policy:
  paths: [%s]
  # The load is allowed; a decision the race detector slows past the
  # default 50ms would deny it instead, and a denial (nothing reached the
  # CRM) is audited after its answer, which this test is not about.
  timeout: 5s
masking:
  hmac_key: crash-test-hmac-key-0123456789
ratelimit:
  store: memory
  # c=16 from one loopback address: the pre-authentication limits, meant
  # for floods, stay out of the load's way (docs/hardening.md).
  preauth:
    per_ip: {rate: 1000000, per: 1s}
    global: {rate: 1000000, per: 1s}
audit:
  sinks:
    - {type: file, path: %s}
    - {type: webhook, name: siem, url: %s, batch_size: 1000, flush_interval: 50ms, retry_initial: 20ms, retry_max: 200ms}
`, listen, admin, crm.URL, hex.EncodeToString(sum[:]), policies, logPath, hook.URL)
	cfgPath := filepath.Join(dir, "crmgw.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "serve", "--config", cfgPath)
		cmd.Env = append(os.Environ(), "CRMGW_TEST_AS_CLI=1")
		cmd.Stderr = io.Discard
		if testing.Verbose() {
			cmd.Stderr = os.Stderr
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			if adminReady(admin) {
				return cmd
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("gateway not ready after 20s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var mu sync.Mutex
	answered := map[string]int{} // request id -> status the client saw
	load := func(ctx context.Context) {
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					req, _ := http.NewRequest("GET", "http://"+listen+"/services/data/v60.0/query?q=SELECT+Id,Name,Email+FROM+Contact+LIMIT+20", nil)
					req.Header.Set("Authorization", "Bearer "+key)
					resp, err := client.Do(req)
					if err != nil {
						continue // no status line: nothing was promised
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					answered[resp.Header.Get("X-Request-Id")] = resp.StatusCode
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}

	for kill := 0; kill < 3; kill++ {
		cmd := start()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { load(ctx); close(done) }()
		time.Sleep(300*time.Millisecond + rand.N(900*time.Millisecond))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		cancel()
		<-done
	}
	// The last start closes what the last kill left open and delivers the
	// rest; then a clean stop.
	cmd := start()
	lines := readLog(t, logPath)
	last := lines[len(lines)-1].Chain.Seq
	// Delivery time is not the subject: a run whose kills came before the
	// sink saved its cursor re-sends the whole log (tens of thousands of
	// events on a fast machine) in batches of 1000, each answered after
	// the receiver's delay; on a busy machine that took over 30 s. Give
	// each batch several seconds.
	deadline := time.Now().Add(30*time.Second + time.Duration(last/1000+1)*5*time.Second)
	for missing := int64(1); missing <= last; {
		if rx.has(missing) {
			missing++
			continue
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			var gaps []string
			for s, from := int64(1), int64(0); s <= last+1; s++ {
				switch {
				case s <= last && !rx.has(s) && from == 0:
					from = s
				case (s > last || rx.has(s)) && from != 0:
					gaps = append(gaps, fmt.Sprintf("%d-%d", from, s-1))
					from = 0
				}
			}
			t.Fatalf("event seq %d of %d never reached the webhook receiver (missing: %v)", missing, last, gaps)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}

	lines = readLog(t, logPath)
	closed := map[string]string{}
	unknown := 0
	for _, ev := range lines {
		if ev.Status != audit.StatusPending {
			closed[ev.RequestID] = ev.Status
		}
		if ev.Status == audit.StatusUnknown {
			unknown++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id, code := range answered {
		if _, ok := closed[id]; !ok {
			t.Errorf("request %s was answered %d but has no completion or unknown event in the local log", id, code)
		}
	}
	t.Logf("%d requests answered, %d events in the log, %d closed as unknown after the kills", len(answered), len(lines), unknown)

	verify := exec.Command(os.Args[0], append([]string{"audit", "verify"}, audit.RotatedFiles(logPath)...)...)
	verify.Env = append(os.Environ(), "CRMGW_TEST_AS_CLI=1")
	if out, err := verify.CombinedOutput(); err != nil {
		t.Errorf("crmgw audit verify across the restarts: %v\n%s", err, out)
	}
}

func readLog(t *testing.T, path string) []audit.Event {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, l := range splitLines(b) {
		var ev audit.Event
		if err := json.Unmarshal(l, &ev); err != nil {
			continue // a line torn by the kill; verify names it
		}
		out = append(out, ev)
	}
	if len(out) == 0 {
		t.Fatal("empty audit log")
	}
	return out
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		out = append(out, b[:i])
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}
