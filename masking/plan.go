package masking

import "strings"

// Plan is what the request side knows about the keys a response will carry
// (docs/masking.md, "Masking by plan"). Response keys are not always field
// names: SOQL aliases and aggregate keys (expr0), FORMAT(...) aliases,
// GraphQL aliases of fields, nodes, edges and connections. The plan says
// which field each key carries, so masking follows the request, not the
// key it happens to see.
type Plan struct {
	// Object is the request's object: AggregateResult records are
	// attributed to it, and its records are masked strictly for keys the
	// plan does not name (unless AllFields).
	Object string
	// Fields is the select list as the classifier wrote it (plain fields
	// of Object, relationship paths "Account.Name", child subquery fields
	// "Contacts.Email").
	Fields []string
	// AllFields: every field may come back (FIELDS(ALL), no field list), so
	// no key of Object's records is unattributable.
	AllFields bool
	// Objects are further objects whose records the answer holds, each
	// with its own select list (a multi-object GraphQL query or search:
	// the sub-requests); their records get the same treatment as
	// Object's.
	Objects []PlanObject
	// Aliases maps a response key to the expression it carries, fields
	// written "Object.Field": {"m": "Contact.MobilePhone",
	// "expr0": "MAX(Contact.MobilePhone)"}. A GraphQL alias of a node,
	// edges, uiapi or query maps to that word; of a connection, to the
	// object name ({"c": "Contact"}).
	Aliases map[string]string
}

// PlanObject is one more object of a Plan and its select list.
type PlanObject struct {
	Object    string
	Fields    []string
	AllFields bool
}

// aggregateType is the attributes.type of Salesforce aggregate query rows.
const aggregateType = "aggregateresult"

// gqlWords are the GraphQL response names an alias may stand for that the
// rewriter walks by name.
var gqlWords = map[string]bool{"node": true, "edges": true, "uiapi": true, "query": true, "_data": true, "records": true}

