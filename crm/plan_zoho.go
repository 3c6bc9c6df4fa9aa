package crm

import "strings"

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
