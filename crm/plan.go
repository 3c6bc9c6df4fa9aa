package crm

import (
	"context"
	"slices"
	"strings"
)

// The access plan (docs/classification.md, "Access plan"): Action.Objects,
// Action.FieldRoles and Action.Aliases, built from a parsed query by
// resolving each relationship path to the object it reaches.

// ObjectUnknown is the object of a relationship the classifier cannot
// resolve. It is listed in Action.Objects (the policies deny it by
// default) and fields reached through it are keyed "unknown.Field".
const ObjectUnknown = "unknown"

// roleOrder fixes the order of roles in FieldRoles values.
var roleOrder = [...]string{RoleSelect, RoleFilter, RoleSort, RoleGroup, RoleAggregate, RoleSearch}

// planBuilder accumulates a plan into an action.
type planBuilder struct {
	r        resolver
	objects  []string
	roles    map[string][]string
	aliases  map[string]string
	dropRole string // test hook: a role never recorded (mutation check)
	coql     bool   // response keys as Zoho COQL names them
}

func newPlanBuilder(r resolver, dropRole string) *planBuilder {
	return &planBuilder{r: r, roles: make(map[string][]string, 8), dropRole: dropRole}
}

func (b *planBuilder) addObject(o string) {
	if o == "" || slices.Contains(b.objects, o) {
		return
	}
	b.objects = append(b.objects, o)
}

func (b *planBuilder) addRole(key, role string) {
	if role == b.dropRole {
		return
	}
	rs := b.roles[key]
	if rs == nil {
		// One shared, full slice per role: a second role appends to a
		// copy, so no plan can write into another's.
		b.roles[key] = singleRoles[slices.Index(roleOrder[:], role)]
		return
	}
	if slices.Contains(rs, role) {
		return
	}
	rs = append(rs[:len(rs):len(rs)], role)
	slices.SortFunc(rs, func(x, y string) int { return slices.Index(roleOrder[:], x) - slices.Index(roleOrder[:], y) })
	b.roles[key] = rs
}

// singleRoles are the role lists of one role, shared (read-only).
var singleRoles = func() (out [len(roleOrder)][]string) {
	for i, r := range roleOrder {
		out[i] = []string{r}[:1:1]
	}
	return out
}()

func (b *planBuilder) addAlias(key, expr string) {
	if b.aliases == nil {
		b.aliases = make(map[string]string, 4)
	}
	b.aliases[key] = expr
}

// apply writes the plan into a.
func (b *planBuilder) apply(a *Action) {
	a.Objects = slices.Clip(b.objects)
	if len(b.roles) > 0 {
		a.FieldRoles = b.roles
	}
	a.Aliases = b.aliases
}

// soql adds a parsed SOQL/COQL plan whose FROM object resolves to obj.
// forceRole, when set, replaces every role (semi-joins are filters).
func (b *planBuilder) soql(sp *soqlPlan, obj string, forceRole string, top bool) {
	b.addObject(obj)
	var keys []string // the field key of each ref, for the response keys
	if top && len(sp.keys) > 0 {
		keys = make([]string, len(sp.refs))
	}
	extra := ""
	if sp.search {
		extra = RoleSearch
	}
	for i, ref := range sp.refs {
		role := ref.role
		if forceRole != "" {
			role = forceRole
		}
		k := b.ref(sp, obj, ref, role, extra)
		if keys != nil {
			keys[i] = k
		}
	}
	if sp.search {
		b.addRole(obj+".*", RoleSearch)
	}
	if top && forceRole == "" {
		for _, k := range sp.keys {
			var sb, raw strings.Builder
			for _, part := range k.expr {
				if part.ref < 0 {
					sb.WriteString(part.text)
					raw.WriteString(part.text)
				} else {
					sb.WriteString(keys[part.ref])
					raw.WriteString(sp.refs[part.ref].path)
				}
			}
			key := k.key
			if k.numbered && b.coql {
				// Zoho names an unaliased aggregate column by its
				// expression, not exprN.
				key = raw.String()
			}
			b.addAlias(key, sb.String())
		}
	}
	for _, child := range sp.children {
		target, ok := b.r.child(obj, child.object)
		if !ok {
			target = ObjectUnknown
		}
		b.soql(child, target, forceRole, false)
	}
	for _, semi := range sp.semis {
		b.soql(semi, b.r.object(semi.object), RoleFilter, false)
	}
}