// withPlan returns r extended by plan: every alias key masked as the
// strictest of the fields its expression reads; AggregateResult records
// and, unless AllFields, the records of plan.Object masked with the
// strictest rule of plan.Object for any key the plan cannot attribute
// (fail closed). r itself is not changed. Without rules nothing is masked,
// so r is returned as is.
func (r *Rules) withPlan(plan *Plan) *Rules {
	if r.Empty() || plan == nil {
		return r
	}
	n := &Rules{
		exact:     r.exact,
		anyObject: r.anyObject,
		strictest: make(map[string]Strategy, len(r.strictest)+len(plan.Aliases)),
		keys:      r.keys,
		planKeys:  make(map[string]Strategy),
		defaults:  make(map[string]Strategy, 2),
	}
	for k, v := range r.strictest {
		n.strictest[k] = v
	}
	// Every key may be named now: the quick test must let all through.
	for i := range n.quick {
		n.quick[i] = ^uint64(0)
	}
	var scratch []byte
	obj := lowerString(plan.Object)
	if obj == "*" {
		obj = ""
	}
	// strictestOf is the strictest rule that applies to o's records (o
	// lower case; "": any object's).
	strictestOf := func(o string) Strategy {
		st := StrategyNone
		for k, s := range r.exact {
			if ko, _, _ := strings.Cut(k, "\x00"); ko == o && o != "" {
				st = stricter(st, s)
			}
		}
		for _, s := range r.anyObject {
			st = stricter(st, s)
		}
		if o == "" {
			for _, s := range r.strictest {
				st = stricter(st, s)
			}
		}
		return st
	}
	strictest := strictestOf(obj)
	set := func(typ, key string, s Strategy) {
		k := typ + "\x00" + lowerString(key)
		if old, ok := n.planKeys[k]; ok {
			s = stricter(old, s)
		}
		n.planKeys[k] = s
	}
	// The select list: known keys of the object's records and of
	// aggregate rows (a grouped field comes back under its name; a
	// relationship path under its last segment).
	for _, f := range plan.Fields {
		if f == "" {
			continue
		}
		head, _, dotted := strings.Cut(f, ".")
		if obj != "" {
			set(obj, head, r.fieldRule(&scratch, []byte(obj), true, []byte(head)))
			if dotted { // Zoho COQL answers lookups under the dotted path
				set(obj, f, r.fieldRule(&scratch, []byte(obj), true, []byte(f)))
			}
		}
		last := f[strings.LastIndexByte(f, '.')+1:]
		s := r.fieldRule(&scratch, []byte(obj), obj != "", []byte(f))
		if dotted {
			s = stricter(s, r.fieldRule(&scratch, nil, false, []byte(last)))
		}
		set(aggregateType, last, s)
	}
	// A record's id comes back whether or not it was selected (SOSL,
	// GraphQL): never unattributable; its own rules still apply.
	if obj != "" {
		set(obj, "id", r.fieldRule(&scratch, []byte(obj), true, []byte("id")))
	}
	// Further objects: their records' known keys and defaults.
	var others []string
	for _, po := range plan.Objects {
		o := lowerString(po.Object)
		if o == "" || o == "*" {
			continue
		}
		others = append(others, o)
		set(o, "id", r.fieldRule(&scratch, []byte(o), true, []byte("id")))
		for _, f := range po.Fields {
			if f == "" {
				continue
			}
			head, _, dotted := strings.Cut(f, ".")
			set(o, head, r.fieldRule(&scratch, []byte(o), true, []byte(head)))
			if dotted {
				set(o, f, r.fieldRule(&scratch, []byte(o), true, []byte(f)))
			}
		}
		if st := strictestOf(o); st != StrategyNone && !po.AllFields && len(po.Fields) > 0 {
			n.defaults[o] = st
		}
	}
	for key, expr := range plan.Aliases {
		if key == "" {
			continue
		}
		refs := fieldRefs(expr)
		if len(refs) == 0 {
			if gqlWords[strings.ToLower(expr)] || isName(expr) {
				continue // a GraphQL alias of a structure or a connection: the rewriter follows it
			}
			// An expression that reads no field the plan can name: the
			// strictest case.
			set(aggregateType, key, strictest)
			if obj != "" {
				set(obj, key, strictest)
			}
			for _, o := range others {
				set(o, key, stricter(strictest, strictestOf(o)))
			}
			n.strictest[lowerString(key)] = stricter(n.strictest[lowerString(key)], strictest)
			continue
		}
		s := StrategyNone
		for _, ref := range refs {
			o, f, _ := strings.Cut(ref, ".")
			s = stricter(s, r.fieldRule(&scratch, []byte(o), true, []byte(f)))
		}
		set(aggregateType, key, s)
		if obj != "" {
			set(obj, key, s)
		}
		for _, o := range others {
			set(o, key, s)
		}
		for _, ref := range refs {
			o, _, _ := strings.Cut(ref, ".")
			set(lowerString(o), key, s)
		}
		if s != StrategyNone {
			n.strictest[lowerString(key)] = stricter(n.strictest[lowerString(key)], s)
		}
	}
	// Aggregate rows are attributed to the object whatever its rules (the
	// rewriter treats them as typed once a plan is given).
	n.defaults[aggregateType] = strictest
	if strictest != StrategyNone && obj != "" && !plan.AllFields && len(plan.Fields) > 0 {
		n.defaults[obj] = strictest
	}
	return n
}

// planRule is the plan's rule for field of a record of type obj: ok is false
// when the plan says nothing about that type.
func (r *Rules) planRule(scratch *[]byte, obj, field []byte) (Strategy, bool) {
	b := appendLower((*scratch)[:0], obj)
	n := len(b)
	b = append(b, 0)
	b = appendLower(b, field)
	*scratch = b
	if s, ok := r.planKeys[string(b)]; ok {
		return s, true
	}
	if s, ok := r.defaults[string(b[:n])]; ok {
		return s, true
	}
	return StrategyNone, false
}

// fieldRefs returns the "Object.Field" references of an alias expression:
// dotted names outside string literals, in order.
func fieldRefs(expr string) []string {
	var out []string
	inStr := false
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '\'':
			inStr = !inStr
			i++
		case inStr && c == '\\':
			i += 2
		case !inStr && isNameStart(c):
			j := i
			for j < len(expr) && (isNameStart(expr[j]) || expr[j] >= '0' && expr[j] <= '9' || expr[j] == '.') {
				j++
			}
			if name := strings.Trim(expr[i:j], "."); strings.Contains(name, ".") {
				out = append(out, name)
			}
			i = j
		default:
			i++
		}
	}
	return out
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// isName reports whether s is one bare name (an object or GraphQL field).
func isName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isNameStart(c) && !(c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
