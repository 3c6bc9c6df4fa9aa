// Package jobstore keeps bulk job bindings (crm.JobStore) in Redis, so that
// every gateway replica answers a job's status, results, abort and delete
// for the subject that created it alone (docs/classification.md, "Bulk job
// lifecycle").
package jobstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmgw/crmgw/crm"
)

// Redis is a crm.JobStore on a go-redis client (single node, Sentinel or
// Cluster). Keys are <prefix>job:<upstream>:<kind>:<job id>, kept for ttl.
type Redis struct {
	c      redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewRedis returns a job store for one upstream.
func NewRedis(c redis.UniversalClient, prefix, upstream string, ttl time.Duration) *Redis {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return &Redis{c: c, prefix: prefix + "job:" + upstream + ":", ttl: ttl}
}

func (r *Redis) key(kind, jobID string) string { return r.prefix + kind + ":" + jobID }

// Bind implements crm.JobStore. SET NX: a job keeps the owner it was first
// bound to, whichever replica binds it again.
func (r *Redis) Bind(ctx context.Context, kind, jobID string, job crm.JobBinding) error {
	b, err := json.Marshal(job)
	if err != nil {
		return err
	}
	ok, err := r.c.SetNX(ctx, r.key(kind, jobID), b, r.ttl).Result()
	if err != nil || ok {
		return err
	}
	// Already bound: refresh the TTL only if it is the same owner.
	prev, found, err := r.Lookup(ctx, kind, jobID)
	if err != nil || !found || prev.Owner != job.Owner {
		return err
	}
	return r.c.Expire(ctx, r.key(kind, jobID), r.ttl).Err()
}

// Lookup implements crm.JobStore. A value that does not decode is an
// error (the request is then unknown), never an unbound job.
func (r *Redis) Lookup(ctx context.Context, kind, jobID string) (crm.JobBinding, bool, error) {
	b, err := r.c.Get(ctx, r.key(kind, jobID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return crm.JobBinding{}, false, nil
	}
	if err != nil {
		return crm.JobBinding{}, false, err
	}
	var job crm.JobBinding
	if err := json.Unmarshal(b, &job); err != nil || job.Owner == "" {
		return crm.JobBinding{}, false, errors.New("jobstore: malformed binding")
	}
	return job, true, nil
}
