package approval

import (
	"context"
	"slices"
	"sync"
)

// MemoryStore keeps requests and subject states in this process: for a
// single gateway. Everything is lost on restart.
type MemoryStore struct {
	mu       sync.Mutex
	reqs     map[string]*Request
	open     map[string]string
	order    []string
	subjects map[string]SubjectState
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{reqs: map[string]*Request{}, open: map[string]string{}, subjects: map[string]SubjectState{}}
}

// copyReq copies a request so callers never share the stored one.
func copyReq(r *Request) *Request {
	c := *r
	c.Approvers = slices.Clone(r.Approvers)
	c.UsedBy = slices.Clone(r.UsedBy)
	c.Action.Fields = slices.Clone(r.Action.Fields)
	return &c
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, id string) (*Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reqs[id]
	if !ok {
		return nil, ErrNotFound
	}
	return copyReq(r), nil
}

// Update implements Store.
func (s *MemoryStore) Update(_ context.Context, id string, fn func(*Request) error) (*Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reqs[id]
	if !ok {
		return nil, ErrNotFound
	}
	c := copyReq(r)
	if err := fn(c); err != nil {
		return nil, err
	}
	s.reqs[id] = copyReq(c)
	return c, nil
}

// Open implements Store.
func (s *MemoryStore) Open(_ context.Context, key string, keep func(*Request) (bool, bool), fresh *Request) (*Request, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.open[key]; ok {
		if r, ok := s.reqs[id]; ok {
			c := copyReq(r)
			k, changed := keep(c)
			if changed {
				s.reqs[id] = copyReq(c)
			}
			if k {
				return c, false, nil
			}
		}
	}
	if fresh == nil {
		return nil, false, nil
	}
	s.reqs[fresh.ID] = copyReq(fresh)
	s.open[key] = fresh.ID
	s.order = append(s.order, fresh.ID)
	return copyReq(fresh), true, nil
}

// List implements Store.
func (s *MemoryStore) List(_ context.Context, limit int) ([]*Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Request
	for i := len(s.order) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, copyReq(s.reqs[s.order[i]]))
	}
	sortNewest(out)
	return out, nil
}

// Subjects implements Store.
func (s *MemoryStore) Subjects(context.Context) (map[string]SubjectState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.subjects) == 0 {
		return nil, nil
	}
	out := make(map[string]SubjectState, len(s.subjects))
	for k, v := range s.subjects {
		v.Watch = slices.Clone(v.Watch)
		out[k] = v
	}
	return out, nil
}

// UpdateSubject implements Store.
func (s *MemoryStore) UpdateSubject(_ context.Context, subject string, fn func(*SubjectState)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.subjects[subject]
	st.Watch = slices.Clone(st.Watch)
	fn(&st)
	if st.zero() {
		delete(s.subjects, subject)
	} else {
		s.subjects[subject] = st
	}
	return nil
}

// Ping implements Store.
func (s *MemoryStore) Ping(context.Context) error { return nil }

// Close implements Store.
func (s *MemoryStore) Close() error { return nil }
