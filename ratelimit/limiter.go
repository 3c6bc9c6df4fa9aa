// Package ratelimit applies crmgw's request rate limits (GCRA) and
// record-volume quotas, and keeps the per-subject usage counters that policies
// (input.usage) and alert rules read. State lives in memory (one node) or in
// Redis (shared by replicas: single node, Sentinel or Cluster); one Allow is
// one store round trip for every limit, quota check and counter of a request.
//
// The proxy calls Allow before the request reaches the CRM (refusing with 429
// and Result.Headers when Allowed is false, and lowering max_records to
// Result.RemainingRecords), then, once the policy has decided, Reserve for
// the records the request may deliver, and Settle after the response with
// the number that actually left (reserve.go); Record counts the records of
// a request no quota applies to.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Request is what limits and quotas are keyed and selected by.
type Request struct {
	Subject   string // stable caller id (user or client)
	Client    string // API key id or OAuth client id
	IP        string
	Upstream  string // upstream name
	Operation string // policy input action.operation
	Category  string // policy input action.category
}

// Headers are the response headers a Result asks for; "" where none.
// They are kept as strings, not an http.Header, because the proxy adds
// them to its response's header: a map per request would be built only to
// be copied.
type Headers struct {
	Policy     string // RateLimit-Policy
	State      string // RateLimit
	RetryAfter string // Retry-After
}

// Get returns the named header ("" if not set), the name in any case.
func (h Headers) Get(name string) string {
	switch http.CanonicalHeaderKey(name) {
	case "Ratelimit-Policy":
		return h.Policy
	case "Ratelimit":
		return h.State
	case "Retry-After":
		return h.RetryAfter
	}
	return ""
}

// Apply sets the headers that are set in dst, replacing what dst holds
// under their names.
func (h Headers) Apply(dst http.Header) {
	if h == (Headers{}) {
		return
	}
	vals := [...]string{h.Policy, h.State, h.RetryAfter} // one allocation for the three
	v := vals[:]
	if h.Policy != "" {
		dst["Ratelimit-Policy"] = v[0:1:1]
	}
	if h.State != "" {
		dst["Ratelimit"] = v[1:2:2]
	}
	if h.RetryAfter != "" {
		dst["Retry-After"] = v[2:3:3]
	}
}

// Result is the decision for one request.
type Result struct {
	// Allowed is false when a limit or quota refused the request, or the
	// store failed and on_store_error is deny.
	Allowed bool
	// Limit names the limit or quota that refused ("" when allowed or when
	// only the store failed).
	Limit string
	// RetryAfter is when the refusing limit or quota admits the request.
	RetryAfter time.Duration
	// Headers to add to the response: RateLimit-Policy and RateLimit for
	// the request limits that applied, and Retry-After when refused.
	Headers Headers
	// RemainingRecords is the smallest remaining quota among the quotas
	// that apply (0 when one is used up, which also refuses the request);
	// -1 when no quota applies or the store failed.
	RemainingRecords int64
	// Usage is the subject's counters, this request included; nil maps when
	// the store failed.
	Usage Usage
	// StoreError is non-nil when the store failed; Allowed then follows
	// on_store_error.
	StoreError error
}

// Usage is a subject's request and record counts over sliding windows, keyed
// "1m", "1h" and "24h": policy input.usage and the alert rules' usage.
type Usage struct {
	Records  map[string]int64 `json:"records"`
	Requests map[string]int64 `json:"requests"`
}

// usageWindows are the usage counters' windows and bucket sizes: a sliding
// window is the sum of its buckets, so it covers between window-bucket and
// window of history.
var usageWindows = [...]struct {
	name           string
	window, bucket time.Duration
}{
	{"1m", time.Minute, 5 * time.Second},
	{"1h", time.Hour, time.Minute},
	{"24h", 24 * time.Hour, time.Hour},
}

// quotaBuckets is how many buckets a quota's sliding window is made of.
const quotaBuckets = 60

