package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/crm/profile"
	"github.com/crmgw/crmgw/internal/bodyshape"
	"github.com/crmgw/crmgw/masking"
)

// validateProfiles loads the profile of every generic upstream and runs
// its fixtures (request → action, response → masked output), printing
// each problem with file:line (and the fixture's name). It returns false
// when any profile failed.
func validateProfiles(cfg *config.Config) bool {
	ok := true
	for _, u := range cfg.Upstreams {
		if u.Type != "generic" {
			continue
		}
		p, err := profile.Load(u.Profile)
		if err != nil {
			for _, e := range flattenJoin(err) {
				fmt.Fprintf(os.Stderr, "upstream %s: %v\n", u.Name, e)
			}
			ok = false
			continue
		}
		passed, fails := profile.RunFixtures(p, maskFixture)
		for _, f := range fails {
			fmt.Fprintln(os.Stderr, "FAIL", f.String())
		}
		status := "PASS"
		if len(fails) > 0 {
			status, ok = "FAIL", false
		}
		fmt.Printf("profile %s (%s): fixtures %s: %d passed, %d failed\n", p.Name, p.File, status, passed, len(fails))
	}
	return ok
}

func flattenJoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenJoin(e)...)
		}
		return out
	}
	return []error{err}
}

// maskFixture masks a fixture's response with the gateway's masking stage.
func maskFixture(body []byte, shape crm.ResponseShape, mask map[string]string, maxRecords int) ([]byte, int, error) {
	rules, err := masking.CompileRules(mask)
	if err != nil {
		return nil, 0, err
	}
	if shape.Format == bodyshape.NoBody {
		return nil, 0, errors.New("the endpoint's response is not read (format none)")
	}
	r := masking.NewReader(io.NopCloser(bytes.NewReader(body)), masking.Options{
		Format: shape.Format, Vendor: shape.Vendor, Kind: shape.Kind, Object: shape.Object,
		Records: shape.Records, Rows: shape.Rows, Columns: shape.Columns,
		Rules: rules, MaxRecords: maxRecords,
	})
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, err
	}
	return out, r.Stats().Records, nil
}
