package policy

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// keyedInput has every field of Input set, maps with several entries and
// a parent action with every field set too.
func keyedInput() *Input {
	parent := ActionInput{Operation: "composite", Category: "write", Object: "Account", Fields: []string{"Name", "Phone"},
		AllFields: true, RecordID: "001A", Query: "q0", IncludeDeleted: true, Aggregate: true, Mode: "batch",
		Objects: []string{"Account", "Case"}, FieldRoles: map[string][]string{"Account.Name": {"select"}, "Case.Subject": {"filter", "sort"}},
		Aliases: map[string]string{"n": "Account.Name", "expr0": "COUNT(Case.Id)"}}
	in := input(SubjectInput{Kind: "user", ID: "00u1", Issuer: "https://login.example.com", Email: "li.wei@example.com",
		Groups: []string{"sales", "emea"}, Roles: []string{"sales_rep", "analyst"}, MFA: true, ClientID: "cli",
		Claims: map[string]any{"amr": []any{"pwd", "mfa"}, "tenant": "acme", "level": 3.0}, Watch: []string{"departing", "audit"}},
		ActionInput{Operation: "query", Category: "read", Object: "Contact", Fields: []string{"Id", "Email"},
			AllFields: true, RecordID: "003A", Query: "SELECT Id, Email FROM Contact", IncludeDeleted: true,
			Aggregate: true, Mode: "queryAll", Parent: &parent,
			Objects:    []string{"Contact", "Account"},
			FieldRoles: map[string][]string{"Contact.Email": {"select", "sort"}, "Contact.MobilePhone": {"filter"}, "Account.Name": {"select"}},
			Aliases:    map[string]string{"m": "Contact.MobilePhone", "expr0": "MAX(Contact.Email)"}})
	in.Request.Query["limit"] = []string{"10", "20"}
	in.Request.Headers["accept"] = "application/json"
	in.Approval = ApprovalInput{Status: "approved", ID: "apr_1", Approver: "ma.li@example.com", DecidedAt: "2026-12-06T09:00:00Z"}
	return in
}

// cloneInput copies in deeply (maps, slices and the parent).
func cloneInput(in *Input) *Input {
	var clone func(v reflect.Value) reflect.Value
	clone = func(v reflect.Value) reflect.Value {
		out := reflect.New(v.Type()).Elem()
		switch v.Kind() {
		case reflect.Struct:
			if v.Type() == reflect.TypeFor[time.Time]() {
				out.Set(v)
				break
			}
			for i := range v.NumField() {
				out.Field(i).Set(clone(v.Field(i)))
			}
		case reflect.Pointer:
			if !v.IsNil() {
				out.Set(reflect.New(v.Type().Elem()))
				out.Elem().Set(clone(v.Elem()))
			}
		case reflect.Slice:
			if !v.IsNil() {
				out.Set(reflect.MakeSlice(v.Type(), v.Len(), v.Len()))
				for i := range v.Len() {
					out.Index(i).Set(clone(v.Index(i)))
				}
			}
		case reflect.Map:
			if !v.IsNil() {
				out.Set(reflect.MakeMap(v.Type()))
				for it := v.MapRange(); it.Next(); {
					out.SetMapIndex(it.Key(), clone(it.Value()))
				}
			}
		case reflect.Interface:
			if !v.IsNil() {
				out.Set(clone(v.Elem()))
			}
		default:
			out.Set(v)
		}
		return out
	}
	return clone(reflect.ValueOf(in).Elem()).Addr().Interface().(*Input)
}

// A mutation changes one field of an input, found by its path.
type mutation struct {
	path   string
	change func(*Input)
}

