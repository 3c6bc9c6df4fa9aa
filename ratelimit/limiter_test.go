package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fakeClock drives the memory store in tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// storeCase is one store the shared suite runs against.
type storeCase struct {
	name string
	// base returns the store part of a Config; cases add limits and quotas.
	base func(t *testing.T) Config
	// shared: two Limiters built from the same base share state.
	shared bool
}

func storeCases() []storeCase {
	redisBase := func(kind string) func(t *testing.T) Config {
		return func(t *testing.T) Config {
			addr := sharedRedis(t, kind)
			rc := RedisConfig{KeyPrefix: uniquePrefix(t),
				// Generous: the test machine is shared; production defaults are 50ms.
				ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, DialTimeout: 2 * time.Second}
			switch kind {
			case redisCluster:
				rc.Addrs, rc.Cluster = []string{addr}, true
			case redisSentinel:
				rc.Addrs, rc.MasterName, rc.DB = []string{addr}, "mymaster", 2
			default:
				rc.URL = "redis://" + addr + "/0"
			}
			return Config{Store: StoreRedis, Redis: rc, Timeout: 5 * time.Second}
		}
	}
	return []storeCase{
		{name: "memory", base: func(*testing.T) Config { return Config{Store: StoreMemory} }},
		{name: "redis", base: redisBase(redisSingle), shared: true},
		{name: "redis-cluster", base: redisBase(redisCluster), shared: true},
		{name: "redis-sentinel", base: redisBase(redisSentinel), shared: true},
	}
}

