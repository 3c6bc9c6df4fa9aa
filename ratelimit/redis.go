package ratelimit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// redisScript runs one batch (see opKind in store.go) in one round trip.
//
// Why our own Lua rather than redis_rate.Limiter.Allow: a request needs
// several limits, the quota checks, the request counters and the usage read
// decided together, and redis_rate does one limit per call (one round trip
// each). The GCRA part is ported from redis_rate's allowN script (itself from
// rwz/redis-gcra), in integer microseconds instead of float seconds so that
// both stores compute the same numbers; the server's clock (TIME) is used so
// that replicas with skewed clocks share one limit. A limit is only taken
// when every check of the batch passed, so a refused request costs nothing.
var redisScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local res = {}
local newtat = {}
local allowed = true
local grant = -1

local function bucketsum(key, window, bucket, limit)
  local cur = math.floor(now / bucket)
  local nb = math.floor(window / bucket)
  local raw = redis.call('HGETALL', key)
  local sum = 0
  local live = {}
  local stale = {}
  for j = 1, #raw, 2 do
    local idx = tonumber(raw[j])
    if idx <= cur - nb then
      stale[#stale + 1] = raw[j]
    else
      local c = tonumber(raw[j + 1])
      sum = sum + c
      live[#live + 1] = {idx, c}
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  local retry = 0
  if limit >= 0 and sum >= limit then
    table.sort(live, function(a, b) return a[1] < b[1] end)
    local left = sum
    retry = window
    for _, e in ipairs(live) do
      left = left - e[2]
      if left < limit then
        retry = (e[1] + nb) * bucket - now
        break
      end
    end
  end
  return sum, retry
end

-- Phase 1: checks.
for i = 1, n do
  local b = (i - 1) * 5
  local kind = ARGV[b + 1]
  local p1, p2, p3 = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if kind == 'g' then
    local tat = redis.call('GET', KEYS[i])
    if tat then tat = tonumber(tat) else tat = now end
    if tat < now then tat = now end
    local nt = tat + p1
    local diff = now - (nt - p2)
    if diff < 0 then
      allowed = false
      res[i] = {0, 0, -diff, tat - now}
    else
      newtat[i] = nt
      res[i] = {1, math.floor(diff / p1), 0, nt - now}
    end
  elseif kind == 'q' then
    local used, retry = bucketsum(KEYS[i], p1, p2, p3)
    if used >= p3 then allowed = false end
    res[i] = {used, retry, 0, 0}
  elseif kind == 'r' or kind == 'k' then
    local want = tonumber(ARGV[b + 5])
    local used, retry = 0, 0
    if kind == 'r' then
      used, retry = bucketsum(KEYS[i], p1, p2, p3)
    else
      used = tonumber(redis.call('GET', KEYS[i]) or '0')
    end
    local room = p3 - used
    if room <= 0 then allowed = false end
    if grant < 0 or want < grant then grant = want end
    if room < grant then grant = room end
    res[i] = {used, retry, 0, 0}
  end
end

-- Phase 2: commit the limits if every check passed; apply the counters.
for i = 1, n do
  local b = (i - 1) * 5
  local kind = ARGV[b + 1]
  if kind == 'g' then
    if allowed and newtat[i] then
      redis.call('SET', KEYS[i], string.format('%d', newtat[i]), 'PX',
        math.max(1, math.ceil((newtat[i] - now) / 1000)))
    end
  elseif kind == 'c' then
    local window, bucket = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
    local delta, read = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
    if delta ~= 0 then
      redis.call('HINCRBY', KEYS[i], string.format('%d', math.floor(now / bucket)), delta)
      redis.call('PEXPIRE', KEYS[i], math.ceil((window + bucket) / 1000))
    end
    local sum = 0
    if read == 1 then sum = bucketsum(KEYS[i], window, bucket, -1) end
    res[i] = {sum, 0, 0, 0}
  elseif kind == 'r' then
    if allowed and grant > 0 then
      local window, bucket = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
      local idx = math.floor(now / bucket)
      redis.call('HINCRBY', KEYS[i], string.format('%d', idx), grant)
      redis.call('PEXPIRE', KEYS[i], math.ceil((window + bucket) / 1000))
      res[i][3] = grant
      res[i][4] = idx
    end
  elseif kind == 'k' then
    if allowed and grant > 0 then
      redis.call('INCRBY', KEYS[i], grant)
      redis.call('PEXPIRE', KEYS[i], math.max(1, math.ceil(tonumber(ARGV[b + 2]) / 1000)))
      res[i][3] = grant
    end
  elseif kind == 'x' then
    local window, bucket = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
    local delta, idx = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
    if idx > math.floor(now / bucket) - math.floor(window / bucket) then
      local field = string.format('%d', idx)
      local v = redis.call('HINCRBY', KEYS[i], field, delta)
      if v <= 0 then
        redis.call('HDEL', KEYS[i], field)
      elseif delta > 0 then
        redis.call('PEXPIRE', KEYS[i], math.ceil((window + bucket) / 1000))
      end
    end
  elseif kind == 'a' then
    local v = redis.call('INCRBY', KEYS[i], tonumber(ARGV[b + 4]))
    if v <= 0 then
      redis.call('DEL', KEYS[i])
    else
      redis.call('PEXPIRE', KEYS[i], math.max(1, math.ceil(tonumber(ARGV[b + 2]) / 1000)))
    end
  end
end

local out = {}
for i = 1, n do
  local r = res[i] or {0, 0, 0, 0}
  for j = 1, 4 do out[#out + 1] = r[j] end
end
return out
`)

// redisStore runs batches with redisScript on a go-redis UniversalClient
// (single node, Sentinel or Cluster).
type redisStore struct {
	c       redis.UniversalClient
	cluster bool
}

func newRedisStore(cfg RedisConfig, timeout time.Duration) (*redisStore, error) {
	opts := &redis.UniversalOptions{
		Addrs:                 cfg.Addrs,
		MasterName:            cfg.MasterName,
		IsClusterMode:         cfg.Cluster,
		DialTimeout:           cfg.DialTimeout,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1, // go-redis: -1 is none, 0 its default of 3
		MinRetryBackoff:       -1,
		DialerRetries:         1, // a dead store must fail fast, not back off per request
		PoolSize:              cfg.PoolSize,
		PoolTimeout:           timeout,
	}
	if cfg.MaxRetries > 0 {
		opts.MaxRetries = cfg.MaxRetries
	}
	if cfg.MinRetryBackoff > 0 {
		opts.MinRetryBackoff = cfg.MinRetryBackoff
	}
	useTLS := cfg.TLS.Enabled
	if cfg.URL != "" {
		if cfg.Cluster {
			co, err := redis.ParseClusterURL(cfg.URL)
			if err != nil {
				return nil, errors.New("redis.url is not a valid redis:// URL")
			}
			opts.Addrs, opts.Username, opts.Password = co.Addrs, co.Username, co.Password
			useTLS = useTLS || co.TLSConfig != nil
		} else {
			o, err := redis.ParseURL(cfg.URL)
			if err != nil {
				return nil, errors.New("redis.url is not a valid redis:// URL")
			}
			opts.Addrs = []string{o.Addr}
			opts.Username, opts.Password, opts.DB = o.Username, o.Password, o.DB
			useTLS = useTLS || o.TLSConfig != nil
		}
	}
	if cfg.Username != "" {
		opts.Username = cfg.Username
	}
	if cfg.Password != "" {
		opts.Password = cfg.Password
	}
	if cfg.DB != 0 {
		opts.DB = cfg.DB
	}
	if useTLS {
		tc, err := redisTLS(cfg.TLS, opts.Addrs)
		if err != nil {
			return nil, err
		}
		opts.TLSConfig = tc
	}
	cluster := opts.MasterName == "" && (len(opts.Addrs) > 1 || opts.IsClusterMode)
	return &redisStore{c: redis.NewUniversalClient(opts), cluster: cluster}, nil
}

func redisTLS(c RedisTLSConfig, addrs []string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if tc.ServerName == "" && len(addrs) == 1 {
		tc.ServerName, _, _ = strings.Cut(addrs[0], ":")
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis.tls.ca_file: no PEM certificate in %s", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls: loading client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// run sends the batch as one EVALSHA (EVAL once after a server restart).
//
// With Redis Cluster every key of one script must be in one hash slot. The
// limiter tags keys so that everything counted by subject shares the slot
// of {s:<subject>}; a limit keyed without the subject (ip, client, …) lives
// in its own slot. Such a batch is split by slot and the scripts are sent in
// one pipeline (one round trip per node, in parallel); each script is atomic
// on its own, so a limit in one slot may be taken while a limit in another
// slot refuses the request. Single node and Sentinel run one script.
func (s *redisStore) run(ctx context.Context, b *batch) error {
	b.sealKeys()
	if !s.cluster {
		return s.runGroup(ctx, b, nil)
	}
	groups := map[uint16][]int{}
	var order []uint16
	for i, o := range b.ops {
		slot := keySlot(o.key)
		if _, ok := groups[slot]; !ok {
			order = append(order, slot)
		}
		groups[slot] = append(groups[slot], i)
	}
	if len(order) == 1 {
		return s.runGroup(ctx, b, nil)
	}
	b.results = append(b.results[:0], make([]opResult, len(b.ops))...)
	idxs := make([][]int, len(order))
	for gi, slot := range order {
		idxs[gi] = groups[slot]
	}
	pipe := s.c.Pipeline()
	cmds := make([]*redis.Cmd, len(idxs))
	for gi, ix := range idxs {
		keys, args := encode(b, ix)
		cmds[gi] = redisScript.EvalSha(ctx, pipe, keys, args...)
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below
	for gi, ix := range idxs {
		// A node that restarted lost its script cache: that group alone is
		// sent again with EVAL (the others already ran).
		if isNoScript(cmds[gi].Err()) {
			keys, args := encode(b, ix)
			cmds[gi] = redisScript.Eval(ctx, s.c, keys, args...)
		}
	}
	for gi, ix := range idxs {
		if err := decode(cmds[gi], b, ix); err != nil {
			return err
		}
	}
	return s.refund(ctx, b, idxs)
}

// refundScript gives back one GCRA emission interval taken by a script whose
// own checks passed while a script in another slot refused the request.
var refundScript = redis.NewScript(`
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then redis.call('SET', KEYS[i], string.format('%d', tonumber(v) - tonumber(ARGV[i])), 'KEEPTTL') end
end
return 0
`)

// refund keeps "a refused request takes nothing" across slots: when some
// slot refused, the limits taken in the slots that passed are given back.
// This costs a second round trip, only for refused multi-slot requests.
func (s *redisStore) refund(ctx context.Context, b *batch, idxs [][]int) error {
	passed := func(ix []int) bool {
		for _, i := range ix {
			o, r := &b.ops[i], &b.results[i]
			if o.kind == opGCRA && r[0] == 0 || o.kind == opQuota && r[0] >= o.p3 ||
				(o.kind == opReserve || o.kind == opCapReserve) && r[0] >= o.p3 {
				return false
			}
		}
		return true
	}
	var refused bool
	for _, ix := range idxs {
		refused = refused || !passed(ix)
	}
	if !refused {
		return nil
	}
	pipe := s.c.Pipeline()
	n := 0
	for _, ix := range idxs {
		if !passed(ix) {
			continue
		}
		var keys []string
		var args []any
		for _, i := range ix {
			if b.ops[i].kind == opGCRA {
				keys = append(keys, b.ops[i].key)
				args = append(args, b.ops[i].p1)
			}
		}
		if len(keys) > 0 {
			refundScript.Eval(ctx, pipe, keys, args...)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	_, err := pipe.Exec(ctx)
	return err
}

// runGroup runs the ops at ix (all when nil) as one script.
func (s *redisStore) runGroup(ctx context.Context, b *batch, ix []int) error {
	keys, args := encode(b, ix)
	cmd := redisScript.Run(ctx, s.c, keys, args...)
	if len(b.results) != len(b.ops) {
		b.results = append(b.results[:0], make([]opResult, len(b.ops))...)
	}
	return decode(cmd, b, ix)
}

func encode(b *batch, ix []int) ([]string, []any) {
	n := len(b.ops)
	if ix != nil {
		n = len(ix)
	}
	keys := make([]string, 0, n)
	args := make([]any, 0, 5*n)
	for j := 0; j < n; j++ {
		i := j
		if ix != nil {
			i = ix[j]
		}
		o := &b.ops[i]
		keys = append(keys, o.key)
		args = append(args, kindArg[o.kind], o.p1, o.p2, o.p3, o.p4)
	}
	return keys, args
}

var kindArg = map[opKind]string{opGCRA: "g", opQuota: "q", opCount: "c",
	opReserve: "r", opCapReserve: "k", opRefund: "x", opCapAdd: "a"}

func decode(cmd *redis.Cmd, b *batch, ix []int) error {
	vals, err := cmd.Int64Slice()
	if err != nil {
		return err
	}
	n := len(b.ops)
	if ix != nil {
		n = len(ix)
	}
	if len(vals) != 4*n {
		return fmt.Errorf("redis script returned %d values for %d operations", len(vals), n)
	}
	for j := 0; j < n; j++ {
		i := j
		if ix != nil {
			i = ix[j]
		}
		copy(b.results[i][:], vals[4*j:4*j+4])
	}
	return nil
}

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || strings.Contains(err.Error(), "NOSCRIPT"))
}

func (s *redisStore) ping(ctx context.Context) error { return s.c.Ping(ctx).Err() }

func (s *redisStore) close() error { return s.c.Close() }

// keySlot is Redis Cluster's hash slot of key: CRC16 (XMODEM) of the hash
// tag (the part between the first '{' and the next '}', if not empty), or of
// the whole key, modulo 16384.
func keySlot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

var _ store = (*redisStore)(nil)

var redisLogOnce sync.Once

// routeRedisLogs sends go-redis's own log lines (a process-wide setting of
// go-redis, which would otherwise print a line per failed dial, i.e. per
// request during an outage) to zap at debug level: the limiter logs store
// outages itself, once per log_interval. The first redis Limiter sets it.
func routeRedisLogs(logger *zap.Logger) {
	redisLogOnce.Do(func() { redis.SetLogger(zapRedisLogger{logger.Named("go-redis")}) })
}

type zapRedisLogger struct{ log *zap.Logger }

func (z zapRedisLogger) Printf(_ context.Context, format string, v ...any) {
	if ce := z.log.Check(zapcore.DebugLevel, "go-redis"); ce != nil {
		ce.Write(zap.String("detail", fmt.Sprintf(format, v...)))
	}
}
