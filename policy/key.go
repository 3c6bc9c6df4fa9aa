package policy

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The decision cache's key is a byte encoding of the part of the input the
// policies read (the shape), built without the OPA value: on a hit, which
// is a gateway's steady state, the value is not built at all. Building it
// would be most of a cached decision's cost: about 28 allocations and 2 KB
// per request in make bench-load, and hashing and comparing it as much
// again.
//
// Only one thing matters for safety: two inputs with the same key must
// have the same value under the shape (otherwise one caller would get
// another's decision). appendKey therefore walks the fields in value's
// order under the same shape tests, and every value is written with its
// length or count in front, so that no two different sequences of fields
// encode alike. TestKeyFollowsValue changes every field of Input, found by
// reflection (a field added to Input later is covered without a new
// test), and holds the key to changing exactly when the value changes.

// A key tag names each part and field written, so that a shape's key
// cannot be read two ways even where optional parts are left out.
const (
	tagRequest byte = iota + 1
	tagSubject
	tagUpstream
	tagAction
	tagUsage
	tagField
	tagApproval
)

var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendKey appends the cache key of in under shape s to dst. ok is false
// when the input cannot be keyed (claims that do not encode as JSON): the
// decision is then evaluated and not cached.
func (in *Input) appendKey(dst []byte, s *inputShape) (_ []byte, ok bool) {
	k := keyWriter{b: dst, ok: true}
	if f, ok := s.part(kRequest); ok {
		k.tag(tagRequest)
		in.Request.key(&k, f)
	}
	if f, ok := s.part(kSubject); ok {
		k.tag(tagSubject)
		in.Subject.key(&k, f)
	}
	if f, ok := s.part(kUpstream); ok {
		k.tag(tagUpstream)
		if k.has(f, kName) {
			k.str(in.Upstream.Name)
		}
		if k.has(f, kType) {
			k.str(in.Upstream.Type)
		}
	}
	if f, ok := s.part(kAction); ok {
		k.tag(tagAction)
		in.Action.key(&k, f)
	}
	if f, ok := s.part(kUsage); ok {
		k.tag(tagUsage)
		if k.has(f, kRecords) {
			k.counts(in.Usage.Records)
		}
		if k.has(f, kRequests) {
			k.counts(in.Usage.Requests)
		}
	}
	if f, ok := s.part(kApproval); ok {
		k.tag(tagApproval)
		if k.has(f, kStatus) {
			k.str(in.Approval.status()) // as value writes it
		}
		if k.has(f, kID) {
			k.str(in.Approval.ID)
		}
		if k.has(f, kApprover) {
			k.str(in.Approval.Approver)
		}
		if k.has(f, kDecidedAt) {
			k.str(in.Approval.DecidedAt)
		}
	}
	return k.b, k.ok
}

// keyWriter appends a key's parts.
type keyWriter struct {
	b  []byte
	ok bool
	n  byte // the index of the next field within the part being written
}

func (k *keyWriter) tag(t byte) { k.b, k.n = append(k.b, t), 0 }

// has reports whether the shape reads field (as fieldSet.has) and, if so,
// writes the field's index in its part: fields are tested in a fixed order,
// so the index names the field.
func (k *keyWriter) has(f fieldSet, field *ast.Term) bool {
	k.n++
	if !f.has(field) {
		return false
	}
	k.b = append(k.b, tagField, k.n)
	return true
}

func (k *keyWriter) str(s string) {
	k.b = binary.AppendUvarint(k.b, uint64(len(s)))
	k.b = append(k.b, s...)
}

func (k *keyWriter) strs(ss []string) {
	k.b = binary.AppendUvarint(k.b, uint64(len(ss)))
	for _, s := range ss {
		k.str(s)
	}
}

func (k *keyWriter) boolean(v bool) {
	if v {
		k.b = append(k.b, 1)
	} else {
		k.b = append(k.b, 0)
	}
}

// sortedKeys lists a map's keys in order (the value's objects are sets of
// members; the key must not depend on the map's iteration order). Up to
// len(buf) keys are sorted in buf, an array on the caller's stack.
func sortedKeys[V any](m map[string]V, buf []string) []string {
	ks := buf[:0]
	for name := range m {
		ks = append(ks, name)
	}
	slices.Sort(ks)
	return ks
}

func (k *keyWriter) counts(m map[string]int64) {
	var stack [8]string
	k.b = binary.AppendUvarint(k.b, uint64(len(m)))
	for _, name := range sortedKeys(m, stack[:]) {
		k.str(name)
		k.b = binary.AppendVarint(k.b, m[name])
	}
}

