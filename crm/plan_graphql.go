package crm

import (
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/vektah/gqlparser/v2/ast"
)

// The GraphQL access plan (Salesforce UI API GraphQL and Zoho
// /crm/graphql): objects of every connection and relationship, fields
// with their roles (node fields select, where filter, orderBy sort,
// groupBy group, aggregate functions aggregate), and every alias
// (docs/classification.md, "Alias encoding").

// gqlPlan walks one GraphQL document into a plan builder.
type gqlPlan struct {
	g    *gqlWalker
	b    *planBuilder
	vars map[string]any // the request's variables
	defs ast.VariableDefinitionList
	zoho bool
	bad  bool
}

// gqlVariables decodes a GraphQL body's "variables" member.
func gqlVariables(body []byte) (map[string]any, bool) {
	var v struct {
		Variables jsontext.Value `json:"variables"`
	}
	if json.Unmarshal(body, &v) != nil {
		return nil, false
	}
	if len(v.Variables) == 0 || string(v.Variables) == "null" {
		return nil, true
	}
	var m map[string]any
	if json.Unmarshal(v.Variables, &m) != nil {
		return nil, false
	}
	return m, true
}

// value turns an argument into plain Go values, resolving variables from
// the request (or their default).
func (p *gqlPlan) value(v *ast.Value, depth int) any {
	if v == nil || depth > 32 {
		p.bad = p.bad || depth > 32
		return nil
	}
	switch v.Kind {
	case ast.Variable:
		if x, ok := p.vars[v.Raw]; ok {
			return x
		}
		if d := p.defs.ForName(v.Raw); d != nil && d.DefaultValue != nil {
			return p.value(d.DefaultValue, depth+1)
		}
		return nil
	case ast.ObjectValue:
		m := make(map[string]any, len(v.Children))
		for _, c := range v.Children {
			if _, dup := m[c.Name]; dup {
				p.bad = true // two filters under one name: which one counts is the CRM's guess
			}
			m[c.Name] = p.value(c.Value, depth+1)
		}
		return m
	case ast.ListValue:
		l := make([]any, 0, len(v.Children))
		for _, c := range v.Children {
			l = append(l, p.value(c.Value, depth+1))
		}
		return l
	}
	return v.Raw
}

// alias records a GraphQL alias: on a field, "key" and "Type.key" carry
// "Type.Field"; on anything else (edges, node, a connection, a
// relationship, value, an aggregate function) the alias carries the name
// it replaces.
func (p *gqlPlan) alias(f *ast.Field, typ, fieldKey string) {
	if f.Alias == "" || f.Alias == f.Name {
		return
	}
	if fieldKey == "" {
		if _, ok := p.b.aliases[f.Alias]; !ok {
			p.b.addAlias(f.Alias, f.Name)
		}
		if typ != "" {
			p.b.addAlias(typ+"."+f.Alias, f.Name)
		}
		return
	}
	if _, ok := p.b.aliases[f.Alias]; !ok {
		p.b.addAlias(f.Alias, fieldKey)
	}
	p.b.addAlias(typ+"."+f.Alias, fieldKey)
}

// connection plans an object connection: Contact(where:, orderBy:) {
// edges { node { ... } } } (Salesforce), Contacts(where:) { _data {...} }
// (Zoho).
func (p *gqlPlan) connection(obj string, f *ast.Field, aggregate bool, depth int) {
	if depth > 8 {
		p.bad = true
		return
	}
	p.b.addObject(obj)
	p.alias(f, "", "")
	for _, arg := range f.Arguments {
		switch arg.Name {
		case "where":
			p.where(obj, p.value(arg.Value, 0), 0)
		case "orderBy":
			p.order(obj, p.value(arg.Value, 0), RoleSort, 0)
		case "groupBy":
			p.order(obj, p.value(arg.Value, 0), RoleGroup, 0)
		case "first", "after", "last", "before", "scope", "upperBound", "offset", "limit", "page", "per_page", "page_token":
		default:
			p.bad = true
		}
	}
	for _, e := range p.g.fields(f.SelectionSet, 0) {
		switch e.Name {
		case "edges":
			p.alias(e, "", "")
			for _, n := range p.g.fields(e.SelectionSet, 0) {
				switch n.Name {
				case "node":
					p.alias(n, "", "")
					p.node(obj, n.SelectionSet, aggregate, depth+1)
				case "cursor", "__typename":
					p.alias(n, "", "")
				default:
					p.bad = true
				}
			}
		case "_data":
			p.alias(e, "", "")
			p.node(obj, e.SelectionSet, false, depth+1)
		case "totalCount", "pageInfo", "__typename", "_info":
			p.alias(e, "", "")
		default:
			p.bad = true
		}
	}
}

