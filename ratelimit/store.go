package ratelimit

import (
	"context"
	"slices"
	"sync"
	"time"
)

// opKind says what one operation of a batch does. Both stores run the same
// batch with the same semantics: the memory store in Go, the redis store in
// one Lua script (redisScript) — keep the two in step.
type opKind byte

const (
	// opGCRA checks (and, if the whole batch is allowed, takes) one request
	// from a GCRA limit: p1 = emission interval µs, p2 = burst tolerance µs
	// (emission interval × burst).
	// Result: v0 = 1 allowed / 0 refused, v1 = remaining, v2 = retry after
	// µs, v3 = reset after µs.
	opGCRA opKind = 'g'
	// opQuota checks a bucketed sliding-window counter against a limit:
	// p1 = window µs, p2 = bucket µs, p3 = limit.
	// Result: v0 = used, v1 = retry after µs when used >= limit.
	opQuota opKind = 'q'
	// opCount adds p3 to a bucketed sliding-window counter (p1 = window µs,
	// p2 = bucket µs) and, if p4 = 1, reads the sum over the window.
	// Result: v0 = sum.
	opCount opKind = 'c'
	// opReserve reserves records from a bucketed sliding-window quota:
	// p1 = window µs, p2 = bucket µs, p3 = limit, p4 = wanted. Every
	// reserving op of a batch (opReserve, opCapReserve) takes the same
	// grant: the smallest of p4 and each one's room left; if any has no
	// room, the batch is refused and nothing is taken.
	// Result: v0 = used, v1 = retry after µs when used >= limit, v2 =
	// granted, v3 = the bucket index the grant was added to.
	opReserve opKind = 'r'
	// opCapReserve reserves records from a plain counter that lives ttl
	// after its last change (an export cursor's total): p1 = ttl µs,
	// p3 = limit, p4 = wanted. Result: v0 = used, v2 = granted.
	opCapReserve opKind = 'k'
	// opRefund adds p3 (negative: gives back) to bucket p4 of a sliding
	// window (p1 = window µs, p2 = bucket µs), if that bucket is still in
	// the window; a bucket that falls to 0 or below is removed.
	opRefund opKind = 'x'
	// opCapAdd adds p3 (negative: gives back) to a plain counter and keeps
	// it p1 µs; a counter at 0 or below is removed.
	opCapAdd opKind = 'a'
)

// op is one operation on one key.
type op struct {
	kind           opKind
	key            string
	p1, p2, p3, p4 int64
	shard          int // memory store: shardOf(key), computed once per run
}

// opResult holds one operation's result values (see opKind).
type opResult [4]int64

// batch is what one Allow or Record sends to the store: checks first
// (opGCRA, opQuota), then, if every check passed, the GCRA state is
// committed; counters (opCount) are always applied. Stores run a batch as
// one atomic step (the redis store: one script per hash slot, see
// redisStore.run).
type batch struct {
	ops     []op
	results []opResult
	// buf holds the keys of ops added with addKeyed, one after another
	// (offs: where each ends). The memory store reads them in place
	// (keyOf: no allocation but for a new entry's key); the redis store
	// turns them into one string first (sealKeys: one allocation for every
	// key).
	buf  []byte
	offs []int
}

// keyOf is the key of op i, added with addKeyed, as bytes of buf.
func (b *batch) keyOf(i int) []byte {
	start := 0
	if i > 0 {
		start = b.offs[i-1]
	}
	return b.buf[start:b.offs[i]]
}

func (b *batch) add(o op) int {
	b.ops = append(b.ops, o)
	return len(b.ops) - 1
}

// addKeyed adds o, whose key is what was appended to b.buf since the
// previous addKeyed.
func (b *batch) addKeyed(o op) int {
	b.offs = append(b.offs, len(b.buf))
	return b.add(o)
}

// sealKeys sets the keys of ops added with addKeyed.
func (b *batch) sealKeys() {
	s := string(b.buf)
	start := 0
	for i, end := range b.offs {
		b.ops[i].key = s[start:end]
		start = end
	}
}

