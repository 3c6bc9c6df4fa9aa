package jsonptr

import (
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// TestParseRefusesAmbiguousBodies: duplicate names, look-alike names at
// any depth, invalid UTF-8 and trailing documents are errors.
func TestParseRefusesAmbiguousBodies(t *testing.T) {
	for _, b := range []string{
		`{"a":1,"a":2}`,
		`{"x":{"dataObjectApiName":"A","DataObjectApiName":"B"}}`,
		`{"x":[{"corp_id":"A","corpId":"B"}]}`,
		"{\"a\":\"\xff\"}",
		`{"a":1} {"a":2}`,
		``,
	} {
		if _, err := Parse([]byte(b)); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
	doc, err := Parse([]byte(`{"a~/b":[0,{"c":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := Get(doc, "/a~0~1b/1/c"); !ok || v != "x" {
		t.Errorf("escaped pointer: %v %v", v, ok)
	}
	for _, p := range []string{"/a~0~1b/01/c", "/a~0~1b/-1", "/a~0~1b/2", "/nope"} {
		if _, ok := Get(doc, p); ok {
			t.Errorf("%s found", p)
		}
	}
}

// TestRewrite: removal by folded name at the named parent only, members
// written first in their parent, a missing parent is an error.
func TestRewrite(t *testing.T) {
	out, err := Rewrite([]byte(`{"Corp_Access_Token":"c","data":{"corpAccessToken":"kept","x":1},"corpId":"old"}`),
		[]string{"/corpAccessToken"},
		[]Member{{Pointer: "/corpId", Value: jsontext.Value(`"gw"`)}, {Pointer: "/data/y", Value: jsontext.Value(`2`)}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"corpId":"gw","data":{"y":2,"corpAccessToken":"kept","x":1}}`; string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if _, err := Rewrite([]byte(`{"a":1}`), nil, []Member{{Pointer: "/missing/x", Value: jsontext.Value(`1`)}}); err == nil || !strings.Contains(err.Error(), "no object") {
		t.Errorf("missing parent: %v", err)
	}
	if _, err := Rewrite([]byte(`{"a":`), []string{"/a"}, nil); err == nil {
		t.Error("truncated body accepted")
	}
}