// node plans the fields of a record.
func (p *gqlPlan) node(obj string, set ast.SelectionSet, aggregate bool, depth int) {
	if depth > 8 {
		p.bad = true
		return
	}
	for _, f := range p.g.fields(set, 0) {
		sub := p.g.fields(f.SelectionSet, 0)
		switch {
		case f.Name == "__typename":
		case aggregate && f.Name == "aggregate" && !p.zoho:
			p.alias(f, "", "")
			p.aggregateFields(obj, sub, depth+1)
		case len(sub) == 0 || isScalarWrapper(sub):
			key := obj + "." + p.b.r.field(obj, f.Name)
			p.b.addRole(key, RoleSelect)
			p.alias(f, obj, key)
			for _, w := range sub {
				p.alias(w, obj, "")
			}
		case isConnection(sub):
			t, ok := p.b.r.child(obj, f.Name)
			if !ok {
				t = ObjectUnknown
			}
			p.connection(t, f, false, depth+1)
		default:
			t := p.lookup(obj, f.Name, RoleSelect)
			p.alias(f, obj, "")
			p.node(t, f.SelectionSet, aggregate, depth+1)
		}
	}
}

// aggregateFields plans node { aggregate { Field { value } Field { sum {
// value } } Rel { Field { ... } } } }.
func (p *gqlPlan) aggregateFields(obj string, fs []*ast.Field, depth int) {
	if depth > 8 {
		p.bad = true
		return
	}
	for _, f := range fs {
		if f.Name == "__typename" {
			continue
		}
		sub := p.g.fields(f.SelectionSet, 0)
		if len(sub) == 0 {
			p.bad = true
			return
		}
		key := obj + "." + p.b.r.field(obj, f.Name)
		switch {
		case isScalarWrapper(sub):
			p.b.addRole(key, RoleSelect)
			p.alias(f, obj, key)
			for _, w := range sub {
				p.alias(w, obj, "")
			}
		case isAggregateSet(sub):
			p.b.addRole(key, RoleSelect)
			p.b.addRole(key, RoleAggregate)
			p.alias(f, obj, key)
			for _, fn := range sub {
				p.alias(fn, obj, "")
				ws := p.g.fields(fn.SelectionSet, 0)
				if !isScalarWrapper(ws) {
					p.bad = true // sum { value } only
					return
				}
				for _, w := range ws {
					p.alias(w, obj, "")
				}
			}
		default:
			t := p.lookup(obj, f.Name, RoleSelect)
			p.alias(f, obj, "")
			p.aggregateFields(t, sub, depth+1)
		}
	}
}

// lookup resolves a parent relationship, recording its lookup field.
func (p *gqlPlan) lookup(obj, rel, role string) string {
	p.b.addRole(obj+"."+p.b.r.field(obj, p.b.r.fk(rel)), role)
	if obj == ObjectUnknown {
		return ObjectUnknown
	}
	t, ok := p.b.r.lookup(obj, rel)
	if !ok {
		t = ObjectUnknown
	}
	p.b.addObject(t)
	return t
}

// where plans a filter object: {Field: {op: v}, and: [...], or: [...],
// not: {...}, Rel: {Field: {op: v}}, Id: {inq: {Object: {...}, ApiName:
// "Field"}}}. Every field named is a filter.
func (p *gqlPlan) where(obj string, v any, depth int) {
	if depth > 16 {
		p.bad = true
		return
	}
	switch v := v.(type) {
	case nil:
	case []any:
		for _, x := range v {
			p.where(obj, x, depth+1)
		}
	case map[string]any:
		for k, x := range v {
			switch {
			case strings.EqualFold(k, "and"), strings.EqualFold(k, "or"), strings.EqualFold(k, "not"),
				k == "_and", k == "_or", k == "_not", k == "group":
				p.where(obj, x, depth+1)
				continue
			}
			m, ok := x.(map[string]any)
			if !ok {
				p.bad = true
				return
			}
			if isOperatorMap(m) {
				key := obj + "." + p.b.r.field(obj, k)
				p.b.addRole(key, RoleFilter)
				for op, arg := range m {
					switch {
					case op == "inq" || op == "ninq":
						p.semiJoin(arg, depth+1)
					case isFunctionName(op):
						p.b.addRole(key, RoleAggregate)
					default:
						// A comparison takes a value or a list of values;
						// an object here names something the plan cannot
						// read: not understood.
						if am, isObj := arg.(map[string]any); isObj && !valueWrapper(am) {
							p.bad = true
							return
						}
					}
				}
				continue
			}
			// A relationship: the filter applies to the related object.
			p.where(p.lookup(obj, k, RoleFilter), m, depth+1)
		}
	default:
		p.bad = true
	}
}