func (r *RequestInput) key(k *keyWriter, f fieldSet) {
	if k.has(f, kID) {
		k.str(r.ID)
	}
	if k.has(f, kMethod) {
		k.str(r.Method)
	}
	if k.has(f, kPath) {
		k.str(r.Path)
	}
	if k.has(f, kQuery) {
		var stack [8]string
		q := r.query()
		k.b = binary.AppendUvarint(k.b, uint64(len(q)))
		for _, name := range sortedKeys(q, stack[:]) {
			k.str(name)
			k.strs(q[name])
		}
	}
	if k.has(f, kRemoteAddr) {
		k.str(r.RemoteAddr)
	}
	if k.has(f, kTime) {
		k.str(r.Time.Format(time.RFC3339Nano)) // as value writes it
	}
	if k.has(f, kHeaders) {
		var stack [8]string
		k.b = binary.AppendUvarint(k.b, uint64(len(r.Headers)))
		for _, name := range sortedKeys(r.Headers, stack[:]) {
			k.str(name)
			k.str(r.Headers[name])
		}
	}
}

func (s *SubjectInput) key(k *keyWriter, f fieldSet) {
	if k.has(f, kKind) {
		k.str(s.Kind)
	}
	if k.has(f, kID) {
		k.str(s.ID)
	}
	if k.has(f, kIssuer) {
		k.str(s.Issuer)
	}
	if k.has(f, kEmail) {
		k.str(s.Email)
	}
	if k.has(f, kGroups) {
		k.strs(s.Groups)
	}
	if k.has(f, kRoles) {
		k.strs(s.Roles)
	}
	if k.has(f, kMFA) {
		k.boolean(s.MFA)
	}
	if k.has(f, kClientID) {
		k.str(s.ClientID)
	}
	if k.has(f, kClaims) {
		// Claims come from JWTs in any shape. encoding/json writes map keys
		// sorted, and equal JSON converts to equal values (value converts
		// claims with ast.InterfaceToValue, by way of the same types) but
		// for one case: json.Marshal writes invalid UTF-8 as U+FFFD, so two
		// such strings would encode alike and differ as values. Claims
		// decoded from a token's JSON never hold one; claims that do are
		// not keyed.
		if len(s.Claims) == 0 {
			k.str("")
		} else if j, err := json.Marshal(s.Claims); err == nil && validText(s.Claims) {
			k.str(string(j))
		} else {
			k.ok = false
		}
	}
	if k.has(f, kIssuerPrimary) {
		k.boolean(s.IssuerPrimary)
	}
	if k.has(f, kWatch) {
		k.strs(s.Watch)
	}
}

func (act *ActionInput) key(k *keyWriter, f fieldSet) {
	if k.has(f, kOperation) {
		k.str(act.Operation)
	}
	if k.has(f, kCategory) {
		k.str(act.Category)
	}
	if k.has(f, kObject) {
		k.str(act.Object)
	}
	if k.has(f, kFields) {
		k.strs(act.Fields)
	}
	if k.has(f, kAllFields) {
		k.boolean(act.AllFields)
	}
	if k.has(f, kRecordID) {
		k.str(act.RecordID)
	}
	if k.has(f, kQuery) {
		k.str(act.Query)
	}
	if k.has(f, kIncludeDeleted) {
		k.boolean(act.IncludeDeleted)
	}
	if k.has(f, kAggregate) {
		k.boolean(act.Aggregate)
	}
	if k.has(f, kMode) {
		k.str(act.Mode)
	}
	if k.has(f, kParent) {
		if act.Parent == nil {
			k.boolean(false)
		} else {
			// As a whole, as value builds it; its own fields are indexed
			// after a tag of their own, so they cannot be mistaken for the
			// fields that follow the parent.
			k.boolean(true)
			n := k.n
			k.tag(tagAction)
			act.Parent.key(k, nil)
			k.n = n
		}
	}
	if k.has(f, kObjects) {
		k.strs(act.Objects)
	}
	if k.has(f, kFieldRoles) {
		var stack [32]string // a query's fields: often more than 8
		k.b = binary.AppendUvarint(k.b, uint64(len(act.FieldRoles)))
		for _, name := range sortedKeys(act.FieldRoles, stack[:]) {
			k.str(name)
			k.strs(act.FieldRoles[name])
		}
	}
	if k.has(f, kAliases) {
		var stack [32]string
		k.b = binary.AppendUvarint(k.b, uint64(len(act.Aliases)))
		for _, name := range sortedKeys(act.Aliases, stack[:]) {
			k.str(name)
			k.str(act.Aliases[name])
		}
	}
}

// validText reports whether every string in v (map keys included) is
// valid UTF-8.
func validText(v any) bool {
	switch v := v.(type) {
	case string:
		return utf8.ValidString(v)
	case map[string]any:
		for name, e := range v {
			if !utf8.ValidString(name) || !validText(e) {
				return false
			}
		}
	case []any:
		for _, e := range v {
			if !validText(e) {
				return false
			}
		}
	case []string:
		for _, e := range v {
			if !utf8.ValidString(e) {
				return false
			}
		}
	case map[string]string:
		for name, e := range v {
			if !utf8.ValidString(name) || !utf8.ValidString(e) {
				return false
			}
		}
	}
	return true
}