// Limiter decides requests against the configured limits and quotas. It is
// safe for concurrent use.
type Limiter struct {
	st        store
	storeName string
	log       *zap.Logger
	prefix    string
	timeout   time.Duration
	failAllow bool
	rules     atomic.Pointer[rules] // replaced whole by a reload (reload.go)
	m         *metrics
	health    health
	br        *breaker // redis store only (breaker.go)
	batches   sync.Pool
}

// rules are the limits and quotas in force, never changed once installed:
// a call reads them once and uses that one set throughout.
type rules struct {
	limits []limit
	quotas []quota
	pre    preAuth // pre-authentication limits (preauth.go)
	// reserveMax is Config.ReserveMax (reserve.go).
	reserveMax int64
}

type keyPart uint8

const (
	partSubject keyPart = iota
	partClient
	partIP
	partUpstream
	partOperation
	partCategory
)

func (r *Request) part(p keyPart) string {
	switch p {
	case partSubject:
		return r.Subject
	case partClient:
		return r.Client
	case partIP:
		return r.IP
	case partUpstream:
		return r.Upstream
	case partOperation:
		return r.Operation
	default:
		return r.Category
	}
}

type selector struct{ ops, cats, ups []string }

func (s *selector) match(r *Request) bool {
	return (len(s.ops) == 0 || slices.Contains(s.ops, r.Operation)) &&
		(len(s.cats) == 0 || slices.Contains(s.cats, r.Category)) &&
		(len(s.ups) == 0 || slices.Contains(s.ups, r.Upstream))
}

type keySpec struct {
	parts      []keyPart
	hasSubject bool
}

func parseKeySpec(spec string) keySpec {
	var k keySpec
	for _, p := range strings.Split(spec, "+") {
		i := slices.Index(knownKeyParts, p)
		k.parts = append(k.parts, keyPart(i))
		k.hasSubject = k.hasSubject || keyPart(i) == partSubject
	}
	return k
}

type limit struct {
	name                string
	key                 keySpec
	sel                 selector
	emission, tolerance int64 // µs
	burst               int64
	policyItem          string // RateLimit-Policy item
	allowed, refused    prometheus.Counter
}

type quota struct {
	name             string
	keyName          string // name and window, so a changed window starts afresh
	key              keySpec
	sel              selector
	records          int64
	window, bucket   int64 // µs
	allowed, refused prometheus.Counter
}

// New builds a Limiter. It fills cfg's defaults and validates it; it does
// not contact Redis (a store that is down at start is reported by Ready and
// handled per on_store_error). Metrics are registered on reg (nil: none).
func New(cfg Config, reg prometheus.Registerer, logger *zap.Logger) (*Limiter, error) {
	return newLimiter(cfg, reg, logger, time.Now)
}

func newLimiter(cfg Config, reg prometheus.Registerer, logger *zap.Logger, now func() time.Time) (*Limiter, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: registering metrics: %w", err)
	}
	l := &Limiter{
		storeName: cfg.Store,
		log:       logger,
		prefix:    cfg.Redis.KeyPrefix,
		timeout:   cfg.Timeout,
		failAllow: cfg.OnStoreError == FailAllow,
		m:         m,
	}
	l.health.interval = cfg.LogInterval
	l.batches.New = func() any { return &batch{} }
	l.rules.Store(l.compileRules(cfg))
	switch cfg.Store {
	case StoreRedis:
		rs, err := newRedisStore(cfg.Redis, cfg.Timeout)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: %w", err)
		}
		l.st = rs
		routeRedisLogs(logger)
		if cfg.Breaker.Failures > 0 {
			l.br = newBreaker(cfg.Breaker, logger, m.breakerState, m.breakerTrans, now)
		}
	default:
		l.st = newMemoryStore(now, time.Minute)
	}
	m.storeUp.Set(1)
	return l, nil
}