// mutations lists, for every field of Input (walked by reflection, so a
// field added later is covered), the changes that make its value differ:
// a string or a bool changed, an element or entry changed, added or
// removed, a time moved, the parent dropped, and every field of the
// parent changed in turn.
func mutations(t *testing.T) []mutation {
	var out []mutation
	var walk func(path string, get func(*Input) reflect.Value, typ reflect.Type)
	walk = func(path string, get func(*Input) reflect.Value, typ reflect.Type) {
		add := func(what string, f func(v reflect.Value)) {
			out = append(out, mutation{path + " " + what, func(in *Input) { f(get(in)) }})
		}
		switch {
		case typ == reflect.TypeFor[time.Time]():
			add("moved", func(v reflect.Value) { v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Nanosecond))) })
			return
		case typ.Kind() == reflect.String:
			add("changed", func(v reflect.Value) { v.SetString(v.String() + "x") })
			add("emptied", func(v reflect.Value) { v.SetString("") })
		case typ.Kind() == reflect.Bool:
			add("flipped", func(v reflect.Value) { v.SetBool(!v.Bool()) })
		case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.String:
			add("appended to", func(v reflect.Value) { v.Set(reflect.Append(v, reflect.ValueOf("extra"))) })
			add("element changed", func(v reflect.Value) { v.Index(0).SetString(v.Index(0).String() + "x") })
			add("element dropped", func(v reflect.Value) { v.Set(v.Slice(1, v.Len())) })
			add("elements joined", func(v reflect.Value) { // ["a","b"] against ["ab"]
				v.Set(reflect.ValueOf([]string{v.Index(0).String() + v.Index(1).String()}))
			})
		case typ.Kind() == reflect.Map:
			add("entry added", func(v reflect.Value) { v.SetMapIndex(reflect.ValueOf("zz-added"), sample(typ.Elem())) })
			add("entry removed", func(v reflect.Value) { v.SetMapIndex(v.MapKeys()[0], reflect.Value{}) })
			add("entry changed", func(v reflect.Value) {
				for _, k := range v.MapKeys() {
					v.SetMapIndex(k, sample(typ.Elem()))
				}
			})
			add("key renamed", func(v reflect.Value) {
				k := v.MapKeys()[0]
				e := v.MapIndex(k)
				v.SetMapIndex(k, reflect.Value{})
				v.SetMapIndex(reflect.ValueOf(k.String()+"x"), e)
			})
		case typ.Kind() == reflect.Pointer && typ.Elem().Kind() == reflect.Struct:
			add("dropped", func(v reflect.Value) { v.Set(reflect.Zero(typ)) })
			if strings.Count(path, ".parent") < 2 { // the parent's parent is nil in keyedInput
				walk(path, func(in *Input) reflect.Value { return get(in).Elem() }, typ.Elem())
			}
		case typ.Kind() == reflect.Struct:
			for i := range typ.NumField() {
				i, f := i, typ.Field(i)
				name := f.Tag.Get("json")
				if name == "-" { // not in the document
					name = f.Name
				}
				walk(path+"."+name, func(in *Input) reflect.Value { return get(in).Field(i) }, f.Type)
			}
		default:
			t.Fatalf("%s: no mutation for a field of type %s: add one to this test", path, typ)
		}
	}
	walk("input", func(in *Input) reflect.Value { return reflect.ValueOf(in).Elem() }, reflect.TypeFor[Input]())
	return out
}

// sample is a value of a map's element type that no map of keyedInput holds.
func sample(typ reflect.Type) reflect.Value {
	switch typ.Kind() {
	case reflect.String:
		return reflect.ValueOf("sampled")
	case reflect.Int64:
		return reflect.ValueOf(int64(987654321))
	case reflect.Slice:
		return reflect.ValueOf([]string{"sampled"})
	default:
		return reflect.ValueOf(any("sampled"))
	}
}

func mustKey(t *testing.T, in *Input, s *inputShape) string {
	t.Helper()
	k, ok := in.appendKey(nil, s)
	if !ok {
		t.Fatalf("input not keyed: %+v", in)
	}
	return string(k)
}

