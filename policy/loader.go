package policy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"
)

// Problem is one error in a policy or data file, located as OPA reports it.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// String formats the problem as file:line:col: code: message, the shape
// editors and CI annotations understand.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
			if p.Col > 0 {
				fmt.Fprintf(&b, ":%d", p.Col)
			}
		}
		b.WriteString(": ")
	}
	if p.Code != "" {
		b.WriteString(p.Code)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// CompileError lists everything wrong with a set of policy files: parse and
// compile errors from OPA (with file:line:col) and unreadable data files.
// A reload that fails with a CompileError keeps the last good policies.
type CompileError struct {
	Problems []Problem
}

func (e *CompileError) Error() string {
	if len(e.Problems) == 1 {
		return "policy: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "policy: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// problemsFromAST converts OPA's located errors.
func problemsFromAST(err error) *CompileError {
	var astErrs ast.Errors
	if !errors.As(err, &astErrs) {
		var one *ast.Error
		if errors.As(err, &one) {
			astErrs = ast.Errors{one}
		} else {
			return &CompileError{Problems: []Problem{{Message: err.Error()}}}
		}
	}
	ce := &CompileError{}
	for _, e := range astErrs {
		p := Problem{Code: e.Code, Message: e.Message}
		if e.Location != nil {
			p.File, p.Line, p.Col = e.Location.File, e.Location.Row, e.Location.Col
		}
		ce.Problems = append(ce.Problems, p)
	}
	return ce
}

// sourceFile is one policy or data file read from disk.
type sourceFile struct {
	path    string   // as shown in errors: the root joined with rel
	rel     string   // slash-separated, relative to its root (base name for a file root)
	dataDir []string // where a data file's content goes below data
	content []byte
}

// bundle is a consistent snapshot of the files under the policy paths: the
// revision is computed over exactly the bytes that were parsed.
type bundle struct {
	revision string
	modules  map[string]*ast.Module
	data     map[string]any
	files    []string
}

func isTestFile(name string) bool { return strings.HasSuffix(name, "_test.rego") }

func isDataFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json", ".yaml", ".yml":
		return true
	}
	return false
}

func wanted(name string, withTests bool) bool {
	if strings.HasPrefix(name, ".") {
		return false // editor swap files, Kubernetes ..data links
	}
	if strings.HasSuffix(name, ".rego") {
		return withTests || !isTestFile(name)
	}
	return isDataFile(name)
}

// readFiles reads every .rego (tests only if withTests) and data file below
// paths, as `opa run` would: directories are walked (hidden entries
// skipped, symlinked files followed), data files go to data at their
// directory's path relative to the root.
func readFiles(paths []string, withTests bool) ([]sourceFile, error) {
	var out []sourceFile
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		if !info.IsDir() {
			content, err := os.ReadFile(root)
			if err != nil {
				return nil, fmt.Errorf("policy: %w", err)
			}
			out = append(out, sourceFile{path: root, rel: filepath.Base(root), content: content})
			continue
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path == root {
				return nil
			}
			name := d.Name()
			if d.IsDir() {
				if strings.HasPrefix(name, ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if !wanted(name, withTests) {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				st, err := os.Stat(path)
				if err != nil {
					return err
				}
				if !st.Mode().IsRegular() {
					return nil
				}
			} else if !d.Type().IsRegular() {
				return nil
			}
			content, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			var dir []string
			if sub := pathDir(rel); sub != "" {
				dir = strings.Split(sub, "/")
			}
			out = append(out, sourceFile{path: path, rel: rel, dataDir: dir, content: content})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("policy: reading %s: %w", root, err)
		}
	}
	return out, nil
}

func pathDir(rel string) string {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return ""
	}
	return rel[:i]
}

// revisionOf hashes the sorted (path, content) pairs: the same files give
// the same revision wherever they are deployed.
func revisionOf(files []sourceFile) string {
	idx := make([]int, len(files))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		fa, fb := files[idx[a]], files[idx[b]]
		if fa.rel != fb.rel {
			return fa.rel < fb.rel
		}
		return string(fa.content) < string(fb.content)
	})
	h := sha256.New()
	var n [8]byte
	for _, i := range idx {
		f := files[i]
		binary.BigEndian.PutUint64(n[:], uint64(len(f.rel)))
		h.Write(n[:])
		h.Write([]byte(f.rel))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.content)))
		h.Write(n[:])
		h.Write(f.content)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// loadBundle reads and parses the files under paths. Every problem is
