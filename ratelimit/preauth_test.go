package ratelimit

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

func mustPreAuth(t *testing.T, l *Limiter, ip string) Result {
	t.Helper()
	res, err := l.PreAuth(context.Background(), netip.MustParseAddr(ip))
	if err != nil {
		t.Fatalf("PreAuth(%s): %v", ip, err)
	}
	return res
}

func mustFail(t *testing.T, l *Limiter, ip string) {
	t.Helper()
	if err := l.AuthFailed(context.Background(), netip.MustParseAddr(ip)); err != nil {
		t.Fatalf("AuthFailed(%s): %v", ip, err)
	}
}

// preAuthOnly is a configuration with pre-authentication limits only;
// periods are long so the Redis stores (real time) see no refill.
func preAuthOnly(base Config) Config {
	base.PreAuth = PreAuthConfig{
		PerIP:    PreAuthLimit{Rate: 3, Per: time.Hour, Burst: 3},
		Global:   PreAuthLimit{Rate: 1000, Per: time.Hour, Burst: 1000},
		Failures: PreAuthFailures{Count: 2, Window: time.Hour},
	}
	return base
}

// The ways around a pre-authentication limit, each a row that must fail:
// another address of the same IPv6 /64, an IPv4 address written as
// IPv4-mapped IPv6, failing authentication without ever being refused,
// and a second replica (shared stores).
func TestPreAuthStores(t *testing.T) {
	for _, sc := range storeCases() {
		t.Run(sc.name, func(t *testing.T) {
			t.Run("per address", func(t *testing.T) {
				l := newTestLimiter(t, preAuthOnly(sc.base(t)), nil)
				for i := range 3 {
					if r := mustPreAuth(t, l, "203.0.113.7"); !r.Allowed {
						t.Fatalf("request %d refused: %+v", i, r)
					}
				}
				r := mustPreAuth(t, l, "203.0.113.7")
				if r.Allowed || r.Limit != LimitPreAuthIP || r.Headers.RetryAfter == "" {
					t.Fatalf("4th request from one address: %+v, want refused by %s with Retry-After", r, LimitPreAuthIP)
				}
				if r := mustPreAuth(t, l, "::ffff:203.0.113.7"); r.Allowed {
					t.Error("the same IPv4 address written as IPv4-mapped IPv6 got a budget of its own")
				}
				if r := mustPreAuth(t, l, "203.0.113.8"); !r.Allowed {
					t.Errorf("another address was refused: %+v", r)
				}
			})
			t.Run("IPv6 counted by /64", func(t *testing.T) {
				l := newTestLimiter(t, preAuthOnly(sc.base(t)), nil)
				for i := range 3 {
					mustPreAuth(t, l, "2001:db8:1:2::"+string(rune('a'+i)))
				}
				if r := mustPreAuth(t, l, "2001:db8:1:2:ffff::1"); r.Allowed {
					t.Error("a fourth address of the same /64 was allowed")
				}
				if r := mustPreAuth(t, l, "2001:db8:1:3::1"); !r.Allowed {
					t.Errorf("an address of another /64 was refused: %+v", r)
				}
			})
			t.Run("failed authentications", func(t *testing.T) {
				l := newTestLimiter(t, preAuthOnly(sc.base(t)), nil)
				mustFail(t, l, "198.51.100.1")
				if r := mustPreAuth(t, l, "198.51.100.1"); !r.Allowed {
					t.Fatalf("refused after one failure of two: %+v", r)
				}
				mustFail(t, l, "198.51.100.1")
				r := mustPreAuth(t, l, "198.51.100.1")
				if r.Allowed || r.Limit != LimitPreAuthFailures || r.RetryAfter <= 0 {
					t.Fatalf("after the failure budget: %+v, want refused by %s", r, LimitPreAuthFailures)
				}
				if r := mustPreAuth(t, l, "198.51.100.2"); !r.Allowed {
					t.Errorf("another address was refused: %+v", r)
				}
				if sc.shared {
					other := newTestLimiter(t, preAuthOnly(sc.base(t)), nil)
					other.prefix = l.prefix
					if r := mustPreAuth(t, other, "198.51.100.1"); r.Allowed {
						t.Error("a second replica on the same store let the address in")
					}
				}
			})
			t.Run("global", func(t *testing.T) {
				cfg := preAuthOnly(sc.base(t))
				cfg.PreAuth.Global = PreAuthLimit{Rate: 2, Per: time.Hour, Burst: 2}
				l := newTestLimiter(t, cfg, nil)
				mustPreAuth(t, l, "192.0.2.1")
				mustPreAuth(t, l, "192.0.2.2")
				if r := mustPreAuth(t, l, "192.0.2.3"); r.Allowed || r.Limit != LimitPreAuthGlobal {
					t.Fatalf("third address past a global limit of 2: %+v", r)
				}
			})
		})
	}
}

