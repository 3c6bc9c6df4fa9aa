package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
)

func TestLoaderPlacesDataLikeOpaRun(t *testing.T) {
	dir := writePolicy(t, map[string]string{
		"authz.rego": `package crmgw.authz

decision := {
	"allow": data.crmgw.open == true,
	"reason": concat(",", [data.crmgw.limits.tier, data.regions.eu.name]),
}
`,
		"data.json":             `{"crmgw": {"open": true}}`,
		"crmgw/limits/tier.yml": "tier: gold\n",
		"regions/eu/data.yaml":  "name: Frankfurt\n",
	})
	e := newEngine(t, Config{Paths: []string{dir}})
	d := decideRead(t, e)
	if !d.Allow || d.Reason != "gold,Frankfurt" {
		t.Errorf("decision = %+v, want data from the root file, crmgw/limits and regions/eu", d)
	}
}

func TestLoaderToleratesOtherPackagesAndIgnoresHiddenAndOtherFiles(t *testing.T) {
	dir := writePolicy(t, map[string]string{
		"authz.rego":        allowAll,
		"alerts.rego":       "package crmgw.alerts\n\nalerts contains {\"rule\": \"r\"} if input.event\n",
		"alerts_test.rego":  "package crmgw.alerts_test\n\ntest_broken if {\n", // tests are not loaded for serving
		".authz.rego.swp":   "garbage",
		".git/config.json":  "garbage",
		"README.md":         "# policies",
		"..data/authz.rego": "garbage", // Kubernetes ConfigMap internals
	})
	e := newEngine(t, Config{Paths: []string{dir}})
	if d := decideRead(t, e); !d.Allow {
		t.Errorf("decision = %+v", d)
	}
	for _, f := range e.Files() {
		if strings.Contains(f, "README") || strings.Contains(f, "/.") || strings.HasSuffix(f, "_test.rego") {
			t.Errorf("loaded %s", f)
		}
	}
	if len(e.Files()) != 2 {
		t.Errorf("files = %v, want authz.rego and alerts.rego", e.Files())
	}
}

func TestLoaderFollowsSymlinkedFiles(t *testing.T) {
	target := writePolicy(t, map[string]string{"authz.rego": denyAll})
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(target, "authz.rego"), filepath.Join(dir, "authz.rego")); err != nil {
		t.Skip("no symlinks:", err)
	}
	e := newEngine(t, Config{Paths: []string{dir}})
	if d := decideRead(t, e); d.Reason != "closed for maintenance" {
		t.Errorf("decision = %+v", d)
	}
}

func TestLoaderAcceptsAFileAsPath(t *testing.T) {
	dir := writePolicy(t, map[string]string{"authz.rego": denyAll, "other.rego": "package x\n\ny := z\n"})
	e := newEngine(t, Config{Paths: []string{filepath.Join(dir, "authz.rego")}})
	if d := decideRead(t, e); d.Reason != "closed for maintenance" {
		t.Errorf("decision = %+v", d)
	}
}

func TestLoaderReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "malformed JSON data",
			files: map[string]string{"authz.rego": allowAll, "data.json": `{"crmgw": `},
			want:  []string{"data.json: data_error"},
		},
		{
			name:  "root data file that is not an object",
			files: map[string]string{"authz.rego": allowAll, "data.json": `[1, 2]`},
			want:  []string{"data.json: data_error: a data file at the root"},
		},
		{
			name: "two data files defining the same value",
			files: map[string]string{"authz.rego": allowAll,
				"a.json": `{"crmgw": {"cap": 1}}`, "b.json": `{"crmgw": {"cap": 2}}`},
			want: []string{"data_conflict: data.crmgw.cap is already defined by"},
		},
		{
			name: "data and a rule at the same path",
			files: map[string]string{"authz.rego": allowAll,
				"data.json": `{"crmgw": {"authz": {"decision": 1}}}`},
			want: []string{"rego_compile_error", "conflicting rule for data path crmgw/authz/decision"},
		},
		{
			name: "two modules that do not parse",
			files: map[string]string{"authz.rego": allowAll,
				"a.rego": "package a\n\nx := \n", "b.rego": "package b\n\ny if { z ]\n"},
			want: []string{"a.rego:4: rego_parse_error", "b.rego:3:10: rego_parse_error"},
		},
		{
			name:  "a module that does not compile",
			files: map[string]string{"authz.rego": allowAll, "a.rego": "package a\n\nx := y\n"},
			want:  []string{"a.rego:3:6: rego_unsafe_var_error: var y is unsafe"},
		},
		{
			name:  "rego v0 syntax",
			files: map[string]string{"authz.rego": "package crmgw.authz\n\ndecision = {\"allow\": true} { true }\n"},
			want:  []string{"authz.rego:3", "rego_parse_error"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writePolicy(t, tt.files)
			_, err := New(context.Background(), Config{Paths: []string{dir}}, zaptest.NewLogger(t))
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v, want a *CompileError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoaderMissingPathIsAnError(t *testing.T) {
	_, err := New(context.Background(), Config{Paths: []string{filepath.Join(t.TempDir(), "nope")}}, zaptest.NewLogger(t))
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("error = %v, want one naming the missing path", err)
	}
}

func TestRevisionDependsOnContentNotLocation(t *testing.T) {
	files := map[string]string{"authz.rego": allowAll, "data.json": `{"a": 1}`}
	a := newEngine(t, Config{Paths: []string{writePolicy(t, files)}}).Revision()
	b := newEngine(t, Config{Paths: []string{writePolicy(t, files)}}).Revision()
	if a != b {
		t.Errorf("same files, different revisions: %s %s", a, b)
	}
	files["data.json"] = `{"a": 2}`
	c := newEngine(t, Config{Paths: []string{writePolicy(t, files)}}).Revision()
	if c == a {
		t.Errorf("changed data, same revision %s", c)
	}
	if !strings.HasPrefix(a, "sha256:") || len(a) != len("sha256:")+64 {
		t.Errorf("revision %q is not sha256:<hex>", a)
	}
}
