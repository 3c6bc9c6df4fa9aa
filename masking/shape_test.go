package masking

import (
	"testing"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

// TestShapesAreConnected: every edge of a shape leaves from a role the
// shape can reach from the body's root (by its edges or the record
// model), and every name is one a body can hold. An edge mistyped in
// shape.go (a wrong from role, an empty name) would never be taken, and
// the records it should find would pass unmasked.
func TestShapesAreConnected(t *testing.T) {
	for _, s := range shapes {
		reach := map[role]bool{roleBody: true}
		for changed := true; changed; {
			changed = false
			add := func(r role) {
				if !reach[r] {
					reach[r], changed = true, true
				}
			}
			for _, e := range s.edges {
				if reach[e.from] {
					add(e.to)
				}
			}
			if reach[roleRecord] || reach[roleWrapper] || reach[roleFieldArray] {
				// The record model: related records, field arrays, wrappers.
				add(roleRecord)
				add(roleFieldArray)
			}
			if reach[roleWrapper] {
				add(roleWrapper)
			}
			if s.attributes != "" && reach[rolePlain] {
				add(roleRecord) // an object holding attributes is a record
			}
			add(rolePlain) // a container no edge names
		}
		found := false
		for _, e := range s.edges {
			if !reach[e.from] {
				t.Errorf("shape %d: edge from role %d, which the shape never reaches", s.mode, e.from)
			}
			if e.to == roleList || e.to == roleRootArray {
				found = true
			}
			for _, n := range e.names {
				if n == "" {
					t.Errorf("shape %d: an edge with an empty name", s.mode)
				}
			}
			if e.when&atStep != 0 && e.from != roleGQLPath {
				t.Errorf("shape %d: a step condition on role %d, which has no steps", s.mode, e.from)
			}
		}
		if !found && s.mode != modeUIAPI {
			t.Errorf("shape %d: no edge leads to a record list", s.mode)
		}
	}
}

// TestShapeForEveryKind: every body kind of every vendor reads with a
// shape, and the families with walks of their own get theirs.
func TestShapeForEveryKind(t *testing.T) {
	type vk struct {
		Vendor string
		Kind   bodyshape.Kind
	}
	want := map[vk]*shape{
		{Vendor: "salesforce", Kind: bodyshape.GraphQL}:  &salesforceGraphQLShape,
		{Vendor: "salesforce", Kind: bodyshape.Report}:   &reportShape,
		{Vendor: "salesforce", Kind: bodyshape.UIAPI}:    &uiAPIShape,
		{Vendor: "salesforce", Kind: bodyshape.ListView}: &listViewShape,
		{Vendor: "salesforce", Kind: bodyshape.Records}:  &salesforceShape,
		{Vendor: "salesforce", Kind: bodyshape.Search}:   &salesforceShape,
		{Vendor: "zoho", Kind: bodyshape.GraphQL}:        &zohoGraphQLShape,
		{Vendor: "zoho", Kind: bodyshape.Composite}:      &zohoCompositeShape,
		{Vendor: "zoho", Kind: bodyshape.Records}:        &zohoShape,
		{Vendor: "generic", Kind: bodyshape.Records}:     &zohoShape,
	}
	for o, s := range want {
		if got := shapeFor(Options{Vendor: o.Vendor, Kind: o.Kind}); got != s {
			t.Errorf("shapeFor(%s, %s) = mode %d, want mode %d", o.Vendor, o.Kind, got.mode, s.mode)
		}
	}
}
