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

// TestKindsAreNamedNotSpelt: no product code gives a Kind field a string
// literal ("rows" converts to Kind silently); it names the constant, so
// the set above stays the one place a kind is written. A literal is what
// a new endpoint would slip in without adding its kind here.
func TestKindsAreNamedNotSpelt(t *testing.T) {
	fset := token.NewFileSet()
	n := 0
	for _, dir := range []string{"../../crm", "../../masking", "../../proxy", "../../cmd", "../../internal"} {
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
					if k, ok := x.Key.(*ast.Ident); ok && k.Name == "Kind" && isString(x.Value) {
						t.Errorf("%s: Kind: %s; name the bodyshape constant", fset.Position(x.Pos()), lit(x.Value))
					}
				case *ast.AssignStmt:
					for i, l := range x.Lhs {
						if s, ok := l.(*ast.SelectorExpr); ok && s.Sel.Name == "Kind" && i < len(x.Rhs) && isString(x.Rhs[i]) {
							t.Errorf("%s: .Kind = %s; name the bodyshape constant", fset.Position(x.Pos()), lit(x.Rhs[i]))
						}
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

func isString(e ast.Expr) bool {
	b, ok := e.(*ast.BasicLit)
	return ok && b.Kind == token.STRING
}

func lit(e ast.Expr) string { return e.(*ast.BasicLit).Value }
