package approval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps requests and subject states in Redis, shared by every
// replica and kept across restarts. All keys share one hash tag, so the
// transactions that touch several keys work on Redis Cluster too; the
// volume (a request per approval, a hash of subjects) is small.
//
// Keys under the prefix: req:<id> (the request as JSON, kept Retention),
// open:<subject hash>:<fingerprint> (the id of the subject's current
// request for that action), ids (a sorted set of ids by creation time),
// subjects (a hash of subject → state as JSON).
type RedisStore struct {
	c         redis.UniversalClient
	prefix    string
	retention time.Duration
	owned     bool
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore uses c (which it does not close unless owned) with keys
// under "crmgw:{approvals}:"; requests are kept retention (default 30 days).
func NewRedisStore(c redis.UniversalClient, retention time.Duration, owned bool) *RedisStore {
	return NewRedisStorePrefix(c, "crmgw:{approvals}:", retention, owned)
}

// NewRedisStorePrefix is NewRedisStore with another key prefix (tests
// sharing a server); the prefix should hold a {hash tag} for Cluster.
func NewRedisStorePrefix(c redis.UniversalClient, prefix string, retention time.Duration, owned bool) *RedisStore {
	if retention <= 0 {
		retention = 30 * 24 * time.Hour
	}
	return &RedisStore{c: c, prefix: prefix, retention: retention, owned: owned}
}

func (s *RedisStore) reqKey(id string) string { return s.prefix + "req:" + id }

// maxTries bounds the optimistic transactions' retries under contention.
const maxTries = 50

func decode(raw []byte) (*Request, error) {
	var r Request
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("approval: stored request is not valid: %w", err)
	}
	return &r, nil
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, id string) (*Request, error) {
	if id == "" || len(id) > 64 {
		return nil, ErrNotFound
	}
	raw, err := s.c.Get(ctx, s.reqKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decode(raw)
}

// Update implements Store, in a WATCH/MULTI transaction retried when
// another replica changed the request in between.
func (s *RedisStore) Update(ctx context.Context, id string, fn func(*Request) error) (*Request, error) {
	if id == "" || len(id) > 64 {
		return nil, ErrNotFound
	}
	key := s.reqKey(id)
	var out *Request
	for range maxTries {
		err := s.c.Watch(ctx, func(tx *redis.Tx) error {
			raw, err := tx.Get(ctx, key).Bytes()
			if errors.Is(err, redis.Nil) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			r, err := decode(raw)
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, b, redis.KeepTTL)
				return nil
			})
			out = r
			return err
		}, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	return nil, errors.New("approval: request changed too often to update")
}

// Open implements Store.
func (s *RedisStore) Open(ctx context.Context, key string, keep func(*Request) (bool, bool), fresh *Request) (*Request, bool, error) {
	okey := s.prefix + "open:" + key
	for range maxTries {
		var out *Request
		var created bool
		err := s.c.Watch(ctx, func(tx *redis.Tx) error {
			id, err := tx.Get(ctx, okey).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			var changedOld []byte
			if id != "" {
				raw, err := tx.Get(ctx, s.reqKey(id)).Bytes()
				if err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
				if err == nil {
					// Watched after reading the pointer: a change to the
					// request between the two reads fails the transaction.
					if err := tx.Watch(ctx, s.reqKey(id)).Err(); err != nil {
						return err
					}
					old, err := decode(raw)
					if err != nil {
						return err
					}
					k, changed := keep(old)
					if changed {
						if changedOld, err = json.Marshal(old); err != nil {
							return err
						}
					}
					if k {
						out = old
					}
				}
			}
			if out == nil && fresh != nil {
				b, err := json.Marshal(fresh)
				if err != nil {
					return err
				}
				_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
					if changedOld != nil {
						p.Set(ctx, s.reqKey(id), changedOld, redis.KeepTTL)
					}
					p.Set(ctx, s.reqKey(fresh.ID), b, s.retention)
					p.Set(ctx, okey, fresh.ID, s.retention)
					p.ZAdd(ctx, s.prefix+"ids", redis.Z{Score: float64(fresh.Created.UnixMilli()), Member: fresh.ID})
					p.ZRemRangeByScore(ctx, s.prefix+"ids", "-inf", fmt.Sprint(time.Now().Add(-s.retention).UnixMilli()))
					return nil
				})
				if err == nil {
					out, created = fresh, true
				}
				return err
			}
			if changedOld != nil {
				_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.Set(ctx, s.reqKey(id), changedOld, redis.KeepTTL)
					return nil
				})
				return err
			}
			return nil
		}, okey)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return out, created, nil
	}
	return nil, false, errors.New("approval: request changed too often to open")
}

// List implements Store.
func (s *RedisStore) List(ctx context.Context, limit int) ([]*Request, error) {
	ids, err := s.c.ZRevRange(ctx, s.prefix+"ids", 0, int64(limit-1)).Result()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.reqKey(id)
	}
	vals, err := s.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]*Request, 0, len(vals))
	for _, v := range vals {
		raw, ok := v.(string)
		if !ok {
			continue // expired since
		}
		r, err := decode([]byte(raw))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sortNewest(out)
	return out, nil
}

// Subjects implements Store.
func (s *RedisStore) Subjects(ctx context.Context) (map[string]SubjectState, error) {
	all, err := s.c.HGetAll(ctx, s.prefix+"subjects").Result()
	if err != nil || len(all) == 0 {
		return nil, err
	}
	out := make(map[string]SubjectState, len(all))
	for k, v := range all {
		var st SubjectState
		if err := json.Unmarshal([]byte(v), &st); err != nil {
			// A state that cannot be read is taken as a freeze: unknown
			// means deny.
			st = SubjectState{Frozen: true, Reason: "subject state unreadable"}
		}
		out[k] = st
	}
	return out, nil
}

// UpdateSubject implements Store.
func (s *RedisStore) UpdateSubject(ctx context.Context, subject string, fn func(*SubjectState)) error {
	key := s.prefix + "subjects"
	for range maxTries {
		err := s.c.Watch(ctx, func(tx *redis.Tx) error {
			var st SubjectState
			raw, err := tx.HGet(ctx, key, subject).Bytes()
			switch {
			case errors.Is(err, redis.Nil):
			case err != nil:
				return err
			default:
				if err := json.Unmarshal(raw, &st); err != nil {
					st = SubjectState{}
				}
			}
			fn(&st)
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				if st.zero() {
					p.HDel(ctx, key, subject)
					return nil
				}
				b, err := json.Marshal(st)
				if err != nil {
					return err
				}
				p.HSet(ctx, key, subject, b)
				return nil
			})
			return err
		}, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		return err
	}
	return errors.New("approval: subject state changed too often to update")
}

// Ping implements Store.
func (s *RedisStore) Ping(ctx context.Context) error { return s.c.Ping(ctx).Err() }

// Close implements Store.
func (s *RedisStore) Close() error {
	if s.owned {
		return s.c.Close()
	}
	return nil
}
