package ratelimit

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkPreAuth is the check every request pays before authentication:
// per-address and global limits and the failure budget, one store round
// trip, from 256 addresses.
func BenchmarkPreAuth(b *testing.B) {
	for _, name := range []string{"memory", "redis"} {
		stores := benchStores(b)
		b.Run(name, func(b *testing.B) {
			cfg := stores[name]
			cfg.PreAuth = PreAuthConfig{
				PerIP:  PreAuthLimit{Rate: 1_000_000, Per: time.Second},
				Global: PreAuthLimit{Rate: 1_000_000, Per: time.Second},
			}
			l, err := New(cfg, nil, zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			var ips [256]netip.Addr
			for i := range ips {
				ips[i] = netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
			}
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if r, err := l.PreAuth(ctx, ips[i&255]); err != nil || !r.Allowed {
					b.Fatalf("%+v %v", r, err)
				}
				i++
			}
		})
	}
}
