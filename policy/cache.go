package policy

import "sync"

// DefaultCacheSize is how many decisions one policy revision remembers.
const DefaultCacheSize = 4096

// decisionCache remembers the decisions of one policy revision by the part
// of the input the policies read (see inputShape), encoded as a byte key
// (appendKey): keys are compared in full, not by a hash. A decision is a function
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
	cur, old map[string]Decision
}

func newDecisionCache(size int) *decisionCache {
	half := max(size/2, 1)
	return &decisionCache{half: half, cur: make(map[string]Decision, half)}
}

// get returns the decision remembered for key (see appendKey). The
// Decision's Mask is shared: callers copy before changing it.
func (c *decisionCache) get(key []byte) (Decision, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.cur[string(key)]; ok {
		return d, true
	}
	if d, ok := c.old[string(key)]; ok {
		c.insert(string(key), d)
		return d, true
	}
	return Decision{}, false
}

func (c *decisionCache) put(key []byte, d Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[string(key)]; !ok {
		c.insert(string(key), d)
	}
}

func (c *decisionCache) insert(key string, d Decision) {
	if len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[string]Decision, c.half)
	}
	c.cur[key] = d
}
