package proxy

import (
	"reflect"
	"sync"

	"github.com/crmgw/crmgw/masking"
)

// ruleCache compiles each decision's mask map once. A cached policy
// decision hands the same Mask map to every request it answers (the policy
// package shares it and never changes it), and compiling it per response
// was a tenth of the objects a request allocated. Entries are keyed by the
// map's address and hold the map, so while an entry exists no other map can
// have that address; the cache is emptied when it is full. An invalid mask
// is not cached: it is an error for every response it would mask.
type ruleCache struct {
	mu sync.Mutex
	m  map[uintptr]ruleEntry
}

type ruleEntry struct {
	mask  map[string]string
	rules *masking.Rules
}

// maxRuleCache bounds the maps held: distinct decisions of the default
// policies number a few per role and object.
const maxRuleCache = 1024

func (c *ruleCache) rules(mask map[string]string) (*masking.Rules, error) {
	if len(mask) == 0 {
		return masking.CompileRules(nil) // no map to key by: cheap anyway
	}
	k := reflect.ValueOf(mask).Pointer()
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return e.rules, nil
	}
	r, err := masking.CompileRules(mask)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxRuleCache {
		c.m = make(map[uintptr]ruleEntry)
	}
	c.m[k] = ruleEntry{mask, r}
	c.mu.Unlock()
	return r, nil
}