// The decision cache is safe only if two inputs with the same key have the
// same value under the shape: every change of every field must change the
// key exactly when it changes the value (a field left out of the key
// would hand one caller's decision to another; a field in the key that
// the shape leaves out would only cost hits, but is held too).
func TestKeyFollowsValue(t *testing.T) {
	every := &inputShape{parts: map[string]fieldSet{"request": nil, "subject": nil, "upstream": nil, "action": nil, "usage": nil, "approval": nil}}
	pruned := &inputShape{parts: map[string]fieldSet{
		"request":  {"method": true, "query": true},
		"subject":  {"roles": true, "claims": true, "mfa": true},
		"action":   {"fields": true, "parent": true, "mode": true},
		"usage":    {"records": true},
		"approval": {"status": true},
	}}
	shapes := map[string]*inputShape{
		"every field": every, "some fields": pruned,
		"default policies": defaultEngine(t).ev.cur.Load().shape,
		"nothing":          {parts: map[string]fieldSet{}},
	}
	muts := mutations(t)
	if len(muts) < 60 {
		t.Fatalf("only %d mutations found", len(muts))
	}
	base := keyedInput()
	for name, s := range shapes {
		t.Run(name, func(t *testing.T) {
			baseValue, baseKey := base.value(s), mustKey(t, base, s)
			var same []string // mutations that leave the value as it is
			for _, m := range muts {
				in := cloneInput(base)
				m.change(in)
				valueChanged := in.value(s).Compare(baseValue) != 0
				keyChanged := mustKey(t, in, s) != baseKey
				if valueChanged != keyChanged {
					t.Errorf("%s: value changed %v, key changed %v", m.path, valueChanged, keyChanged)
				}
				if !valueChanged {
					same = append(same, m.path)
				}
			}
			// Under the whole input every mutation shows, but for the raw
			// query, which is read only when Query is nil (it is set here;
			// TestRawQueryIsTheParsedQuery covers the other case), and for
			// dropping the parent's parent, which is nil already.
			want := []string{"input.request.RawQuery changed", "input.request.RawQuery emptied", "input.action.parent.parent dropped"}
			if s == every && !slices.Equal(same, want) {
				t.Errorf("mutations that left the whole value alone: %q, want %q", same, want)
			}
			if base.value(s).Compare(baseValue) != 0 || mustKey(t, cloneInput(base), s) != baseKey {
				t.Error("the input changed under the test")
			}
		})
	}
}

// Neighbouring fields cannot trade bytes: each string and list is written
// with its length, each part and field with a tag.
func TestKeySeparatesNeighbouringFields(t *testing.T) {
	every := &inputShape{parts: map[string]fieldSet{"request": nil, "subject": nil, "upstream": nil, "action": nil, "usage": nil}}
	pairs := []struct {
		name string
		a, b func(*Input)
	}{
		{"kind and id", func(in *Input) { in.Subject.Kind, in.Subject.ID = "ab", "" }, func(in *Input) { in.Subject.Kind, in.Subject.ID = "a", "b" }},
		{"roles split differently", func(in *Input) { in.Subject.Roles = []string{"ab", "c"} }, func(in *Input) { in.Subject.Roles = []string{"a", "bc"} }},
		{"header name and value", func(in *Input) { in.Request.Headers = map[string]string{"ab": "c"} },
			func(in *Input) { in.Request.Headers = map[string]string{"a": "bc"} }},
		{"roles and groups", func(in *Input) { in.Subject.Groups, in.Subject.Roles = []string{"admin"}, nil },
			func(in *Input) { in.Subject.Groups, in.Subject.Roles = nil, []string{"admin"} }},
		{"name and type", func(in *Input) { in.Upstream = UpstreamInput{Name: "zoho"} }, func(in *Input) { in.Upstream = UpstreamInput{Type: "zoho"} }},
		{"object and fields", func(in *Input) { in.Action.Object, in.Action.Fields = "Contact", []string{"Id"} },
			func(in *Input) { in.Action.Object, in.Action.Fields = "", []string{"Contact", "Id"} }},
		{"parent's and own mode", func(in *Input) { in.Action.Mode, in.Action.Parent = "hardDelete", &ActionInput{} },
			func(in *Input) { in.Action.Mode, in.Action.Parent = "", &ActionInput{Mode: "hardDelete"} }},
		{"field roles", func(in *Input) { in.Action.FieldRoles = map[string][]string{"a": {"b", "c"}} },
			func(in *Input) { in.Action.FieldRoles = map[string][]string{"a": {"b"}, "c": nil} }},
		{"objects and aliases", func(in *Input) { in.Action.Objects, in.Action.Aliases = []string{"m"}, nil },
			func(in *Input) { in.Action.Objects, in.Action.Aliases = nil, map[string]string{"m": ""} }},
		{"query values", func(in *Input) { in.Request.Query = map[string][]string{"a": {"b", "c"}} },
			func(in *Input) { in.Request.Query = map[string][]string{"a": {"b"}, "c": nil} }},
		{"usage windows", func(in *Input) { in.Usage.Records = map[string]int64{"1h": 5} },
			func(in *Input) { in.Usage.Records, in.Usage.Requests = nil, map[string]int64{"1h": 5} }},
	}
	for _, p := range pairs {
		a, b := cloneInput(keyedInput()), cloneInput(keyedInput())
		p.a(a)
		p.b(b)
		if a.value(every).Compare(b.value(every)) == 0 {
			t.Fatalf("%s: the pair has the same value", p.name)
		}
		if mustKey(t, a, every) == mustKey(t, b, every) {
			t.Errorf("%s: different inputs have the same key", p.name)
		}
	}
}

