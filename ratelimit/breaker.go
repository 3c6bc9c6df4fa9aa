package ratelimit

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// ErrBreakerOpen is the store error while the circuit breaker is open: the
// store is not called, the request is decided by on_store_error at once.
var ErrBreakerOpen = errors.New("ratelimit: store circuit breaker open")

// BreakerConfig is `ratelimit.breaker:`: after Failures consecutive failed
// store calls the limiter stops calling the store for OpenFor (doubling on
// each failed probe up to MaxOpenFor), then lets one call through as a
// probe (half-open); its success closes the breaker. Only for the redis
// store (the memory store cannot fail).
type BreakerConfig struct {
	// Failures opens the breaker. Default 3; -1 turns the breaker off.
	Failures int `yaml:"failures"`
	// OpenFor is the first back-off window. Default 1s.
	OpenFor time.Duration `yaml:"open_for"`
	// MaxOpenFor bounds the window after repeated failed probes. Default
	// 30s (or OpenFor if longer).
	MaxOpenFor time.Duration `yaml:"max_open_for"`
}

func (c *BreakerConfig) setDefaults() {
	if c.Failures == 0 {
		c.Failures = 3
	}
	if c.OpenFor == 0 {
		c.OpenFor = time.Second
	}
	if c.MaxOpenFor == 0 {
		c.MaxOpenFor = max(30*time.Second, c.OpenFor)
	}
}

// Breaker states, as the crmgw_ratelimit_breaker_state gauge shows them.
const (
	breakerClosed   = 0
	breakerOpen     = 1
	breakerHalfOpen = 2
)

var breakerStateNames = [...]string{"closed", "open", "half_open"}

// breaker is a consecutive-failure circuit breaker. allow is one atomic
// load while closed and while open within the window: a store outage is
// decided at memory speed.
type breaker struct {
	cfg   BreakerConfig
	log   *zap.Logger
	state atomic.Int32
	until atomic.Int64 // open: unix nanoseconds when a probe may go
	gauge prometheus.Gauge
	trans *prometheus.CounterVec
	now   func() time.Time

	mu       sync.Mutex
	failures int
	window   time.Duration
}

func newBreaker(cfg BreakerConfig, log *zap.Logger, gauge prometheus.Gauge, trans *prometheus.CounterVec, now func() time.Time) *breaker {
	return &breaker{cfg: cfg, log: log, gauge: gauge, trans: trans, now: now, window: cfg.OpenFor}
}

// allow reports whether the store may be called now. Past the open window
// exactly one caller becomes the half-open probe; the others keep being
// refused until the probe's outcome is known.
func (b *breaker) allow() bool {
	switch b.state.Load() {
	case breakerClosed:
		return true
	case breakerOpen:
		if b.now().UnixNano() < b.until.Load() {
			return false
		}
		if b.state.CompareAndSwap(breakerOpen, breakerHalfOpen) {
			b.changed(breakerOpen, breakerHalfOpen, nil)
			return true
		}
	}
	return false
}

// done records the outcome of a call allow let through.
func (b *breaker) done(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.state.Load()
	if err == nil {
		b.failures = 0
		if st != breakerClosed {
			b.window = b.cfg.OpenFor
			b.state.Store(breakerClosed)
			b.changed(st, breakerClosed, nil)
		}
		return
	}
	switch st {
	case breakerHalfOpen:
		b.window = min(b.window*2, b.cfg.MaxOpenFor)
		b.open(st, err)
	case breakerClosed:
		b.failures++
		if b.failures >= b.cfg.Failures {
			b.window = b.cfg.OpenFor
			b.open(st, err)
		}
	}
}

func (b *breaker) open(from int32, err error) {
	b.until.Store(b.now().Add(b.window).UnixNano())
	b.state.Store(breakerOpen)
	b.changed(from, breakerOpen, err)
}

func (b *breaker) changed(from, to int32, err error) {
	b.gauge.Set(float64(to))
	b.trans.WithLabelValues(breakerStateNames[to]).Inc()
	fields := []zap.Field{zap.String("from", breakerStateNames[from]), zap.String("to", breakerStateNames[to])}
	if to == breakerOpen {
		fields = append(fields, zap.Duration("store_not_called_for", b.window), zap.Error(err))
	}
	b.log.Warn("rate limit store circuit breaker", fields...)
}
