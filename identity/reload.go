package identity

import (
	"context"
	"reflect"
	"time"
)

// Prepare builds the Authenticator state cfg describes (validating it as
// NewAuthenticator does) without installing it; install swaps it in
// atomically. A request already inside Authenticate finishes with the
// state it started with; the next one sees the new API keys, allow-lists,
// trusted proxies, mTLS clients and issuers (docs/deploy.md, "Reload").
//
// Issuers whose settings did not change are kept with their keys; new
// ones are discovered here, as at start (one that does not answer is
// retried when a token from it arrives). The verified-token cache is kept
// only when the issuers and the token settings are all unchanged, so a
// token of a removed issuer is never answered from it.
func (a *Authenticator) Prepare(ctx context.Context, cfg Config) (install func(), err error) {
	st, fresh, err := a.newState(cfg, a.st.Load())
	if err != nil {
		return nil, err
	}
	a.discover(ctx, fresh)
	return func() { a.st.Store(st) }, nil
}

// reusableIssuer is prev's issuer for o when nothing about it changed: the
// same settings (defaults applied), the same place (primary or not) and the
// same HTTP timeout.
func (prev *authState) reusableIssuer(o OIDCConfig, primary bool, timeout time.Duration) *issuer {
	if prev == nil {
		return nil
	}
	old := prev.issuers[o.Issuer]
	if old == nil || old.primary != primary || old.client.Timeout != timeout || !reflect.DeepEqual(old.cfg, o) {
		return nil
	}
	return old
}

// cacheStillValid reports whether prev's verified-token cache may serve
// cfg: its entries hold subjects built by prev's issuers under prev's
// token settings.
func (prev *authState) cacheStillValid(cfg Config) bool {
	if prev == nil {
		return false
	}
	p := prev.cfg
	return reflect.DeepEqual(p.OIDC, cfg.OIDC) && p.ClockSkew == cfg.ClockSkew &&
		p.TokenCacheSize == cfg.TokenCacheSize && p.TokenCacheTTL == cfg.TokenCacheTTL &&
		p.HTTPTimeout == cfg.HTTPTimeout
}
