package ratelimit

// Prepare validates cfg as New does and compiles its limits, quotas,
// reserve_max and pre-authentication limits without installing them;
// install swaps them in atomically. A call already inside Allow, Reserve
// or PreAuth finishes with the set it started with; the next one uses the
// new set (docs/deploy.md, "Reload").
//
// The store and everything about it (store, redis, on_store_error,
// timeout, breaker, log_interval) stays as the Limiter was built: those
// need a new Limiter, so the caller reports them as needing a restart.
// A limit or quota that keeps its name keeps its state (a quota whose
// window changed starts afresh, as its key holds the window).
func (l *Limiter) Prepare(cfg Config) (install func(), err error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := l.compileRules(cfg)
	return func() { l.rules.Store(r) }, nil
}