func newTestLimiter(t *testing.T, cfg Config, clock *fakeClock) *Limiter {
	t.Helper()
	if clock == nil {
		clock = newFakeClock()
	}
	l, err := newLimiter(cfg, prometheus.NewRegistry(), zap.NewNop(), clock.now)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func mustAllow(t *testing.T, l *Limiter, req Request) Result {
	t.Helper()
	res, err := l.Allow(context.Background(), req)
	if err != nil {
		t.Fatalf("Allow: %v", err)
	}
	return res
}

func mustRecord(t *testing.T, l *Limiter, req Request, n int64) {
	t.Helper()
	if err := l.Record(context.Background(), req, n); err != nil {
		t.Fatalf("Record: %v", err)
	}
}

var alice = Request{Subject: "alice", Client: "", IP: "10.0.0.1", Upstream: "salesforce", Operation: "query", Category: "read"}

func with(r Request, f func(*Request)) Request { f(&r); return r }

// TestStores runs the behaviour every store must share.
func TestStores(t *testing.T) {
	for _, sc := range storeCases() {
		t.Run(sc.name, func(t *testing.T) {
			t.Run("a limit admits its burst and no more under concurrent load", func(t *testing.T) {
				cfg := sc.base(t)
				// 10 per hour: no request is replenished while the test runs.
				cfg.Limits = []LimitConfig{{Name: "per-subject", Key: "subject", Rate: 10, Per: time.Hour, Burst: 25}}
				l := newTestLimiter(t, cfg, nil)
				var allowed, refused atomic.Int64
				var wg sync.WaitGroup
				for g := 0; g < 40; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 10; i++ {
							res, err := l.Allow(context.Background(), alice)
							if err != nil {
								t.Error(err)
								return
							}
							if res.Allowed {
								allowed.Add(1)
							} else {
								refused.Add(1)
							}
						}
					}()
				}
				wg.Wait()
				// One more may be replenished if the run took 6 minutes.
				if a := allowed.Load(); a < 25 || a > 26 {
					t.Errorf("allowed %d of 400, want the burst of 25", a)
				}
				if allowed.Load()+refused.Load() != 400 {
					t.Errorf("decided %d, want 400", allowed.Load()+refused.Load())
				}
			})

			t.Run("the stricter of several limits refuses and is named; refused requests take nothing", func(t *testing.T) {
				cfg := sc.base(t)
				cfg.Limits = []LimitConfig{
					{Name: "queries", Rate: 3, Per: time.Hour, Operations: []string{"query"}},
					{Name: "all", Rate: 5, Per: time.Hour},
				}
				l := newTestLimiter(t, cfg, nil)
				var got []string
				for i := 0; i < 5; i++ {
					res := mustAllow(t, l, alice)
					got = append(got, decision(res))
				}
				read := with(alice, func(r *Request) { r.Operation = "read" })
				for i := 0; i < 3; i++ {
					got = append(got, decision(mustAllow(t, l, read)))
				}
				want := "allowed allowed allowed queries queries allowed allowed all"
				if strings.Join(got, " ") != want {
					t.Errorf("decisions %q\nwant      %q", strings.Join(got, " "), want)
				}
			})

			t.Run("a refused request carries Retry-After and the RateLimit headers", func(t *testing.T) {
				cfg := sc.base(t)
				cfg.Limits = []LimitConfig{{Name: "per-subject", Rate: 20, Per: time.Second, Burst: 40}, {Name: "hourly", Rate: 2, Per: time.Hour}}
				l := newTestLimiter(t, cfg, nil)
				first := mustAllow(t, l, alice)
				if got := first.Headers.Get("RateLimit-Policy"); got != `"per-subject";q=40;w=1, "hourly";q=2;w=3600` {
					t.Errorf("RateLimit-Policy = %q", got)
				}
				if got := first.Headers.Get("RateLimit"); !strings.HasPrefix(got, `"per-subject";r=39;t=1, "hourly";r=1;t=`) {
					t.Errorf("RateLimit = %q", got)
				}
				if first.Headers.Get("Retry-After") != "" {
					t.Errorf("allowed request has Retry-After %q", first.Headers.Get("Retry-After"))
				}
				mustAllow(t, l, alice)
				res := mustAllow(t, l, alice)
				if res.Allowed || res.Limit != "hourly" {
					t.Fatalf("third request: allowed=%v limit=%q, want refused by hourly", res.Allowed, res.Limit)
				}
				if ra := res.Headers.Get("Retry-After"); ra == "" || ra == "0" {
					t.Errorf("Retry-After = %q", ra)
				}
				if res.RetryAfter <= 29*time.Minute || res.RetryAfter > 30*time.Minute {
					t.Errorf("RetryAfter = %v, want about 30m", res.RetryAfter)
				}
				if got := res.Headers.Get("RateLimit"); !strings.Contains(got, `"hourly";r=0;t=`) {
					t.Errorf("RateLimit = %q, want hourly at r=0", got)
				}
			})

			t.Run("limits apply only to the operations, categories and upstreams they select", func(t *testing.T) {
				cfg := sc.base(t)
				cfg.Limits = []LimitConfig{{Name: "zoho-exports", Rate: 1, Per: time.Hour,
					Operations: []string{"bulk_query", "bulk_result"}, Categories: []string{"export"}, Upstreams: []string{"zoho"}}}
				l := newTestLimiter(t, cfg, nil)
				export := Request{Subject: "bob", Upstream: "zoho", Operation: "bulk_query", Category: "export"}
				cases := []struct {
					name string
					req  Request
				}{
					{"other operation", with(export, func(r *Request) { r.Operation = "query" })},
					{"other category", with(export, func(r *Request) { r.Category = "read" })},
					{"other upstream", with(export, func(r *Request) { r.Upstream = "salesforce" })},
				}
				for _, c := range cases {
					for i := 0; i < 3; i++ {
						res := mustAllow(t, l, c.req)
						if !res.Allowed {
							t.Errorf("%s: refused by %q", c.name, res.Limit)
						}
						if res.Headers.Get("RateLimit-Policy") != "" {
							t.Errorf("%s: unselected limit advertised", c.name)
						}
					}
				}
				if !mustAllow(t, l, export).Allowed {
					t.Error("first selected request refused")
				}
				if res := mustAllow(t, l, export); res.Allowed || res.Limit != "zoho-exports" {
					t.Errorf("second selected request: allowed=%v limit=%q", res.Allowed, res.Limit)
				}
			})

			t.Run("keys count per value and per combination", func(t *testing.T) {
				cfg := sc.base(t)
				cfg.Limits = []LimitConfig{
					{Name: "per-op", Key: "subject+operation", Rate: 1, Per: time.Hour},
					{Name: "per-ip", Key: "ip", Rate: 3, Per: time.Hour},
				}
				l := newTestLimiter(t, cfg, nil)
				steps := []struct {
					req  Request
					want string
				}{
					{Request{Subject: "a", IP: "1.1.1.1", Operation: "query"}, "allowed"},
					{Request{Subject: "a", IP: "1.1.1.1", Operation: "read"}, "allowed"},
					{Request{Subject: "a", IP: "1.1.1.1", Operation: "query"}, "per-op"},
					{Request{Subject: "b", IP: "1.1.1.1", Operation: "query"}, "allowed"},
					{Request{Subject: "c", IP: "1.1.1.1", Operation: "query"}, "per-ip"},
					{Request{Subject: "c", IP: "2.2.2.2", Operation: "query"}, "allowed"},
					// Length-prefixed values: "x1:y"+"z" is not "x"+"1:yz".
					{Request{Subject: "x1:y", IP: "3.3.3.3", Operation: "z"}, "allowed"},
					{Request{Subject: "x", IP: "3.3.3.3", Operation: "1:yz"}, "allowed"},
				}
				for i, s := range steps {
					if got := decision(mustAllow(t, l, s.req)); got != s.want {
						t.Errorf("step %d %+v: %s, want %s", i, s.req, got, s.want)
					}
				}
			})

			t.Run("a record quota refuses once used up and reports what is left", func(t *testing.T) {
				cfg := sc.base(t)
				cfg.Quotas = []QuotaConfig{{Name: "export-per-day", Records: 100, Window: 24 * time.Hour, Categories: []string{"export", "bulk"}}}
				l := newTestLimiter(t, cfg, nil)
				export := with(alice, func(r *Request) { r.Category, r.Operation = "export", "bulk_result" })
				read := alice

				if res := mustAllow(t, l, export); !res.Allowed || res.RemainingRecords != 100 {
					t.Fatalf("fresh quota: allowed=%v remaining=%d", res.Allowed, res.RemainingRecords)
				}
				mustRecord(t, l, export, 60)
				mustRecord(t, l, read, 500) // reads do not count towards an export quota
				if res := mustAllow(t, l, export); !res.Allowed || res.RemainingRecords != 40 {
					t.Fatalf("after 60: allowed=%v remaining=%d, want 40", res.Allowed, res.RemainingRecords)
				}
				if res := mustAllow(t, l, read); !res.Allowed || res.RemainingRecords != -1 {
					t.Errorf("read: allowed=%v remaining=%d, want -1 (no quota applies)", res.Allowed, res.RemainingRecords)
				}
				mustRecord(t, l, export, 60) // the last response may overrun
				res := mustAllow(t, l, export)
				if res.Allowed || res.Limit != "export-per-day" || res.RemainingRecords != 0 {
					t.Fatalf("over quota: allowed=%v limit=%q remaining=%d", res.Allowed, res.Limit, res.RemainingRecords)
				}
				if res.RetryAfter <= 23*time.Hour || res.RetryAfter > 24*time.Hour {
					t.Errorf("RetryAfter = %v, want about 24h", res.RetryAfter)
				}
				if res.Headers.Get("Retry-After") == "" {
					t.Error("no Retry-After")
				}
				other := with(export, func(r *Request) { r.Subject = "bob" })
				if res := mustAllow(t, l, other); !res.Allowed || res.RemainingRecords != 100 {
					t.Errorf("other subject: allowed=%v remaining=%d", res.Allowed, res.RemainingRecords)
				}
			})

			t.Run("the smallest remaining quota is reported", func(t *testing.T) {
				cfg := sc.base(t)
				cfg.Quotas = []QuotaConfig{
					{Name: "hourly", Records: 50, Window: time.Hour},
					{Name: "daily", Records: 1000, Window: 24 * time.Hour},
				}
				l := newTestLimiter(t, cfg, nil)
				mustRecord(t, l, alice, 20)
				if res := mustAllow(t, l, alice); res.RemainingRecords != 30 {
					t.Errorf("remaining = %d, want 30", res.RemainingRecords)
				}
			})

			t.Run("usage counts requests and records over 1m, 1h and 24h per subject", func(t *testing.T) {
				cfg := sc.base(t)
				l := newTestLimiter(t, cfg, nil)
				for i := 0; i < 2; i++ {
					mustAllow(t, l, alice)
				}
				mustRecord(t, l, alice, 7)
				mustRecord(t, l, with(alice, func(r *Request) { r.Category = "export" }), 5)
				mustRecord(t, l, alice, 0)
				res := mustAllow(t, l, alice)
				want := map[string]int64{"1m": 3, "1h": 3, "24h": 3}
				if !mapsEqual(res.Usage.Requests, want) {
					t.Errorf("requests = %v, want %v", res.Usage.Requests, want)
				}
				want = map[string]int64{"1m": 12, "1h": 12, "24h": 12}
				if !mapsEqual(res.Usage.Records, want) {
					t.Errorf("records = %v, want %v", res.Usage.Records, want)
				}
				bob := mustAllow(t, l, with(alice, func(r *Request) { r.Subject = "bob" }))
				if bob.Usage.Requests["1m"] != 1 || bob.Usage.Records["24h"] != 0 {
					t.Errorf("bob's usage = %+v", bob.Usage)
				}
			})

			t.Run("awkward subjects are counted apart and do not break keys", func(t *testing.T) {
				cfg := sc.base(t)
				cfg.Limits = []LimitConfig{{Name: "l", Rate: 1, Per: time.Hour}}
				l := newTestLimiter(t, cfg, nil)
				subjects := []string{"", "{a}", "a}b{c", "ü ñ\x00\n", strings.Repeat("s", 1<<16), "*", "a:b"}
				for _, s := range subjects {
					req := with(alice, func(r *Request) { r.Subject = s })
					if !mustAllow(t, l, req).Allowed {
						t.Errorf("subject %.20q: first request refused", s)
					}
					if mustAllow(t, l, req).Allowed {
						t.Errorf("subject %.20q: second request allowed", s)
					}
				}
			})
		})
	}
}

