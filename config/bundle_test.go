package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyBundleSection(t *testing.T) {
	y := strings.Replace(minimal, "policy:\n  paths: [policies]\n",
		"policy:\n  bundle:\n    path: bundles/authz.tar.gz\n    verification: {public_key_file: keys/ops.pem, key_id: ops}\n", 1)
	cfg, err := Parse("/etc/crmgw/crmgw.yaml", []byte(y), env(map[string]string{"SF_TOKEN": "t"}))
	if err != nil {
		t.Fatalf("a bundle without paths was refused: %v", err)
	}
	b := cfg.Policy.Bundle
	if b.Path != filepath.FromSlash("/etc/crmgw/bundles/authz.tar.gz") || b.Verification.PublicKeyFile != filepath.FromSlash("/etc/crmgw/keys/ops.pem") {
		t.Errorf("paths not resolved from the config's directory: %+v %+v", b, b.Verification)
	}
	if b.Verification.Algorithm != "RS256" {
		t.Errorf("algorithm default %q", b.Verification.Algorithm)
	}

	y = strings.Replace(minimal, "policy:\n  paths: [policies]\n", "policy:\n  bundle:\n    verification: {algorithm: none}\n", 1)
	_, err = Parse("crmgw.yaml", []byte(y), env(map[string]string{"SF_TOKEN": "t"}))
	for _, want := range []string{
		"policy.bundle.path: required",
		"policy.bundle.verification.public_key_file: required",
		`crmgw.yaml:10: policy.bundle.verification.algorithm: "none" is not a supported signing algorithm`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
}
