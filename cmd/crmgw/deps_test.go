package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductBinaryLinksNoSamples: the gateway binary must not carry the
// sample CRM or the test OIDC issuer (whose token endpoint mints a token for
// anyone); the demo that needs them is its own program, examples/demo.
func TestProductBinaryLinksNoSamples(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/crmgw/crmgw/examples/") || pkg == "github.com/crmgw/crmgw/identity/oidctest" {
			t.Errorf("cmd/crmgw links %s", pkg)
		}
	}
}