func TestPreAuthRefusalTakesNothing(t *testing.T) {
	clock := newFakeClock()
	cfg := preAuthOnly(Config{Store: StoreMemory})
	l := newTestLimiter(t, cfg, clock)
	mustFail(t, l, "203.0.113.9")
	mustFail(t, l, "203.0.113.9")
	for range 10 {
		if r := mustPreAuth(t, l, "203.0.113.9"); r.Allowed {
			t.Fatal("allowed past the failure budget")
		}
	}
	// The failures leave the window: the address has its whole per-address
	// budget, the ten refusals took none of it.
	clock.advance(time.Hour + time.Minute)
	for i := range 3 {
		if r := mustPreAuth(t, l, "203.0.113.9"); !r.Allowed {
			t.Fatalf("request %d after the window: %+v", i, r)
		}
	}
}

func TestPreAuthDefaultsAreOn(t *testing.T) {
	var c Config
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := c.PreAuth
	if p.Disabled || p.PerIP.Rate != 100 || p.PerIP.Burst != 200 || p.Global.Rate != 5000 ||
		p.Failures.Count != 20 || p.Failures.Window != time.Minute || p.IPv6Prefix != 64 {
		t.Fatalf("defaults: %+v", p)
	}
	l := newTestLimiter(t, c, nil)
	for range 20 {
		mustFail(t, l, "203.0.113.50")
	}
	if r := mustPreAuth(t, l, "203.0.113.50"); r.Allowed {
		t.Error("the default configuration let an address in after 20 failed authentications")
	}

	c.PreAuth.Disabled = true
	off := newTestLimiter(t, c, nil)
	for range 30 {
		mustFail(t, off, "203.0.113.50")
	}
	if r := mustPreAuth(t, off, "203.0.113.50"); !r.Allowed {
		t.Error("disabled: true still refused")
	}
}

func TestPreAuthConfigProblems(t *testing.T) {
	c := Config{
		Limits: []LimitConfig{{Name: LimitPreAuthIP, Rate: 1, Per: time.Second}},
		PreAuth: PreAuthConfig{
			PerIP:      PreAuthLimit{Per: time.Second},
			Global:     PreAuthLimit{Rate: 10, Per: -time.Second},
			Failures:   PreAuthFailures{Count: -1, Window: time.Millisecond},
			IPv6Prefix: 8,
		},
	}
	c.SetDefaults()
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"limits[0].name", "preauth.per_ip.rate", "preauth.global.per",
		"preauth.failures.count", "preauth.failures.window", "preauth.ipv6_prefix"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}

func TestPreAuthStoreOutageFollowsOnStoreError(t *testing.T) {
	for _, mode := range []string{FailDeny, FailAllow} {
		t.Run(mode, func(t *testing.T) {
			p := startRedis(t)
			cfg := preAuthOnly(Config{Store: StoreRedis, OnStoreError: mode, Timeout: 2 * time.Second,
				Redis: RedisConfig{URL: "redis://" + p.addr() + "/4", ReadTimeout: time.Second, DialTimeout: time.Second}})
			l, err := New(cfg, prometheus.NewRegistry(), zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			p.kill()
			res, err := l.PreAuth(context.Background(), netip.MustParseAddr("203.0.113.1"))
			if err == nil || res.StoreError == nil {
				t.Fatal("no store error from a dead store")
			}
			if res.Allowed != (mode == FailAllow) {
				t.Fatalf("allowed=%v with on_store_error %s", res.Allowed, mode)
			}
			if mode == FailDeny && res.Headers.RetryAfter == "" {
				t.Error("refused without Retry-After")
			}
			if err := l.AuthFailed(context.Background(), netip.MustParseAddr("203.0.113.1")); err == nil {
				t.Error("AuthFailed on a dead store: no error")
			}
		})
	}
}

func TestPreAuthMetricsCountByLimit(t *testing.T) {
	l := newTestLimiter(t, preAuthOnly(Config{Store: StoreMemory}), nil)
	for range 5 {
		mustPreAuth(t, l, "203.0.113.77")
	}
	mustFail(t, l, "203.0.113.78")
	mustFail(t, l, "203.0.113.78")
	mustPreAuth(t, l, "203.0.113.78")
	for _, c := range []struct {
		limit, result string
		want          float64
	}{
		// Each limit counts its own check: a request one limit refuses is
		// "allowed" by the others that passed.
		{LimitPreAuthIP, "allowed", 4}, {LimitPreAuthIP, "refused", 2},
		{LimitPreAuthFailures, "refused", 1}, {LimitPreAuthGlobal, "allowed", 6},
	} {
		if got := metricValue(l.m.decisions.WithLabelValues(c.limit, c.result)); got != c.want {
			t.Errorf("%s %s = %v, want %v", c.limit, c.result, got, c.want)
		}
	}
}
