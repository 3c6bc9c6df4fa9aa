package identity

import (
	"bytes"
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDocumentedConfigDecodes decodes the documented examples strictly (as
// the loader does), so the docs and the yaml tags cannot drift apart.
func TestDocumentedConfigDecodes(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/identity.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Identity Config `yaml:"identity"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("identity reference: %v", err)
	}
	doc.Identity.SetDefaults()
	if err := doc.Identity.Validate(); err != nil {
		t.Fatalf("identity reference does not validate: %v", err)
	}
	if doc.Identity.ClockSkew.String() != "30s" || doc.Identity.OIDC[0].ClientKind.ClaimValues["idtyp"] != "app" {
		t.Fatalf("%+v", doc.Identity)
	}

	b, err = os.ReadFile("testdata/upstreams.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var auths []UpstreamAuthConfig
	dec = yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&auths); err != nil {
		t.Fatalf("upstream auth examples: %v", err)
	}
	for i, a := range auths {
		if err := a.Validate(); err != nil {
			t.Errorf("example %d (%s): %v", i, a.Type, err)
		}
	}
	if auths[2].RefreshMargin.String() != "2m0s" || !auths[0].UseInstanceURL {
		t.Fatalf("%v", auths)
	}
}
