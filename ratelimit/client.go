package ratelimit

import "github.com/redis/go-redis/v9"

// NewRedisClient builds a client for the Redis deployment cfg.Redis
// describes (single node, Sentinel or Cluster, with its TLS), for other
// state that must live in the same store as the limits (approvals, frozen
// subjects). The caller closes it. Only for cfg.Store == "redis".
func NewRedisClient(cfg Config) (redis.UniversalClient, error) {
	rs, err := newRedisStore(cfg.Redis, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	return rs.c, nil
}