// ref records one field reference (with role, and extra when set) and
// returns the key of the field itself.
func (b *planBuilder) ref(sp *soqlPlan, obj string, ref planRef, role, extra string) string {
	if strings.IndexByte(ref.path, '.') < 0 {
		var one [1]string
		one[0] = ref.path
		return b.path(obj, one[:], ref, role, extra)
	}
	segs := strings.Split(ref.path, ".")
	if ref.typeOf != "" {
		// TYPEOF names a polymorphic relationship, never an alias.
		return b.path(obj, segs, ref, role, extra)
	}
	// A FROM alias or the object's own name may qualify a path.
	aliased := false
	for range 4 { // an alias may stand for a path that starts with another
		pfx, ok := sp.aliases[strings.ToLower(segs[0])]
		if !ok || len(segs) < 2 {
			break
		}
		aliased = true
		if pfx == "" {
			segs = segs[1:]
		} else {
			segs = append(strings.Split(pfx, "."), segs[1:]...)
		}
	}
	if !aliased && len(segs) > 1 && (strings.EqualFold(segs[0], obj) || strings.EqualFold(segs[0], sp.object)) {
		if _, ok := b.r.lookup(obj, segs[0]); ok {
			// Both readings are possible: record both (fail closed).
			b.path(obj, segs[1:], ref, role, extra)
		} else {
			segs = segs[1:]
		}
	}
	return b.path(obj, segs, ref, role, extra)
}

func (b *planBuilder) path(obj string, segs []string, ref planRef, role, extra string) string {
	cur := obj
	for i, seg := range segs[:len(segs)-1] {
		b.addRoles(cur+"."+b.r.field(cur, b.r.fk(seg)), role, ref.fn, extra)
		next := ObjectUnknown
		switch {
		case cur == ObjectUnknown:
		case ref.typeOf != "" && i == len(segs)-2:
			next = b.r.object(ref.typeOf)
		default:
			if t, ok := b.r.lookup(cur, seg); ok {
				next = t
			}
		}
		cur = next
		b.addObject(cur)
	}
	k := cur + "." + b.r.field(cur, segs[len(segs)-1])
	b.addRoles(k, role, ref.fn, extra)
	return k
}

// addRoles records role, aggregate when inside a function, and extra.
func (b *planBuilder) addRoles(k, role string, fn bool, extra string) {
	b.addRole(k, role)
	if fn {
		b.addRole(k, RoleAggregate)
	}
	if extra != "" {
		b.addRole(k, extra)
	}
}

// resolver answers what the plan needs to know of the CRM's objects.
type resolver interface {
	object(name string) string             // canonical object name
	field(obj, name string) string         // canonical field name
	lookup(obj, rel string) (string, bool) // parent relationship target
	child(obj, rel string) (string, bool)  // child relationship object
	fk(rel string) string                  // the lookup field behind a relationship
}

// builtinResolver resolves from the built-in tables (Salesforce spelling).
type builtinResolver struct{}

func (builtinResolver) object(name string) string { return canonSFObject(name) }
func (builtinResolver) field(obj, name string) string {
	return canonSFField(name)
}
func (builtinResolver) lookup(obj, rel string) (string, bool) { return builtinLookup(obj, rel) }
func (builtinResolver) child(obj, rel string) (string, bool)  { return builtinChild(obj, rel) }
func (builtinResolver) fk(rel string) string                  { return lookupIDField(rel) }

// zohoResolver resolves COQL: modules as Zoho spells them; lookups are
// fields whose target module is not known without metadata.
type zohoResolver struct{}

func (zohoResolver) object(name string) string             { return canonZohoModule(name) }
func (zohoResolver) field(obj, name string) string         { return name }
func (zohoResolver) lookup(obj, rel string) (string, bool) { return zohoLookup(rel) }
func (zohoResolver) child(obj, rel string) (string, bool)  { return "", false }
func (zohoResolver) fk(rel string) string                  { return rel } // a Zoho lookup is its field

// zohoLookup knows the standard lookups of Zoho's standard modules.
func zohoLookup(rel string) (string, bool) {
	switch strings.ToLower(rel) {
	case "account_name":
		return "Accounts", true
	case "contact_name":
		return "Contacts", true
	case "deal_name":
		return "Deals", true
	case "owner", "created_by", "modified_by":
		return "users", true
	case "vendor_name":
		return "Vendors", true
	case "product_name":
		return "Products", true
	case "campaign_source":
		return "Campaigns", true
	}
	return "", false
}

// soqlPlanAction fills a's plan from the query text. It returns false when
// the plan parser does not understand the query (the caller then treats
// the whole query as unknown).
func (c *Classifier) soqlPlanAction(ctx context.Context, q string, a *Action, zoho bool) bool {
	sp, err := parseSOQLPlan(q)
	if err != nil {
		return false
	}
	var r resolver = c.resolver(ctx)
	if zoho {
		r = zohoResolver{}
		if len(sp.children) > 0 {
			return false
		}
	}
	b := newPlanBuilder(r, c.dropRole)
	b.coql = zoho
	b.soql(sp, r.object(sp.object), "", true)
	b.apply(a)
	return true
}

// mergePlans gives a container action the union of its parts' plans.
func mergePlans(a *Action, parts []Action) {
	b := newPlanBuilder(builtinResolver{}, "")
	for _, p := range parts {
		for _, o := range p.Objects {
			b.addObject(o)
		}
		for k, rs := range p.FieldRoles {
			for _, r := range rs {
				b.addRole(k, r)
			}
		}
		for k, v := range p.Aliases {
			if _, ok := b.aliases[k]; !ok {
				b.addAlias(k, v)
			}
		}
	}
	b.apply(a)
}