// collected before returning, so one run of `crmgw validate` shows them all.
func loadBundle(paths []string, withTests bool) (*bundle, error) {
	return loadSources(paths, nil, withTests)
}

// loadSources is loadBundle with an OPA bundle (bundle.go) besides paths.
func loadSources(paths []string, ob *BundleConfig, withTests bool) (*bundle, error) {
	files, err := readFiles(paths, withTests)
	if err != nil {
		return nil, err
	}
	if ob != nil {
		bf, err := readOPABundle(ob, withTests)
		if err != nil {
			return nil, err
		}
		files = append(files, bf...)
	}
	b := &bundle{
		revision: revisionOf(files),
		modules:  make(map[string]*ast.Module),
		data:     make(map[string]any),
	}
	ce := &CompileError{}
	origin := map[string]string{} // data path -> file that defined it, for conflicts
	popts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	for _, f := range files {
		b.files = append(b.files, f.path)
		if strings.HasSuffix(f.path, ".rego") {
			m, err := ast.ParseModuleWithOpts(f.path, string(f.content), popts)
			if err != nil {
				ce.Problems = append(ce.Problems, problemsFromAST(err).Problems...)
				continue
			}
			if m == nil {
				ce.Problems = append(ce.Problems, Problem{File: f.path, Code: "rego_parse_error", Message: "empty module"})
				continue
			}
			b.modules[f.path] = m
			continue
		}
		var doc any
		if strings.HasSuffix(strings.ToLower(f.path), ".json") {
			err = util.UnmarshalJSON(f.content, &doc)
		} else {
			err = util.Unmarshal(f.content, &doc)
		}
		if err != nil {
			ce.Problems = append(ce.Problems, Problem{File: f.path, Code: "data_error", Message: err.Error()})
			continue
		}
		if len(f.dataDir) == 0 {
			obj, ok := doc.(map[string]any)
			if !ok {
				ce.Problems = append(ce.Problems, Problem{File: f.path, Code: "data_error",
					Message: "a data file at the root of a policy path must hold an object"})
				continue
			}
			doc = obj
		} else {
			for i := len(f.dataDir) - 1; i >= 0; i-- {
				doc = map[string]any{f.dataDir[i]: doc}
			}
		}
		if p := mergeData(b.data, doc.(map[string]any), "data", f.path, origin); p != nil {
			ce.Problems = append(ce.Problems, *p)
		}
	}
	if len(ce.Problems) > 0 {
		return nil, ce
	}
	return b, nil
}

// mergeData merges src into dst; two files defining the same non-object
// value is a conflict, as in `opa run`.
func mergeData(dst, src map[string]any, at, file string, origin map[string]string) *Problem {
	for k, v := range src {
		path := at + "." + k
		old, exists := dst[k]
		if !exists {
			dst[k] = v
			origin[path] = file
			continue
		}
		om, ok1 := old.(map[string]any)
		nm, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			if p := mergeData(om, nm, path, file, origin); p != nil {
				return p
			}
			continue
		}
		return &Problem{File: file, Code: "data_conflict",
			Message: fmt.Sprintf("%s is already defined by %s", path, origin[path])}
	}
	return nil
}

// compiled is a bundle compiled against its data store.
type compiled struct {
	compiler *ast.Compiler
	store    storage.Store
}

func compileBundle(ctx context.Context, b *bundle) (*compiled, error) {
	// AST values on read: evaluation reads data without converting Go maps
	// to OPA values on every request.
	store := inmem.NewFromObjectWithOpts(b.data,
		inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: opening data store: %w", err)
	}
	defer store.Abort(ctx, txn)
	c := ast.NewCompiler().
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(true).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	if c.Compile(b.modules); c.Failed() {
		return nil, problemsFromAST(c.Errors)
	}
	return &compiled{compiler: c, store: store}, nil
}
