package approval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Store holds requests and subject states. Every change goes through
// Update, Open or UpdateSubject, which a store applies atomically (the
// memory store under a lock, the Redis store in a WATCH transaction), so
// two replicas deciding, using or opening the same request at once cannot
// both succeed.
type Store interface {
	// Get returns the request with id, or ErrNotFound.
	Get(ctx context.Context, id string) (*Request, error)
	// Update applies fn to the stored request and stores the result; an
	// error from fn leaves it unchanged and is returned.
	Update(ctx context.Context, id string, fn func(*Request) error) (*Request, error)
	// Open returns the request the key names if keep accepts it; else it
	// stores fresh, points key at it and returns it with created true.
	// keep may change the request it looks at (an expiry), which is
	// stored. With fresh nil nothing is created: (nil, false, nil).
	Open(ctx context.Context, key string, keep func(*Request) (keepIt, changed bool), fresh *Request) (*Request, bool, error)
	// List returns the most recent requests, newest first, at most limit.
	List(ctx context.Context, limit int) ([]*Request, error)
	// Subjects returns every subject with a state (frozen or watched).
	Subjects(ctx context.Context) (map[string]SubjectState, error)
	// UpdateSubject applies fn to a subject's state (zero when none); a
	// state left zero is removed.
	UpdateSubject(ctx context.Context, subject string, fn func(*SubjectState)) error
	Ping(ctx context.Context) error
	Close() error
}

// Options tune a Manager.
type Options struct {
	// PendingTTL is how long a request waits for a decision (default 24h).
	PendingTTL time.Duration
	// DefaultTTL is the grant's validity when the policy names none (default 4h).
	DefaultTTL time.Duration
	// Refresh is how long a replica may use its copy of the subject states
	// (frozen, watched) before reading them again; at most 1s (default 500ms).
	// The memory store is read directly.
	Refresh time.Duration
	// OnStep is called after each step of a request (requested, approved,
	// denied, used, expired), for audit and alerts. It must not block long.
	OnStep func(r Request, step string)
	// Now is the clock (tests).
	Now func() time.Time
}

// Manager applies the rules of approvals over a Store.
type Manager struct {
	s    Store
	opts Options
	mem  bool

	mu       sync.Mutex
	snap     map[string]SubjectState
	snapTime time.Time
}