// compileRules turns cfg's limits, quotas, reserve_max and pre-authentication
// limits (validated, defaults applied) into rules.
func (l *Limiter) compileRules(cfg Config) *rules {
	m := l.m
	r := &rules{reserveMax: cfg.ReserveMax}
	r.pre = l.compilePreAuth(cfg.PreAuth)
	for _, c := range cfg.Limits {
		emission := (c.Per / time.Duration(c.Rate)).Microseconds()
		r.limits = append(r.limits, limit{
			name:       c.Name,
			key:        parseKeySpec(c.Key),
			sel:        selector{c.Operations, c.Categories, c.Upstreams},
			emission:   emission,
			tolerance:  emission * int64(c.Burst),
			burst:      int64(c.Burst),
			policyItem: `"` + c.Name + `";q=` + strconv.Itoa(c.Burst) + ";w=" + strconv.FormatInt(ceilSeconds(c.Per.Microseconds()), 10),
			allowed:    m.decisions.WithLabelValues(c.Name, "allowed"),
			refused:    m.decisions.WithLabelValues(c.Name, "refused"),
		})
	}
	for _, c := range cfg.Quotas {
		w := c.Window.Microseconds()
		bucket := max(w/quotaBuckets, 1000)
		r.quotas = append(r.quotas, quota{
			name:    c.Name,
			keyName: c.Name + ":" + strconv.FormatInt(w/1000, 10),
			key:     parseKeySpec(c.Key),
			sel:     selector{c.Operations, c.Categories, c.Upstreams},
			records: c.Records,
			window:  w,
			bucket:  bucket,
			allowed: m.decisions.WithLabelValues(c.Name, "allowed"),
			refused: m.decisions.WithLabelValues(c.Name, "refused"),
		})
	}
	return r
}

// appendKey appends a store key. Keys that include the subject carry the
// hash tag {s:<subject>} so that, with Redis Cluster, all of a subject's
// keys of one request are in one slot and run in one script.
func (l *Limiter) appendKey(dst []byte, kind, name string, k keySpec, r *Request) []byte {
	dst = append(dst, l.prefix...)
	dst = append(dst, '{')
	if k.hasSubject {
		dst = append(dst, "s:"...)
		dst = append(dst, r.Subject...)
	} else {
		dst = append(dst, "k:"...)
		dst = appendParts(dst, k.parts, r)
	}
	dst = append(dst, "}:"...)
	dst = append(dst, kind...)
	dst = append(dst, ':')
	dst = append(dst, name...)
	dst = append(dst, ':')
	return appendParts(dst, k.parts, r)
}

// appendParts writes each value with its length in front, so that no two
// combinations of values give the same key whatever characters they hold.
func appendParts(dst []byte, parts []keyPart, r *Request) []byte {
	for _, p := range parts {
		v := r.part(p)
		dst = strconv.AppendInt(dst, int64(len(v)), 10)
		dst = append(dst, ':')
		dst = append(dst, v...)
	}
	return dst
}

func (l *Limiter) appendUsageKey(dst []byte, r *Request, metric string, w int) []byte {
	dst = append(dst, l.prefix...)
	dst = append(dst, "{s:"...)
	dst = append(dst, r.Subject...)
	dst = append(dst, "}:u:"...)
	dst = append(dst, metric...)
	dst = append(dst, ':')
	return append(dst, usageWindows[w].name...)
}

