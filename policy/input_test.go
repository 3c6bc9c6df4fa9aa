package policy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
)

func fullInput() *Input {
	in := input(subject(true, "sales_rep", "marketing"), ActionInput{
		Operation: "query", Category: "read", Object: "Contact",
		Fields: []string{"Id", "Email", "Account.Owner.Email"}, AllFields: true, RecordID: "003xx",
		Query: "SELECT Id, Email, Account.Owner.Email FROM Contact",
		Parent: &ActionInput{Operation: "composite", Category: "write", Fields: []string{},
			Objects: []string{}, FieldRoles: map[string][]string{}, Aliases: map[string]string{}},
		Objects:    []string{"Contact", "Account", "User"},
		FieldRoles: map[string][]string{"Contact.Email": {"select", "sort"}, "User.Email": {"select"}, "Contact.MobilePhone": {"filter"}},
		Aliases:    map[string]string{"m": "Contact.MobilePhone"},
	})
	in.Request.Time = time.Date(2026, 11, 23, 9, 14, 3, 412000000, time.UTC)
	in.Subject.Claims = map[string]any{"amr": []any{"pwd", "mfa"}, "tenant": "acme", "level": json.Number("3")}
	in.Subject.Watch = []string{"departing"}
	in.Approval = ApprovalInput{Status: "approved", ID: "apr_01", Approver: "ma.li@example.com", DecidedAt: "2026-11-23T09:00:00Z"}
	return in
}

// The hand-built value must be exactly what the JSON round trip gives, so a
// policy sees the input document of docs/policies.md whichever way it was built.
func TestInputValueEqualsTheJSONDocument(t *testing.T) {
	in := fullInput()
	bs, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := util.UnmarshalJSON(bs, &doc); err != nil {
		t.Fatal(err)
	}
	want, err := ast.InterfaceToValue(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Value(); got.Compare(want) != 0 {
		t.Errorf("Value() =\n%v\nwant\n%v", got, want)
	}
	for _, key := range []string{`"remote_addr"`, `"all_fields"`, `"record_id"`, `"client_id"`, `"parent"`} {
		if !strings.Contains(string(bs), key) {
			t.Errorf("JSON form lacks %s", key)
		}
	}
}

func TestInputValueOfZeroInputHasEmptyCollections(t *testing.T) {
	v := (&Input{}).Value()
	for _, path := range []string{"subject.roles", "subject.groups", "action.fields", "action.objects", "action.field_roles", "action.aliases", "request.headers", "request.query", "usage.records", "subject.watch"} {
		ref := ast.MustParseRef("input." + path)[1:]
		got, err := v.Find(ref)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		switch x := got.(type) {
		case *ast.Array:
			if x.Len() != 0 {
				t.Errorf("%s = %v", path, x)
			}
		case ast.Object:
			if x.Len() != 0 {
				t.Errorf("%s = %v", path, x)
			}
		default:
			t.Errorf("%s = %v (%T), want an empty collection", path, got, got)
		}
	}
	parent, _ := v.Find(ast.MustParseRef("input.action.parent")[1:])
	if _, ok := parent.(ast.Null); !ok {
		t.Errorf("action.parent = %v, want null", parent)
	}
}

func TestParseDecision(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    Decision
		wantErr string
	}{
		{name: "full allow", value: `{"allow": true, "reason": "ok", "mask": {"Contact.Email": "email"}, "max_records": 2000}`,
			want: Decision{Allow: true, Reason: "ok", Mask: map[string]string{"Contact.Email": "email"}, MaxRecords: 2000}},
		{name: "minimal deny", value: `{"allow": false}`, want: Decision{}},
		{name: "allow as string", value: `{"allow": "yes"}`, wantErr: `"allow" is a string ("yes"), want a boolean`},
		{name: "allow as number", value: `{"allow": 1}`, wantErr: `"allow" is a number`},
		{name: "no allow", value: `{"reason": "x"}`, wantErr: `no "allow" key`},
		{name: "not an object", value: `[true]`, wantErr: "got an array, want an object"},
		{name: "null", value: `null`, wantErr: "got null"},
		{name: "reason not a string", value: `{"allow": false, "reason": 3}`, wantErr: `"reason" is a number`},
		{name: "mask not an object", value: `{"allow": true, "mask": ["Contact.Email"]}`, wantErr: `"mask" is an array`},
		{name: "mask strategy not a string", value: `{"allow": true, "mask": {"Contact.Email": true}}`, wantErr: `mask "Contact.Email" is a boolean`},
		{name: "max_records as string", value: `{"allow": true, "max_records": "10"}`, wantErr: `"max_records" is a string`},
		{name: "max_records negative", value: `{"allow": true, "max_records": -5}`, wantErr: "want a whole number"},
		{name: "max_records huge", value: `{"allow": true, "max_records": 1e30}`, wantErr: "want a whole number"},
		{name: "max_records fractional", value: `{"allow": true, "max_records": 2.5}`, wantErr: "want a whole number"},
		{name: "mask as a set", value: `{"allow": true, "mask": {"Contact.Email"}}`, wantErr: `"mask" is a set`},
		{name: "reason as a set", value: `{"allow": true, "reason": {"x"}}`, wantErr: `"reason" is a set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ast.ParseTerm(tt.value)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseDecision(v.Value)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want ErrMalformed containing %q", err, tt.wantErr)
				}
				if got.Allow {
					t.Errorf("malformed decision allowed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Allow != tt.want.Allow || got.Reason != tt.want.Reason || got.MaxRecords != tt.want.MaxRecords || len(got.Mask) != len(tt.want.Mask) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			for k, v := range tt.want.Mask {
				if got.Mask[k] != v {
					t.Errorf("mask[%s] = %q, want %q", k, got.Mask[k], v)
				}
			}
		})
	}
}

// Without an approval state, policies see input.approval.status "none".
func TestInputApprovalStatusDefaultsToNone(t *testing.T) {
	v := (&Input{}).Value()
	got, err := v.Find(ast.MustParseRef("input.approval.status")[1:])
	if err != nil || got.Compare(ast.String("none")) != 0 {
		t.Errorf("approval.status = %v, %v; want \"none\"", got, err)
	}
}
