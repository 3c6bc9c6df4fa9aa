package ratelimit

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmgw/crmgw/internal/confkey"
)

// PreAuthConfig is `ratelimit.preauth`: limits that run before the caller
// is authenticated, keyed by the caller's address only (see
// docs/hardening.md). They are on by default: without them a caller with no
// credential is never limited, and each of its 401s costs an audit event.
type PreAuthConfig struct {
	// Disabled turns every pre-authentication limit off.
	Disabled bool `yaml:"disabled"`
	// PerIP limits the requests of one address (IPv6: of one
	// IPv6Prefix network). Default 100 per 1s, burst 200.
	PerIP PreAuthLimit `yaml:"per_ip"`
	// Global limits the requests of every address together (per replica
	// with the memory store, across replicas with Redis). Default 5000
	// per 1s, burst 10000.
	Global PreAuthLimit `yaml:"global"`
	// Failures refuses an address that failed authentication Count times
	// within Window, until the window slides. Default 20 per 1m.
	Failures PreAuthFailures `yaml:"failures"`
	// IPv6Prefix is the network size IPv6 callers are counted by: one
	// host usually holds a whole /64, so counting single addresses would
	// give it 2^64 budgets. Default 64.
	IPv6Prefix int `yaml:"ipv6_prefix"`
}

// PreAuthLimit is a GCRA limit: Rate requests per Per, bursts of Burst.
type PreAuthLimit struct {
	Disabled bool          `yaml:"disabled"`
	Rate     int           `yaml:"rate"`
	Per      time.Duration `yaml:"per"`
	Burst    int           `yaml:"burst"` // default 2 × Rate
}

// PreAuthFailures bounds failed authentications per address.
type PreAuthFailures struct {
	Disabled bool          `yaml:"disabled"`
	Count    int64         `yaml:"count"`
	Window   time.Duration `yaml:"window"`
}

// Names of the pre-authentication limits in metrics, 429 reasons and
// Result.Limit; configured limits and quotas may not use them.
const (
	LimitPreAuthIP       = "preauth-per-ip"
	LimitPreAuthGlobal   = "preauth-global"
	LimitPreAuthFailures = "preauth-failures"
)

var preAuthNames = []string{LimitPreAuthIP, LimitPreAuthGlobal, LimitPreAuthFailures}

func (c *PreAuthConfig) setDefaults() {
	fill := func(l *PreAuthLimit, rate int, per time.Duration) {
		if l.Rate == 0 && l.Per == 0 {
			l.Rate, l.Per = rate, per
		}
		if l.Per == 0 {
			l.Per = time.Second
		}
		if l.Burst == 0 {
			l.Burst = 2 * l.Rate
		}
	}
	fill(&c.PerIP, 100, time.Second)
	fill(&c.Global, 5000, time.Second)
	if c.Failures.Count == 0 {
		c.Failures.Count = 20
	}
	if c.Failures.Window == 0 {
		c.Failures.Window = time.Minute
	}
	if c.IPv6Prefix == 0 {
		c.IPv6Prefix = 64
	}
}

func (c *PreAuthConfig) validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, confkey.Errorf("preauth."+key, format, args...))
	}
	for key, l := range map[string]PreAuthLimit{"per_ip": c.PerIP, "global": c.Global} {
		if l.Rate <= 0 {
			add(key+".rate", "must be positive, not %d (use disabled: true to turn the limit off)", l.Rate)
		}
		if l.Per <= 0 {
			add(key+".per", "must be a positive duration such as 1s")
		} else if l.Rate > 0 && l.Per/time.Duration(l.Rate) < time.Microsecond {
			add(key+".rate", "%d per %s is more than one request per microsecond", l.Rate, l.Per)
		}
		if l.Burst < 0 {
			add(key+".burst", "must not be negative, not %d", l.Burst)
		}
	}
	if c.Failures.Count < 0 {
		add("failures.count", "must be positive, not %d (use disabled: true to turn it off)", c.Failures.Count)
	}
	if c.Failures.Window < time.Second {
		add("failures.window", "must be at least 1s, such as 1m")
	}
	if c.IPv6Prefix < 32 || c.IPv6Prefix > 128 {
		add("ipv6_prefix", "must be between 32 and 128, not %d", c.IPv6Prefix)
	}
	return errs
}

// preAuth is the compiled pre-authentication configuration.
type preAuth struct {
	on               bool
	v6Bits           int
	perIP, global    *limit
	failWin, failBkt int64 // µs
	failCount        int64
	failOn           bool
	failAllowed      prometheus.Counter
	failRefused      prometheus.Counter
	failName         string // store key part: the window, so a changed window starts afresh
}

func (l *Limiter) compilePreAuth(c PreAuthConfig) preAuth {
	var p preAuth
	p.v6Bits = c.IPv6Prefix
	mk := func(name string, lc PreAuthLimit) *limit {
		if lc.Disabled {
			return nil
		}
		emission := (lc.Per / time.Duration(lc.Rate)).Microseconds()
		return &limit{
			name:      name,
			emission:  emission,
			tolerance: emission * int64(lc.Burst),
			burst:     int64(lc.Burst),
			allowed:   l.m.decisions.WithLabelValues(name, "allowed"),
			refused:   l.m.decisions.WithLabelValues(name, "refused"),
		}
	}
	if !c.Disabled {
		p.perIP = mk(LimitPreAuthIP, c.PerIP)
		p.global = mk(LimitPreAuthGlobal, c.Global)
		if !c.Failures.Disabled {
			p.failOn = true
			p.failCount = c.Failures.Count
			p.failWin = c.Failures.Window.Microseconds()
			p.failBkt = max(p.failWin/quotaBuckets, 1000)
			p.failName = strconv.FormatInt(p.failWin/1000, 10)
			p.failAllowed = l.m.decisions.WithLabelValues(LimitPreAuthFailures, "allowed")
			p.failRefused = l.m.decisions.WithLabelValues(LimitPreAuthFailures, "refused")
		}
	}
	p.on = p.perIP != nil || p.global != nil || p.failOn
	return p
}

