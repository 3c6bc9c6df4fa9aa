package crm

import (
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// zohoSearchPlan reads the search parameters of GET {Module}/search into
// the action's plan: criteria=(Field:operator:value) with and/or nesting
// gives each field a filter role; phone=, email= and word= search fields
// the CRM chooses (every phone, email or text field), so they put the
// whole module in the search scope ("Module.*"). A search naming none of
// them, or a criteria without a field, is not classified.
func (c *Classifier) zohoSearchPlan(raw string, a *Action) bool {
	c.finishPlan(a)
	b := newPlanBuilder(zohoResolver{}, c.dropRole)
	b.objects = a.Objects
	if a.FieldRoles != nil {
		b.roles = a.FieldRoles
	}
	any := false
	for _, p := range [...]string{"criteria", "phone", "email", "word"} {
		v, n, ok := queryParam(raw, p)
		if !ok || n > 1 {
			return false
		}
		if n == 0 {
			continue
		}
		any = true
		if p != "criteria" {
			b.addRole(a.Object+".*", RoleSearch)
			continue
		}
		fields := zohoCriteriaFields(v)
		if len(fields) == 0 {
			return false
		}
		sp := &soqlPlan{object: a.Object}
		for _, f := range fields {
			sp.refs = append(sp.refs, planRef{path: f, role: RoleFilter})
		}
		b.soql(sp, a.Object, "", false)
	}
	b.apply(a)
	return any
}

// zohoCriteriaFields returns the field of every (Field:operator:value)
// group of a Zoho criteria expression: the text after each unescaped "("
// up to the next ":". Anything that looks like a field there is one (a
// value that does too only adds a role: fail closed); a group whose field
// is not a plain name makes the whole criteria unreadable (nil).
func zohoCriteriaFields(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
			continue
		case '(':
		default:
			continue
		}
		j := i + 1
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j < len(s) && s[j] == '(' {
			continue // nested group
		}
		k := strings.IndexByte(s[j:], ':')
		if k < 0 {
			return nil
		}
		f := strings.TrimSpace(s[j : j+k])
		if !validPath(f) {
			return nil
		}
		for _, seg := range strings.Split(f, ".") {
			if !isObjectName(seg) {
				return nil
			}
		}
		out = addUnique(out, f)
	}
	return out
}

// zohoCriteriaPlan reads a bulk read's query.criteria ({"field":
// {"api_name": F}, "comparator": ..., "value": ...} or {"group_operator":
// "and", "group": [...]}) into filter roles. A criteria the plan cannot
// read is not classified.
func (c *Classifier) zohoCriteriaPlan(raw jsontext.Value, a *Action) bool {
	if len(raw) == 0 || string(raw) == "null" {
		return true
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	var fields []string
	var walk func(v any, depth int) bool
	walk = func(v any, depth int) bool {
		m, ok := v.(map[string]any)
		if !ok || depth > 16 {
			return false
		}
		if g, ok := m["group"]; ok {
			l, ok := g.([]any)
			if !ok || len(l) == 0 {
				return false
			}
			for _, x := range l {
				if !walk(x, depth+1) {
					return false
				}
			}
			return true
		}
		f := m["field"]
		if fm, ok := f.(map[string]any); ok {
			f = fm["api_name"]
		}
		name, ok := f.(string)
		if !ok || !validPath(name) {
			return false
		}
		fields = append(fields, name)
		return true
	}
	if !walk(v, 0) {
		return false
	}
	c.finishPlan(a)
	b := newPlanBuilder(zohoResolver{}, c.dropRole)
	b.objects = a.Objects
	if a.FieldRoles != nil {
		b.roles = a.FieldRoles
	}
	sp := &soqlPlan{object: a.Object}
	for _, f := range fields {
		sp.refs = append(sp.refs, planRef{path: f, role: RoleFilter})
	}
	b.soql(sp, a.Object, "", false)
	b.apply(a)
	return true
}
