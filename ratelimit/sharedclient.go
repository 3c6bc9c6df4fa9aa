package ratelimit

import "github.com/redis/go-redis/v9"

// SharedRedis returns the Redis client of a redis store and its key prefix,
// for other shared state that lives next to the limits (bulk job bindings:
// docs/classification.md); nil for the memory store. The client belongs
// to the Limiter: Close closes it.
func (l *Limiter) SharedRedis() (redis.UniversalClient, string) {
	if rs, ok := l.st.(*redisStore); ok {
		return rs.c, l.prefix
	}
	return nil, ""
}
