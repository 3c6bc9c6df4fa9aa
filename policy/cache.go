package policy

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// DefaultCacheSize is how many decisions one policy revision remembers.
const DefaultCacheSize = 4096

// decisionCache remembers the decisions of one policy revision by the part
// of the input the policies read (see inputShape). A decision is a function
// of that part and of the revision's data only when no reachable rule calls
// a nondeterministic builtin (time.now_ns, http.send, rand.intn, ...) and the
// part holds nothing unique to a request (request.id, request.time); the
// evaluator builds a cache only then. A reload builds a new revision, and
// with it a new, empty cache.
//
// Eviction is by generations: entries go into the current map; when it is
// full, it becomes the previous one and the one before is dropped; a hit in
// the previous map moves the entry forward. Recently used decisions stay,
// every operation is O(1), and at most 2×(size/2) entries are held.
type decisionCache struct {
	mu       sync.Mutex
	half     int
	cur, old map[int][]cacheEntry
	n        int // entries in cur
}

type cacheEntry struct {
	key ast.Value
	d   Decision
}

func newDecisionCache(size int) *decisionCache {
	half := max(size/2, 1)
	return &decisionCache{half: half, cur: make(map[int][]cacheEntry, half)}
}

// get returns the decision remembered for key. Keys are compared in full,
// not by hash alone. The Decision's Mask is shared: callers copy before
// changing it.
func (c *decisionCache) get(key ast.Value) (Decision, bool) {
	h := key.Hash()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := find(c.cur[h], key); ok {
		return e.d, true
	}
	if e, ok := find(c.old[h], key); ok {
		c.insert(h, e)
		return e.d, true
	}
	return Decision{}, false
}

func (c *decisionCache) put(key ast.Value, d Decision) {
	h := key.Hash()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := find(c.cur[h], key); !ok {
		c.insert(h, cacheEntry{key: key, d: d})
	}
}

// find returns the entry for key among entries of the same hash.
func find(entries []cacheEntry, key ast.Value) (cacheEntry, bool) {
	for _, e := range entries {
		if e.key.Compare(key) == 0 {
			return e, true
		}
	}
	return cacheEntry{}, false
}

func (c *decisionCache) insert(h int, e cacheEntry) {
	if c.n >= c.half {
		c.old, c.cur, c.n = c.cur, make(map[int][]cacheEntry, c.half), 0
	}
	c.cur[h] = append(c.cur[h], e)
	c.n++
}