func decision(r Result) string {
	if r.Allowed {
		return "allowed"
	}
	return r.Limit
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestSharedStoreEnforcesOneLimitAcrossInstances(t *testing.T) {
	for _, sc := range storeCases() {
		if !sc.shared {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			cfg := sc.base(t)
			cfg.Limits = []LimitConfig{{Name: "per-subject", Rate: 10, Per: time.Hour, Burst: 30}}
			cfg.Quotas = []QuotaConfig{{Name: "q", Records: 100, Window: time.Hour}}
			a, b := newTestLimiter(t, cfg, nil), newTestLimiter(t, cfg, nil)
			var allowed atomic.Int64
			var wg sync.WaitGroup
			for g := 0; g < 20; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l := a
					if g%2 == 1 {
						l = b
					}
					for i := 0; i < 10; i++ {
						if res, err := l.Allow(context.Background(), alice); err == nil && res.Allowed {
							allowed.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			if n := allowed.Load(); n < 30 || n > 31 {
				t.Errorf("two instances allowed %d, want the shared burst of 30", n)
			}
			mustRecord(t, a, alice, 70)
			if res := mustAllow(t, b, alice); res.RemainingRecords != 30 {
				t.Errorf("instance b sees remaining %d, want 30", res.RemainingRecords)
			}
		})
	}
}

// TestLimitRefillsInRealTime uses the real clock (with Redis, the server's):
// only counts are asserted, the sleep is longer than the Retry-After given.
func TestLimitRefillsInRealTime(t *testing.T) {
	for _, sc := range storeCases() {
		t.Run(sc.name, func(t *testing.T) {
			cfg := sc.base(t)
			cfg.Limits = []LimitConfig{{Name: "fast", Rate: 1, Per: 300 * time.Millisecond}}
			l, err := New(cfg, nil, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var res Result
			for i := 0; i < 20; i++ {
				if res = mustAllow(t, l, alice); !res.Allowed {
					break
				}
			}
			if res.Allowed {
				t.Fatal("never refused")
			}
			if res.RetryAfter <= 0 || res.RetryAfter > 300*time.Millisecond {
				t.Fatalf("RetryAfter = %v", res.RetryAfter)
			}
			time.Sleep(res.RetryAfter + 100*time.Millisecond)
			if !mustAllow(t, l, alice).Allowed {
				t.Error("not allowed after Retry-After")
			}
		})
	}
}

func TestMemoryWindowsSlideWithTime(t *testing.T) {
	clock := newFakeClock()
	cfg := Config{
		Limits: []LimitConfig{{Name: "l", Rate: 10, Per: time.Minute, Burst: 1}},
		Quotas: []QuotaConfig{{Name: "q", Records: 100, Window: time.Hour}},
	}
	l := newTestLimiter(t, cfg, clock)
	mustAllow(t, l, alice)
	mustRecord(t, l, alice, 100)
	if res := mustAllow(t, l, alice); res.Allowed {
		t.Fatal("second request allowed")
	}
	clock.advance(6 * time.Second) // one emission interval
	res := mustAllow(t, l, alice)
	if res.Allowed || res.Limit != "q" {
		t.Fatalf("after 6s: allowed=%v limit=%q, want refused by the quota only", res.Allowed, res.Limit)
	}
	clock.advance(2 * time.Minute)
	res = mustAllow(t, l, alice)
	if res.Usage.Requests["1m"] != 1 || res.Usage.Requests["1h"] != 4 || res.Usage.Records["1m"] != 0 || res.Usage.Records["1h"] != 100 {
		t.Errorf("usage after 2m: %+v", res.Usage)
	}
	clock.advance(time.Hour)
	res = mustAllow(t, l, alice)
	if !res.Allowed || res.RemainingRecords != 100 {
		t.Errorf("after the window: allowed=%v (%s) remaining=%d", res.Allowed, res.Limit, res.RemainingRecords)
	}
	if res.Usage.Requests["1h"] != 1 || res.Usage.Requests["24h"] != 5 || res.Usage.Records["24h"] != 100 {
		t.Errorf("usage after 1h: %+v", res.Usage)
	}
}

func TestMemoryStoreForgetsIdleKeys(t *testing.T) {
	clock := newFakeClock()
	cfg := Config{Limits: []LimitConfig{{Name: "l", Key: "ip", Rate: 10, Per: time.Second}}}
	l := newTestLimiter(t, cfg, clock)
	for i := 0; i < 500; i++ {
		req := with(alice, func(r *Request) {
			r.Subject, r.IP = "s"+string(rune('a'+i%26)), "10.0.0."+string(rune('0'+i%10))+string(rune('a'+i/10))
		})
		mustAllow(t, l, req)
		mustRecord(t, l, req, 1)
	}
	ms := l.st.(*memoryStore)
	if ms.size() == 0 {
		t.Fatal("nothing stored")
	}
	clock.advance(25 * time.Hour)
	ms.sweep()
	if n := ms.size(); n != 0 {
		t.Errorf("%d entries left after every window passed", n)
	}
}

func TestAllowIsOneRoundTrip(t *testing.T) {
	for _, sc := range storeCases() {
		if sc.name == "memory" {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			cfg := sc.base(t)
			cfg.Limits = []LimitConfig{
				{Name: "per-subject", Rate: 20, Per: time.Second, Burst: 40},
				{Name: "per-op", Key: "subject+operation", Rate: 100, Per: time.Minute},
				{Name: "per-client", Key: "subject+client", Rate: 1000, Per: time.Hour},
			}
			cfg.Quotas = []QuotaConfig{{Name: "export-per-day", Records: 10000, Window: 24 * time.Hour}}
			l := newTestLimiter(t, cfg, nil)
			mustAllow(t, l, alice) // loads the script
			h := &countingHook{}
			l.st.(*redisStore).c.AddHook(h)
			for i := 0; i < 5; i++ {
				mustAllow(t, l, alice)
			}
			if n := h.n.Load(); n != 5 {
				t.Errorf("5 Allow calls made %d round trips, want 5", n)
			}
			h.n.Store(0)
			mustRecord(t, l, alice, 3)
			if n := h.n.Load(); n != 1 {
				t.Errorf("Record made %d round trips, want 1", n)
			}
		})
	}
}

func TestScriptIsReloadedAfterFlush(t *testing.T) {
	p := startRedis(t)
	cfg := Config{Store: StoreRedis, Redis: RedisConfig{URL: "redis://" + p.addr(), ReadTimeout: time.Second}, Timeout: 5 * time.Second,
		Limits: []LimitConfig{{Name: "l", Rate: 10, Per: time.Hour}}}
	l := newTestLimiter(t, cfg, nil)
	mustAllow(t, l, alice)
	if err := l.st.(*redisStore).c.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if res := mustAllow(t, l, alice); !res.Allowed || res.Usage.Requests["1m"] != 2 {
		t.Errorf("after SCRIPT FLUSH: %+v", res)
	}
}

func TestRedisOutage(t *testing.T) {
	for _, mode := range []string{FailDeny, FailAllow} {
		t.Run("on_store_error "+mode, func(t *testing.T) {
			p := startRedis(t)
			core, logs := observer.New(zap.InfoLevel)
			reg := prometheus.NewRegistry()
			cfg := Config{Store: StoreRedis, OnStoreError: mode, Timeout: 2 * time.Second,
				Redis:  RedisConfig{URL: "redis://" + p.addr() + "/3", ReadTimeout: time.Second, DialTimeout: time.Second},
				Limits: []LimitConfig{{Name: "l", Rate: 100, Per: time.Hour}}}
			l, err := New(cfg, reg, zap.New(core))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			ctx := context.Background()
			if res := mustAllow(t, l, alice); !res.Allowed || res.StoreError != nil {
				t.Fatalf("before the outage: %+v", res)
			}
			if err := l.Ready(ctx); err != nil {
				t.Fatalf("Ready before the outage: %v", err)
			}

			p.kill()
			for i := 0; i < 20; i++ {
				res, err := l.Allow(ctx, alice)
				if res.StoreError == nil || err == nil {
					t.Fatalf("request %d during the outage: no store error", i)
				}
				if res.Allowed != (mode == FailAllow) {
					t.Fatalf("request %d during the outage: allowed=%v with on_store_error %s", i, res.Allowed, mode)
				}
				if mode == FailDeny && res.Headers.Get("Retry-After") == "" {
					t.Fatalf("refused without Retry-After")
				}
				if res.Usage.Requests != nil || res.RemainingRecords != -1 {
					t.Fatalf("usage or quota reported from a dead store: %+v", res)
				}
			}
			if err := l.Record(ctx, alice, 5); err == nil {
				t.Error("Record during the outage: no error")
			}
			if err := l.Ready(ctx); err == nil {
				t.Error("Ready during the outage: nil")
			}
			if n := logs.FilterMessage("rate limit store unavailable").Len(); n != 1 {
				t.Errorf("outage logged %d times, want once", n)
			}
			if got := metricValue(l.m.storeErrors.WithLabelValues("allow")); got != 20 {
				t.Errorf("store errors counted %v, want 20", got)
			}
			if got := metricValue(l.m.storeUp); got != 0 {
				t.Errorf("store_up = %v during the outage", got)
			}

			// A new server on the same port: the limiter recovers by itself.
			np, err := startRedisOn(t, p.port, t.TempDir(), false)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(np.kill)
			var res Result
			for i := 0; i < 50; i++ {
				if res, err = l.Allow(ctx, alice); err == nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil || !res.Allowed || res.StoreError != nil {
				t.Fatalf("after the restart: %+v, %v", res, err)
			}
			if err := l.Ready(ctx); err != nil {
				t.Errorf("Ready after the restart: %v", err)
			}
			if logs.FilterMessage("rate limit store recovered").Len() != 1 {
				t.Error("recovery not logged")
			}
			if got := metricValue(l.m.storeUp); got != 1 {
				t.Errorf("store_up = %v after recovery", got)
			}
		})
	}
}

func TestCallerCancellationIsNotAStoreOutage(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	cfg := Config{Store: StoreRedis, Redis: RedisConfig{URL: "redis://" + sharedRedis(t, redisSingle), KeyPrefix: uniquePrefix(t)},
		Limits: []LimitConfig{{Name: "l", Rate: 1, Per: time.Second}}}
	l, err := New(cfg, prometheus.NewRegistry(), zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := l.Allow(ctx, alice)
	if !errors.Is(err, context.Canceled) || res.Allowed {
		t.Errorf("Allow with a canceled context: allowed=%v err=%v", res.Allowed, err)
	}
	if err := l.Record(ctx, alice, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("Record with a canceled context: %v", err)
	}
	if logs.Len() != 0 || metricValue(l.m.storeUp) != 1 || metricValue(l.m.storeErrors.WithLabelValues("allow")) != 0 {
		t.Errorf("a canceled caller was taken for a store outage: %d log lines", logs.Len())
	}
}

func TestRedisUnreachableAtStart(t *testing.T) {
	cfg := Config{Store: StoreRedis, Redis: RedisConfig{URL: "redis://127.0.0.1:" + strconv.Itoa(freePort(t))},
		Limits: []LimitConfig{{Name: "l", Rate: 1, Per: time.Second}}}
	l, err := New(cfg, nil, zap.NewNop())
	if err != nil {
		t.Fatalf("New must not need the store: %v", err)
	}
	defer l.Close()
	res, err := l.Allow(context.Background(), alice)
	if err == nil || res.Allowed || !errors.Is(res.StoreError, err) {
		t.Errorf("Allow with no Redis: allowed=%v err=%v storeErr=%v", res.Allowed, err, res.StoreError)
	}
	if l.Ready(context.Background()) == nil {
		t.Error("Ready with no Redis: nil")
	}
}

func TestMetricsCountDecisionsByLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := Config{Limits: []LimitConfig{{Name: "per-subject", Rate: 2, Per: time.Hour}},
		PreAuth: PreAuthConfig{Disabled: true}} // its series are counted in preauth_test.go
	clock := newFakeClock()
	l, err := newLimiter(cfg, reg, zap.NewNop(), clock.now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 5; i++ {
		mustAllow(t, l, alice)
	}
	if got := metricValue(l.m.decisions.WithLabelValues("per-subject", "allowed")); got != 2 {
		t.Errorf("allowed = %v", got)
	}
	if got := metricValue(l.m.decisions.WithLabelValues("per-subject", "refused")); got != 3 {
		t.Errorf("refused = %v", got)
	}
	// A second limiter on the same registry shares the collectors.
	l2, err := newLimiter(cfg, reg, zap.NewNop(), clock.now)
	if err != nil {
		t.Fatalf("second limiter on one registry: %v", err)
	}
	l2.Close()
	if n, err := seriesCount(reg, "crmgw_ratelimit_decisions_total"); err != nil || n != 4 {
		t.Errorf("gathered %d decision series (%v)", n, err)
	}
}

func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func seriesCount(g prometheus.Gatherer, name string) (int, error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric()), nil
		}
	}
	return 0, nil
}

func TestUsageMarshalsAsThePolicyInputContract(t *testing.T) {
	u := Usage{Records: map[string]int64{"1h": 120, "24h": 3400}, Requests: map[string]int64{"1m": 12}}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"records":{"1h":120,"24h":3400},"requests":{"1m":12}}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}