// preAuthKey is what an address is counted by: the address itself (IPv4,
// IPv4-mapped IPv6 unmapped), or its IPv6Prefix network; "-" when the
// address is unknown.
func (p *preAuth) preAuthKey(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "-"
	case ip.Is6() && p.v6Bits < 128:
		pf, err := ip.WithZone("").Prefix(p.v6Bits)
		if err == nil {
			return pf.String()
		}
	}
	return ip.WithZone("").String()
}

func (l *Limiter) appendPreAuthKey(dst []byte, ipKey, kind, name string) []byte {
	dst = append(dst, l.prefix...)
	if ipKey == "" {
		dst = append(dst, "{p:global}:"...)
	} else {
		dst = append(dst, "{p:"...)
		dst = append(dst, ipKey...)
		dst = append(dst, "}:"...)
	}
	dst = append(dst, kind...)
	dst = append(dst, ':')
	return append(dst, name...)
}

// PreAuth decides a request before its caller is authenticated, by the
// caller's address alone: the per-address limit, the global limit and the
// address's failed-authentication budget (see AuthFailed), in one store
// round trip. A refused request takes nothing. Store failures follow
// on_store_error, as Allow's do; Result is always usable (Usage is empty).
func (l *Limiter) PreAuth(ctx context.Context, ip netip.Addr) (Result, error) {
	p := &l.rules.Load().pre
	if !p.on {
		return Result{Allowed: true, RemainingRecords: -1}, nil
	}
	b := l.batches.Get().(*batch)
	defer l.batches.Put(b)
	b.reset()
	key := p.preAuthKey(ip)
	iPer, iGlb, iFail := -1, -1, -1
	if c := p.perIP; c != nil {
		b.buf = l.appendPreAuthKey(b.buf, key, "pa", "ip")
		iPer = b.addKeyed(op{kind: opGCRA, p1: c.emission, p2: c.tolerance})
	}
	if p.failOn {
		b.buf = l.appendPreAuthKey(b.buf, key, "pf", p.failName)
		iFail = b.addKeyed(op{kind: opQuota, p1: p.failWin, p2: p.failBkt, p3: p.failCount})
	}
	if c := p.global; c != nil {
		b.buf = l.appendPreAuthKey(b.buf, "", "pa", "global")
		iGlb = b.addKeyed(op{kind: opGCRA, p1: c.emission, p2: c.tolerance})
	}
	if err := l.runBatch(ctx, b); err != nil {
		return l.storeFailure(ctx, "preauth", err)
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
	for _, g := range [...]struct {
		c *limit
		i int
	}{{p.perIP, iPer}, {p.global, iGlb}} {
		if g.i < 0 {
			continue
		}
		if r := b.results[g.i]; r[0] == 0 {
			g.c.refused.Inc()
			refuse(g.c.name, r[2])
		} else {
			g.c.allowed.Inc()
		}
	}
	if iFail >= 0 {
		if r := b.results[iFail]; r[0] >= p.failCount {
			p.failRefused.Inc()
			refuse(LimitPreAuthFailures, r[1])
		} else {
			p.failAllowed.Inc()
		}
	}
	if !res.Allowed {
		res.RetryAfter = time.Duration(retry) * time.Microsecond
		res.Headers.RetryAfter = strconv.FormatInt(max(ceilSeconds(retry), 1), 10)
	}
	return res, nil
}

// AuthFailed counts one failed authentication from ip against its
// failures budget: once the budget is spent, PreAuth refuses the address
// until the window slides.
func (l *Limiter) AuthFailed(ctx context.Context, ip netip.Addr) error {
	p := &l.rules.Load().pre
	if !p.failOn {
		return nil
	}
	b := l.batches.Get().(*batch)
	defer l.batches.Put(b)
	b.reset()
	b.buf = l.appendPreAuthKey(b.buf, p.preAuthKey(ip), "pf", p.failName)
	b.addKeyed(op{kind: opCount, p1: p.failWin, p2: p.failBkt, p3: 1})
	if err := l.runBatch(ctx, b); err != nil {
		return l.storeError(ctx, "auth_failed", "counting a failed authentication", err)
	}
	l.storeOK()
	return nil
}

// storeFailure turns a failed store call into a Result that follows
// on_store_error (or refuses when the caller went away).
func (l *Limiter) storeFailure(ctx context.Context, opName string, err error) (Result, error) {
	if ctx.Err() != nil {
		err = fmt.Errorf("ratelimit: %w", ctx.Err())
		return Result{Allowed: false, RemainingRecords: -1, StoreError: err}, err
	}
	err = fmt.Errorf("ratelimit: %s store: %w", l.storeName, err)
	l.storeFailed(opName, err)
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
