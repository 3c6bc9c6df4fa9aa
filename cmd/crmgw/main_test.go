package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmgw/crmgw/config"
)

// runCLI runs the CLI in-process and captures stdout and stderr.
func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	ro, wo, _ := os.Pipe()
	re, we, _ := os.Pipe()
	os.Stdout, os.Stderr = wo, we
	var bo, be bytes.Buffer
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(&bo, ro); done <- struct{}{} }()
	go func() { _, _ = io.Copy(&be, re); done <- struct{}{} }()
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(wo)
	cmd.SetErr(we)
	err = cmd.ExecuteContext(context.Background())
	wo.Close()
	we.Close()
	<-done
	<-done
	os.Stdout, os.Stderr = oldOut, oldErr
	return bo.String(), be.String(), err
}

func exitCode(err error) int {
	var ex exitError
	if errors.As(err, &ex) {
		return int(ex)
	}
	if err != nil {
		return 1
	}
	return 0
}

func TestValidateQuickstartConfigRunsPolicyTests(t *testing.T) {
	out, errOut, err := runCLI(t, map[string]string{"SF_TOKEN": "x", "CRMGW_HMAC_KEY": "k-0123456789abcdef"},
		"validate", "--config", "../../examples/quickstart/crmgw.yaml")
	if err != nil {
		t.Fatalf("validate failed: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if !strings.Contains(out, "policies: sha256:") || !strings.Contains(out, "PASS") {
		t.Fatalf("validate output lacks the revision or the test summary:\n%s", out)
	}
}

func TestValidateReportsEveryProblemWithFileAndLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	y := "server:\n  listen: nowhere\nupstreams:\n  - {name: sf, type: sugar, url: https://x.example.com, auth: {type: static, token: t}}\npolicy: {paths: [p], mood: enforce}\n"
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runCLI(t, nil, "validate", "-c", p)
	if exitCode(err) != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	for _, want := range []string{p + ":5: policy.mood: unknown key"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// Unknown keys stop before value validation; fix it and see the rest.
	y = strings.Replace(y, "mood", "mode", 1)
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err = runCLI(t, nil, "validate", "-c", p)
	if exitCode(err) != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	for _, want := range []string{p + ":2: server.listen: want host:port", p + ":4: upstreams[0].type:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestExampleConfigurationsParse(t *testing.T) {
	env := func(k string) (string, bool) {
		if strings.HasSuffix(k, "SHA256") {
			return strings.Repeat("ab", 32), true
		}
		return "example-value-0123456789", true
	}
	for _, f := range []string{"quickstart", "salesforce", "zoho"} {
		p := filepath.Join("..", "..", "examples", f, "crmgw.yaml")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.Parse(p, b, env); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, err := runCLI(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "crmgw ") {
		t.Fatalf("version: %q %v", out, err)
	}
}

func TestServeWithoutConfigSaysHow(t *testing.T) {
	t.Setenv("CRMGW_CONFIG", "")
	_, _, err := runCLI(t, nil, "serve")
	if err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("want a hint about --config, got %v", err)
	}
}

// TestVersionFromLinkerFlags builds the binary with the linker flags of
// make build and the Dockerfile and checks that `crmgw version` prints
// them. (-race: the test run has compiled every dependency that way.)
func TestVersionFromLinkerFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "crmgw")
	build := exec.Command("go", "build", "-race", "-o", bin,
		"-ldflags", "-X main.version=v0.0.0-test -X main.commit=0123456789ab", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "crmgw v0.0.0-test (commit 0123456789ab, go") {
		t.Fatalf("crmgw version: %q %v", out, err)
	}
}