// Allow decides req against every limit and quota that applies, counts the
// request in the subject's usage and reads the usage back: one store round
// trip. A limit is only taken when the request is allowed.
//
// When the store fails, Result.StoreError and the returned error are the
// same error and Result.Allowed follows on_store_error; Result is always
// usable.
func (l *Limiter) Allow(ctx context.Context, req Request) (Result, error) {
	rs := l.rules.Load()
	b := l.batches.Get().(*batch)
	defer l.batches.Put(b)
	b.reset()

	var limIdx, quoIdx [16]int32 // positions in b.ops; -1: does not apply
	lim := limIdx[:0]
	if len(rs.limits) > len(limIdx) {
		lim = make([]int32, 0, len(rs.limits))
	}
	quo := quoIdx[:0]
	if len(rs.quotas) > len(quoIdx) {
		quo = make([]int32, 0, len(rs.quotas))
	}
	for i := range rs.limits {
		c := &rs.limits[i]
		if !c.sel.match(&req) {
			lim = append(lim, -1)
			continue
		}
		b.buf = l.appendKey(b.buf, "l", c.name, c.key, &req)
		lim = append(lim, int32(b.addKeyed(op{kind: opGCRA, p1: c.emission, p2: c.tolerance})))
	}
	for i := range rs.quotas {
		c := &rs.quotas[i]
		if !c.sel.match(&req) {
			quo = append(quo, -1)
			continue
		}
		b.buf = l.appendKey(b.buf, "q", c.keyName, c.key, &req)
		quo = append(quo, int32(b.addKeyed(op{kind: opQuota, p1: c.window, p2: c.bucket, p3: c.records})))
	}
	first := len(b.ops)
	for w, uw := range usageWindows {
		b.buf = l.appendUsageKey(b.buf, &req, "req", w)
		b.addKeyed(op{kind: opCount, p1: uw.window.Microseconds(), p2: uw.bucket.Microseconds(), p3: 1, p4: 1})
	}
	for w, uw := range usageWindows {
		b.buf = l.appendUsageKey(b.buf, &req, "rec", w)
		b.addKeyed(op{kind: opCount, p1: uw.window.Microseconds(), p2: uw.bucket.Microseconds(), p4: 1})
	}

	err := l.runBatch(ctx, b)
	if err != nil && ctx.Err() != nil {
		// The caller went away (or its deadline passed): not a store outage.
		err = fmt.Errorf("ratelimit: %w", ctx.Err())
		return Result{Allowed: false, RemainingRecords: -1, StoreError: err}, err
	}
	if err != nil {
		err = fmt.Errorf("ratelimit: %s store: %w", l.storeName, err)
		l.storeFailed("allow", err)
		res := Result{Allowed: l.failAllow, RemainingRecords: -1, StoreError: err}
		if l.failAllow {
			l.m.storeAllowed.Inc()
		} else {
			l.m.storeRefused.Inc()
			res.RetryAfter = time.Second
			res.Headers = Headers{RetryAfter: "1"}
		}
		return res, err
	}
	l.storeOK()

	res := Result{Allowed: true, RemainingRecords: -1}
	retry := int64(-1)
	refuse := func(name string, after int64) {
		res.Allowed = false
		if after > retry {
			retry, res.Limit = after, name
		}
	}
	for i, oi := range lim {
		if oi < 0 {
			continue
		}
		if r := b.results[oi]; r[0] == 0 {
			rs.limits[i].refused.Inc()
			refuse(rs.limits[i].name, r[2])
		} else {
			rs.limits[i].allowed.Inc()
		}
	}
	for i, oi := range quo {
		if oi < 0 {
			continue
		}
		c := &rs.quotas[i]
		r := b.results[oi]
		rem := max(c.records-r[0], 0)
		if res.RemainingRecords < 0 || rem < res.RemainingRecords {
			res.RemainingRecords = rem
		}
		if rem == 0 {
			c.refused.Inc()
			refuse(c.name, r[1])
		} else {
			c.allowed.Inc()
		}
	}
	res.Usage = Usage{Requests: make(map[string]int64, 3), Records: make(map[string]int64, 3)}
	for w, uw := range usageWindows {
		res.Usage.Requests[uw.name] = b.results[first+w][0]
		res.Usage.Records[uw.name] = b.results[first+len(usageWindows)+w][0]
	}
	res.Headers = rs.headers(lim, b, res.Allowed)
	if !res.Allowed {
		res.RetryAfter = time.Duration(retry) * time.Microsecond
		ra := strconv.FormatInt(max(ceilSeconds(retry), 1), 10)
		res.Headers.RetryAfter = ra
	}
	return res, nil
}

