package masking

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// compactAt runs compactObject on in (an object, then anything) from a
// scanner that has read it all, padded so that the index covers it.
func compactAt(t testing.TB, in string, flag *[64]uint64) int {
	t.Helper()
	s := newScanner()
	s.reset(strings.NewReader(in + strings.Repeat(" ", 256)))
	for s.fill() {
	}
	return s.compactObject(0, flag)
}

func flagsOf(names ...string) *[64]uint64 {
	var f [64]uint64
	for _, n := range names {
		i, bit := quickBit([]byte(n))
		f[i] |= bit
	}
	return &f
}

// TestCompactObject: the subtrees compactObject takes are valid, compact,
// free of arrays, escapes, non-ASCII text and marked names (but inside
// attributes); it measures them to their closing brace and refuses
// everything else, which the general path then reads.
func TestCompactObject(t *testing.T) {
	if !indexOn {
		t.Skip("no structural index on this CPU: compactObject takes nothing")
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
	s := newScanner()
	obj := `{"Name":"` + strings.Repeat("x", 200) + `"}`
	s.reset(strings.NewReader(obj[:100]))
	for s.fill() {
	}
	if end := s.compactObject(0, flagsOf("attributes")); end != 0 {
		t.Fatalf("an object cut at byte 100 measured %d", end)
	}
}

// FuzzCompactObject: whatever compactObject takes is one valid JSON
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

// relatedBody is a Salesforce query whose records hold related records
// (Account, its Owner) written compactly, as Salesforce writes them.
func relatedBody(n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"totalSize":%d,"done":true,"records":[`, n)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"attributes":{"type":"Contact","url":"/c/%d"},"Id":"003%d","Name":"C %d",`+
			`"Account":{"attributes":{"type":"Account","url":"/a/%d"},"Name":"Acme %d","Industry":"secret-industry-%d",`+
			`"Owner":{"attributes":{"type":"User","url":"/u/%d"},"Alias":"o%d","Email":"secret-owner-%d@x.cn"}},`+
			`"MailingAddress":{"city":"Beijing","street":"1 Main St."}}`, i, i, i, i, i, i, i, i, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// TestRelatedRecordsMaskedInside: a related record that holds a field a
// rule names, however deep, is not copied unread: its field is masked and
// noted under its own object, while the subtrees no rule may name
// (MailingAddress) are copied as they are.
func TestRelatedRecordsMaskedInside(t *testing.T) {
	t.Parallel()
	body := relatedBody(5)
	opts := Options{Vendor: "salesforce", Rules: mustRules(t, map[string]string{"User.Email": "redact", "Account.Industry": "null"})}
	out, st, err := rewrite(t, body, opts)
	if err != nil && err.Error() != "EOF" {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("secret-")) {
		t.Fatalf("a masked field leaked:\n%s", out)
	}
	if got := strings.Join(st.Masked, ","); got != "Account.Industry,User.Email" {
		t.Errorf("masked %q, want Account.Industry,User.Email", got)
	}
	if !bytes.Contains(out, []byte(`"MailingAddress":{"city":"Beijing","street":"1 Main St."}`)) ||
		!bytes.Contains(out, []byte(`"Alias":"o4"`)) || st.Records != 5 {
		t.Errorf("records %d, output:\n%s", st.Records, out)
	}
	if d := pathsDiffer(t, body, opts); d != "" {
		t.Error(d)
	}
}

// TestWholeRecordsWithoutRules: with no rules the records are copied
// whole, counted, and cut at the cap as the general path cuts them.
func TestWholeRecordsWithoutRules(t *testing.T) {
	t.Parallel()
	body := relatedBody(50)
	for _, max := range []int{0, 1, 7, 50, 51} {
		opts := Options{Vendor: "salesforce", MaxRecords: max}
		out, st, err := rewrite(t, body, opts)
		if err != nil && err.Error() != "EOF" {
			t.Fatal(err)
		}
		want := 50
		if max > 0 && max < 50 {
			want = max
		}
		if st.Records != want || st.Truncated != (want < 50) {
			t.Errorf("max %d: %d records, truncated %v", max, st.Records, st.Truncated)
		}
		if max == 0 && !bytes.Equal(out, body) {
			t.Errorf("no rules, no cap: output is not the input")
		}
		if d := pathsDiffer(t, body, opts); d != "" {
			t.Errorf("max %d: %s", max, d)
		}
	}
}

// TestBackoff: after refusals in a row the chances passed over grow
// (1, 3, 7, ... 63); one success and every chance is taken again.
func TestBackoff(t *testing.T) {
	var b backoff
	var tried []int
	for i := range 200 {
		if b.try() {
			tried = append(tried, i)
			b.done(0)
		}
	}
	if got, want := fmt.Sprint(tried), "[0 2 6 14 30 62 126 190]"; got != want {
		t.Fatalf("tried at %s, want %s", got, want)
	}
	for b.skip > 0 {
		b.try()
	}
	b.try()
	b.done(1)
	for i := range 5 {
		if !b.try() {
			t.Fatalf("after a success, chance %d passed over", i)
		}
		b.done(1)
	}
}

// TestCompactDecidesLikeTheGeneralPath: related records and whole records
// that compactObject takes or refuses come out as the general path writes
// them (one byte at a time, where no fast path runs), with and without
// rules, under caps.
func TestCompactDecidesLikeTheGeneralPath(t *testing.T) {
	t.Parallel()
	rules := mustRules(t, map[string]string{"*.Email": "redact", "Account.Name": "null", "User.Phone": "partial"})
	for _, rel := range []string{
		`{"attributes":{"type":"Account","Email":"in attributes"},"Site":"x"}`,
		`{"Site":"x","attributes":{"type":"Account"}}`,
		`{"ATTRIBUTES":{"type":"Account"},"Site":"x"}`,
		`{"attributes":{"type":"User"},"Alias":"a","Phone":"+86 10 1234 5678"}`,
		`{"attributes":{"type":"Account"},"Name":"named by a rule"}`,
		`{"attributes":{"type":"Account"},"Owner":{"attributes":{"type":"User"},"Email":"deep"}}`,
		`{"attributes":{"type":"Account"},"Owner":{"attributes":{"type":"User"},"Alias":"a"}}`,
		`{"attributes":{"type":"Account"},"Tags":["a"]}`,
		`{"attributes":{"type":"Account"},"Em\u0061il":"escaped name"}`,
		`{"attributes":{"type":"Account"},"Site":"Zürich \"HQ\""}`,
		`{"attributes":{"type":"Account"},"Site": "spaced"}`,
		`{"attributes":"not an object","Site":"x"}`,
		`{"attributes":{"type":{"nested":1}},"Site":"x"}`,
		`{}`,
		`null`,
	} {
		var b strings.Builder
		b.WriteString(`{"totalSize":4,"done":true,"records":[`)
		for i := range 4 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"attributes":{"type":"Contact","url":"/c/%d"},"Id":"%d","Rel":%s,"Last":"l"}`, i, i, rel)
		}
		b.WriteString(`]}`)
		for _, o := range []Options{
			{Vendor: "salesforce", Rules: rules}, {Vendor: "salesforce", Rules: rules, MaxRecords: 2},
			{Vendor: "salesforce"}, {Vendor: "salesforce", MaxRecords: 3},
		} {
			if d := pathsDiffer(t, []byte(b.String()), o); d != "" {
				t.Errorf("%s (rules %v, max %d): %s", rel, o.Rules != nil, o.MaxRecords, d)
			}
		}
	}
}
