package profile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/crmgw/crmgw/crm"
)

// MaskFunc masks a response body as the gateway would: shape from the
// classification, mask the policy's mask map, maxRecords its cap. It
// returns the output and the number of records counted.
type MaskFunc func(body []byte, shape crm.ResponseShape, mask map[string]string, maxRecords int) ([]byte, int, error)

// FixtureFailure is one failed fixture, named with file and line.
type FixtureFailure struct {
	File, Fixture string
	Line          int
	Msg           string
}

func (f FixtureFailure) String() string {
	return fmt.Sprintf("%s:%d: fixture %q: %s", f.File, f.Line, f.Fixture, f.Msg)
}

// RunFixtures runs every fixture of p through the real classifier (and
// mask, for response fixtures) and returns the failures.
func RunFixtures(p *Profile, mask MaskFunc) (passed int, failures []FixtureFailure) {
	cl, err := crm.NewClassifier("generic", crm.Options{Profile: NewClassifier(p)})
	if err != nil {
		return 0, []FixtureFailure{{File: p.File, Msg: err.Error()}}
	}
	for _, f := range p.Fixtures {
		msgs := runFixture(cl, f, mask)
		if len(msgs) == 0 {
			passed++
			continue
		}
		failures = append(failures, FixtureFailure{File: p.File, Fixture: f.Name, Line: f.Line, Msg: strings.Join(msgs, "; ")})
	}
	return passed, failures
}

func runFixture(cl *crm.Classifier, f Fixture, mask MaskFunc) []string {
	var msgs []string
	fail := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	var body []byte
	if f.Request.Body != "" {
		body = []byte(f.Request.Body)
	}
	res, err := cl.Classify(context.Background(), crm.Request{Method: f.Request.Method, Path: f.Request.Path, RawQuery: f.Request.Query, Body: body, Subject: "fixture"})
	e := f.Expect
	if e.Rejected {
		if err == nil {
			fail("want the request rejected, got operation %q object %q", res.Action.Operation, res.Action.Object)
		}
		return msgs
	}
	if err != nil {
		return append(msgs, "classification failed: "+err.Error())
	}
	a := res.Action
	if e.Operation != "" && string(a.Operation) != e.Operation {
		fail("operation: want %q, got %q", e.Operation, a.Operation)
	}
	if e.Category != "" && string(a.Category) != e.Category {
		fail("category: want %q, got %q", e.Category, a.Category)
	}
	if e.Object != "" && a.Object != e.Object {
		fail("object: want %q, got %q", e.Object, a.Object)
	}
	if e.Fields != nil && !slices.Equal(a.Fields, e.Fields) {
		fail("fields: want %v, got %v", e.Fields, a.Fields)
	}
	if e.AllFields != nil && a.AllFields != *e.AllFields {
		fail("all_fields: want %t, got %t", *e.AllFields, a.AllFields)
	}
	if e.RecordID != "" && a.RecordID != e.RecordID {
		fail("record_id: want %q, got %q", e.RecordID, a.RecordID)
	}
	if e.Query != "" && a.Query != e.Query {
		fail("query: want %q, got %q", e.Query, a.Query)
	}
	if e.FieldRoles != nil && !reflect.DeepEqual(normRoles(a.FieldRoles), normRoles(e.FieldRoles)) {
		fail("field_roles: want %v, got %v", e.FieldRoles, a.FieldRoles)
	}
	if e.Forwarded != "" {
		fwd := res.Body
		if fwd == nil {
			fwd = body
		}
		if ok, err := sameJSON(fwd, []byte(e.Forwarded)); err != nil || !ok {
			fail("forwarded body: want %s, got %s", e.Forwarded, fwd)
		}
	}
	if f.Response != "" {
		if mask == nil {
			return append(msgs, "no masking stage to run the response fixture")
		}
		out, n, err := mask([]byte(f.Response), res.Response, f.Mask, f.MaxRecords)
		if err != nil {
			fail("masking failed: %v", err)
		} else if ok, err := sameJSON(out, []byte(f.Masked)); err != nil || !ok {
			fail("masked output: want %s, got %s", f.Masked, out)
		}
		if f.Records != nil && n != *f.Records {
			fail("records: want %d, got %d", *f.Records, n)
		}
	}
	return msgs
}

func normRoles(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		s := slices.Clone(v)
		slices.Sort(s)
		out[k] = s
	}
	return out
}

// sameJSON compares two JSON documents by value.
func sameJSON(a, b []byte) (bool, error) {
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return false, errors.New("fixture's expected JSON is invalid: " + err.Error())
	}
	return reflect.DeepEqual(va, vb), nil
}
