package tmplref

import (
	"slices"
	"strings"
	"testing"
)

func TestRefsListsTheNamesBetweenBraces(t *testing.T) {
	for _, c := range []struct {
		tmpl string
		want []string
	}{
		{"Bearer {token}", []string{"token"}},
		{"{value.x} and {param.tenant}", []string{"value.x", "param.tenant"}},
		{"{a}{b}", []string{"a", "b"}},
		{"no refs", nil},
		{"open {a", nil},
		{"{}", []string{""}},
	} {
		if got := Refs(c.tmpl); !slices.Equal(got, c.want) {
			t.Errorf("Refs(%q) = %q, want %q", c.tmpl, got, c.want)
		}
	}
}

func TestExpandFillsOnlyKnownRefs(t *testing.T) {
	known := func(ref string) bool { return ref == "token" || strings.HasPrefix(ref, "param.") }
	get := func(ref string) string { return "<" + ref + ">" }
	for _, c := range []struct{ tmpl, want string }{
		{"Bearer {token}", "Bearer <token>"},
		{`{"t":"{token}","p":"{param.x}","o":"{other}"}`, `{"t":"<token>","p":"<param.x>","o":"{other}"}`},
		{"{{token}}", "{<token>}"},
		{"{token", "{token"},
		{"{}", "{}"},
		{"", ""},
	} {
		if got := Expand(c.tmpl, known, get); got != c.want {
			t.Errorf("Expand(%q) = %q, want %q", c.tmpl, got, c.want)
		}
	}
}
