package crm

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// soqlCache remembers the query actions of recent SOQL texts, keyed by the
// q parameter exactly as sent: integrations send the same few queries again
// and again, and a hit costs no unescaping, no parse and no allocation (the
// decoded text and the field list are the cached action's). A cached
// action is shared by every request that sends the same text, so it is
// read-only: its field list is clipped, and an append to a copy's Fields
// copies. Bounded: a q longer than soqlCacheKeyMax bytes is parsed every
// time and not kept, and the map is emptied when it holds soqlCacheSize
// texts (a flood of distinct queries only makes them parse again).
type soqlCache struct {
	mu sync.RWMutex
	m  map[string]Action
}

const (
	soqlCacheSize   = 1024
	soqlCacheKeyMax = 4096
)

// action is soqlAction of the unescaped raw q parameter. The cached
// action's access plan (Objects, FieldRoles, Aliases) is shared too.
func (c *soqlCache) action(ctx context.Context, cl *Classifier, raw string) (Action, bool) {
	c.mu.RLock()
	a, ok := c.m[raw]
	c.mu.RUnlock()
	if ok {
		return a, true
	}
	q, ok := unescapeQuery(raw)
	if !ok {
		return Action{}, false
	}
	if a, ok = cl.soqlAction(ctx, q); !ok || len(raw) > soqlCacheKeyMax {
		return a, ok
	}
	a.Fields = slices.Clip(a.Fields)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= soqlCacheSize {
		c.m = make(map[string]Action)
	}
	c.m[strings.Clone(raw)] = a
	c.mu.Unlock()
	return a, true
}
