package ratelimit

import (
	"context"
	"testing"
)

// SharedRedis hands out the redis store's own client (with its key
// prefix), and nothing for the memory store.
func TestSharedRedis(t *testing.T) {
	if c, _ := newTestLimiter(t, Config{Store: StoreMemory}, nil).SharedRedis(); c != nil {
		t.Error("memory store has a Redis client")
	}
	cfg := Config{Store: StoreRedis, Redis: RedisConfig{URL: "redis://" + sharedRedis(t, redisSingle) + "/0", KeyPrefix: "shared-test:"}}
	c, prefix := newTestLimiter(t, cfg, nil).SharedRedis()
	if c == nil || prefix != "shared-test:" {
		t.Fatalf("SharedRedis = %v, %q", c, prefix)
	}
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Errorf("ping through the shared client: %v", err)
	}
}
