//go:build unix

package ratelimit

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// A stopped (SIGSTOP) redis-server accepts connections but never answers:
// the call must end at the timeout and follow on_store_error.
func TestHungRedisTimesOutAndFollowsTheFailureMode(t *testing.T) {
	p := startRedis(t)
	cfg := Config{Store: StoreRedis, OnStoreError: FailAllow, Timeout: 300 * time.Millisecond,
		Redis:  RedisConfig{URL: "redis://" + p.addr(), KeyPrefix: uniquePrefix(t), ReadTimeout: 100 * time.Millisecond},
		Limits: []LimitConfig{{Name: "l", Rate: 1, Per: time.Hour}}}
	l := newTestLimiter(t, cfg, nil)
	mustAllow(t, l, alice)
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	res, err := l.Allow(context.Background(), alice)
	if err == nil || res.StoreError == nil || !res.Allowed {
		t.Fatalf("hung store with on_store_error allow: allowed=%v err=%v", res.Allowed, err)
	}
	if l.Ready(context.Background()) == nil {
		t.Error("Ready with a hung store: nil")
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	stopped = false
	for i := 0; i < 50; i++ {
		if res, err = l.Allow(context.Background(), alice); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || res.Allowed || res.Limit != "l" {
		t.Errorf("after the store woke up: allowed=%v limit=%q err=%v, want refused by l", res.Allowed, res.Limit, err)
	}
}
