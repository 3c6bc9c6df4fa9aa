package crm

import (
	"context"
	"strings"
	"sync"
	"time"
)

// ObjectMetadata is what the access plan needs of an object's describe
// result (Salesforce sobjects/{Object}/describe): relationship names and
// the objects they reach, and the field names as the CRM spells them.
type ObjectMetadata struct {
	// Lookups maps a parent relationship name (fields[].relationshipName)
	// to its referenceTo objects; more than one is a polymorphic lookup.
	Lookups map[string][]string
	// Children maps a child relationship name
	// (childRelationships[].relationshipName) to its childSObject.
	Children map[string]string
	// Fields are the object's field names (fields[].name).
	Fields []string
}

// describeCache remembers ObjectMetadata per object for one upstream,
// with a TTL and a bound; failures are remembered for a short while so a
// CRM that is down is not asked again on every request.
type describeCache struct {
	mu  sync.Mutex
	m   map[string]describeEntry
	ttl time.Duration
	max int
	now func() time.Time
}

type describeEntry struct {
	md      *objectIndex // nil: the fetch failed
	expires time.Time
}

// objectIndex is ObjectMetadata keyed by lower-case names.
type objectIndex struct {
	name     string
	lookups  map[string][]string
	children map[string]string
	fields   map[string]string
}

const describeFailTTL = time.Minute

func newObjectIndex(name string, md ObjectMetadata) *objectIndex {
	x := &objectIndex{name: name, lookups: map[string][]string{}, children: map[string]string{}, fields: map[string]string{}}
	for k, v := range md.Lookups {
		x.lookups[strings.ToLower(k)] = v
	}
	for k, v := range md.Children {
		x.children[strings.ToLower(k)] = v
	}
	for _, f := range md.Fields {
		x.fields[strings.ToLower(f)] = f
	}
	return x
}

// maxDescribeFetches bounds the describe calls one classification may
// make: a query naming many objects costs the CRM at most this many calls
// (the rest resolve from the built-in table).
const maxDescribeFetches = 4

func (d *describeCache) get(ctx context.Context, fetch func(context.Context, string) (ObjectMetadata, error), obj string, budget *int) *objectIndex {
	key := strings.ToLower(obj)
	now := d.now()
	d.mu.Lock()
	e, ok := d.m[key]
	d.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.md
	}
	if *budget <= 0 {
		return nil
	}
	*budget--
	md, err := fetch(ctx, obj)
	e = describeEntry{expires: now.Add(d.ttl)}
	if err != nil {
		e.expires = now.Add(min(d.ttl, describeFailTTL))
	} else {
		e.md = newObjectIndex(obj, md)
	}
	d.mu.Lock()
	if d.m == nil || len(d.m) >= d.max {
		d.m = make(map[string]describeEntry)
	}
	d.m[key] = e
	d.mu.Unlock()
	return e.md
}

// describeResolver resolves from the CRM's metadata, falling back to the
// built-in tables for what the metadata does not answer (fetch failed).
type describeResolver struct {
	ctx    context.Context
	c      *Classifier
	budget int // describe calls this classification may still make
}

func (c *Classifier) resolver(ctx context.Context) resolver {
	if c.opts.Describe == nil {
		return builtinResolver{}
	}
	return &describeResolver{ctx: ctx, c: c, budget: maxDescribeFetches}
}

func (r *describeResolver) meta(obj string) *objectIndex {
	if obj == ObjectUnknown || !isObjectName(obj) {
		return nil
	}
	return r.c.describe.get(r.ctx, r.c.opts.Describe, obj, &r.budget)
}

func (r *describeResolver) object(name string) string { return canonSFObject(name) }

func (r *describeResolver) field(obj, name string) string {
	if md := r.meta(obj); md != nil {
		if f, ok := md.fields[strings.ToLower(name)]; ok {
			return f
		}
	}
	return canonSFField(name)
}

func (r *describeResolver) lookup(obj, rel string) (string, bool) {
	md := r.meta(obj)
	if md == nil {
		return builtinLookup(obj, rel)
	}
	to, ok := md.lookups[strings.ToLower(rel)]
	switch {
	case ok && len(to) == 1 && isObjectName(to[0]):
		return canonSFObject(to[0]), true
	case ok && len(to) > 1:
		// Polymorphic: the built-in table may name the type the path
		// reads (Owner -> User); otherwise unknown.
		return builtinLookup(obj, rel)
	}
	return "", false
}

func (r *describeResolver) child(obj, rel string) (string, bool) {
	md := r.meta(obj)
	if md == nil {
		return builtinChild(obj, rel)
	}
	if t, ok := md.children[strings.ToLower(rel)]; ok && isObjectName(t) {
		return canonSFObject(t), true
	}
	return "", false
}

func (r *describeResolver) fk(rel string) string { return lookupIDField(rel) }
