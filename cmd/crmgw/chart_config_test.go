package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestHelmChartConfigValidates runs `crmgw validate` on the configuration
// the Helm chart renders into its ConfigMap with default values (kept in
// deploy/helm/charttest/testdata/crmgw.yaml, which the chart's own tests
// compare with a fresh rendering), beside the repository's policies where
// the image puts them (/etc/crmgw/policies next to /etc/crmgw/crmgw.yaml).
func TestHelmChartConfigValidates(t *testing.T) {
	cfg, err := os.ReadFile("../../deploy/helm/charttest/testdata/crmgw.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "crmgw.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := filepath.Abs("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(pol, filepath.Join(dir, "policies")); err != nil {
		t.Fatal(err)
	}
	env := sampleEnv(t, "../../examples/sample.env")
	if out, errOut, err := runCLI(t, env, "validate", "--skip-tests", "--config", path); err != nil {
		t.Fatalf("the chart's configuration does not validate: %v\n%s%s", err, out, errOut)
	}
}
