package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// benchConfig is a realistic request: three limits and one quota apply.
func benchConfig(base Config) Config {
	base.Limits = []LimitConfig{
		{Name: "per-subject", Rate: 1_000_000, Per: time.Second},
		{Name: "per-op", Key: "subject+operation", Rate: 1_000_000, Per: time.Second},
		{Name: "per-ip", Key: "ip", Rate: 1_000_000, Per: time.Second},
	}
	base.Quotas = []QuotaConfig{{Name: "export-per-day", Records: 1 << 40, Window: 24 * time.Hour}}
	return base
}

func benchStores(b *testing.B) map[string]Config {
	out := map[string]Config{"memory": {Store: StoreMemory}}
	requireRedis(b)
	out["redis"] = Config{Store: StoreRedis, Timeout: 5 * time.Second,
		Redis: RedisConfig{URL: "redis://" + sharedRedis(b, redisSingle), KeyPrefix: uniquePrefix(b), ReadTimeout: time.Second}}
	return out
}

func BenchmarkAllow(b *testing.B) {
	for _, name := range []string{"memory", "redis"} {
		stores := benchStores(b)
		b.Run(name, func(b *testing.B) {
			l, err := New(benchConfig(stores[name]), nil, zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			req := Request{Subject: "alice", IP: "10.0.0.1", Upstream: "salesforce", Operation: "bulk_result", Category: "export"}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if res, err := l.Allow(ctx, req); err != nil || !res.Allowed {
					b.Fatalf("%+v %v", res, err)
				}
			}
		})
		b.Run(name+"/parallel-1000-subjects", func(b *testing.B) {
			l, err := New(benchConfig(stores[name]), nil, zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			var seq atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					n := seq.Add(1) % 1000
					req := Request{Subject: "user" + strconv.FormatInt(n, 10), IP: "10.0.0.1", Upstream: "salesforce", Operation: "query", Category: "export"}
					if _, err := l.Allow(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkRecord(b *testing.B) {
	for name, cfg := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			l, err := New(benchConfig(cfg), nil, zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			req := Request{Subject: "alice", Operation: "bulk_result", Category: "export"}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Record(ctx, req, 200); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReserveSettle is what a request a quota applies to adds to
// Allow: one reservation (quota and export cursor) before it is forwarded,
// one settlement of 200 delivered records after.
func BenchmarkReserveSettle(b *testing.B) {
	for name, cfg := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			l, err := New(benchConfig(cfg), nil, zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			req := Request{Subject: "alice", Operation: "bulk_result", Category: "export"}
			cur := &Cursor{ID: "salesforce|job:750R0000000zlh9IAA", Limit: 1 << 40, TTL: time.Hour}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				r, err := l.Reserve(ctx, req, 2000, cur)
				if err != nil || r.Granted != 2000 {
					b.Fatalf("%+v %v", r, err)
				}
				if err := l.Settle(ctx, &r, 200); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// zsetWindow is the alternative to bucketed counters that the design
// weighed: a sorted set holding every event of the window (one member per
// request; a record count would need the count in the member and a full
// ZRANGE to sum it).
var zsetWindow = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local seq = redis.call('INCR', KEYS[1] .. ':seq')
redis.call('ZADD', KEYS[1], now, string.format('%d', seq))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) / 1000))
return redis.call('ZCARD', KEYS[1])
`)

// BenchmarkUsageWindowOnRedis counts one request into a 1h sliding window
// and reads the count, with 20,000 requests already in the window; it
// reports the key's memory.
func BenchmarkUsageWindowOnRedis(b *testing.B) {
	requireRedis(b)
	c := redis.NewClient(&redis.Options{Addr: sharedRedis(b, redisSingle)})
	defer c.Close()
	ctx := context.Background()
	const prefill = 20_000
	hour := time.Hour.Microseconds()
	memory := func(b *testing.B, key string) {
		n, err := c.MemoryUsage(ctx, key).Result()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n), "key-bytes")
	}
	b.Run("buckets-hash", func(b *testing.B) {
		key := uniquePrefix(b) + "{s:a}:u"
		bt := &batch{}
		bt.add(op{kind: opCount, key: key, p1: hour, p2: time.Minute.Microseconds(), p3: 1, p4: 1})
		keys, args := encode(bt, nil)
		for i := 0; i < prefill; i++ {
			if err := redisScript.Run(ctx, c, keys, args...).Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for b.Loop() {
			if err := redisScript.Run(ctx, c, keys, args...).Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		memory(b, key)
	})
	b.Run("sorted-set", func(b *testing.B) {
		key := uniquePrefix(b) + "{s:a}:z"
		for i := 0; i < prefill; i++ {
			if err := zsetWindow.Run(ctx, c, []string{key}, hour).Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for b.Loop() {
			if err := zsetWindow.Run(ctx, c, []string{key}, hour).Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		memory(b, key)
	})
}

// BenchmarkAllowStoreDown compares Allow with Redis down (a port nothing
// listens on) under on_store_error: allow, where the circuit breaker
// decides without calling Redis, with the memory store: the fail-open path
// should cost about what a healthy memory store does.
func BenchmarkAllowStoreDown(b *testing.B) {
	down := Config{Store: StoreRedis, OnStoreError: FailAllow,
		Redis: RedisConfig{URL: "redis://127.0.0.1:" + strconv.Itoa(freePort(b)) + "/0"}}
	noBreaker := down
	noBreaker.Breaker.Failures = -1
	for name, cfg := range map[string]Config{"memory": {Store: StoreMemory}, "redis-down-fail-open": down,
		"redis-down-fail-open-without-breaker": noBreaker} {
		b.Run(name, func(b *testing.B) {
			l, err := New(benchConfig(cfg), nil, zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			req := Request{Subject: "alice", IP: "10.0.0.1", Upstream: "salesforce", Operation: "query", Category: "read"}
			ctx := context.Background()
			for range 5 { // open the breaker
				l.Allow(ctx, req)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if res, _ := l.Allow(ctx, req); !res.Allowed {
					b.Fatalf("%+v", res)
				}
			}
		})
	}
}
