package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// exporter is a request a record quota applies to.
var exporter = Request{Subject: "bob", IP: "10.0.0.2", Upstream: "salesforce", Operation: "bulk_result", Category: "export"}

func mustReserve(t *testing.T, l *Limiter, req Request, want int64, cur *Cursor) *Reservation {
	t.Helper()
	r, err := l.Reserve(context.Background(), req, want, cur)
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	return &r
}

func mustSettle(t *testing.T, l *Limiter, r *Reservation, n int64) {
	t.Helper()
	if err := l.Settle(context.Background(), r, n); err != nil {
		t.Fatalf("Settle: %v", err)
	}
}

// How a caller would get around a quota, and what stops it:
//   - many requests at once, each seeing the whole room left: the room is
//     reserved atomically, so the grants add up to at most the quota;
//   - a request that asks for little and delivers much: the response is
//     cut at the grant (the proxy's job), and an overrun reported to
//     Settle is counted all the same;
//   - requests spread over replicas: the grant is taken in the shared store;
//   - a replica that dies mid-response: its reservation stays counted.
func TestReserve(t *testing.T) {
	for _, sc := range storeCases() {
		t.Run(sc.name, func(t *testing.T) {
			quota := func(t *testing.T, records int64) Config {
				cfg := sc.base(t)
				cfg.Quotas = []QuotaConfig{{Name: "export-per-day", Records: records, Window: 24 * time.Hour, Categories: []string{"export"}}}
				return cfg
			}

			t.Run("concurrent reservations never grant more than the quota", func(t *testing.T) {
				l := newTestLimiter(t, quota(t, 300), nil)
				var granted atomic.Int64
				var refused atomic.Int64
				var wg sync.WaitGroup
				for g := 0; g < 10; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r, err := l.Reserve(context.Background(), exporter, 120, nil)
						if err != nil {
							t.Error(err)
							return
						}
						if r.Granted == 0 {
							refused.Add(1)
						}
						granted.Add(r.Granted)
						// Every granted record is delivered.
						if err := l.Settle(context.Background(), &r, r.Granted); err != nil {
							t.Error(err)
						}
					}()
				}
				wg.Wait()
				if g := granted.Load(); g != 300 {
					t.Errorf("10 concurrent reservations of 120 against 300 granted %d in total, want exactly 300", g)
				}
				if refused.Load() < 7 {
					t.Errorf("%d reservations refused, want at least 7 (300 = 120+120+60)", refused.Load())
				}
				if r := mustReserve(t, l, exporter, 1, nil); r.Granted != 0 || r.Limit != "export-per-day" || r.RetryAfter <= 0 {
					t.Errorf("after the quota is used: %+v, want refused by export-per-day with a retry time", r)
				}
			})

			t.Run("the unused part of a reservation is given back", func(t *testing.T) {
				l := newTestLimiter(t, quota(t, 300), nil)
				r := mustReserve(t, l, exporter, 120, nil)
				if r.Granted != 120 {
					t.Fatalf("granted %d, want 120", r.Granted)
				}
				// While it is held, others see 180 left.
				if res := mustAllow(t, l, exporter); res.RemainingRecords != 180 {
					t.Errorf("remaining during the reservation %d, want 180", res.RemainingRecords)
				}
				mustSettle(t, l, r, 20)
				if res := mustAllow(t, l, exporter); res.RemainingRecords != 280 {
					t.Errorf("remaining after settling 20 of 120: %d, want 280", res.RemainingRecords)
				}
				// A request of unknown size reserves all that is left.
				all := mustReserve(t, l, exporter, 0, nil)
				if all.Granted != 280 {
					t.Errorf("unknown-size reservation granted %d, want the 280 left", all.Granted)
				}
				mustSettle(t, l, all, 0)
				if res := mustAllow(t, l, exporter); res.RemainingRecords != 280 {
					t.Errorf("remaining after settling 0: %d, want 280", res.RemainingRecords)
				}
			})

			t.Run("usage counts what was delivered, not what was reserved", func(t *testing.T) {
				l := newTestLimiter(t, quota(t, 300), nil)
				r := mustReserve(t, l, exporter, 100, nil)
				mustSettle(t, l, r, 7)
				if res := mustAllow(t, l, exporter); res.Usage.Records["24h"] != 7 {
					t.Errorf("usage records %d, want 7", res.Usage.Records["24h"])
				}
			})

			t.Run("an overrun reported to Settle is counted", func(t *testing.T) {
				l := newTestLimiter(t, quota(t, 300), nil)
				r := mustReserve(t, l, exporter, 100, nil)
				mustSettle(t, l, r, 150)
				if res := mustAllow(t, l, exporter); res.RemainingRecords != 150 {
					t.Errorf("remaining %d, want 150", res.RemainingRecords)
				}
			})

			t.Run("reserve_max bounds every reservation", func(t *testing.T) {
				cfg := quota(t, 300)
				cfg.ReserveMax = 50
				l := newTestLimiter(t, cfg, nil)
				if r := mustReserve(t, l, exporter, 0, nil); r.Granted != 50 {
					t.Errorf("granted %d, want reserve_max 50", r.Granted)
				}
				if r := mustReserve(t, l, exporter, 30, nil); r.Granted != 30 {
					t.Errorf("a request with its own cap of 30 granted %d, want 30", r.Granted)
				}
				if r := mustReserve(t, l, exporter, 80, nil); r.Granted != 50 {
					t.Errorf("a request with its own cap of 80 granted %d, want reserve_max 50", r.Granted)
				}
			})

			t.Run("no quota applies: not capped, no store call needed", func(t *testing.T) {
				l := newTestLimiter(t, quota(t, 300), nil)
				read := with(exporter, func(r *Request) { r.Category = "read" })
				if r := mustReserve(t, l, read, 10, nil); r.Granted != -1 {
					t.Errorf("granted %d, want -1 (no quota)", r.Granted)
				}
			})

			t.Run("a cursor's pages together stay within its limit", func(t *testing.T) {
				l := newTestLimiter(t, quota(t, 1_000_000), nil)
				cur := &Cursor{ID: "sfq:01gD0000002HU6KIAW", Limit: 2000, TTL: time.Hour}
				// The first page (2000 records) was delivered before the
				// cursor was known.
				if err := l.CountCursor(context.Background(), exporter.Subject, *cur, 2000); err != nil {
					t.Fatal(err)
				}
				r := mustReserve(t, l, exporter, 0, cur)
				if r.Granted != 0 || r.Limit != "max_records" {
					t.Errorf("second page: %+v, want refused by max_records", r)
				}
				// Another cursor of the same subject is not affected; another
				// subject's cursor of the same id neither.
				if r := mustReserve(t, l, exporter, 0, &Cursor{ID: "sfq:other", Limit: 2000, TTL: time.Hour}); r.Granted != 2000 {
					t.Errorf("another cursor granted %d, want 2000", r.Granted)
				}
				carol := with(exporter, func(r *Request) { r.Subject = "carol" })
				if r := mustReserve(t, l, carol, 0, cur); r.Granted != 2000 {
					t.Errorf("another subject's cursor granted %d, want 2000", r.Granted)
				}
			})

			t.Run("concurrent pages of one cursor share its limit", func(t *testing.T) {
				l := newTestLimiter(t, sc.base(t), nil) // no quota at all
				cur := &Cursor{ID: "sfjob:750R0000000zlh9IAA", Limit: 2000, TTL: time.Hour}
				var granted atomic.Int64
				var wg sync.WaitGroup
				for g := 0; g < 8; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r, err := l.Reserve(context.Background(), exporter, 1000, cur)
						if err != nil {
							t.Error(err)
							return
						}
						granted.Add(r.Granted)
						_ = l.Settle(context.Background(), &r, r.Granted)
					}()
				}
				wg.Wait()
				if g := granted.Load(); g != 2000 {
					t.Errorf("8 concurrent pages granted %d, want the cursor's 2000", g)
				}
			})

			t.Run("the smallest of quota, cursor and cap is granted, and each gets its unused part back", func(t *testing.T) {
				l := newTestLimiter(t, quota(t, 300), nil)
				cur := &Cursor{ID: "zbulk:1", Limit: 250, TTL: time.Hour}
				r := mustReserve(t, l, exporter, 1000, cur)
				if r.Granted != 250 {
					t.Fatalf("granted %d, want the cursor's 250", r.Granted)
				}
				mustSettle(t, l, r, 100)
				r = mustReserve(t, l, exporter, 1000, cur)
				if r.Granted != 150 {
					t.Errorf("second reservation granted %d, want 150 left on the cursor", r.Granted)
				}
				mustSettle(t, l, r, 150)
				if res := mustAllow(t, l, exporter); res.RemainingRecords != 50 {
					t.Errorf("quota remaining %d, want 50", res.RemainingRecords)
				}
			})

			t.Run("a refused reservation takes nothing", func(t *testing.T) {
				l := newTestLimiter(t, quota(t, 300), nil)
				cur := &Cursor{ID: "sfq:full", Limit: 10, TTL: time.Hour}
				if err := l.CountCursor(context.Background(), exporter.Subject, *cur, 10); err != nil {
					t.Fatal(err)
				}
				if r := mustReserve(t, l, exporter, 100, cur); r.Granted != 0 {
					t.Fatalf("granted %d from a full cursor", r.Granted)
				}
				if res := mustAllow(t, l, exporter); res.RemainingRecords != 300 {
					t.Errorf("quota remaining %d after a refused reservation, want 300", res.RemainingRecords)
				}
			})
		})
	}
}

