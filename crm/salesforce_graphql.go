// Salesforce GraphQL API (/graphql): UI API record queries.

package crm

import (
	"context"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

var sfGraphQLShape = ResponseShape{Format: bodyshape.JSON, Vendor: vendorSalesforce, Kind: bodyshape.GraphQL}

var gqlScalarWrappers = [...]string{"value", "displayValue", "format", "label", "__typename"}

// sfGraphQL classifies a UI API GraphQL query: each object under
// uiapi { query { Obj { edges { node { ... } } } } } is a query action.
// Mutations, introspection and anything else are unknown.
func (c *Classifier) sfGraphQL(ctx context.Context, in *input, res *Result) {
	query, doc, vars, ok := gqlRequest(in.body)
	if !ok {
		return
	}
	g := gqlWalker{doc: doc}
	for _, op := range doc.Operations {
		if op.Operation != ast.Query {
			return
		}
		for _, f := range g.fields(op.SelectionSet, 0) {
			if f.Name != "uiapi" {
				return
			}
			for _, k := range g.fields(f.SelectionSet, 0) {
				switch k.Name {
				case "query", "aggregate":
					for _, o := range g.fields(k.SelectionSet, 0) {
						if !isObjectName(o.Name) {
							return
						}
						a := Action{Operation: OpQuery, Category: CatRead, Object: canonSFObject(o.Name), Query: query}
						if k.Name == "aggregate" {
							a.Aggregate, a.AllFields = true, true
						} else if !g.objectFields(o.SelectionSet, "", &a, 0) {
							return
						}
						p := &gqlPlan{g: &g, b: newPlanBuilder(c.resolver(ctx), c.dropRole), vars: vars, defs: op.VariableDefinitions}
						p.alias(f, "", "")
						p.alias(k, "", "")
						p.connection(a.Object, o, k.Name == "aggregate", 0)
						if p.bad {
							return
						}
						p.b.apply(&a)
						g.objs = append(g.objs, a)
					}
				case "__typename":
				default:
					return
				}
			}
		}
	}
	if g.bad || len(g.objs) == 0 {
		return
	}
	res.Response = sfGraphQLShape
	if len(g.objs) == 1 {
		res.Action = g.objs[0]
		return
	}
	res.Action = Action{Operation: OpQuery, Category: CatRead, Object: "*", Query: query}
	res.Subrequests = g.objs
	mergePlans(&res.Action, g.objs)
}

type gqlWalker struct {
	doc  *ast.QueryDocument
	objs []Action
	bad  bool
}

// fields flattens a selection set into its fields, resolving fragments.
func (g *gqlWalker) fields(set ast.SelectionSet, depth int) []*ast.Field {
	if depth > 8 {
		g.bad = true
		return nil
	}
	var out []*ast.Field
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			out = append(out, s)
		case *ast.InlineFragment:
			out = append(out, g.fields(s.SelectionSet, depth+1)...)
		case *ast.FragmentSpread:
			fd := g.doc.Fragments.ForName(s.Name)
			if fd == nil {
				g.bad = true
				return nil
			}
			out = append(out, g.fields(fd.SelectionSet, depth+1)...)
		}
	}
	return out
}

// objectFields collects the fields of an object connection
// (edges { node { ... } }); parent relationships nest with a dot, child
// relationships are connections again.
func (g *gqlWalker) objectFields(set ast.SelectionSet, prefix string, a *Action, depth int) bool {
	if depth > 6 {
		return false
	}
	for _, f := range g.fields(set, 0) {
		switch f.Name {
		case "edges":
			for _, n := range g.fields(f.SelectionSet, 0) {
				switch n.Name {
				case "node":
					if !g.nodeFields(n.SelectionSet, prefix, a, depth) {
						return false
					}
				case "cursor", "__typename":
				default:
					return false
				}
			}
		case "totalCount", "pageInfo", "__typename":
		default:
			return false
		}
	}
	return !g.bad
}

func (g *gqlWalker) nodeFields(set ast.SelectionSet, prefix string, a *Action, depth int) bool {
	for _, f := range g.fields(set, 0) {
		if f.Name == "__typename" {
			continue
		}
		if len(f.SelectionSet) == 0 || isScalarWrapper(g.fields(f.SelectionSet, 0)) {
			a.Fields = addUnique(a.Fields, prefix+f.Name)
			continue
		}
		sub := g.fields(f.SelectionSet, 0)
		if len(sub) > 0 && (sub[0].Name == "edges" || sub[0].Name == "totalCount" || sub[0].Name == "pageInfo") {
			if !g.objectFields(f.SelectionSet, prefix+f.Name+".", a, depth+1) {
				return false
			}
			continue
		}
		if depth > 6 || !g.nodeFields(f.SelectionSet, prefix+f.Name+".", a, depth+1) {
			return false
		}
	}
	return !g.bad
}

func isScalarWrapper(fs []*ast.Field) bool {
	for _, f := range fs {
		ok := false
		for _, w := range gqlScalarWrappers {
			if f.Name == w {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return len(fs) > 0
}