// NewManager builds a Manager over s.
func NewManager(s Store, opts Options) *Manager {
	if opts.PendingTTL <= 0 {
		opts.PendingTTL = 24 * time.Hour
	}
	if opts.DefaultTTL <= 0 {
		opts.DefaultTTL = 4 * time.Hour
	}
	if opts.Refresh <= 0 || opts.Refresh > time.Second {
		opts.Refresh = 500 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	_, mem := s.(*MemoryStore)
	return &Manager{s: s, opts: opts, mem: mem}
}

// Store is the manager's store.
func (m *Manager) Store() Store { return m.s }

func (m *Manager) step(r *Request, step string) {
	if m.opts.OnStep != nil && r != nil {
		m.opts.OnStep(*r, step)
	}
}

// openKey names the current request of one subject for one action.
func openKey(subject, fingerprint string) string {
	h := sha256.Sum256([]byte(subject))
	return hex.EncodeToString(h[:12]) + ":" + fingerprint
}

// Lookup returns the current request of subject for the action with
// fingerprint fp (nil when there is none), expiring it if its time is up.
func (m *Manager) Lookup(ctx context.Context, subject, fp string) (*Request, error) {
	var expired bool
	r, created, err := m.s.Open(ctx, openKey(subject, fp), func(r *Request) (bool, bool) {
		if r.expiredAt(m.opts.Now()) {
			r.Status = StatusExpired
			expired = true
			return true, true
		}
		return true, false
	}, nil)
	if err != nil || r == nil || created {
		return nil, err
	}
	if expired {
		m.step(r, StepExpired)
	}
	return r, nil
}

// Ask returns the pending or approved request of r.Subject for the same
// action, or stores r as a new pending request (created true): the same
// subject asking for the same action again gets the same request, not a
// new one each time. A request denied, used or expired is not reused.
func (m *Manager) Ask(ctx context.Context, r Request) (*Request, bool, error) {
	if r.Subject == "" {
		return nil, false, errors.New("approval: request without a subject")
	}
	if len(r.Approvers) == 0 {
		return nil, false, fmt.Errorf("%w (none named)", ErrBadApprover)
	}
	for _, a := range r.Approvers {
		if _, _, err := ParseApprover(a); err != nil {
			return nil, false, fmt.Errorf("%w: got %q", err, a)
		}
	}
	now := m.opts.Now()
	r.ID = "apr_" + strings.ToLower(ulid.Make().String())
	r.Fingerprint = r.Action.Fingerprint()
	r.Created = now
	r.PendingUntil = now.Add(m.opts.PendingTTL)
	if r.TTL <= 0 {
		r.TTL = Duration(m.opts.DefaultTTL)
	}
	r.Status = StatusPending
	r.Approver, r.DecidedAt, r.Comment, r.UsedBy, r.Records = "", time.Time{}, "", nil, 0
	var expired *Request
	got, created, err := m.s.Open(ctx, openKey(r.Subject, r.Fingerprint), func(old *Request) (bool, bool) {
		if old.expiredAt(now) {
			old.Status = StatusExpired
			c := *old
			expired = &c
			return false, true
		}
		return old.Status == StatusPending || old.Status == StatusApproved, false
	}, &r)
	if err != nil {
		return nil, false, err
	}
	if expired != nil {
		m.step(expired, StepExpired)
	}
	if created {
		m.step(got, StepRequested)
	}
	return got, created, nil
}

// Decide approves or denies a pending request, under the four-eyes rules
// (Request.MayDecide). The approver is whoever the caller authenticated;
// the store's state decides, so two approvers at once cannot both win.
func (m *Manager) Decide(ctx context.Context, id string, a Approver, approve bool, comment string) (*Request, error) {
	if len(comment) > 2000 {
		return nil, errors.New("approval: comment longer than 2000 bytes")
	}
	now := m.opts.Now()
	var expired bool
	r, err := m.s.Update(ctx, id, func(r *Request) error {
		if err := r.MayDecide(a); err != nil {
			return err
		}
		if r.Status == StatusPending && r.expiredAt(now) {
			r.Status = StatusExpired
			expired = true
			return nil
		}
		if r.Status != StatusPending {
			return fmt.Errorf("%w (it is %s)", ErrNotPending, r.Status)
		}
		r.Status = StatusDenied
		if approve {
			r.Status = StatusApproved
		}
		r.Approver, r.DecidedAt, r.Comment = a.Name(), now, comment
		return nil
	})
	if err != nil {
		return nil, err
	}
	if expired {
		m.step(r, StepExpired)
		return r, ErrExpired
	}
	if approve {
		m.step(r, StepApproved)
	} else {
		m.step(r, StepDenied)
	}
	return r, nil
}

// ErrNoGrant: the request has no valid grant for this use.
var ErrNoGrant = errors.New("approval: no valid grant")

// Use lets one gateway request through under the grant of id: the first
// use turns an approved request into a used one; after it, only a
// continuation of the export (next page, bulk job results) is let through,
// while the grant's time lasts. Anything else is ErrNoGrant.
func (m *Manager) Use(ctx context.Context, id, requestID string, continuation bool) (*Request, error) {
	now := m.opts.Now()
	var expired bool
	r, err := m.s.Update(ctx, id, func(r *Request) error {
		switch {
		case r.Status == StatusApproved && r.expiredAt(now):
			r.Status = StatusExpired
			expired = true
			return nil
		case r.Status == StatusApproved:
			// The first request of the export; a bulk job's results can
			// be the first when the job was made before approval was asked.
			r.Status, r.UsedAt = StatusUsed, now
		case r.Status == StatusUsed && continuation && now.Before(r.GrantUntil()):
		default:
			return ErrNoGrant
		}
		if len(r.UsedBy) < 1000 {
			r.UsedBy = append(r.UsedBy, requestID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if expired {
		m.step(r, StepExpired)
		return nil, ErrNoGrant
	}
	return r, nil
}

// Delivered adds the records one request under the grant delivered to
// the request's total and reports the use (StepUsed) with them.
func (m *Manager) Delivered(ctx context.Context, id, requestID string, records int64) {
	r, err := m.s.Update(ctx, id, func(r *Request) error {
		r.Records += records
		return nil
	})
	if err == nil {
		// The step reports this request's records; the stored request
		// keeps the total.
		c := *r
		c.Request, c.Records = requestID, records
		m.step(&c, StepUsed)
	}
}

// Get returns one request, expiring it first if its time is up.
func (m *Manager) Get(ctx context.Context, id string) (*Request, error) {
	r, err := m.s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.expiredAt(m.opts.Now()) {
		return m.expire(ctx, id)
	}
	return r, nil
}

func (m *Manager) expire(ctx context.Context, id string) (*Request, error) {
	var changed bool
	r, err := m.s.Update(ctx, id, func(r *Request) error {
		if r.expiredAt(m.opts.Now()) {
			r.Status, changed = StatusExpired, true
		}
		return nil
	})
	if changed {
		m.step(r, StepExpired)
	}
	return r, err
}

// Filter narrows List.
type Filter struct {
	Status  Status // "" for any
	Subject string // "" for any
	// For, when set, keeps the requests this approver may decide.
	For *Approver
	// Limit caps the answer (default 200).
	Limit int
}

// List returns the requests matching f, newest first, expired ones
// marked as such.
func (m *Manager) List(ctx context.Context, f Filter) ([]*Request, error) {
	if f.Limit <= 0 {
		f.Limit = 200
	}
	all, err := m.s.List(ctx, 1000)
	if err != nil {
		return nil, err
	}
	var out []*Request
	for _, r := range all {
		if r.expiredAt(m.opts.Now()) {
			if e, err := m.expire(ctx, r.ID); err == nil {
				r = e
			}
		}
		if f.Status != "" && r.Status != f.Status {
			continue
		}
		if f.Subject != "" && r.Subject != f.Subject {
			continue
		}
		if f.For != nil && r.MayDecide(*f.For) != nil {
			continue
		}
		out = append(out, r)
		if len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

// Recent returns the subject's last requests (any status), newest first:
// what the approval page shows as the subject's recent exports.
func (m *Manager) Recent(ctx context.Context, subject string, n int) ([]*Request, error) {
	return m.List(ctx, Filter{Subject: subject, Limit: n})
}

// Ready reports whether the store answers.
func (m *Manager) Ready(ctx context.Context) error { return m.s.Ping(ctx) }

// Close closes the store.
func (m *Manager) Close() error { return m.s.Close() }

// sortNewest orders requests newest first.
func sortNewest(rs []*Request) {
	slices.SortFunc(rs, func(a, b *Request) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
}