// semiJoin plans {Object: {filter}, ApiName: "Field"} of inq / ninq.
func (p *gqlPlan) semiJoin(v any, depth int) {
	m, ok := v.(map[string]any)
	if !ok {
		p.bad = true
		return
	}
	field, _ := m["ApiName"].(string)
	objs := 0
	for k, x := range m {
		if k == "ApiName" {
			continue
		}
		if !isObjectName(k) {
			p.bad = true
			return
		}
		objs++
		o := p.b.r.object(k)
		p.b.addObject(o)
		if field != "" {
			p.b.addRole(o+"."+p.b.r.field(o, field), RoleFilter)
		}
		p.where(o, x, depth+1)
	}
	if objs != 1 || field == "" {
		p.bad = true
	}
}

// order plans orderBy {Field: {order: ASC, nulls: LAST}, Rel: {Field:
// {...}}} and groupBy {Field: {group: true, function: ...}}.
func (p *gqlPlan) order(obj string, v any, role string, depth int) {
	if depth > 16 {
		p.bad = true
		return
	}
	switch v := v.(type) {
	case nil:
	case []any:
		for _, x := range v {
			p.order(obj, x, role, depth+1)
		}
	case map[string]any:
		for k, x := range v {
			m, ok := x.(map[string]any)
			if !ok {
				p.bad = true
				return
			}
			if isOrderMap(m) {
				key := obj + "." + p.b.r.field(obj, k)
				p.b.addRole(key, role)
				if _, fn := m["function"]; fn {
					p.b.addRole(key, RoleAggregate)
				}
				continue
			}
			p.order(p.lookup(obj, k, role), m, role, depth+1)
		}
	default:
		p.bad = true
	}
}

var gqlOperators = [...]string{"eq", "ne", "like", "lt", "lte", "gt", "gte", "in", "nin", "includes", "excludes",
	"inq", "ninq", "value", "literal", "range", "equals", "not_equals", "not_in", "not_like", "starts_with",
	"ends_with", "greater_than", "greater_equal", "less_than", "less_equal", "between", "not_between", "is_null",
	"is_not_null", "contains", "not_contains", "comparator"}

// isOperatorMap reports a filter on a field (its keys are operators or
// date functions), as against a filter on a related object.
func isOperatorMap(m map[string]any) bool {
	for k := range m {
		if !inFold(k, gqlOperators[:]) && !isFunctionName(k) {
			return false
		}
	}
	return len(m) > 0
}

func isOrderMap(m map[string]any) bool {
	for k := range m {
		switch k {
		case "order", "nulls", "group", "function":
		default:
			return false
		}
	}
	return len(m) > 0
}

// isFunctionName reports the date functions of a GraphQL filter
// (CALENDAR_YEAR, DAY_ONLY, ...): upper case words joined by "_".
func isFunctionName(s string) bool {
	if !strings.Contains(s, "_") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}

var gqlAggregateFuncs = [...]string{"sum", "avg", "min", "max", "count", "countDistinct", "grouping"}

func isAggregateSet(fs []*ast.Field) bool {
	for _, f := range fs {
		if f.Name != "__typename" && !inFold(f.Name, gqlAggregateFuncs[:]) {
			return false
		}
	}
	return len(fs) > 0
}

func isConnection(fs []*ast.Field) bool {
	for _, f := range fs {
		switch f.Name {
		case "edges", "totalCount", "pageInfo":
			return true
		}
	}
	return false
}

// valueWrapper reports an operator argument that wraps a value rather than
// naming anything: Salesforce's {literal: TODAY} and {value: "2024-01-01"},
// ranges ({from, to}, {gte, lte}).
func valueWrapper(m map[string]any) bool {
	for k, v := range m {
		switch strings.ToLower(k) {
		case "value", "literal", "from", "to", "min", "max", "gt", "gte", "lt", "lte", "n":
		default:
			return false
		}
		if _, nested := v.(map[string]any); nested {
			return false
		}
	}
	return true
}
