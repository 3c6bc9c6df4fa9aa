package crm

import (
	"context"
	"sync"
	"time"
)

// JobStore binds a bulk job to the subject that created it through the
// gateway, so that every later request on the job (status, results,
// abort, close, delete) is decided as the job's object and operation and
// only its owner reaches it (docs/classification.md, "Bulk job
// lifecycle"). The in-memory store serves one replica; a shared store
// (Redis, built by the proxy from the rate limit configuration) serves
// all of them.
type JobStore interface {
	// Bind records the job's owner, object and operation. kind is one of
	// "bulk2_query", "bulk2_ingest", "bulk1", "zoho_bulk_read",
	// "zoho_bulk_write".
	Bind(ctx context.Context, kind, jobID string, job JobBinding) error
	// Lookup returns the binding; ok is false for a job never bound here.
	Lookup(ctx context.Context, kind, jobID string) (job JobBinding, ok bool, err error)
}

// JobBinding is what a JobStore keeps of a job.
type JobBinding struct {
	Owner          string    `json:"owner"`
	Object         string    `json:"object"`
	Operation      Operation `json:"operation"`
	Mode           string    `json:"mode,omitempty"`   // queryAll, insert, ...
	Format         string    `json:"format,omitempty"` // Bulk 1.0 content type
	IncludeDeleted bool      `json:"include_deleted,omitempty"`
}

// MemoryJobStore is a JobStore for one replica: bounded, with a TTL.
type MemoryJobStore struct {
	mu  sync.Mutex
	m   map[string]memJob
	ttl time.Duration
	max int
	now func() time.Time
}

type memJob struct {
	job     JobBinding
	expires time.Time
}

// NewMemoryJobStore keeps at most max jobs for ttl each.
func NewMemoryJobStore(max int, ttl time.Duration, now func() time.Time) *MemoryJobStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryJobStore{m: make(map[string]memJob), ttl: ttl, max: max, now: now}
}

// Bind implements JobStore. A job already bound keeps its first owner.
func (s *MemoryJobStore) Bind(_ context.Context, kind, jobID string, job JobBinding) error {
	key := kind + "\x00" + jobID
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok && now.Before(e.expires) && e.job.Owner != job.Owner {
		return nil
	}
	if len(s.m) >= s.max {
		for k, e := range s.m {
			if !now.Before(e.expires) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= s.max {
			// Still full: forget an arbitrary job (its owner then gets the
			// not-found answer and starts again; nobody else gains it).
			for k := range s.m {
				delete(s.m, k)
				break
			}
		}
	}
	s.m[key] = memJob{job: job, expires: now.Add(s.ttl)}
	return nil
}

// Lookup implements JobStore.
func (s *MemoryJobStore) Lookup(_ context.Context, kind, jobID string) (JobBinding, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[kind+"\x00"+jobID]
	if !ok || !s.now().Before(e.expires) {
		return JobBinding{}, false, nil
	}
	return e.job, true, nil
}
