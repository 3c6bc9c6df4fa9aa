package proxy

import (
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/policy"
)

// decide asks the policy about the action, every sub-request of a
// composite request and every other object the access plan says the
// request touches (docs/policies.md, "Every object a request touches"),
// then refuses a request that would use a masked field for anything but
// selecting it (planRefusal). It returns false when the request was
// answered (denied).
func (g *Gateway) decide(rw http.ResponseWriter, r *http.Request, x *exchange) bool {
	in := g.policyInput(r, x)
	top := in.Action
	d, err := g.decider.Decide(r.Context(), in)
	if err != nil {
		g.log.Warn("policy evaluation failed; denying", zap.String("request_id", x.id), zap.Error(err))
	}
	merged := d
	subs := planSubActions(&top)
	for i := range x.result.Subrequests {
		sa := actionInput(&x.result.Subrequests[i])
		subs = append(append(subs, sa), planSubActions(&sa)...)
	}
	// The merged mask stays the top decision's (shared, cached) map while
	// the parts add nothing to it, so the compiled rules of that map are
	// found in ruleCache; it is copied once, before the first part that
	// would change it (a cached decision's map must never be written).
	copied := false
	for i := range subs {
		in.Action = subs[i]
		sd, err := g.decider.Decide(r.Context(), in)
		if err != nil {
			g.log.Warn("policy evaluation failed; denying", zap.String("request_id", x.id), zap.Error(err))
		}
		if maskCovers(merged.Mask, sd.Mask) {
			sd.Mask = nil
		} else if !copied {
			merged.Mask, copied = copyMask(merged.Mask), true
		}
		merged = mergeDecision(merged, sd)
	}
	if merged.Allow {
		// Built in, whatever the policy says: a masked value must not be
		// readable back through a filter, sort, group, function or search.
		if reason := planRefusal(&x.result, merged); reason != "" {
			merged.Allow, merged.Reason = false, reason
		}
	}
	x.decision = merged
	x.decided = true
	x.enforced = g.decider.Mode() != "monitor"
	if !x.enforced {
		// Monitor mode: the decision is computed and audited, never
		// applied: no denial, no mask, no policy cap. Quota caps stay,
		// they are rate limits, not policy.
		return true
	}
	if merged.MaxRecords > 0 && (x.maxRecords == 0 || merged.MaxRecords < x.maxRecords) {
		x.maxRecords = merged.MaxRecords
	}
	if !merged.Allow {
		reason := merged.Reason
		if reason == "" {
			reason = "denied by policy"
		}
		g.reject(rw, x, x.up.typ, http.StatusForbidden, outcomeDenied, codeForbidden, reason)
		return false
	}
	if merged.Approval != nil {
		return g.gateApproval(rw, r, x, in) // approval.go
	}
	return true
}

// unknownObject is the name a plan object the classifier could not
// resolve is decided under; no role's "*" covers it (policies/authz.rego).
const unknownObject = "unknown"

// planSubActions lists the sub-actions of a's access plan: every object in
// a.Objects other than a's own, once each (names compared without case, as
// the CRMs compare them), with the operation and category of a, the plan's
// fields of that object and a as parent. An object the classifier could not
// name is decided as "unknown".
func planSubActions(a *policy.ActionInput) []policy.ActionInput {
	if len(a.Objects) == 0 {
		return nil
	}
	var out []policy.ActionInput
	var parent *policy.ActionInput // the container as itself, shared by its parts
	for i, obj := range a.Objects {
		if obj == "" {
			obj = unknownObject
		}
		if (strings.EqualFold(obj, a.Object) && obj != unknownObject) || seenObject(a.Objects[:i], obj) {
			continue
		}
		if parent == nil {
			p := *a
			p.Parent = nil // a third level adds nothing
			parent = &p
			out = make([]policy.ActionInput, 0, len(a.Objects))
		}
		out = append(out, policy.ActionInput{
			Operation: a.Operation,
			Category:  a.Category,
			Object:    obj,
			Query:     a.Query,
			Mode:      a.Mode,
			Objects:   []string{obj},
			Parent:    parent,
		})
		objectFields(&out[len(out)-1], a.FieldRoles)
	}
	return out
}

