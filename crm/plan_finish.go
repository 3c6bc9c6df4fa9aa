package crm

import (
	"net/http"
	"strings"
)

// finishPlan gives an action that has no access plan yet the plan its
// other fields describe: its object, its fields selected (every field,
// "Object.*", when all may come back), relationship paths resolved, and
// the lookup field of an external id lookup as a filter (the answer, a
// record or a 404, tells whether the value exists). Writes and metadata
// name their object only.
func (c *Classifier) finishPlan(a *Action) {
	if len(a.Objects) > 0 || a.Object == "" || a.Operation == OpUnknown || a.Operation == OpComposite {
		return
	}
	if a.Object == "*" {
		a.Objects = []string{"*"}
		return
	}
	var r resolver = builtinResolver{}
	if c.vendor == vendorZoho {
		r = zohoResolver{}
	}
	b := newPlanBuilder(r, c.dropRole)
	obj := a.Object
	b.addObject(obj)
	switch a.Category {
	case CatRead, CatExport:
		sp := &soqlPlan{object: obj, refs: make([]planRef, 0, len(a.Fields)+1)}
		for _, f := range a.Fields {
			if validPath(f) {
				sp.refs = append(sp.refs, planRef{path: f, role: RoleSelect})
			} else {
				b.addObject(ObjectUnknown)
			}
		}
		if a.AllFields {
			sp.refs = append(sp.refs, planRef{path: "*", role: RoleSelect})
		}
		b.soql(sp, obj, "", false)
	}
	if f, ok := strings.CutPrefix(a.Mode, "external_id:"); ok && f != "" {
		b.addRole(obj+"."+r.field(obj, f), RoleFilter)
	}
	b.apply(a)
}

// uiChildRelationships adds UI API childRelationships=Object.Relationship
// (comma list) to a read's plan: each child relationship's object is read
// with every field its layout shows ("Child.*"). An unknown relationship
// is ObjectUnknown.
func (c *Classifier) uiChildRelationships(raw string, a *Action) bool {
	v, n, ok := queryParam(raw, "childRelationships")
	if !ok || n > 1 {
		return false
	}
	if n == 0 {
		return true
	}
	c.finishPlan(a)
	b := newPlanBuilder(builtinResolver{}, c.dropRole)
	b.objects = a.Objects
	if a.FieldRoles != nil {
		b.roles = a.FieldRoles
	}
	for _, item := range splitList(v) {
		obj, rel, found := strings.Cut(item, ".")
		if !found || !strings.EqualFold(obj, a.Object) || !isObjectName(rel) {
			b.addObject(ObjectUnknown)
			b.addRole(ObjectUnknown+".*", RoleSelect)
			continue
		}
		t, ok := b.r.child(a.Object, rel)
		if !ok {
			t = ObjectUnknown
		}
		b.addObject(t)
		b.addRole(t+".*", RoleSelect)
	}
	b.apply(a)
	return true
}

// relationshipPlan plans sobjects/{parent}/{id}/{relationship}: the
// related records are read, and the parent record is touched through its
// lookup field (a child relationship has none on the parent).
func (c *Classifier) relationshipPlan(a *Action, parent, rel string) {
	c.finishPlan(a)
	b := newPlanBuilder(builtinResolver{}, c.dropRole)
	b.objects = a.Objects
	if a.FieldRoles != nil {
		b.roles = a.FieldRoles
	}
	b.addObject(parent)
	if _, ok := b.r.lookup(parent, rel); ok {
		b.addRole(parent+"."+b.r.field(parent, lookupIDField(rel)), RoleSelect)
	}
	b.apply(a)
}

// uiListPlan adds what a UI API list-records / related-list-records
// request filters and sorts by: sortBy=F,-G sorts; where= (a filter
// object) and searchTerm= filter on fields the plan does not read, so
// they put every field in scope ("Object.*" search); a POST body may
// carry the same, so it does too.
func (c *Classifier) uiListPlan(in *input, a *Action) bool {
	c.finishPlan(a)
	b := newPlanBuilder(builtinResolver{}, c.dropRole)
	b.objects = a.Objects
	if a.FieldRoles != nil {
		b.roles = a.FieldRoles
	}
	v, n, ok := queryParam(in.rawQuery, "sortBy")
	if !ok || n > 1 {
		return false
	}
	for _, f := range splitList(v) {
		f = strings.TrimPrefix(f, "-")
		if !validPath(f) {
			return false
		}
		sp := &soqlPlan{object: a.Object, refs: []planRef{{path: strings.TrimPrefix(f, a.Object+"."), role: RoleSort}}}
		b.soql(sp, a.Object, "", false)
	}
	for _, p := range [...]string{"where", "searchTerm"} {
		_, n, ok := queryParam(in.rawQuery, p)
		if !ok || n > 1 {
			return false
		}
		if n == 1 {
			b.addRole(a.Object+".*", RoleSearch)
		}
	}
	if in.method == http.MethodPost {
		b.addRole(a.Object+".*", RoleSearch)
	}
	b.apply(a)
	return true
}

// zohoSortPlan adds sort_by=Field of a Zoho list, search or related list
// as a sort role.
func (c *Classifier) zohoSortPlan(raw string, a *Action) bool {
	v, n, ok := queryParam(raw, "sort_by")
	if !ok || n > 1 {
		return false
	}
	if n == 0 {
		return true
	}
	if !validPath(v) {
		return false
	}
	c.finishPlan(a)
	b := newPlanBuilder(zohoResolver{}, c.dropRole)
	b.objects = a.Objects
	if a.FieldRoles != nil {
		b.roles = a.FieldRoles
	}
	b.soql(&soqlPlan{object: a.Object, refs: []planRef{{path: v, role: RoleSort}}}, a.Object, "", false)
	b.apply(a)
	return true
}
