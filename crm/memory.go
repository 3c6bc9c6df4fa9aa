package crm

import (
	"container/list"
	"sync"
	"time"
)

// memory remembers page tokens and bulk jobs, each bound to the subject that
// started it: an in-memory LRU with a TTL. It is lost on restart (a
// paginating client then restarts its query: unknown locators classify as
// OpUnknown).
type memory struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	now   func() time.Time
	ll    *list.List
	items map[string]*list.Element
}

type memEntry struct {
	key     string
	action  Action
	format  string // bulk 1.0 job content type ("CSV", "JSON", "XML", ...)
	expires time.Time
}

// Kinds of remembered things (part of the key).
const (
	memLocator    = "sfq" // Salesforce query locator -> query action
	memJob2Query  = "b2q" // Bulk 2.0 query job -> action
	memJob2Ingest = "b2i" // Bulk 2.0 ingest job -> action
	memJob1       = "b1"  // Bulk 1.0 job -> action
	memSfLocator  = "sfl" // Sforce-Locator of a bulk job (key: job|locator)
	memZohoPage   = "zpt" // Zoho page_token -> action
	memZohoBulk   = "zbr" // Zoho bulk read job -> action
	memZohoWrite  = "zbw" // Zoho bulk write job -> action
)

func newMemory(max int, ttl time.Duration, now func() time.Time) *memory {
	return &memory{max: max, ttl: ttl, now: now, ll: list.New(), items: make(map[string]*list.Element)}
}

func memKey(kind, subject, id string) string {
	return kind + "\x00" + subject + "\x00" + id
}

func (m *memory) put(kind, subject, id string, e memEntry) {
	if id == "" {
		return
	}
	e.key = memKey(kind, subject, id)
	e.expires = m.now().Add(m.ttl)
	e.action.Parent = nil
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[e.key]; ok {
		el.Value = &e
		m.ll.MoveToFront(el)
		return
	}
	m.items[e.key] = m.ll.PushFront(&e)
	for m.ll.Len() > m.max {
		last := m.ll.Back()
		m.ll.Remove(last)
		delete(m.items, last.Value.(*memEntry).key)
	}
}

func (m *memory) get(kind, subject, id string) (memEntry, bool) {
	if id == "" {
		return memEntry{}, false
	}
	key := memKey(kind, subject, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[key]
	if !ok {
		return memEntry{}, false
	}
	e := el.Value.(*memEntry)
	if m.now().After(e.expires) {
		m.ll.Remove(el)
		delete(m.items, key)
		return memEntry{}, false
	}
	m.ll.MoveToFront(el)
	return *e, true
}

func (m *memory) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ll.Len()
}