// headers builds RateLimit-Policy and RateLimit
// (draft-ietf-httpapi-ratelimit-headers-11) for the limits that applied:
// q is the burst, w the period in seconds; r the requests left, t the
// seconds until the limit is whole again (until the next request is
// admitted, when refused).
func (rs *rules) headers(lim []int32, b *batch, allowed bool) Headers {
	// Both values are built in one buffer (RateLimit-Policy, then RateLimit)
	// and cut from one string: the headers cost few allocations.
	var buf [256]byte
	out := buf[:0]
	n := 0
	for i, oi := range lim {
		if oi < 0 {
			continue
		}
		if n > 0 {
			out = append(out, ", "...)
		}
		out = append(out, rs.limits[i].policyItem...)
		n++
	}
	if n == 0 {
		return Headers{}
	}
	split := len(out)
	n = 0
	for i, oi := range lim {
		if oi < 0 {
			continue
		}
		c := &rs.limits[i]
		r := b.results[oi]
		remaining, t := r[1], r[3]
		switch {
		case r[0] == 0:
			t = r[2]
		case !allowed:
			// This limit passed but another refused: nothing was taken.
			remaining = min(remaining+1, c.burst)
		}
		if n > 0 {
			out = append(out, ", "...)
		}
		n++
		out = append(out, '"')
		out = append(out, c.name...)
		out = append(out, `";r=`...)
		out = strconv.AppendInt(out, remaining, 10)
		out = append(out, ";t="...)
		out = strconv.AppendInt(out, ceilSeconds(t), 10)
	}
	str := string(out)
	return Headers{Policy: str[:split], State: str[split:]}
}

// ceilSeconds rounds microseconds up to whole seconds.
func ceilSeconds(us int64) int64 {
	if us <= 0 {
		return 0
	}
	return (us + 999_999) / 1_000_000
}

// Record counts records that left in a response into the subject's usage
// and into the quotas that apply to req. Called after the response, it
// cannot keep concurrent requests within a quota: requests a quota applies
// to reserve before and settle after instead (reserve.go).
func (l *Limiter) Record(ctx context.Context, req Request, records int64) error {
	if records <= 0 {
		return nil
	}
	b := l.batches.Get().(*batch)
	defer l.batches.Put(b)
	b.reset()
	for w, uw := range usageWindows {
		b.buf = l.appendUsageKey(b.buf, &req, "rec", w)
		b.addKeyed(op{kind: opCount, p1: uw.window.Microseconds(), p2: uw.bucket.Microseconds(), p3: records})
	}
	rs := l.rules.Load()
	for i := range rs.quotas {
		c := &rs.quotas[i]
		if c.sel.match(&req) {
			b.buf = l.appendKey(b.buf, "q", c.keyName, c.key, &req)
			b.addKeyed(op{kind: opCount, p1: c.window, p2: c.bucket, p3: records})
		}
	}
	if err := l.runBatch(ctx, b); err != nil {
		return l.storeError(ctx, "record", fmt.Sprintf("recording %d records", records), err)
	}
	l.storeOK()
	return nil
}

// runBatch runs b on the store within the configured timeout (the memory
// store does not block: no timer for it).
func (l *Limiter) runBatch(ctx context.Context, b *batch) error {
	if l.storeName == StoreMemory {
		return l.st.run(ctx, b)
	}
	if l.br != nil && !l.br.allow() {
		return ErrBreakerOpen
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	err := l.st.run(ctx, b)
	if l.br != nil {
		// A caller that went away is not the store failing.
		if err == nil || ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			l.br.done(err)
		}
	}
	return err
}

// storeError turns the failure of a store call that records (counts,
// settles) into the limiter's error: the caller's own cancellation as
// such, a store failure wrapped with what was being done, logged and
// counted toward the breaker.
func (l *Limiter) storeError(ctx context.Context, opName, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("ratelimit: %s: %w", what, ctx.Err())
	}
	err = fmt.Errorf("ratelimit: %s store: %s: %w", l.storeName, what, err)
	l.storeFailed(opName, err)
	return err
}