// Maps are written in key order: the same input gives the same key
// whatever the order Go iterates its maps in, also past the keys sorted
// on the stack.
func TestKeyDoesNotDependOnMapOrder(t *testing.T) {
	every := &inputShape{parts: map[string]fieldSet{"request": nil, "usage": nil}}
	in := keyedInput()
	for i := range 40 {
		in.Request.Headers[fmt.Sprintf("x-h%d", i)] = fmt.Sprint(i)
		in.Usage.Records[fmt.Sprintf("%dm", i)] = int64(i)
	}
	want := mustKey(t, in, every)
	for range 20 {
		if got := mustKey(t, cloneInput(in), every); got != want {
			t.Fatal("the key moved with the maps' iteration order")
		}
	}
}

// Claims that do not encode are not keyed: the decision is evaluated
// every time, never taken from the cache.
func TestUnencodableClaimsAreNotCached(t *testing.T) {
	s := &inputShape{parts: map[string]fieldSet{"subject": {"claims": true}}}
	in := keyedInput()
	in.Subject.Claims["bad"] = math.Inf(1)
	if _, ok := in.appendKey(nil, s); ok {
		t.Error("claims holding +Inf were keyed")
	}
	// json.Marshal writes both as U+FFFD; as values they differ.
	for _, bad := range []map[string]any{
		{"tenant": "acme\xff"}, {"tenant": []any{"a", "\xfe"}}, {"\xff": "x"}, {"nested": map[string]any{"t": "\xc0"}},
	} {
		a, b := keyedInput(), keyedInput()
		a.Subject.Claims, b.Subject.Claims = bad, map[string]any{"tenant": "acme\uFFFD"}
		if _, ok := a.appendKey(nil, s); ok {
			t.Errorf("claims %q with invalid UTF-8 were keyed", bad)
		}
		if _, ok := b.appendKey(nil, s); !ok {
			t.Errorf("claims with U+FFFD itself were not keyed")
		}
	}
	e := newEngine(t, Config{Paths: []string{writePolicy(t, map[string]string{"p.rego": `package crmgw.authz

decision := {"allow": input.subject.claims.tenant == "acme", "reason": "by tenant"}
`})}})
	for range 2 {
		if d, err := e.Decide(context.Background(), in); err != nil || !d.Allow {
			t.Fatalf("decision = %+v, %v", d, err)
		}
	}
	if n := len(e.ev.cur.Load().cache.cur); n != 0 {
		t.Errorf("%d decisions cached for an input without a key", n)
	}
}

// Without Query, the raw query is parsed for the value and the key alike,
// as url.URL.Query parses it (escapes decoded, what parses kept).
func TestRawQueryIsTheParsedQuery(t *testing.T) {
	s := &inputShape{parts: map[string]fieldSet{"request": {"query": true}}}
	parsed := keyedInput()
	parsed.Request.Query = map[string][]string{"q": {"SELECT Id FROM Contact"}, "debug": {"1", "2"}}
	raw := cloneInput(parsed)
	raw.Request.Query, raw.Request.RawQuery = nil, "q=SELECT+Id+FROM+Contact&%64ebug=1&debug=2&bad=%zz"
	if raw.value(s).Compare(parsed.value(s)) != 0 {
		t.Errorf("value of the raw query %v, want %v", raw.value(s), parsed.value(s))
	}
	if mustKey(t, raw, s) != mustKey(t, parsed, s) {
		t.Error("the raw query's key differs from the parsed query's")
	}
	other := cloneInput(raw)
	other.Request.RawQuery = "q=SELECT+Id+FROM+Contact&debug=1"
	if mustKey(t, other, s) == mustKey(t, raw, s) || other.value(s).Compare(raw.value(s)) == 0 {
		t.Error("another raw query has the same key or value")
	}
}
