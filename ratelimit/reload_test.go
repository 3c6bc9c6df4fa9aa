package ratelimit

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A reload replaces limits, quotas, reserve_max and the pre-authentication
// limits at once; what was prepared applies only once installed; a limit
// that keeps its name keeps its state; a reservation taken before the
// reload settles after it.
func TestPrepareReplacesRules(t *testing.T) {
	for _, sc := range storeCases()[:2] { // memory and a real Redis
		t.Run(sc.name, func(t *testing.T) {
			base := sc.base(t)
			cfg := base
			cfg.Limits = []LimitConfig{{Name: "per-subject", Rate: 100, Per: time.Second, Burst: 100}}
			cfg.Quotas = []QuotaConfig{{Name: "export-per-day", Records: 1000, Window: 24 * time.Hour, Categories: []string{"export"}}}
			clock := newFakeClock()
			l := newTestLimiter(t, cfg, clock)
			alice := Request{Subject: "alice", IP: "10.0.0.1", Operation: "query", Category: "read"}
			for i := 0; i < 5; i++ {
				if res := mustAllow(t, l, alice); !res.Allowed {
					t.Fatalf("request %d refused before the reload: %+v", i, res)
				}
			}
			held := mustReserve(t, l, exporter, 400, nil)
			if held.Granted != 400 {
				t.Fatalf("reserved %d, want 400", held.Granted)
			}

			next := base
			next.Limits = []LimitConfig{
				{Name: "per-subject", Rate: 1, Per: time.Minute, Burst: 2},
				{Name: "per-ip", Key: "ip", Rate: 1000, Per: time.Second, Burst: 1000},
			}
			next.Quotas = []QuotaConfig{{Name: "export-per-day", Records: 500, Window: 24 * time.Hour, Categories: []string{"export"}}}
			next.ReserveMax = 30
			next.PreAuth.PerIP = PreAuthLimit{Rate: 1, Per: time.Minute, Burst: 1}
			install, err := l.Prepare(next)
			if err != nil {
				t.Fatal(err)
			}
			if res := mustAllow(t, l, alice); !res.Allowed || !strings.Contains(res.Headers.Policy, `"per-subject";q=100`) {
				t.Fatalf("prepared rules applied before install: %+v", res)
			}
			install()

			res := mustAllow(t, l, alice)
			if got := res.Headers.Policy; got != `"per-subject";q=2;w=60, "per-ip";q=1000;w=1` {
				t.Errorf("RateLimit-Policy after the reload = %q", got)
			}
			refused := 0
			for i := 0; i < 4; i++ {
				if r := mustAllow(t, l, alice); !r.Allowed {
					refused++
					if r.Limit != "per-subject" {
						t.Errorf("refused by %q, want per-subject", r.Limit)
					}
				}
			}
			if refused == 0 {
				t.Error("the lowered per-subject limit never refused")
			}
			// The quota: 400 of the new 500 are held by the reservation
			// taken before the reload, and reserve_max caps what one asks.
			r2 := mustReserve(t, l, exporter, 0, nil)
			if r2.Granted != 30 {
				t.Errorf("reservation after the reload: %d, want reserve_max 30", r2.Granted)
			}
			mustSettle(t, l, held, 100) // settles the pre-reload reservation: 300 back
			mustSettle(t, l, r2, 30)
			if res := mustAllow(t, l, exporter); res.RemainingRecords != 500-130 {
				t.Errorf("remaining records %d, want 370 (500 - 100 - 30)", res.RemainingRecords)
			}
			// Pre-authentication: one request per minute from an address now.
			if r := mustPreAuth(t, l, "203.0.113.9"); !r.Allowed {
				t.Fatalf("first pre-auth request refused: %+v", r)
			}
			if r := mustPreAuth(t, l, "203.0.113.9"); r.Allowed || r.Limit != LimitPreAuthIP {
				t.Errorf("second pre-auth request within the new per_ip limit: %+v", r)
			}
		})
	}
}

// A configuration that does not validate is refused; the rules in force
// stay.
func TestPrepareRefusesInvalidRules(t *testing.T) {
	l := newTestLimiter(t, Config{Store: StoreMemory, Limits: []LimitConfig{{Name: "per-subject", Rate: 10, Per: time.Second}}}, nil)
	for name, cfg := range map[string]Config{
		"zero rate":       {Store: StoreMemory, Limits: []LimitConfig{{Name: "per-subject", Rate: 0, Per: time.Second}}},
		"unknown key":     {Store: StoreMemory, Limits: []LimitConfig{{Name: "x", Key: "tenant", Rate: 1, Per: time.Second}}},
		"reserved name":   {Store: StoreMemory, Limits: []LimitConfig{{Name: LimitPreAuthIP, Rate: 1, Per: time.Second}}},
		"negative quota":  {Store: StoreMemory, Quotas: []QuotaConfig{{Name: "q", Records: -1, Window: time.Hour}}},
		"bad reserve_max": {Store: StoreMemory, ReserveMax: -1},
	} {
		if install, err := l.Prepare(cfg); err == nil || install != nil {
			t.Errorf("%s: accepted", name)
		}
	}
	res := mustAllow(t, l, Request{Subject: "alice"})
	if res.Headers.Policy != `"per-subject";q=10;w=1` {
		t.Errorf("rules after refused reloads: %q", res.Headers.Policy)
	}
}

// Allow, Reserve and PreAuth while rules are swapped: each call uses one
// whole set (run with -race).
func TestPrepareWhileDeciding(t *testing.T) {
	mk := func(rate int) Config {
		return Config{Store: StoreMemory,
			Limits: []LimitConfig{{Name: "per-subject", Rate: rate, Per: time.Second, Burst: 1 << 20}},
			Quotas: []QuotaConfig{{Name: "q", Records: 1 << 40, Window: time.Hour, Categories: []string{"export"}}}}
	}
	l := newTestLimiter(t, mk(1000), nil)
	var stop atomic.Bool
	var refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := exporter
			req.Subject = string(rune('a' + g))
			for !stop.Load() {
				res, err := l.Allow(context.Background(), req)
				if err != nil || !res.Allowed {
					refused.Add(1)
				}
				r, err := l.Reserve(context.Background(), req, 10, nil)
				if err != nil || r.Granted != 10 {
					refused.Add(1)
				}
				_ = l.Settle(context.Background(), &r, 10)
			}
		}()
	}
	for i := range 200 {
		install, err := l.Prepare(mk(1000 + i%2))
		if err != nil {
			t.Fatal(err)
		}
		install()
	}
	stop.Store(true)
	wg.Wait()
	if n := refused.Load(); n > 0 {
		t.Errorf("%d calls refused under limits that never refuse", n)
	}
}
