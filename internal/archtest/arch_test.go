// Package archtest holds the tests that keep the dependency rules of
// docs/architecture.md ("Dependency rules") true of the code: stages depend
// one way, towards the leaves, and the product binary carries no sample and
// no test double; and the table of packages there names every package.
package archtest

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/crmgw/crmgw/"

// pkg is what `go list -json` says of one package of the module, with import
// paths relative to the module root and only the module's own packages kept.
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// graph maps a package path (relative to the module root) to its imports.
type graph map[string]pkg

// listModule runs `go list -json` over the whole module. Production code
// only: test files may import harnesses such as identity/oidctest freely.
// -pgo=off keeps one entry per package (with profile-guided builds go list
// reports a variant of each dependency per main package).
func listModule(t *testing.T) graph {
	t.Helper()
	out, err := exec.Command("go", "list", "-pgo=off", "-json=ImportPath,Imports,Deps", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	g := graph{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		p.ImportPath = strings.TrimPrefix(p.ImportPath, module)
		p.Imports = local(p.Imports)
		p.Deps = local(p.Deps)
		g[p.ImportPath] = p
	}
	for _, want := range []string{"cmd/crmgw", "proxy", "audit", "config"} {
		if _, ok := g[want]; !ok {
			t.Fatalf("go list did not report %s", want)
		}
	}
	return g
}

// local keeps the module's own packages, relative to the module root.
func local(paths []string) []string {
	var out []string
	for _, p := range paths {
		if rest, ok := strings.CutPrefix(p, module); ok {
			out = append(out, rest)
		}
	}
	return out
}

// stages are the libraries proxy composes.
var stages = []string{"identity", "crm", "policy", "masking", "ratelimit", "approval"}

// composers are the packages built from the stages; no stage may import one.
var composers = []string{"proxy", "audit", "config", "internal/run", "cmd/crmgw"}

// isLeaf: a package of the module that imports no other package of the
// module and is neither a stage nor a composer (a stage that happens to
// import nothing is still a stage, not a leaf another stage may use).
func (g graph) isLeaf(p string) bool {
	if slices.Contains(stages, p) || slices.Contains(composers, p) {
		return false
	}
	q, ok := g[p]
	return ok && len(q.Imports) == 0
}

// violations lists every broken rule of docs/architecture.md in g.
func (g graph) violations() []string {
	var bad []string
	only := func(from, rule string, allowed func(string) bool) {
		p, ok := g[from]
		if !ok {
			bad = append(bad, from+": package not found, but the rules name it")
			return
		}
		for _, imp := range p.Imports {
			if !allowed(imp) {
				bad = append(bad, from+" imports "+imp+": "+rule)
			}
		}
	}
	for _, s := range stages {
		only(s, "a stage imports only leaves", g.isLeaf)
		// The closure too: a leaf that later grows an import must not
		// become a back door from one stage into another or into proxy.
		for _, dep := range g[s].Deps {
			if (dep != s && slices.Contains(stages, dep)) || slices.Contains(composers, dep) {
				bad = append(bad, s+" depends on "+dep+" (transitively): stages never reach each other or proxy")
			}
		}
	}
	only("audit", "audit imports policy (for Rego alert rules) and leaves only",
		func(imp string) bool { return imp == "policy" || g.isLeaf(imp) })
	only("config", "config imports the stages' configuration types and leaves, never proxy",
		func(imp string) bool { return imp == "audit" || slices.Contains(stages, imp) || g.isLeaf(imp) })
	for path, p := range g {
		if strings.HasPrefix(path, "examples/") {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "examples/") || imp == "identity/oidctest" {
				bad = append(bad, path+" imports "+imp+": product code never imports a sample or a test double")
			}
		}
	}
	for _, dep := range g["cmd/crmgw"].Deps {
		if strings.HasPrefix(dep, "examples/") || dep == "identity/oidctest" {
			bad = append(bad, "cmd/crmgw links "+dep+": the product binary carries no sample and no test issuer")
		}
	}
	slices.Sort(bad)
	return bad
}

// TestDependencyRules: the module as it is obeys every rule.
func TestDependencyRules(t *testing.T) {
	for _, v := range listModule(t).violations() {
		t.Error(v)
	}
}

