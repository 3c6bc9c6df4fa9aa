package crm

import (
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

// zohoGraphQL classifies POST /crm/graphql:
// query { Records { Module(...) { _data { Field { value } Lookup { Field { value } } } _info {...} } } Meta {...} }.
// Each module is a query action; Meta alone is metadata; mutations and
// anything else are unknown.
func (c *Classifier) zohoGraphQL(in *input, res *Result) {
	query, doc, vars, ok := gqlRequest(in.body)
	if !ok {
		return
	}
	g := gqlWalker{doc: doc}
	meta := false
	for _, op := range doc.Operations {
		if op.Operation != ast.Query {
			return
		}
		for _, f := range g.fields(op.SelectionSet, 0) {
			switch f.Name {
			case "Meta":
				meta = true
			case "__typename":
			case "Records":
				for _, m := range g.fields(f.SelectionSet, 0) {
					if !isObjectName(m.Name) {
						return
					}
					mod := canonZohoModule(m.Name)
					a := Action{Operation: OpQuery, Category: CatRead, Object: mod, Query: query}
					for _, d := range g.fields(m.SelectionSet, 0) {
						switch d.Name {
						case "_data":
							if !g.nodeFields(d.SelectionSet, "", &a, 0) {
								return
							}
						case "_info", "__typename":
						default:
							return
						}
					}
					p := &gqlPlan{g: &g, b: newPlanBuilder(zohoResolver{}, c.dropRole), vars: vars, defs: op.VariableDefinitions, zoho: true}
					p.alias(f, "", "")
					p.connection(mod, m, false, 0)
					if p.bad {
						return
					}
					p.b.apply(&a)
					g.objs = append(g.objs, a)
				}
			default:
				return
			}
		}
	}
	if g.bad {
		return
	}
	switch len(g.objs) {
	case 0:
		if meta {
			res.Action = metaAction("", "")
			res.Response = zohoMetadata
		}
	case 1:
		res.Action = g.objs[0]
		res.Response = ResponseShape{Format: bodyshape.JSON, Vendor: vendorZoho, Object: g.objs[0].Object, Kind: bodyshape.GraphQL}
	default:
		res.Action = Action{Operation: OpQuery, Category: CatRead, Object: "*", Query: query}
		res.Subrequests = g.objs
		mergePlans(&res.Action, g.objs)
		res.Response = ResponseShape{Format: bodyshape.JSON, Vendor: vendorZoho, Kind: bodyshape.GraphQL}
	}
}

// Bounds for GraphQL documents: the parser recurses per nesting level, so
// depth is checked before parsing (a deep document is unknown, never a
// stack exhaustion).
const (
	maxGraphQLDepth  = 64
	maxGraphQLTokens = 20000
)

// gqlRequest reads a GraphQL request body, as Salesforce and Zoho both
// take it: an object of query (required), variables and operationName,
// nothing else. It returns the parsed document, which holds at least one
// operation, with its text and the variables; false for anything else
// (the request is then unknown).
func gqlRequest(body []byte) (string, *ast.QueryDocument, map[string]any, bool) {
	var req struct {
		Query string `json:"query"`
	}
	if !strictObject(body, &req, "query", "variables", "operationName") || req.Query == "" {
		return "", nil, nil, false
	}
	vars, ok := gqlVariables(body)
	if !ok {
		return "", nil, nil, false
	}
	doc, err := parseGraphQL(req.Query)
	if err != nil || len(doc.Operations) == 0 {
		return "", nil, nil, false
	}
	return req.Query, doc, vars, true
}

func parseGraphQL(q string) (*ast.QueryDocument, error) {
	depth := 0
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case '{', '(', '[':
			depth++
			if depth > maxGraphQLDepth {
				return nil, errSOQL
			}
		case '}', ')', ']':
			depth--
		}
	}
	return parser.ParseQueryWithTokenLimit(&ast.Source{Input: q}, maxGraphQLTokens)
}