// seenObject reports whether obj (an empty name standing for
// unknownObject) is among objs, names compared without case.
func seenObject(objs []string, obj string) bool {
	for _, o := range objs {
		if o == "" {
			o = unknownObject
		}
		if strings.EqualFold(o, obj) {
			return true
		}
	}
	return false
}

// objectFields gives sub, an object of a plan, the plan's fields of that
// object and their roles (the role lists are the plan's, shared). The
// field names are sorted: a stable order, for the decision cache.
func objectFields(sub *policy.ActionInput, roles map[string][]string) {
	n := 0
	for key := range roles {
		if o, _, ok := strings.Cut(key, "."); ok && strings.EqualFold(o, sub.Object) {
			n++
		}
	}
	if n == 0 {
		return
	}
	sub.Fields = make([]string, 0, n)
	sub.FieldRoles = make(map[string][]string, n)
	for key, rs := range roles {
		if o, field, ok := strings.Cut(key, "."); ok && strings.EqualFold(o, sub.Object) {
			sub.Fields = append(sub.Fields, field)
			sub.FieldRoles[key] = rs
		}
	}
	slices.Sort(sub.Fields)
}

// copyMask copies a decision's mask so merging never writes into a map the
// policy engine may share.
func copyMask(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// strategyRank orders masking strategies from weakest to strongest, so a
// field masked differently by two sub-request decisions gets the stronger.
var strategyRank = map[string]int{"partial": 1, "email": 2, "hash": 3, "redact": 4, "null": 5, "remove": 6}

// mergeDecision combines the decisions of a composite request or of the
// objects of one plan: every part must be allowed, masks are the union
// (stronger strategy wins), the record cap is the smallest one set, and a
// field stays in allow_filter only if no part masks it without allowing it.
func mergeDecision(a, b policy.Decision) policy.Decision {
	if a.Allow && !b.Allow {
		a.Reason = b.Reason
	}
	a.Allow = a.Allow && b.Allow
	if len(a.AllowFilter)+len(b.AllowFilter) > 0 {
		var allowed []string
		for _, f := range slices.Concat(a.AllowFilter, b.AllowFilter) {
			if !slices.Contains(allowed, f) && filterAllowed(a, f) && filterAllowed(b, f) {
				allowed = append(allowed, f)
			}
		}
		a.AllowFilter = allowed // a new slice: a cached decision's is shared
	}
	for k, v := range b.Mask {
		if a.Mask == nil {
			a.Mask = map[string]string{}
		}
		if old, ok := a.Mask[k]; !ok || strategyRank[v] > strategyRank[old] {
			a.Mask[k] = v
		}
	}
	if b.MaxRecords > 0 && (a.MaxRecords == 0 || b.MaxRecords < a.MaxRecords) {
		a.MaxRecords = b.MaxRecords
	}
	if a.Approval == nil {
		a.Approval = b.Approval // an approval any part asks for holds the whole request
	}
	return a
}

// filterAllowed reports whether decision d lets the field key be used
// beyond select: d lists it in allow_filter, or d masks it not at all.
func filterAllowed(d policy.Decision, key string) bool {
	return listed(d.AllowFilter, key) || len(masksOf(d.Mask, key)) == 0
}

// planRefusal is the reason to refuse res under decision d, or "": a field
// d masks, used by the request (or any sub-request) in a role other than
// select and not listed in d's allow_filter.
func planRefusal(res *crm.Result, d policy.Decision) string {
	if len(d.Mask) == 0 {
		return ""
	}
	if reason := actionRefusal(&res.Action, d); reason != "" {
		return reason
	}
	for i := range res.Subrequests {
		if reason := actionRefusal(&res.Subrequests[i], d); reason != "" {
			return reason
		}
	}
	return ""
}

func actionRefusal(a *crm.Action, d policy.Decision) string {
	if reason := aliasRefusal(a, d); reason != "" {
		return reason
	}
	if len(a.FieldRoles) == 0 {
		return ""
	}
	keys := make([]string, 0, len(a.FieldRoles))
	for k := range a.FieldRoles {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same request always names the same field
	for _, key := range keys {
		role := inferringRole(a.FieldRoles[key])
		if role == "" {
			continue
		}
		masked := masksOf(d.Mask, key)
		var blocked string
		for _, m := range masked {
			if !listed(d.AllowFilter, m) {
				blocked = m
				break
			}
		}
		if blocked == "" {
			continue
		}
		if strings.HasSuffix(key, ".*") {
			obj := strings.TrimSuffix(key, ".*")
			return "searching all fields of " + obj + " is not allowed: " + blocked + " is masked"
		}
		return roleVerb(role) + " masked field " + key + " is not allowed"
	}
	return ""
}

// aliasRefusal refuses a function applied to a masked field as the
// plan's aliases show it ("expr0": "MAX(Contact.National_ID__c)"), should
// the field's roles lack the aggregate role: the response key of a
// function is not the field's, and its value can be the field's own.
func aliasRefusal(a *crm.Action, d policy.Decision) string {
	if len(a.Aliases) == 0 {
		return ""
	}
	keys := make([]string, 0, len(a.Aliases))
	for k := range a.Aliases {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		expr := a.Aliases[k]
		open := strings.LastIndexByte(expr, '(')
		if open < 0 {
			continue
		}
		arg, _, _ := strings.Cut(expr[open+1:], ")")
		arg, _, _ = strings.Cut(arg, ",")
		arg = strings.TrimSpace(arg)
		if arg == "" {
			continue // COUNT()
		}
		for _, m := range masksOf(d.Mask, arg) {
			if !listed(d.AllowFilter, m) {
				return roleVerb(crm.RoleAggregate) + " masked field " + arg + " is not allowed"
			}
		}
	}
	return ""
}

// inferringRole is the first role (in a fixed order) that reveals
// something of a field's value without selecting it, or "". A role the
// gateway does not know counts as revealing.
func inferringRole(roles []string) string {
	for _, want := range []string{crm.RoleFilter, crm.RoleSort, crm.RoleGroup, crm.RoleAggregate, crm.RoleSearch} {
		if slices.Contains(roles, want) {
			return want
		}
	}
	for _, r := range roles {
		if r != crm.RoleSelect {
			return r
		}
	}
	return ""
}

func roleVerb(role string) string {
	switch role {
	case crm.RoleFilter:
		return "filtering on"
	case crm.RoleSort:
		return "sorting on"
	case crm.RoleGroup:
		return "grouping by"
	case crm.RoleAggregate:
		return "applying a function to"
	case crm.RoleSearch:
		return "searching in"
	}
	return "using (" + role + ")"
}

// masksOf lists, as "Object.Field" with the key's own spelling, the masked
// fields the plan key reaches under mask (names compared without case,
// as Salesforce and Zoho compare them: WHERE mobilephone is MobilePhone).
// key is "Object.Field"; "Object.*" (a search over every field of Object)
// reaches every field masked on Object or on any object; a field written
// as a path ("Account.Owner.Email") is also matched by its last name
// against "*" masks, so an unresolved path fails closed.
func masksOf(mask map[string]string, key string) []string {
	obj, field, ok := strings.Cut(key, ".")
	if !ok {
		obj, field = "*", key
	}
	last := field
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		last = field[i+1:]
	}
	var out []string
	for m := range mask {
		mo, mf, ok := strings.Cut(m, ".")
		if !ok {
			continue
		}
		switch {
		case field == "*" && obj == "*": // every field of every object
			out = append(out, m)
		case field == "*":
			if mo == "*" || strings.EqualFold(mo, obj) {
				out = append(out, obj+"."+mf)
			}
		case mo == "*" && (strings.EqualFold(mf, field) || strings.EqualFold(mf, last)):
			out = append(out, key)
		case (strings.EqualFold(mo, obj) || obj == "*") && strings.EqualFold(mf, field):
			out = append(out, key)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// listed reports whether allow_filter holds the field key ("Object.Field"),
// by its own name or as "*.Field", without case.
func listed(allow []string, key string) bool {
	obj, field, _ := strings.Cut(key, ".")
	for _, a := range allow {
		ao, af, _ := strings.Cut(a, ".")
		if strings.EqualFold(af, field) && (ao == "*" || strings.EqualFold(ao, obj)) {
			return true
		}
	}
	return false
}

// maskCovers reports whether every field b masks is masked in a at least as
// strongly, so merging b would change nothing.
func maskCovers(a, b map[string]string) bool {
	for k, v := range b {
		old, ok := a[k]
		if !ok || strategyRank[v] > strategyRank[old] {
			return false
		}
	}
	return true
}
