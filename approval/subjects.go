package approval

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// SubjectState is what the gateway holds about one subject: frozen (every
// request refused before the policy) and watch flags (input.subject.watch).
type SubjectState struct {
	Frozen   bool      `json:"frozen,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	FrozenBy string    `json:"frozen_by,omitempty"`
	FrozenAt time.Time `json:"frozen_at,omitzero"`
	Watch    []string  `json:"watch,omitempty"`
}

func (s SubjectState) zero() bool { return !s.Frozen && len(s.Watch) == 0 }

// NormSubject is the form subjects are stored and looked up in: trimmed
// and lower-cased, so "Li.Wei@Example.com" freezes li.wei@example.com.
// Two ids that differ only in case are frozen together: a freeze errs
// towards refusing.
func NormSubject(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ErrBadSubject: an empty subject or flag, or one too long.
var ErrBadSubject = errors.New("approval: a subject (and a watch flag) must be 1 to 512 characters")

func checkName(s string) error {
	if s == "" || len(s) > 512 {
		return ErrBadSubject
	}
	return nil
}

// Freeze freezes subject with a reason; by names who froze it.
func (m *Manager) Freeze(ctx context.Context, subject, reason, by string) error {
	subject = NormSubject(subject)
	if err := checkName(subject); err != nil {
		return err
	}
	err := m.s.UpdateSubject(ctx, subject, func(s *SubjectState) {
		s.Frozen, s.Reason, s.FrozenBy, s.FrozenAt = true, reason, by, m.opts.Now().UTC()
	})
	m.forget()
	return err
}

// Unfreeze lifts a freeze.
func (m *Manager) Unfreeze(ctx context.Context, subject string) error {
	subject = NormSubject(subject)
	if err := checkName(subject); err != nil {
		return err
	}
	err := m.s.UpdateSubject(ctx, subject, func(s *SubjectState) {
		s.Frozen, s.Reason, s.FrozenBy, s.FrozenAt = false, "", "", time.Time{}
	})
	m.forget()
	return err
}

// Watch adds a watch flag (e.g. "departing") to subject.
func (m *Manager) Watch(ctx context.Context, subject, flag string) error {
	subject, flag = NormSubject(subject), strings.TrimSpace(flag)
	if checkName(subject) != nil || checkName(flag) != nil {
		return ErrBadSubject
	}
	err := m.s.UpdateSubject(ctx, subject, func(s *SubjectState) {
		if !slices.Contains(s.Watch, flag) {
			s.Watch = append(s.Watch, flag)
			slices.Sort(s.Watch)
		}
	})
	m.forget()
	return err
}

// Unwatch removes a watch flag; flag "" removes them all.
func (m *Manager) Unwatch(ctx context.Context, subject, flag string) error {
	subject, flag = NormSubject(subject), strings.TrimSpace(flag)
	if err := checkName(subject); err != nil {
		return err
	}
	err := m.s.UpdateSubject(ctx, subject, func(s *SubjectState) {
		if flag == "" {
			s.Watch = nil
			return
		}
		s.Watch = slices.DeleteFunc(s.Watch, func(f string) bool { return f == flag })
	})
	m.forget()
	return err
}

// Subjects lists every subject with a state.
func (m *Manager) Subjects(ctx context.Context) (map[string]SubjectState, error) {
	return m.s.Subjects(ctx)
}

// forget drops this replica's copy of the states after a change made here.
func (m *Manager) forget() {
	m.mu.Lock()
	m.snap, m.snapTime = nil, time.Time{}
	m.mu.Unlock()
}

// State is the state of a caller known by several names (subject key, id,
// email): frozen if any name is frozen, watched by the union of the flags.
// A replica reads the states from a shared store at most Options.Refresh
// after it last did, so a freeze made on another replica holds here within
// a second. When the store cannot be read and the copy is older than that,
// the error is returned: the caller refuses the request.
func (m *Manager) State(ctx context.Context, names ...string) (SubjectState, error) {
	snap, err := m.snapshot(ctx)
	if err != nil {
		return SubjectState{}, err
	}
	var out SubjectState
	if len(snap) == 0 {
		return out, nil
	}
	for _, n := range names {
		if n == "" {
			continue
		}
		s, ok := snap[NormSubject(n)]
		if !ok {
			continue
		}
		if s.Frozen && !out.Frozen {
			out.Frozen, out.Reason, out.FrozenBy, out.FrozenAt = true, s.Reason, s.FrozenBy, s.FrozenAt
		}
		for _, f := range s.Watch {
			if !slices.Contains(out.Watch, f) {
				out.Watch = append(out.Watch, f)
			}
		}
	}
	slices.Sort(out.Watch)
	return out, nil
}

func (m *Manager) snapshot(ctx context.Context) (map[string]SubjectState, error) {
	if m.mem {
		return m.s.Subjects(ctx)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if m.snap != nil && now.Sub(m.snapTime) < m.opts.Refresh {
		return m.snap, nil
	}
	snap, err := m.s.Subjects(ctx)
	if err != nil {
		return nil, err
	}
	if snap == nil {
		snap = map[string]SubjectState{}
	}
	m.snap, m.snapTime = snap, now
	return snap, nil
}
