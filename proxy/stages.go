package proxy

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/identity"
	"github.com/crmgw/crmgw/policy"
	"github.com/crmgw/crmgw/ratelimit"
)

// The stages the gateway composes, as small interfaces owned here (the
// consumer). Production wiring passes the concrete *identity.Authenticator,
// *policy.Engine, *ratelimit.Limiter and *audit.Auditor.

// Authenticator identifies the caller of a request.
type Authenticator interface {
	Authenticate(r *http.Request) (*identity.Subject, error)
	ClientIP(r *http.Request) netip.Addr
	Ready(ctx context.Context) error
}

// Decider asks the policy for a decision on one action.
type Decider interface {
	Decide(ctx context.Context, in *policy.Input) (policy.Decision, error)
	Revision() string
	Mode() string
}

// Limiter applies rate limits and record quotas.
type Limiter interface {
	Allow(ctx context.Context, req ratelimit.Request) (ratelimit.Result, error)
	Record(ctx context.Context, req ratelimit.Request, records int64) error
	// Reserve, Settle and CountCursor: quota.go.
	Reserve(ctx context.Context, req ratelimit.Request, want int64, cur *ratelimit.Cursor) (ratelimit.Reservation, error)
	Settle(ctx context.Context, r *ratelimit.Reservation, delivered int64) error
	CountCursor(ctx context.Context, subject string, cur ratelimit.Cursor, records int64) error
	Ready(ctx context.Context) error
}

// Auditor takes one event per request, off the request goroutine, and a
// durable start record before a request is forwarded (Begin).
type Auditor interface {
	Begin(ev *audit.Event) error
	Start(ev *audit.Event) (audit.Started, error)
	Record(ev *audit.Event, usage any)
	AcceptingExports() bool
	Ready() error
}

var (
	_ Authenticator = (*identity.Authenticator)(nil)
	_ Decider       = (*policy.Engine)(nil)
	_ Limiter       = (*ratelimit.Limiter)(nil)
	_ Auditor       = (*audit.Auditor)(nil)
)
