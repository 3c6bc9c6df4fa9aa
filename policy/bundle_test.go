package policy

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	opabundle "github.com/open-policy-agent/opa/v1/bundle"
)

type signer struct {
	private, publicFile string
}

func newSigner(t *testing.T, dir, name string) signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	pubDER, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, name+".pub.pem")
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return signer{private: string(priv), publicFile: pub}
}

func authzModule(reason string) string {
	return "package crmgw.authz\n\nimport rego.v1\n\ndecision := {\"allow\": true, \"reason\": data.crmgw.reasons[\"" + reason + "\"]}\n"
}

// makeBundle builds a bundle with one module and data under root crmgw;
// signed by s unless s is nil.
func makeBundle(t *testing.T, module string, s *signer) opabundle.Bundle {
	t.Helper()
	roots := []string{"crmgw"}
	b := opabundle.Bundle{
		Manifest: opabundle.Manifest{Revision: "test", Roots: &roots},
		Data:     map[string]any{"crmgw": map[string]any{"reasons": map[string]any{"v1": "bundle v1", "v2": "bundle v2"}}},
		Modules:  []opabundle.ModuleFile{{URL: "/crmgw/authz.rego", Path: "/crmgw/authz.rego", Raw: []byte(module)}},
	}
	if s != nil {
		if err := b.GenerateSignature(opabundle.NewSigningConfig(s.private, "RS256", ""), "ops", true); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func writeBundle(t *testing.T, path string, b opabundle.Bundle) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := opabundle.NewWriter(f).UseModulePath(true).Write(b); err != nil {
		t.Fatal(err)
	}
}

func bundleEngine(t *testing.T, path string, pub string) (*Engine, error) {
	no := false
	cfg := Config{Decision: DefaultDecision, Watch: &no, Bundle: &BundleConfig{Path: path}}
	if pub != "" {
		cfg.Bundle.Verification = &BundleVerification{PublicKeyFile: pub, KeyID: "ops"}
	}
	return New(context.Background(), cfg, nil)
}

func decideReason(t *testing.T, e *Engine) string {
	t.Helper()
	d, err := e.Decide(context.Background(), &Input{})
	if err != nil {
		t.Fatalf("decide: %v", err)
	}
	return d.Reason
}

func TestSignedBundleLoadsAndTamperedOneIsRefused(t *testing.T) {
	dir := t.TempDir()
	ops := newSigner(t, dir, "ops")
	other := newSigner(t, dir, "other")
	path := filepath.Join(dir, "bundle.tar.gz")
	writeBundle(t, path, makeBundle(t, authzModule("v1"), &ops))

	e, err := bundleEngine(t, path, ops.publicFile)
	if err != nil {
		t.Fatalf("a signed bundle was refused: %v", err)
	}
	defer e.Close()
	if got := decideReason(t, e); got != "bundle v1" {
		t.Fatalf("decision reason %q, want bundle v1", got)
	}
	rev := e.Revision()

	signedV1 := makeBundle(t, authzModule("v1"), &ops)
	for _, tc := range []struct {
		name   string
		bundle func() opabundle.Bundle
		want   string
	}{
		{"a module changed after signing", func() opabundle.Bundle {
			b := makeBundle(t, authzModule("v2"), nil)
			b.Signatures = signedV1.Signatures
			return b
		}, "digest mismatch"},
		{"a module added after signing", func() opabundle.Bundle {
			b := makeBundle(t, authzModule("v1"), nil)
			b.Modules = append(b.Modules, opabundle.ModuleFile{URL: "/crmgw/extra.rego", Path: "/crmgw/extra.rego",
				Raw: []byte("package crmgw.extra\n\nimport rego.v1\n\nx := 1\n")})
			b.Signatures = signedV1.Signatures
			return b
		}, "not included in bundle signature"},
		{"the signature removed", func() opabundle.Bundle { return makeBundle(t, authzModule("v2"), nil) }, "signature"},
		{"signed by another key", func() opabundle.Bundle { return makeBundle(t, authzModule("v2"), &other) }, "verif"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeBundle(t, path, tc.bundle())
			err := e.Reload(context.Background())
			if err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("reload accepted it: %v", err)
			}
			if !strings.Contains(strings.ToLower(err.Error()), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if e.Revision() != rev || decideReason(t, e) != "bundle v1" {
				t.Errorf("the last good policy did not stay: revision %s, reason %s", e.Revision(), decideReason(t, e))
			}
			// A fresh start refuses it too.
			if _, err := bundleEngine(t, path, ops.publicFile); err == nil {
				t.Errorf("New accepted it")
			}
		})
	}

	// A properly signed new revision is taken.
	writeBundle(t, path, makeBundle(t, authzModule("v2"), &ops))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatalf("signed v2 refused: %v", err)
	}
	if got := decideReason(t, e); got != "bundle v2" || e.Revision() == rev {
		t.Errorf("after a signed update: reason %q, revision changed %v", got, e.Revision() != rev)
	}
}

// Without verification a bundle still has its .manifest roots enforced: a
// bundle may not define policy outside the roots it declares.
func TestBundleRootsAreEnforced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bundle.tar.gz")
	b := makeBundle(t, authzModule("v1"), nil)
	b.Modules = append(b.Modules, opabundle.ModuleFile{URL: "/elsewhere/x.rego", Path: "/elsewhere/x.rego",
		Raw: []byte("package elsewhere\n\nimport rego.v1\n\nx := 1\n")})
	writeBundle(t, path, b)
	if _, err := bundleEngine(t, path, ""); err == nil || !strings.Contains(err.Error(), "root") {
		t.Fatalf("a module outside the manifest roots was accepted: %v", err)
	}

	// The same bundle without the stray module loads, from a directory too.
	writeBundle(t, path, makeBundle(t, authzModule("v1"), nil))
	e, err := bundleEngine(t, path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := decideReason(t, e); got != "bundle v1" {
		t.Errorf("reason %q", got)
	}
	bdir := filepath.Join(dir, "dir")
	if err := os.MkdirAll(filepath.Join(bdir, "crmgw"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		".manifest":        `{"revision": "d1", "roots": ["crmgw"]}`,
		"crmgw/authz.rego": authzModule("v2"),
		"crmgw/data.json":  `{"reasons": {"v2": "bundle v2 from a directory"}}`,
	} {
		if err := os.WriteFile(filepath.Join(bdir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e2, err := bundleEngine(t, bdir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if got := decideReason(t, e2); got != "bundle v2 from a directory" {
		t.Errorf("reason %q", got)
	}
}

func TestBundleConfigProblems(t *testing.T) {
	b := &BundleConfig{Verification: &BundleVerification{Algorithm: "none"}}
	err := b.Validate()
	for _, want := range []string{"path: required", "verification.public_key_file: required", `verification.algorithm: "none" is not a supported`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems %v lack %q", err, want)
		}
	}
}
