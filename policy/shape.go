package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// inputShape is the part of the input document the loaded policies can
// read. Building the input is a large share of a decision's cost (every
// string and object is an allocation), and most policies read a handful of
// fields: the default authorization policy reads seven. Since every module
// is compiled before any evaluation, the references to input can be listed
// exhaustively; whatever no reference reaches is left out of the value.
//
// The analysis is conservative: a reference to the whole input (`input`,
// `object.get(input, ...)`, `walk(input)`, `with input as ...`) or with a
// variable as its first key makes the whole document needed; a variable at
// the second level makes that whole part needed.
type inputShape struct {
	all bool
	// parts maps a top-level key ("action") to the fields read under it;
	// a nil fieldSet means the whole part.
	parts map[string]fieldSet
	// impure is set when a reachable rule calls a builtin whose result is
	// not a function of its arguments (time.now_ns, http.send, rand.intn,
	// ...) or that has an effect (print): its decisions must not be cached.
	impure bool
}

// cacheable reports whether a decision is a function of the input this
// shape reads: no impure builtin, and nothing that is unique per request.
func (s *inputShape) cacheable() bool {
	if s.all || s.impure {
		return false
	}
	if req, ok := s.part(kRequest); ok && (req.has(kID) || req.has(kTime)) {
		return false
	}
	return true
}

// isImpure reports whether a call to the named function can give another
// result for the same arguments, or has an effect.
func isImpure(name string) bool {
	switch name {
	case "print", "internal.print", "trace":
		return true
	}
	b, ok := ast.BuiltinMap[name]
	return ok && b.Nondeterministic
}

// fieldSet names the second-level keys read under a top-level key; nil
// means all of them.
type fieldSet map[string]bool

// has takes the key as the input builder's interned term, so a field's name
// is written once (a misspelt name here would silently leave a field out).
func (f fieldSet) has(key *ast.Term) bool { return f == nil || f[string(key.Value.(ast.String))] }

// fullShape builds every field: Input.Value and policies that read input
// as a whole.
var fullShape = &inputShape{all: true}

// part reports whether the top-level key is read, and which fields of it.
func (s *inputShape) part(key *ast.Term) (fieldSet, bool) {
	if s.all {
		return nil, true
	}
	f, ok := s.parts[string(key.Value.(ast.String))]
	return f, ok
}

// shapeOf lists the input references in the query and in every rule the
// query can reach through the compiler's dependency graph (which follows
// calls, else branches and, conservatively, references with variables).
// Rules the decision cannot reach, such as alert rules loaded from the same
// directory, do not widen the shape. If the query's rules cannot be found,
// every module counts.
func shapeOf(c *ast.Compiler, query ast.Body) *inputShape {
	s := &inputShape{parts: map[string]fieldSet{}}
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case ast.Ref:
			s.add(x)
			// The head is the document; keys can hold references of their own.
			for _, t := range x[1:] {
				vis.Walk(t)
			}
			return true
		case ast.Var:
			// `input` as a plain term (not the head of a reference) reads it all.
			if x.Equal(ast.InputRootDocument.Value) {
				s.all = true
			}
		case *ast.Expr:
			if x.IsCall() && isImpure(x.Operator().String()) {
				s.impure = true
			}
		case ast.Call:
			if len(x) > 0 && isImpure(x[0].String()) {
				s.impure = true
			}
		}
		return false
	})
	vis.Walk(query)

	var queue []*ast.Rule
	ast.WalkRefs(query, func(r ast.Ref) bool {
		if r.HasPrefix(ast.DefaultRootRef) {
			queue = append(queue, c.GetRulesDynamic(r)...)
		}
		return false
	})
	if len(queue) == 0 || c.Graph == nil {
		for _, m := range c.Modules {
			vis.Walk(m)
		}
		return s
	}
	seen := map[*ast.Rule]bool{}
	for len(queue) > 0 {
		r := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for ; r != nil; r = r.Else {
			if seen[r] {
				continue
			}
			seen[r] = true
			vis.Walk(r.Head)
			vis.Walk(r.Body)
			for dep := range c.Graph.Dependencies(r) {
				if d, ok := dep.(*ast.Rule); ok && !seen[d] {
					queue = append(queue, d)
				}
			}
		}
	}
	return s
}

func (s *inputShape) add(ref ast.Ref) {
	if s.all || len(ref) == 0 || !ref[0].Equal(ast.InputRootDocument) {
		return
	}
	if len(ref) == 1 {
		s.all = true
		return
	}
	top, ok := ref[1].Value.(ast.String)
	if !ok {
		s.all = true
		return
	}
	fields, seen := s.parts[string(top)]
	if seen && fields == nil {
		return // the whole part is needed already
	}
	if len(ref) == 2 {
		s.parts[string(top)] = nil
		return
	}
	field, ok := ref[2].Value.(ast.String)
	if !ok {
		s.parts[string(top)] = nil
		return
	}
	if fields == nil {
		fields = fieldSet{}
		s.parts[string(top)] = fields
	}
	fields[string(field)] = true
}
