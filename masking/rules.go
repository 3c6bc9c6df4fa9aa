package masking

import (
	"fmt"
	"sort"
	"strings"

	"github.com/crmgw/crmgw/internal/jsonscan"
)

// Strategy is how a masked value is replaced. Strategies are ordered by how
// much of the value they let through: when several rules could apply to a
// field whose object is unknown, the strictest one (highest value) wins.
type Strategy uint8

// The strategies named in a policy decision's mask map.
const (
	StrategyNone    Strategy = iota // not masked
	StrategyPartial                 // keep the last 4 characters: "*******8000"
	StrategyEmail                   // first character and domain: "w***@customer-corp.cn"
	StrategyHash                    // "hmac:" + 32 hex chars of HMAC-SHA256(key, value)
	StrategyRedact                  // "****"
	StrategyNull                    // JSON null, empty CSV cell
	StrategyRemove                  // the member (JSON) or column (CSV) disappears
)

var strategyNames = map[string]Strategy{
	"partial": StrategyPartial,
	"email":   StrategyEmail,
	"hash":    StrategyHash,
	"redact":  StrategyRedact,
	"null":    StrategyNull,
	"remove":  StrategyRemove,
}

// String returns the strategy's name as written in a policy decision.
func (s Strategy) String() string {
	for n, v := range strategyNames {
		if v == s {
			return n
		}
	}
	return "none"
}

// ParseStrategy reads a strategy name ("redact", "partial", "email", "hash",
// "null", "remove"); names are case-insensitive.
func ParseStrategy(name string) (Strategy, error) {
	s, ok := strategyNames[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return StrategyNone, fmt.Errorf("unknown masking strategy %q", name)
	}
	return s, nil
}

// Rules is a compiled mask map (policy decision "mask"). It is immutable and
// safe for concurrent use; lookups lowercase into a caller-owned scratch buffer
// and index maps with string(bytes), which Go does without allocating.
type Rules struct {
	exact     map[string]Strategy // ascii-lower "object\x00field"
	anyObject map[string]Strategy // "*" rules, by lower(field)
	strictest map[string]Strategy // strictest strategy over every object, by lower(field)
	keys      []string
	// quick rejects most unnamed fields without hashing: bit (first byte,
	// lowercased, mod 64) of quick[len mod 64] is set for every named field
	// (jsonscan.QuickBit, which the scanner's Member and CompactObject read
	// the same way).
	quick [64]uint64
	// planKeys and defaults are set by withPlan (plan.go): the rule of a
	// key of a typed record, by ascii-lower "type\x00key", and the rule of
	// any other key of a type's records, by ascii-lower type.
	planKeys map[string]Strategy
	defaults map[string]Strategy
}

// CompileRules compiles a policy decision's mask map: keys are "Object.Field"
// ("*" for any object; the field may itself be a dotted path such as
// "Contacts.Account_Name.Account_Name"), values are strategy names. Object and
// field names are matched case-insensitively. An unknown strategy or a key
// without a dot is an error naming the key.
func CompileRules(mask map[string]string) (*Rules, error) {
	r := &Rules{
		exact:     make(map[string]Strategy, len(mask)),
		anyObject: make(map[string]Strategy),
		strictest: make(map[string]Strategy, len(mask)),
	}
	var errs []string
	for key, name := range mask {
		s, err := ParseStrategy(name)
		if err != nil {
			errs = append(errs, fmt.Sprintf("mask %q: %v", key, err))
			continue
		}
		obj, field, ok := strings.Cut(key, ".")
		if !ok || obj == "" || field == "" {
			errs = append(errs, fmt.Sprintf("mask %q: key must be Object.Field (or *.Field)", key))
			continue
		}
		lo, lf := lowerString(obj), lowerString(field)
		if obj == "*" {
			r.anyObject[lf] = stricter(r.anyObject[lf], s)
		} else {
			k := lo + "\x00" + lf
			r.exact[k] = stricter(r.exact[k], s)
		}
		r.strictest[lf] = stricter(r.strictest[lf], s)
		i, bit := jsonscan.QuickBit([]byte(lf))
		r.quick[i] |= bit
		r.keys = append(r.keys, key)
	}
	// Fold "*" rules into the exact ones so a named field needs one lookup.
	for k, s := range r.exact {
		_, field, _ := strings.Cut(k, "\x00")
		if a, ok := r.anyObject[field]; ok {
			r.exact[k] = stricter(s, a)
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("masking: %s", strings.Join(errs, "; "))
	}
	sort.Strings(r.keys)
	return r, nil
}

// Empty reports whether no field is masked (a nil *Rules is empty).
func (r *Rules) Empty() bool { return r == nil || len(r.keys) == 0 }

// Keys returns the rule keys as written, sorted.
func (r *Rules) Keys() []string {
	if r == nil {
		return nil
	}
	return append([]string(nil), r.keys...)
}

func stricter(a, b Strategy) Strategy { return max(a, b) }

// lookup returns the strategy for field of object. An object of nil means
// "unknown type": the strictest rule naming the field under any object
// applies. scratch is the caller's reusable buffer.
func (r *Rules) lookup(scratch *[]byte, obj []byte, objKnown bool, field []byte) Strategy {
	if r.Empty() || len(field) == 0 {
		return StrategyNone
	}
	if i, bit := jsonscan.QuickBit(field); r.quick[i]&bit == 0 {
		return StrategyNone
	}
	// Most fields are named by no rule: one lookup of the field alone
	// (strictest holds every field any rule names) settles them.
	b := appendLower((*scratch)[:0], field)
	*scratch = b
	s, named := r.strictest[string(b)]
	if !named || !objKnown {
		return s
	}
	b = appendLower(b[:0], obj)
	b = append(b, 0)
	b = appendLower(b, field)
	*scratch = b
	if s, ok := r.exact[string(b)]; ok {
		return s // already folded with the "*" rule
	}
	return r.anyObject[string(b[len(b)-len(field):])]
}

// mayName reports whether a rule may name field: false settles most
// fields at the cost of one bit test (a dotted name is always looked up).
func (r *Rules) mayName(field []byte) bool {
	i, bit := jsonscan.QuickBit(field)
	return r.quick[i]&bit != 0 || indexByte(field, '.') >= 0
}

// fieldRule is lookup extended to dotted keys (Zoho COQL "Account_Name.Account_Name",
// CSV relationship columns "Account.Owner.Email", report columns "ACCOUNT.NAME"):
// the full path under the object, then the first segment (masking a lookup
// field masks every path through it), then the last segment under an unknown
// object (the related record's type is not in the data).
func (r *Rules) fieldRule(scratch *[]byte, obj []byte, objKnown bool, field []byte) Strategy {
	if r.planKeys != nil && objKnown {
		if s, ok := r.planRule(scratch, obj, field); ok {
			return s
		}
	}
	s := r.lookup(scratch, obj, objKnown, field)
	dot := indexByte(field, '.')
	if dot < 0 {
		return s
	}
	s = stricter(s, r.lookup(scratch, obj, objKnown, field[:dot]))
	last := lastIndexByte(field, '.')
	return stricter(s, r.lookup(scratch, nil, false, field[last+1:]))
}

// indexByte and equalFold are the scanner's (internal/jsonscan), so that
// names are searched and compared one way on both sides.
func indexByte(b []byte, c byte) int { return jsonscan.IndexByte(b, c) }

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

func appendLower(dst, src []byte) []byte {
	for _, c := range src {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func lowerString(s string) string { return string(appendLower(nil, []byte(s))) }

func equalFold(b []byte, s string) bool { return jsonscan.EqualFold(b, s) }
