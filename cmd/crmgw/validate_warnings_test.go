package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Unsafe but working settings are printed with file:line and do not fail
// validation.
func TestValidateWarnsButPasses(t *testing.T) {
	pol, err := filepath.Abs(filepath.Join("..", "..", "policies"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "crmgw.yaml")
	y := `admin:
  listen: 0.0.0.0:9090
upstreams:
  - {name: sf, type: salesforce, url: https://acme.my.salesforce.com, auth: {type: static, token: t}}
identity:
  trusted_proxies: [10.0.0.0/8]
policy: {paths: [` + pol + `]}
masking: {hmac_key: hmac-key-0123456789}
`
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(t, nil, "validate", "--skip-tests", "-c", p)
	if exitCode(err) != 0 {
		t.Fatalf("want exit 0, got %v\n%s", err, errOut)
	}
	for _, want := range []string{
		"warning: " + p + ":2: admin.listen: 0.0.0.0:9090 is reachable from other hosts and admin.token is not set",
		"warning: " + p + ":6: identity.trusted_proxies[0]: 10.0.0.0/8 is wider than a /16 (IPv4)",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, "configuration "+p+": ok") {
		t.Errorf("stdout: %s", out)
	}
}
