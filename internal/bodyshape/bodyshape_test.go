package bodyshape

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestKindsAreNamedNotSpelt: no product code gives a Kind or Format field
// a string literal, or compares one with it ("rows" converts to Kind
// silently); it names the constant, so the sets in bodyshape.go stay the
// one place a kind or a format is written. A literal is what a new
// endpoint would slip in without adding its kind here.
func TestKindsAreNamedNotSpelt(t *testing.T) {
	fset := token.NewFileSet()
	n := 0
	for _, dir := range []string{"../../crm", "../../masking", "../../proxy", "../../cmd", "../../internal"} {
		// Format is also the name of the log's and the audit sinks'
		// settings, which internal/run reads: Kind only there.
		named := map[string]bool{"Kind": true, "Format": dir != "../../internal"}
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			n++
			ast.Inspect(f, func(node ast.Node) bool {
				switch x := node.(type) {
				case *ast.KeyValueExpr:
					if k, ok := x.Key.(*ast.Ident); ok && named[k.Name] && isString(x.Value) {
						t.Errorf("%s: %s: %s; name the bodyshape constant", fset.Position(x.Pos()), k.Name, lit(x.Value))
					}
				case *ast.AssignStmt:
					for i, l := range x.Lhs {
						if s, ok := l.(*ast.SelectorExpr); ok && named[s.Sel.Name] && i < len(x.Rhs) && isString(x.Rhs[i]) {
							t.Errorf("%s: .%s = %s; name the bodyshape constant", fset.Position(x.Pos()), s.Sel.Name, lit(x.Rhs[i]))
						}
					}
				case *ast.BinaryExpr:
					if s, ok := x.X.(*ast.SelectorExpr); ok && named[s.Sel.Name] && isString(x.Y) && !profileField(s) {
						t.Errorf("%s: .%s %s %s; name the bodyshape constant", fset.Position(x.Pos()), s.Sel.Name, x.Op, lit(x.Y))
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 50 {
		t.Fatalf("read %d files: the walk did not find the packages", n)
	}
}

// profileField: a profile's own YAML (ep.Response.Format) is text its
// author wrote, not a bodyshape value.
func profileField(s *ast.SelectorExpr) bool {
	in, ok := s.X.(*ast.SelectorExpr)
	return ok && in.Sel.Name == "Response" && isIdent(in.X, "ep")
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func isString(e ast.Expr) bool {
	b, ok := e.(*ast.BasicLit)
	return ok && b.Kind == token.STRING
}

func lit(e ast.Expr) string { return e.(*ast.BasicLit).Value }
