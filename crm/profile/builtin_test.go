package profile

import (
	"bytes"
	"io"
	"testing"

	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/masking"
)

// maskWith is the masking stage as the proxy runs it.
func maskWith(body []byte, shape crm.ResponseShape, mask map[string]string, maxRecords int) ([]byte, int, error) {
	rules, err := masking.CompileRules(mask)
	if err != nil {
		return nil, 0, err
	}
	r := masking.NewReader(io.NopCloser(bytes.NewReader(body)), masking.Options{
		Format: shape.Format, Vendor: shape.Vendor, Kind: shape.Kind, Object: shape.Object,
		Records: shape.Records, Rows: shape.Rows, Columns: shape.Columns,
		Rules: rules, MaxRecords: maxRecords,
	})
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, err
	}
	return out, r.Stats().Records, nil
}

// TestBuiltinFixtures loads every built-in profile and runs its fixtures
// through the classifier and the masking stage.
func TestBuiltinFixtures(t *testing.T) {
	for _, name := range BuiltinNames() {
		t.Run(name, func(t *testing.T) {
			p, err := Load(name)
			if err != nil {
				t.Fatal(err)
			}
			passed, fails := RunFixtures(p, maskWith)
			for _, f := range fails {
				t.Error(f.String())
			}
			if passed == 0 {
				t.Errorf("%s has no passing fixture", name)
			}
		})
	}
}