// TestReservationSurvivesACrash: a process that reserved and died before
// Settle leaves its reservation counted (fail closed) — another replica
// sees it — until the quota's window lets it go.
func TestReservationSurvivesACrash(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		cfg := storeCases()[1].base(t)
		cfg.Quotas = []QuotaConfig{{Name: "q", Records: 300, Window: time.Hour, Categories: []string{"export"}}}
		crashed := newTestLimiter(t, cfg, nil)
		if r := mustReserve(t, crashed, exporter, 120, nil); r.Granted != 120 {
			t.Fatalf("granted %d", r.Granted)
		}
		_ = crashed.Close() // never settles
		other := newTestLimiter(t, cfg, nil)
		if r := mustReserve(t, other, exporter, 0, nil); r.Granted != 180 {
			t.Errorf("the other replica was granted %d, want 180 (the crashed reservation still counted)", r.Granted)
		}
	})
	t.Run("memory, until the window passes", func(t *testing.T) {
		clock := newFakeClock()
		cfg := Config{Store: StoreMemory, Quotas: []QuotaConfig{{Name: "q", Records: 300, Window: time.Hour, Categories: []string{"export"}}}}
		l := newTestLimiter(t, cfg, clock)
		mustReserve(t, l, exporter, 300, nil) // never settled
		if r := mustReserve(t, l, exporter, 1, nil); r.Granted != 0 {
			t.Fatalf("granted %d while the unsettled reservation holds the quota", r.Granted)
		}
		clock.advance(time.Hour + time.Minute)
		if r := mustReserve(t, l, exporter, 0, nil); r.Granted != 300 {
			t.Errorf("after the window granted %d, want 300", r.Granted)
		}
	})
}

