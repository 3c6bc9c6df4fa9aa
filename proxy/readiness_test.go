package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func (e *env) readyz() (int, Readiness) {
	e.t.Helper()
	resp, err := http.Get(e.admin + "/readyz")
	if err != nil {
		e.t.Fatal(err)
	}
	var rep Readiness
	if err := json.Unmarshal(readAll(e.t, resp), &rep); err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, rep
}

func (e *env) metricsText() string {
	e.t.Helper()
	resp, err := http.Get(e.admin + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	return string(readAll(e.t, resp))
}

// A shared Redis outage is every replica's: /readyz stays 200 and says
// what is degraded; the fail mode decides what the requests get.
func TestRedisDownIsDegradedNotUnready(t *testing.T) {
	for _, mode := range []struct {
		onError string
		status  int
	}{{"allow", http.StatusOK}, {"deny", http.StatusTooManyRequests}} {
		t.Run(mode.onError, func(t *testing.T) {
			limits := fmt.Sprintf("ratelimit:\n  store: redis\n  redis: {url: \"redis://%s/0\"}\n  on_store_error: %s\n  limits:\n    - {name: per-subject, key: subject, rate: 100, per: 1s, burst: 100}\n",
				freeAddr(t), mode.onError)
			e := newEnv(t, envOptions{limits: limits})
			resp := e.do("GET", contactQuery, bearer(repKey), nil)
			if readAll(t, resp); resp.StatusCode != mode.status {
				t.Errorf("request with Redis down, on_store_error %s: %d, want %d", mode.onError, resp.StatusCode, mode.status)
			}
			code, rep := e.readyz()
			if code != http.StatusOK || !rep.Ready || rep.Degraded["ratelimit"] == "" {
				t.Errorf("/readyz with Redis down: %d %+v, want 200 with ratelimit degraded", code, rep)
			}
			if m := e.metricsText(); !strings.Contains(m, `crmgw_ready 1`) {
				t.Error("crmgw_ready must be 1")
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	// An address nothing listens on: a listener opened and closed.
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// A SIEM that is down, then a spool that is full: degraded (and exports
// paused under block_exports), never unready; reads keep being served.
func TestSinkDownAndSpoolFullAreDegradedNotUnready(t *testing.T) {
	sink := fmt.Sprintf("    - {type: webhook, name: siem, url: \"http://%s/hook\", retry_initial: 10ms, retry_max: 20ms, timeout: 1s}\n", freeAddr(t))
	e := newEnv(t, envOptions{extraYAML: sink + "  spool_max_bytes: 64KiB\n  on_full: block_exports\n",
		serverTLS: "  shutdown_timeout: 1s\n"})
	readAll(t, e.do("GET", contactQuery, bearer(repKey), nil))
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, rep := e.readyz()
		if code != http.StatusOK || !rep.Ready {
			t.Fatalf("/readyz with the SIEM down: %d %+v", code, rep)
		}
		if strings.Contains(rep.Degraded["audit_sink_siem"], "failing") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failing sink is not reported: %+v", rep)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Fill the spool (unauthenticated requests are cheap and audited).
	for i := 0; i < 400 && e.auditorAccepting(); i++ {
		readAll(t, e.do("GET", contactQuery, "", nil, "User-Agent", strings.Repeat("x", 400)))
	}
	if e.auditorAccepting() {
		t.Fatal("spool never filled")
	}
	code, rep := e.readyz()
	if code != http.StatusOK || !strings.Contains(rep.Degraded["audit_sink_siem"], "spool full") {
		t.Errorf("/readyz with the spool full: %d %+v, want 200 with the sink degraded", code, rep)
	}
	resp := e.do("POST", bulkQueryPath, e.managerToken(), strings.NewReader(bulkQueryBody), "Content-Type", "application/json")
	if readAll(t, resp); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("export with the spool full under block_exports: %d, want 503", resp.StatusCode)
	}
	resp = e.do("GET", contactQuery, bearer(repKey), nil)
	if readAll(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("read with the spool full: %d, want 200", resp.StatusCode)
	}
	if m := e.metricsText(); !strings.Contains(m, `crmgw_degraded{check="audit_sink_siem"} 1`) {
		t.Error("crmgw_degraded must name the sink")
	}
	hr, err := http.Get(e.admin + "/healthz?verbose")
	if err != nil {
		t.Fatal(err)
	}
	if hb := string(readAll(t, hr)); hr.StatusCode != http.StatusOK || !strings.Contains(hb, `"audit_sink_siem":"spool full`) {
		t.Errorf("/healthz?verbose: %d %s, want 200 naming the degraded sink", hr.StatusCode, hb)
	}
}

func (e *env) auditorAccepting() bool { return e.srv.auditor.AcceptingExports() }

// A policy edit that does not compile: the previous revision stays in
// force, /readyz stays 200 and says so, the metrics count the refusal and
// show the revision in force.
func TestRefusedPolicyReloadIsDegradedAndCounted(t *testing.T) {
	dir := t.TempDir()
	src := policiesDir(t)
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if ent.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ent.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, envOptions{policies: dir})
	before := e.srv.engine.Revision()
	if err := e.srv.Reload(context.Background()); err != nil {
		t.Fatalf("reload of unchanged policies: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.rego"), []byte("package crmgw.authz\n\ndecision := {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Reload(context.Background()); err == nil {
		t.Fatal("a policy that does not compile was accepted")
	}
	code, rep := e.readyz()
	if code != http.StatusOK || rep.PolicyRevision != before || !strings.Contains(rep.Degraded["policy_reload"], "refused") {
		t.Errorf("/readyz after a refused reload: %d %+v", code, rep)
	}
	m := e.metricsText()
	for _, want := range []string{
		`crmgw_policy_reloads_total{result="ok"} 1`,
		`crmgw_policy_reloads_total{result="refused"} 1`,
		`crmgw_policy_revision_info{revision="` + before + `"} 1`,
		`crmgw_degraded{check="policy_reload"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	os.Remove(filepath.Join(dir, "broken.rego"))
	if err := e.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, rep := e.readyz(); rep.Degraded["policy_reload"] != "" {
		t.Errorf("a successful reload must clear the degraded state: %+v", rep)
	}
}