// TestDependencyRulesCatchTheWaysAround: each way a change could slip past
// the rules, applied to a small graph shaped like the real one, is caught.
func TestDependencyRulesCatchTheWaysAround(t *testing.T) {
	base := func() graph {
		return graph{
			"internal/confkey":   {},
			"identity/oidctest":  {},
			"examples/samplecrm": {},
			"identity":           {Imports: []string{"internal/confkey"}, Deps: []string{"internal/confkey"}},
			"crm":                {},
			"policy":             {Imports: []string{"internal/confkey"}, Deps: []string{"internal/confkey"}},
			"masking":            {Imports: []string{"internal/confkey"}, Deps: []string{"internal/confkey"}},
			"ratelimit":          {Imports: []string{"internal/confkey"}, Deps: []string{"internal/confkey"}},
			"approval":           {Imports: []string{"internal/confkey"}, Deps: []string{"internal/confkey"}},
			"audit":              {Imports: []string{"internal/confkey", "policy"}, Deps: []string{"internal/confkey", "policy"}},
			"config":             {Imports: []string{"audit", "identity", "masking", "policy", "ratelimit"}},
			"proxy":              {Imports: []string{"audit", "config", "crm", "identity", "masking", "policy", "ratelimit"}},
			"cmd/crmgw":          {Imports: []string{"proxy"}, Deps: []string{"proxy", "crm", "audit"}},
		}
	}
	if v := base().violations(); len(v) != 0 {
		t.Fatalf("the well-formed graph is reported as broken: %v", v)
	}
	cases := []struct {
		name   string
		change func(graph)
		want   string
	}{
		{"masking imports crm for its shapes", func(g graph) {
			g["masking"] = pkg{Imports: []string{"crm"}, Deps: []string{"crm"}}
		}, "masking imports crm"},
		{"crm imports proxy", func(g graph) {
			g["crm"] = pkg{Imports: []string{"proxy"}, Deps: []string{"proxy"}}
		}, "crm imports proxy"},
		{"a stage with no imports is still not a leaf for another stage", func(g graph) {
			g["ratelimit"] = pkg{Imports: []string{"crm"}, Deps: []string{"crm"}}
		}, "ratelimit imports crm"},
		{"policy reaches masking through an internal package", func(g graph) {
			g["internal/shared"] = pkg{Imports: []string{"masking"}, Deps: []string{"masking"}}
			g["policy"] = pkg{Imports: []string{"internal/shared"}, Deps: []string{"internal/shared", "masking"}}
		}, "policy depends on masking"},
		{"audit imports crm", func(g graph) {
			g["audit"] = pkg{Imports: []string{"policy", "crm"}}
		}, "audit imports crm"},
		{"config imports proxy", func(g graph) {
			g["config"] = pkg{Imports: []string{"proxy"}}
		}, "config imports proxy"},
		{"the binary links the test issuer through a dependency", func(g graph) {
			g["cmd/crmgw"] = pkg{Imports: []string{"proxy"}, Deps: []string{"proxy", "identity/oidctest"}}
		}, "cmd/crmgw links identity/oidctest"},
		{"product code imports the sample CRM", func(g graph) {
			g["internal/run"] = pkg{Imports: []string{"examples/samplecrm"}}
		}, "internal/run imports examples/samplecrm"},
		{"a stage named in the rules disappears", func(g graph) {
			delete(g, "crm")
		}, "crm: package not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := base()
			c.change(g)
			v := g.violations()
			if !slices.ContainsFunc(v, func(s string) bool { return strings.HasPrefix(s, c.want) }) {
				t.Errorf("want a violation starting %q, got %v", c.want, v)
			}
		})
	}
}

// TestEveryPackageHasItsJob: docs/architecture.md's table of packages
// names every package of the module, so a newcomer finds each one's job
// there; a package added without its row fails here.
func TestEveryPackageHasItsJob(t *testing.T) {
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	table := string(doc)
	if i := strings.Index(table, "## Packages and their jobs"); i >= 0 {
		table = table[i:]
		if j := strings.Index(table[3:], "\n## "); j >= 0 {
			table = table[:j+3]
		}
	} else {
		t.Fatal(`docs/architecture.md has no "Packages and their jobs" section`)
	}
	for path := range listModule(t) {
		if path == strings.TrimSuffix(module, "/") {
			continue // the module root holds no package of its own
		}
		if !strings.Contains(table, "`"+path+"`") && !strings.Contains(table, "`"+path+"/`") {
			t.Errorf("docs/architecture.md, Packages and their jobs: no row names `%s`", path)
		}
	}
}
