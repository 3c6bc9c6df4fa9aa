package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crmgw/crmgw/examples/samplecrm"
)

// lockedBuffer collects a child's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func hexSHA(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// `crmgw serve` under a bounded loopback load gets SIGHUP after its
// configuration file was rewritten: an API key is replaced and a rate
// limit lowered, and no request of the load fails (each is answered 200).
// Then a broken file and SIGHUP: refused with a log line naming
// file:line and key, and the gateway keeps serving what it had.
func TestSIGHUPReloadsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the gateway as a process")
	}
	const (
		loadKey = "load-api-key-0123456789"
		oldKey  = "old-api-key-0123456789"
		newKey  = "new-api-key-0123456789"
	)
	crm := httptest.NewServer(samplecrm.New(samplecrm.Options{Records: 50, Seed: 7, SalesforceToken: "sf-token", ZohoToken: "zoho-token"}))
	defer crm.Close()
	dir := t.TempDir()
	_, file, _, _ := runtime.Caller(0)
	policies := filepath.Join(filepath.Dir(file), "..", "..", "policies")
	listen, admin := freePort(t), freePort(t)
	config := func(key string, zohoRate string) string {
		return fmt.Sprintf(`server:
  listen: %s
admin:
  listen: %s
upstreams:
  - name: salesforce
    type: salesforce
    url: %s
    auth: {type: static, token: sf-token}
  - name: zoho
    type: zoho
    url: %s
    match: {path_prefix: /zoho}
    auth: {type: static, token: zoho-token}
identity:
  api_keys:
    - {id: load, key_sha256: %s, roles: [sales_rep]}
    - {id: rotating, key_sha256: %s, roles: [sales_rep]}
policy:
  paths: [%s]
  timeout: 5s
masking:
  hmac_key: reload-test-hmac-key-0123456789
ratelimit:
  store: memory
  limits:
    - {name: zoho-calls, key: subject, %s, upstreams: [zoho]}
  preauth:
    per_ip: {rate: 1000000, per: 1s}
    global: {rate: 1000000, per: 1s}
audit:
  sinks:
    - {type: file, path: %s}
`, listen, admin, crm.URL, crm.URL, hexSHA(loadKey), hexSHA(key), policies, zohoRate, filepath.Join(dir, "audit.jsonl"))
	}
	cfgPath := filepath.Join(dir, "crmgw.yaml")
	write := func(s string) {
		if err := os.WriteFile(cfgPath, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(config(oldKey, "rate: 100000, per: 1s, burst: 100000"))

	stderr := &lockedBuffer{}
	cmd := exec.Command(os.Args[0], "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "CRMGW_TEST_AS_CLI=1")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("gateway log:\n%s", stderr)
		}
	}()
	client := &http.Client{Timeout: 10 * time.Second}
	var lastBody string
	get := func(path, auth string) (int, http.Header) {
		req, _ := http.NewRequest("GET", "http://"+listen+path, nil)
		req.Header.Set("Authorization", auth)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lastBody = string(b)
		return resp.StatusCode, resp.Header
	}
	metric := func(line string) bool {
		resp, err := http.Get("http://" + admin + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(b), line)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the gateway to be ready", func() bool { return adminReady(admin) })

	const query = "/services/data/v60.0/query?q=SELECT+Id,Name,Email+FROM+Contact+LIMIT+5"
	const zoho = "/zoho/crm/v6/Contacts?fields=Last_Name,Email&per_page=3"
	if code, _ := get(query, "Bearer "+oldKey); code != 200 {
		t.Fatalf("old key before the reload: %d %s", code, lastBody)
	}

	var stop atomic.Bool
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	loadClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				req, _ := http.NewRequest("GET", "http://"+listen+query, nil)
				req.Header.Set("Authorization", "Bearer "+loadKey)
				resp, err := loadClient.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	write(config(newKey, "rate: 1, per: 1m, burst: 2"))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the reload", func() bool { return metric(`crmgw_config_reloads_total{result="ok"} 1`) })
	time.Sleep(700 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	if failed.Load() > 0 {
		t.Errorf("%d of %d requests of the load failed across the SIGHUP reload", failed.Load(), failed.Load()+ok.Load())
	}
	t.Logf("%d requests of the load answered 200 across the reload", ok.Load())
	if code, _ := get(query, "Bearer "+oldKey); code != http.StatusUnauthorized {
		t.Errorf("replaced key after SIGHUP: %d, want 401", code)
	}
	if code, _ := get(query, "Bearer "+newKey); code != 200 {
		t.Errorf("new key after SIGHUP: %d, want 200", code)
	}
	var codes []int
	var hdr http.Header
	for i := 0; i < 3; i++ {
		var code int
		code, hdr = get(zoho, "Zoho-oauthtoken "+loadKey)
		codes = append(codes, code)
	}
	if codes[2] != http.StatusTooManyRequests || !strings.Contains(hdr.Get("RateLimit-Policy"), `"zoho-calls";q=2;w=60`) {
		t.Errorf("zoho requests under the lowered limit: %v %v", codes, hdr)
	}

	// A broken file: refused, logged with file:line and key, still serving.
	write(strings.Replace(config(newKey, "rate: 1, per: 1m, burst: 2"), "key_sha256: "+hexSHA(newKey), "key_sha256: nothex", 1))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var refusal string
	waitFor("the refusal's log line", func() bool {
		for _, l := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(l, "configuration reload refused") {
				refusal = l
			}
		}
		return refusal != ""
	})
	if !metric(`crmgw_config_reloads_total{result="refused"} 1`) {
		t.Error("the refusal is not counted")
	}
	if !strings.Contains(refusal, cfgPath+":") || !strings.Contains(refusal, "identity.api_keys[1].key_sha256") {
		t.Errorf("refusal log line: %q", refusal)
	}
	if code, _ := get(query, "Bearer "+newKey); code != 200 {
		t.Errorf("after a refused reload the running key: %d, want 200", code)
	}
}