// Ready reports whether the store is reachable (the memory store always
// is): the proxy's /readyz.
func (l *Limiter) Ready(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, max(l.timeout, time.Second))
	err := l.st.ping(sctx)
	cancel()
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("ratelimit: %w", ctx.Err())
	}
	if err != nil {
		err = fmt.Errorf("ratelimit: %s store unreachable: %w", l.storeName, err)
		l.storeFailed("ready", err)
		return err
	}
	l.storeOK()
	return nil
}

// Close releases the store (Redis connections, the memory janitor).
func (l *Limiter) Close() error { return l.st.close() }

// InMemory reports whether the limiter's store is this process's memory,
// where a call does no I/O and cannot hang.
func (l *Limiter) InMemory() bool { return l.storeName == StoreMemory }

// health tracks store outages so that one is logged when it starts, again
// every interval while it lasts, and when it ends — never per request.
type health struct {
	interval time.Duration
	down     atomic.Bool
	mu       sync.Mutex
	since    time.Time
	lastLog  time.Time
	failures int64 // since the last log line
}

func (l *Limiter) storeFailed(opName string, err error) {
	l.m.storeErrors.WithLabelValues(opName).Inc()
	l.m.storeUp.Set(0)
	h := &l.health
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	h.failures++
	first := !h.down.Load()
	if first {
		h.down.Store(true)
		h.since = now
	}
	if first || now.Sub(h.lastLog) >= h.interval {
		l.log.Warn("rate limit store unavailable",
			zap.String("store", l.storeName),
			zap.String("op", opName),
			zap.Error(err),
			zap.Int64("failures", h.failures),
			zap.Duration("down_for", now.Sub(h.since)),
			zap.Bool("fail_open", l.failAllow))
		h.lastLog = now
		h.failures = 0
	}
}

func (l *Limiter) storeOK() {
	h := &l.health
	if !h.down.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down.Load() {
		h.down.Store(false)
		l.m.storeUp.Set(1)
		l.log.Info("rate limit store recovered", zap.String("store", l.storeName), zap.Duration("down_for", time.Since(h.since)))
	}
}

// metrics are the limiter's Prometheus collectors.
type metrics struct {
	decisions    *prometheus.CounterVec
	storeErrors  *prometheus.CounterVec
	storeUp      prometheus.Gauge
	storeAllowed prometheus.Counter
	storeRefused prometheus.Counter
	breakerState prometheus.Gauge
	breakerTrans *prometheus.CounterVec
}

// storeLimitLabel is the limit label of decisions taken while the store was
// unreachable.
const storeLimitLabel = "_store_error"

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	var err error
	m := &metrics{}
	m.decisions, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crmgw_ratelimit_decisions_total",
		Help: "Rate limit and quota checks by limit name and result (allowed, refused); limit _store_error counts requests decided by on_store_error.",
	}, []string{"limit", "result"}))
	if err != nil {
		return nil, err
	}
	m.storeErrors, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crmgw_ratelimit_store_errors_total",
		Help: "Failed rate limit store calls by operation (allow, record, reserve, settle, cursor, ready).",
	}, []string{"op"}))
	if err != nil {
		return nil, err
	}
	m.storeUp, err = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "crmgw_ratelimit_store_up",
		Help: "1 when the last rate limit store call succeeded, 0 during an outage.",
	}))
	if err != nil {
		return nil, err
	}
	m.breakerState, err = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "crmgw_ratelimit_breaker_state",
		Help: "The store circuit breaker: 0 closed (store called), 1 open (store not called, on_store_error decides), 2 half-open (one probe).",
	}))
	if err != nil {
		return nil, err
	}
	m.breakerTrans, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crmgw_ratelimit_breaker_transitions_total",
		Help: "Store circuit breaker state changes by the state entered.",
	}, []string{"to"}))
	if err != nil {
		return nil, err
	}
	m.storeAllowed = m.decisions.WithLabelValues(storeLimitLabel, "allowed")
	m.storeRefused = m.decisions.WithLabelValues(storeLimitLabel, "refused")
	return m, nil
}

// register registers c on reg, reusing an identical collector already there
// (two limiters on one registry, as in tests and reloads).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
