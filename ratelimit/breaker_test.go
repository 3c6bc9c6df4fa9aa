package ratelimit

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// A real redis-server killed under the limiter: after three failed calls
// the breaker opens and on_store_error decides without calling Redis
// (ErrBreakerOpen, at memory speed); when Redis is back on the same port,
// the half-open probe closes the breaker and limits are counted again.
// Each state change is logged and shows in crmgw_ratelimit_breaker_state.
//
// Ways around it: a caller that cancels its own requests must not open the
// breaker (it is not the store failing); a probe that fails must re-open
// it for a longer window, not let every request through.
func TestBreakerOpensOnAnOutageAndClosesWhenRedisIsBack(t *testing.T) {
	requireRedis(t)
	dir := t.TempDir()
	port := freePort(t)
	p, err := startRedisOn(t, port, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zap.WarnLevel)
	l, err := New(Config{Store: StoreRedis, OnStoreError: FailAllow, Timeout: time.Second,
		Redis:   RedisConfig{URL: "redis://" + p.addr() + "/0", KeyPrefix: uniquePrefix(t)},
		Breaker: BreakerConfig{Failures: 3, OpenFor: 150 * time.Millisecond},
		Limits:  []LimitConfig{{Name: "per-subject", Rate: 1000, Per: time.Second}}}, reg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	req := Request{Subject: "alice", Operation: "query", Category: "read"}
	ctx := context.Background()
	if res, err := l.Allow(ctx, req); err != nil || !res.Allowed {
		t.Fatalf("with Redis up: %+v %v", res, err)
	}
	// A caller that gives up is not an outage.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for range 5 {
		l.Allow(cctx, req)
	}
	if st := gaugeValue(l.m.breakerState); st != breakerClosed {
		t.Fatalf("cancelled callers opened the breaker (state %v)", st)
	}

	p.kill()
	for i := range 3 {
		res, _ := l.Allow(ctx, req)
		if !res.Allowed || res.StoreError == nil || errors.Is(res.StoreError, ErrBreakerOpen) {
			t.Fatalf("failure %d: %+v (want the store called, fail open)", i, res)
		}
	}
	res, _ := l.Allow(ctx, req)
	if !res.Allowed || !errors.Is(res.StoreError, ErrBreakerOpen) {
		t.Fatalf("after 3 failures: %+v, want allowed by on_store_error without calling Redis", res)
	}
	if st := gaugeValue(l.m.breakerState); st != breakerOpen {
		t.Errorf("breaker state %v, want open", st)
	}
	// A probe while Redis is still down re-opens for a doubled window.
	time.Sleep(200 * time.Millisecond)
	l.Allow(ctx, req)
	if st := gaugeValue(l.m.breakerState); st != breakerOpen || l.br.window != 300*time.Millisecond {
		t.Errorf("after a failed probe: state %v window %s, want open for 300ms", st, l.br.window)
	}

	if p, err = startRedisOn(t, port, dir, false); err != nil {
		t.Fatal(err)
	}
	defer p.kill()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := l.Allow(ctx, req)
		if err == nil && res.StoreError == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("breaker never closed: %+v", res)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := gaugeValue(l.m.breakerState); st != breakerClosed {
		t.Errorf("breaker state %v, want closed", st)
	}
	var seen []string
	for _, e := range logs.FilterMessage("rate limit store circuit breaker").All() {
		seen = append(seen, e.ContextMap()["to"].(string))
	}
	want := []string{"open", "half_open", "open", "half_open", "closed"}
	if len(seen) != len(want) {
		t.Fatalf("state change log lines %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("state change log lines %v, want %v", seen, want)
		}
	}
}

func TestBreakerDenyModeRefusesAtOnceWhileOpen(t *testing.T) {
	requireRedis(t)
	port := freePort(t) // nothing listens there
	l, err := New(Config{Store: StoreRedis, OnStoreError: FailDeny,
		Redis:   RedisConfig{URL: "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"},
		Breaker: BreakerConfig{Failures: 2, OpenFor: time.Hour},
		Limits:  []LimitConfig{{Name: "per-subject", Rate: 1000, Per: time.Second}}}, nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	req := Request{Subject: "alice"}
	for range 2 {
		l.Allow(context.Background(), req)
	}
	res, _ := l.Allow(context.Background(), req)
	if res.Allowed || !errors.Is(res.StoreError, ErrBreakerOpen) || res.RetryAfter <= 0 {
		t.Errorf("deny mode with the breaker open: %+v", res)
	}
}

func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		return -1
	}
	return m.GetGauge().GetValue()
}
