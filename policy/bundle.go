package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	opabundle "github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/keys"

	"github.com/crmgw/crmgw/internal/confkey"
)

// OPA bundles (docs/policies.md "Bundles"): policy.bundle loads a bundle
// directory or .tar.gz as `opa run --bundle` does, with OPA's own bundle
// reader: the .manifest's roots are enforced (every package and data path
// must sit under a declared root) and, with verification configured, the
// .signatures.json JWT must be signed by the configured key and list every
// file of the bundle with its hash.
//
// Ways around it, and what stops them (policy/bundle_test.go): a file
// changed after signing (hash mismatch), a file added after signing (not in
// the signed list), the signature removed (a signature is required once
// verification is configured), signed by another key, or a bundle whose
// files escape its roots — each is refused, and on a reload the running
// revision stays.

// BundleConfig is policy.bundle.
type BundleConfig struct {
	// Path is a bundle directory (with a .manifest) or a .tar.gz bundle;
	// with URL, where the last verified download is stored.
	Path string `yaml:"path"`
	// URL, when set, is a bundle server polled for the bundle
	// (bundle_poll.go).
	URL string `yaml:"url"`
	// PollInterval is how often URL is asked (default 1m).
	PollInterval time.Duration `yaml:"poll_interval"`
	// Verification, when set, requires a valid signature.
	Verification *BundleVerification `yaml:"verification"`
}

// BundleVerification names the key that signs bundles.
type BundleVerification struct {
	// PublicKeyFile holds the PEM public key (RS*/ES*/PS*) or, for HS*, the
	// shared secret.
	PublicKeyFile string `yaml:"public_key_file"`
	// KeyID is the key id the signature must name (default "default").
	KeyID string `yaml:"key_id"`
	// Algorithm is the JWT algorithm (default RS256).
	Algorithm string `yaml:"algorithm"`
	// Scope, when set, must equal the signature's scope claim.
	Scope string `yaml:"scope"`
}

// SetDefaults fills the key id and algorithm.
func (b *BundleConfig) SetDefaults() {
	if b.URL != "" && b.PollInterval == 0 {
		b.PollInterval = time.Minute
	}
	if v := b.Verification; v != nil {
		if v.KeyID == "" {
			v.KeyID = "default"
		}
		if v.Algorithm == "" {
			v.Algorithm = "RS256"
		}
	}
}

// Validate reports every problem, keys relative to policy.bundle.
func (b *BundleConfig) Validate() error {
	var errs []error
	if b.Path == "" {
		errs = append(errs, confkey.Errorf("path", "required: a bundle directory or .tar.gz"))
	}
	if b.URL != "" {
		u, err := url.Parse(b.URL)
		if err != nil || u.Host == "" || !(u.Scheme == "https" || (u.Scheme == "http" && b.Verification != nil)) {
			errs = append(errs, confkey.Errorf("url", "%v", errBundleURL))
		}
		if b.PollInterval < 0 {
			errs = append(errs, confkey.Errorf("poll_interval", "%s is negative", b.PollInterval))
		}
	}
	if v := b.Verification; v != nil {
		if v.PublicKeyFile == "" {
			errs = append(errs, confkey.Errorf("verification.public_key_file", "required when verification is set"))
		}
		switch v.Algorithm {
		case "", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256", "HS384", "HS512":
		default:
			errs = append(errs, confkey.Errorf("verification.algorithm", "%q is not a supported signing algorithm", v.Algorithm))
		}
	}
	return errors.Join(errs...)
}

// readOPABundle reads, checks and (when configured) verifies the bundle and
// returns its modules and data as source files, so they are parsed,
// compiled and hashed into the revision like files under policy.paths.
func readOPABundle(c *BundleConfig, withTests bool) ([]sourceFile, error) {
	var vc *opabundle.VerificationConfig
	if v := c.Verification; v != nil {
		raw, err := os.ReadFile(v.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("policy: bundle verification key: %w", err)
		}
		// The key's text itself, not keys.NewKeyConfig: that one first
		// tries the text as a file name, and a PEM whose base64 holds a
		// run of over 255 characters between two '/' fails that stat with
		// "file name too long" instead of "not found".
		kc := &keys.Config{Key: string(raw), Algorithm: v.Algorithm, Scope: v.Scope}
		vc = opabundle.NewVerificationConfig(map[string]*keys.Config{v.KeyID: kc}, v.KeyID, v.Scope, nil)
	}
	st, err := os.Stat(c.Path)
	if err != nil {
		return nil, fmt.Errorf("policy: bundle: %w", err)
	}
	var loader opabundle.DirectoryLoader
	if st.IsDir() {
		loader = opabundle.NewDirectoryLoader(c.Path)
	} else {
		f, err := os.Open(c.Path)
		if err != nil {
			return nil, fmt.Errorf("policy: bundle: %w", err)
		}
		defer f.Close()
		loader = opabundle.NewTarballLoaderWithBaseURL(f, c.Path)
	}
	r := opabundle.NewCustomReader(loader).
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotations(true).
		WithBundleVerificationConfig(vc).
		WithSkipBundleVerification(vc == nil).
		WithSizeLimitBytes(64 << 20)
	b, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("policy: bundle %s refused: %w", c.Path, err)
	}
	var out []sourceFile
	for _, m := range b.Modules {
		rel := strings.TrimPrefix(path.Clean("/"+m.Path), "/")
		if rel == "" || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("policy: bundle %s: module path %q", c.Path, m.Path)
		}
		if isTestFile(rel) && !withTests {
			continue
		}
		// "bundle:" keeps bundle files apart from policy.paths files in
		// the revision hash and in compile errors.
		out = append(out, sourceFile{path: c.Path + "/" + rel, rel: "bundle:" + rel, content: m.Raw})
	}
	if len(b.Data) > 0 {
		data, err := json.Marshal(b.Data)
		if err != nil {
			return nil, fmt.Errorf("policy: bundle %s data: %w", c.Path, err)
		}
		out = append(out, sourceFile{path: c.Path + "/data.json", rel: "bundle:data.json", content: data})
	}
	return out, nil
}