func TestReserveWhileTheStoreIsDown(t *testing.T) {
	for _, mode := range []string{FailDeny, FailAllow} {
		t.Run(mode, func(t *testing.T) {
			p := startRedis(t)
			cfg := Config{Store: StoreRedis, OnStoreError: mode, Timeout: time.Second,
				Redis:  RedisConfig{URL: "redis://" + p.addr() + "/0", ReadTimeout: 500 * time.Millisecond, DialTimeout: 500 * time.Millisecond},
				Quotas: []QuotaConfig{{Name: "q", Records: 300, Window: time.Hour}}}
			l := newTestLimiter(t, cfg, nil)
			p.kill()
			r, err := l.Reserve(context.Background(), exporter, 10, &Cursor{ID: "c", Limit: 10, TTL: time.Hour})
			if err == nil {
				t.Fatal("no error from a dead store")
			}
			want := int64(0)
			if mode == FailAllow {
				want = -1
			}
			if r.Granted != want {
				t.Errorf("granted %d with on_store_error %s, want %d", r.Granted, mode, want)
			}
			if err := l.Settle(context.Background(), &r, 5); err == nil {
				t.Error("Settle on a dead store: no error")
			}
		})
	}
}

func TestReserveMaxValidated(t *testing.T) {
	cfg := Config{ReserveMax: -1}
	cfg.SetDefaults()
	if err := cfg.Validate(); err == nil {
		t.Error("negative reserve_max accepted")
	}
}
