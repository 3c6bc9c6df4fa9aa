package identity

import (
	"context"
	"net/http"
	"sync/atomic"
)

// SwappableCredentials are Credentials that a reload can replace while
// requests use them (docs/deploy.md, "Reload"): each call goes to the
// Credentials in force. A request that already put the old token on the
// wire finishes with it; an Invalidate of that old token reaches the new
// Credentials, which ignore a token that is not theirs. The old
// Credentials hold no goroutine or connection of their own: once no
// request uses them they are collected.
type SwappableCredentials struct {
	cur atomic.Pointer[credsBox]
}

type credsBox struct{ c Credentials }

var _ Credentials = (*SwappableCredentials)(nil)

// NewSwappableCredentials starts with c.
func NewSwappableCredentials(c Credentials) *SwappableCredentials {
	s := &SwappableCredentials{}
	s.Swap(c)
	return s
}

// Swap makes c the Credentials in force.
func (s *SwappableCredentials) Swap(c Credentials) { s.cur.Store(&credsBox{c}) }

// Current is the Credentials in force.
func (s *SwappableCredentials) Current() Credentials { return s.cur.Load().c }

// Apply is the current Credentials' Apply.
func (s *SwappableCredentials) Apply(ctx context.Context, r *http.Request, callerAuth string) error {
	return s.cur.Load().c.Apply(ctx, r, callerAuth)
}

// Invalidate is the current Credentials' Invalidate.
func (s *SwappableCredentials) Invalidate(failedToken string) { s.cur.Load().c.Invalidate(failedToken) }

// InstanceURL is the current Credentials' InstanceURL.
func (s *SwappableCredentials) InstanceURL() string { return s.cur.Load().c.InstanceURL() }
