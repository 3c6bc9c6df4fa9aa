package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestExampleConfigsValidateAsShipped runs `crmgw validate` on every
// examples/*/crmgw.yaml with only the sample values of examples/sample.env
// in the environment, as the examples' own header comments tell a person to.
func TestExampleConfigsValidateAsShipped(t *testing.T) {
	env := sampleEnv(t, "../../examples/sample.env")
	files, err := filepath.Glob("../../examples/*/crmgw.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("example configs: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			out, errOut, err := runCLI(t, env, "validate", "--skip-tests", "--config", f)
			if err != nil {
				t.Fatalf("validate %s: %v\n%s%s", f, err, out, errOut)
			}
			if !strings.Contains(out, "configuration "+f+": ok") {
				t.Fatalf("validate %s printed %q", f, out)
			}
		})
	}
}

// sampleEnv reads NAME=value lines (comments and blank lines skipped).
func sampleEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not NAME=value: %q", path, line)
		}
		env[k] = v
	}
	return env
}

// TestKubernetesConfigMapValidates checks the configuration inside the
// Kubernetes manifests' ConfigMap, with the repository's policies where the
// pod mounts its own.
func TestKubernetesConfigMapValidates(t *testing.T) {
	b, err := os.ReadFile("../../deploy/kubernetes/crmgw.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg string
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind     string                `yaml:"kind"`
			Metadata struct{ Name string } `yaml:"metadata"`
			Data     map[string]string     `yaml:"data"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind == "ConfigMap" && doc.Metadata.Name == "crmgw-config" {
			cfg = doc.Data["crmgw.yaml"]
		}
	}
	if cfg == "" {
		t.Fatal("no ConfigMap crmgw-config with a crmgw.yaml in deploy/kubernetes/crmgw.yaml")
	}
	path := filepath.Join(t.TempDir(), "crmgw.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := filepath.Abs("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	env := sampleEnv(t, "../../examples/sample.env")
	env["CRMGW_POLICIES"] = pol
	if out, errOut, err := runCLI(t, env, "validate", "--skip-tests", "--config", path); err != nil {
		t.Fatalf("the ConfigMap's configuration does not validate: %v\n%s%s", err, out, errOut)
	}
}