func (b *batch) reset() {
	b.ops = b.ops[:0]
	b.results = b.results[:0]
	b.buf = b.buf[:0]
	b.offs = b.offs[:0]
}

// store runs batches; memoryStore and redisStore implement it.
type store interface {
	run(ctx context.Context, b *batch) error
	ping(ctx context.Context) error
	close() error
}

const memShards = 64

// memoryStore keeps the state of one node in sharded maps. Entries carry an
// expiry (the GCRA theoretical arrival time, or the counter window) and a
// janitor drops idle ones, so memory is bounded by the active keys.
type memoryStore struct {
	shards [memShards]memShard
	now    func() time.Time
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

type memShard struct {
	mu sync.Mutex
	m  map[string]*memEntry
}

type memEntry struct {
	tat     int64           // GCRA theoretical arrival time, µs; a plain counter's count (opCapReserve, opCapAdd)
	buckets map[int64]int64 // bucket index -> count
	expire  int64           // µs; the entry is absent from then on
}

func newMemoryStore(now func() time.Time, sweep time.Duration) *memoryStore {
	s := &memoryStore{now: now, stop: make(chan struct{}), done: make(chan struct{})}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*memEntry)
	}
	go s.janitor(sweep)
	return s
}

func (s *memoryStore) janitor(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// sweep drops expired entries.
func (s *memoryStore) sweep() {
	now := s.now().UnixMicro()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.expire <= now {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// size is the number of live and not yet swept entries (tests).
func (s *memoryStore) size() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

func shardOf(key []byte) int {
	// FNV-1a, inline so hashing does not allocate.
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % memShards)
}

func (s *memoryStore) run(_ context.Context, b *batch) error {
	// Lock every shard the batch touches, in index order (no deadlock), so
	// the batch is atomic as the Lua script is.
	var idx [memShards]bool
	for i := range b.ops {
		b.ops[i].shard = shardOf(b.keyOf(i))
		idx[b.ops[i].shard] = true
	}
	for i := range idx {
		if idx[i] {
			s.shards[i].mu.Lock()
		}
	}
	defer func() {
		for i := range idx {
			if idx[i] {
				s.shards[i].mu.Unlock()
			}
		}
	}()

	now := s.now().UnixMicro()
	b.results = slices.Grow(b.results[:0], len(b.ops))[:len(b.ops)]
	// Keys are looked up as bytes of the batch's buffer (m[string(k)] does
	// not allocate); a new entry gets a string of its own.
	get := func(i int) *memEntry {
		m := s.shards[b.ops[i].shard].m
		k := b.keyOf(i)
		e := m[string(k)]
		if e != nil && e.expire <= now {
			delete(m, string(k))
			return nil
		}
		return e
	}
	put := func(i int, e *memEntry) { s.shards[b.ops[i].shard].m[string(b.keyOf(i))] = e }

	// Phase 1: checks.
	allowed := true
	grant := int64(-1) // the reserving ops' common grant; -1: none yet
	for i := range b.ops {
		o := &b.ops[i]
		r := &b.results[i]
		*r = opResult{}
		switch o.kind {
		case opGCRA:
			emission, tolerance := o.p1, o.p2
			tat := now
			if e := get(i); e != nil && e.tat > now {
				tat = e.tat
			}
			nt := tat + emission
			diff := now - (nt - tolerance)
			if diff < 0 {
				allowed = false
				*r = opResult{0, 0, -diff, tat - now}
				continue
			}
			*r = opResult{1, diff / emission, 0, nt - now}
		case opQuota:
			window, bucket, limit := o.p1, o.p2, o.p3
			var used, retry int64
			if e := get(i); e != nil {
				used, retry = bucketSum(e.buckets, now, window, bucket, limit)
			}
			if used >= limit {
				allowed = false
			}
			*r = opResult{used, retry, 0, 0}
		case opReserve, opCapReserve:
			limit, want := o.p3, o.p4
			var used, retry int64
			if e := get(i); e != nil {
				if o.kind == opReserve {
					used, retry = bucketSum(e.buckets, now, o.p1, o.p2, limit)
				} else {
					used = e.tat
				}
			}
			room := limit - used
			if room <= 0 {
				allowed = false
			}
			if grant < 0 || want < grant {
				grant = want
			}
			if room < grant {
				grant = room
			}
			*r = opResult{used, retry, 0, 0}
		}
	}
	// Phase 2: commit the limits if all checks passed; apply counters.
	for i := range b.ops {
		o := &b.ops[i]
		switch o.kind {
		case opGCRA:
			if allowed {
				e := get(i)
				if e == nil {
					e = &memEntry{}
					put(i, e)
				}
				// v3 is the reset-after: the new TAT is now + v3.
				nt := now + b.results[i][3]
				e.tat, e.expire = nt, nt
			}
		case opCount:
			window, bucket, delta := o.p1, o.p2, o.p3
			e := get(i)
			if delta != 0 {
				if e == nil {
					e = &memEntry{buckets: make(map[int64]int64, 4)}
					put(i, e)
				}
				e.buckets[now/bucket] += delta
				e.expire = now + window + bucket
			}
			if o.p4 == 1 && e != nil {
				b.results[i][0], _ = bucketSum(e.buckets, now, window, bucket, -1)
			}
		case opReserve:
			if !allowed || grant <= 0 {
				continue
			}
			window, bucket := o.p1, o.p2
			e := get(i)
			if e == nil {
				e = &memEntry{buckets: make(map[int64]int64, 4)}
				put(i, e)
			}
			idx := now / bucket
			e.buckets[idx] += grant
			e.expire = now + window + bucket
			b.results[i][2], b.results[i][3] = grant, idx
		case opCapReserve:
			if !allowed || grant <= 0 {
				continue
			}
			e := get(i)
			if e == nil {
				e = &memEntry{}
				put(i, e)
			}
			e.tat += grant
			e.expire = now + o.p1
			b.results[i][2] = grant
		case opRefund:
			window, bucket, delta, idx := o.p1, o.p2, o.p3, o.p4
			e := get(i)
			if idx <= now/bucket-window/bucket {
				continue // the bucket has left the window: nothing to give back
			}
			if e == nil {
				if delta <= 0 {
					continue
				}
				e = &memEntry{buckets: make(map[int64]int64, 4)}
				put(i, e)
				e.expire = now + window + bucket
			}
			if v := e.buckets[idx] + delta; v > 0 {
				e.buckets[idx] = v
			} else {
				delete(e.buckets, idx)
			}
		case opCapAdd:
			e := get(i)
			if e == nil {
				if o.p3 <= 0 {
					continue
				}
				e = &memEntry{}
				put(i, e)
			}
			e.tat += o.p3
			e.expire = now + o.p1
			if e.tat <= 0 {
				delete(s.shards[o.shard].m, string(b.keyOf(i)))
			}
		}
	}
	return nil
}

// bucketSum sums the buckets inside the sliding window ending now, dropping
// older ones. When limit >= 0 and the sum reaches it, retry is the time until
// enough old buckets leave the window for the sum to fall below limit.
func bucketSum(buckets map[int64]int64, now, window, bucket, limit int64) (sum, retry int64) {
	cur := now / bucket
	n := window / bucket
	for idx, c := range buckets {
		if idx <= cur-n {
			delete(buckets, idx)
			continue
		}
		sum += c
	}
	if limit < 0 || sum < limit {
		return sum, 0
	}
	idxs := make([]int64, 0, len(buckets))
	for idx := range buckets {
		idxs = append(idxs, idx)
	}
	slices.Sort(idxs)
	left := sum
	for _, idx := range idxs {
		left -= buckets[idx]
		if left < limit {
			return sum, (idx+n)*bucket - now
		}
	}
	return sum, window
}

func (s *memoryStore) ping(context.Context) error { return nil }

func (s *memoryStore) close() error {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
	})
	return nil
}

var _ store = (*memoryStore)(nil)
