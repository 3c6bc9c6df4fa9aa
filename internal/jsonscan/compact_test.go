package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func hasArray(v any) bool {
	switch x := v.(type) {
	case []any:
		return true
	case map[string]any:
		for _, e := range x {
			if hasArray(e) {
				return true
			}
		}
	}
	return false
}

// compactAt runs CompactObject on in (an object, then anything) from a
// scanner that has read it all, padded so that the index covers it.
func compactAt(t testing.TB, in string, flag *[64]uint64) int {
	t.Helper()
	s := New()
	s.Reset(strings.NewReader(in + strings.Repeat(" ", 256)))
	for s.fill() {
	}
	return s.CompactObject(0, flag)
}

func flagsOf(names ...string) *[64]uint64 {
	var f [64]uint64
	for _, n := range names {
		i, bit := QuickBit([]byte(n))
		f[i] |= bit
	}
	return &f
}

// TestCompactObject: the subtrees CompactObject takes are valid, compact,
// free of arrays, escapes, non-ASCII text and marked names (but inside
// attributes); it measures them to their closing brace and refuses
// everything else, which the general path then reads.
func TestCompactObject(t *testing.T) {
	if !indexOn {
		t.Skip("no structural index on this CPU: CompactObject takes nothing")
	}
	flag := flagsOf("attributes", "Email")
	deep := func(n int) string { return strings.Repeat(`{"a":`, n-1) + `{}` + strings.Repeat(`}`, n-1) }
	for _, tc := range []struct {
		in   string
		take bool
	}{
		{`{}`, true},
		{`{"a":{}}`, true},
		{`{"":1}`, true},
		{`{"Name":"Acme","Owner":{"attributes":{"type":"User","url":"/u/1"},"Alias":"x"}}`, true},
		{`{"attributes":{"type":"Contact","Email":"in attributes, not a field"},"Id":"1"}`, true},
		{`{"ATTRIBUTES":{"type":"Contact"},"n":-12.5e3,"z":0,"e":1E+2,"t":true,"f":false,"u":null}`, true},
		{`{"Street":"1 Main St.","City":"Beijing"}`, true}, // dots in values are fine
		{deep(maxCompact), true},

		{deep(maxCompact + 1), false},
		{`{"Email":"a@b.cn"}`, false},
		{`{"Owner":{"Email":"a@b.cn"}}`, false},
		{`{"Eeeee":1}`, false},   // marked by the quick bits (length and first letter) as Email is
		{`{"a.b":1}`, false},     // a path
		{`{"Tags":[1]}`, false},  // arrays: child relationships
		{`{"Name": "x"}`, false}, // whitespace
		{`{ "Name":"x"}`, false},
		{`{"Name":"x" }`, false},
		{`{"Name"  :"x"}`, false},
		{"{\"Name\":\"x\"\n}", false},
		{`{"Name":"a\"b \u4e2d"}`, true}, // escapes in a value, validated
		{`{"Name":"王芳 José"}`, true},     // non-ASCII text in a value
		{`{"N\u0061me":"x"}`, false},     // escapes in a name
		{`{"Námé":"x"}`, false},          // non-ASCII in a name
		{`{"Name":"a\x"}`, false},        // an invalid escape
		{`{"Name":"a\u12"}`, false},
		{"{\"Name\":\"\xff\"}", false}, // invalid UTF-8
		{"{\"Name\":\"a\tb\"}", false}, // a control character
		{`{"attributes":"x"}`, false},
		{`{"attributes":1}`, false},
		{`{"attributes":{"a":{}}}`, false},
		{`{"attributes":{"a":[1]}}`, false},
		{`{"n":01}`, false},
		{`{"n":1.}`, false},
		{`{"n":-}`, false},
		{`{"n":.5}`, false},
		{`{"n":+1}`, false},
		{`{"a":tru}`, false},
		{`{"a":nul}`, false},
		{`{"a":True}`, false},
		{`{"a":1,}`, false},
		{`{,}`, false},
		{`{"a"}`, false},
		{`{"a":}`, false},
		{`{"a":1"b":2}`, false},
		{`{"a":1,"b":`, false},
		{`{"a":'x'}`, false},
		{`{a:1}`, false},
		{`{"a":1]`, false},
	} {
		in := tc.in + `,"after":1}`
		end := compactAt(t, in, flag)
		switch {
		case tc.take && end != len(tc.in):
			t.Errorf("%s: measured %d, want %d", tc.in, end, len(tc.in))
		case !tc.take && end != 0:
			t.Errorf("%s: taken (%d), want it left to the general path", tc.in, end)
		case tc.take && !json.Valid([]byte(tc.in)):
			t.Fatalf("%s: the test case is not valid JSON", tc.in)
		}
	}
}

// TestCompactObjectBeyondIndex: an object that ends past the indexed bytes
// (a body cut by the buffer) is left to the general path.
func TestCompactObjectBeyondIndex(t *testing.T) {
	if !indexOn {
		t.Skip("no structural index on this CPU")
	}
	s := New()
	obj := `{"Name":"` + strings.Repeat("x", 200) + `"}`
	s.Reset(strings.NewReader(obj[:100]))
	for s.fill() {
	}
	if end := s.CompactObject(0, flagsOf("attributes")); end != 0 {
		t.Fatalf("an object cut at byte 100 measured %d", end)
	}
}

// FuzzCompactObject: whatever CompactObject takes is one valid JSON
// object of valid UTF-8, with no whitespace or array in it.
func FuzzCompactObject(f *testing.F) {
	f.Add([]byte(`{"Name":"Acme","Owner":{"attributes":{"type":"User"},"Alias":"x"}}`))
	f.Add([]byte(`{"n":-12.5e3,"t":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		end := compactAt(t, string(b), flagsOf("attributes", "Email"))
		if end == 0 {
			return
		}
		obj := b[:end]
		if !json.Valid(obj) {
			t.Fatalf("took invalid JSON %q", obj)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, obj); err != nil || !bytes.Equal(c.Bytes(), obj) {
			t.Fatalf("took JSON that is not compact %q", obj)
		}
		if !utf8.Valid(obj) {
			t.Fatalf("took invalid UTF-8 %q", obj)
		}
		var v map[string]any
		if err := json.Unmarshal(obj, &v); err != nil || hasArray(v) {
			t.Fatalf("took an array: %q", obj)
		}
	})
}
