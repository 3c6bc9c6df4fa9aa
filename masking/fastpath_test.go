package masking

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/crmgw/crmgw/internal/jsonscan"
)

// TestFastPathDecidesLikeTheGeneralPath: members read whole from the
// scanner's buffer (the fast path) must come out as when every token is
// read on its own, which is what happens when the upstream delivers one
// byte at a time. Every golden case, with and without a cap, with
// whitespace added between tokens.
func TestFastPathDecidesLikeTheGeneralPath(t *testing.T) {
	t.Parallel()
	for _, gc := range goldenCases() {
		body := fixture(t, gc.fixture)
		if gc.opts.Format != "" && gc.opts.Format != "json" {
			continue
		}
		spaced := bytes.ReplaceAll(bytes.ReplaceAll(body, []byte(`":`), []byte(`" : `)), []byte(`,"`), []byte(` ,  "`))
		for _, in := range [][]byte{body, spaced} {
			for _, max := range []int{0, 1} {
				opts := gc.opts
				opts.Rules = mustRules(t, gc.mask)
				if max > 0 {
					opts.MaxRecords = max
				}
				if d := pathsDiffer(t, in, opts); d != "" {
					t.Errorf("%s (max %d): fast and general paths: %s", gc.name, max, d)
				}
			}
		}
	}
}

func TestRemovedFirstFieldLeavesNoComma(t *testing.T) {
	t.Parallel()
	rules := mustRules(t, map[string]string{"Contact.Secret__c": "remove", "Contact.Email": "redact"})
	for body, want := range map[string]string{
		`{"Secret__c":"s","Name":"n","Phone":"p","attributes":{"type":"Contact"}}`:            `{"Name":"n","Phone":"p","attributes":{"type":"Contact"}}`,
		`{"attributes":{"type":"Contact"},"Secret__c":"s","Name":"n","Phone":"p"}`:            `{"attributes":{"type":"Contact"},"Name":"n","Phone":"p"}`,
		`{"attributes":{"type":"Contact"},"Name":"n","Secret__c":"s","Email":"e@x.cn","A":1}`: `{"attributes":{"type":"Contact"},"Name":"n","Email":"****","A":1}`,
		`{"attributes":{"type":"Contact"},"Secret__c":"s","Secret__c":"t"}`:                   `{"attributes":{"type":"Contact"}}`,
		`{"attributes":{"type":"Contact"}, "Name" : "n" ,"Secret__c":"s", "Phone":"p"}`:       `{"attributes":{"type":"Contact"}, "Name" : "n", "Phone":"p"}`,
	} {
		out, _, err := rewrite(t, []byte(body), Options{Vendor: "salesforce", Rules: rules})
		if err != io.EOF && err != nil || string(out) != want {
			t.Errorf("%s\n got %s (%v)\nwant %s", body, out, err, want)
		}
	}
}

func TestHugeTokenIsRefusedAsMalformed(t *testing.T) {
	t.Parallel()
	src := io.MultiReader(strings.NewReader(`{"records":[{"attributes":{"type":"Contact"},"Description":"`),
		&repeatReader{b: 'x', n: jsonscan.MaxToken + 1}, strings.NewReader(`"}]}`))
	r := NewReader(io.NopCloser(src), Options{Vendor: "salesforce", Rules: mustRules(t, benchMask)})
	out, err := io.ReadAll(r)
	r.Close()
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("got %v", err)
	}
	if bytes.Contains(out, []byte("xxxx")) {
		t.Fatal("part of the refused token was passed on")
	}
}

// TestRunStopsAtNamesARuleMayName: the scanner copies runs of record fields
// unread only while no rule can name them; a dotted name (a path through a
// masked lookup), an escaped name and one past the first eight bytes are
// still looked up, in a buffer that holds the body whole or one byte.
func TestRunStopsAtNamesARuleMayName(t *testing.T) {
	t.Parallel()
	body := []byte(`{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Contact","url":"/u"},` +
		`"Id":"003","Mail.Box":"a","Other":"keep","Longfieldname12.Sub":"b","Ma\u0069l":"c","":"empty",` +
		`"Z":1,"Y":true,"Longfieldname12":"d","Mail":"e","Mail.X":"f","Zz":null}]}`)
	opts := Options{Vendor: "salesforce", Rules: mustRules(t, map[string]string{
		"Contact.Mail": "redact", "Contact.Longfieldname12": "redact",
	})}
	want := `{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Contact","url":"/u"},` +
		`"Id":"003","Mail.Box":"****","Other":"keep","Longfieldname12.Sub":"****","Ma\u0069l":"****","":"empty",` +
		`"Z":1,"Y":true,"Longfieldname12":"****","Mail":"****","Mail.X":"****","Zz":null}]}`
	out, st, err := rewrite(t, body, opts)
	if err != nil || string(out) != want || st.Records != 1 {
		t.Fatalf("whole body: %v, %d records\n got %s\nwant %s", err, st.Records, out, want)
	}
	r := NewReader(io.NopCloser(iotest.OneByteReader(bytes.NewReader(body))), opts)
	slow, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(slow) != want {
		t.Fatalf("one byte at a time: %v\n got %s\nwant %s", err, slow, want)
	}
}

// TestMaskedValuesAreQuoted: what a strategy keeps of a value is quoted
// again, escapes included (a quote, a backslash, a control character kept
// by partial or email would otherwise break the JSON or end the string).
func TestMaskedValuesAreQuoted(t *testing.T) {
	t.Parallel()
	body := []byte(`{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Contact"},` +
		`"MobilePhone":"ab\"c\\d\u0001e","Email":"x\"y@ex\\ample.cn","Phone":"北京市朝阳区","Title":"plain-1234",` +
		`"Name":"王芳","Department":"Sales","Fax":"wang@北京.cn"}]}`)
	opts := Options{Vendor: "salesforce", HMACKey: testKey, Rules: mustRules(t, map[string]string{
		"Contact.MobilePhone": "partial", "Contact.Email": "email", "Contact.Phone": "partial", "Contact.Title": "partial",
		"Contact.Name": "hash", "Contact.Department": "redact", "Contact.Fax": "email",
	})}
	out, _, err := rewrite(t, body, opts)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got.Records) != 1 {
		t.Fatalf("output is not the JSON it should be (%v): %s", err, out)
	}
	want := map[string]string{
		"MobilePhone": "****\\d\x01e", "Email": "x***@ex\\ample.cn", "Phone": "**市朝阳区", "Title": "******1234",
		"Department": "****", "Fax": "w***@北京.cn",
	}
	if h, _ := got.Records[0]["Name"].(string); !strings.HasPrefix(h, "hmac:") || len(h) != len("hmac:")+32 {
		t.Errorf("Name = %q, want hmac: and 32 hex digits", h)
	}
	for k, v := range want {
		if got.Records[0][k] != v {
			t.Errorf("%s = %q, want %q (output %s)", k, got.Records[0][k], v, out)
		}
	}
}

// TestAttributesCopiedWholeDecideLikeTheGeneralPath: a record's attributes
// object copied whole from the buffer gives the output, stats and errors of
// the general path (one byte at a time), for the shapes that must fall back
// (a container or an escaped name inside, a broken object) and those that
// must not (no type, a type that is not a string, several types, an
// escaped type value, an aggregate row).
func TestAttributesCopiedWholeDecideLikeTheGeneralPath(t *testing.T) {
	t.Parallel()
	opts := Options{Vendor: "salesforce", Rules: mustRules(t, map[string]string{
		"Contact.Email": "redact", "*.Phone": "partial", "Account.Name": "null",
	})}
	for _, attrs := range []string{
		`{"type":"Contact","url":"/c/1"}`,
		`{}`,
		`{"url":"/c/1"}`,
		`{"type":null,"url":"/c/1"}`,
		`{"type":"Account","type":"Contact"}`,
		`{"type":"Con\u0074act"}`,
		`{"typ\u0065":"Contact"}`,
		`{"type":"Contact","nested":{"a":1}}`,
		`{"type":"Contact","list":[1,2]}`,
		`{"Type":"Contact","número":"1","a.b":true}`,
		`{"type":"AggregateResult"}`,
		` { "type" : "Contact" , "url" : "/c/1" } `,
		`{"type":"Contact",}`,
		`{"type":"Contact" "url":"/c/1"}`,
		`{"type":"Contact","url":"/c/1"`,
		// Around the literal shape plainAttributes matches.
		`{"type":"Contact"}`,
		`{"type":"","url":""}`,
		`{"type":"Contact","url":"/c/1","extra":1}`,
		`{"type":"Contact","url":"/c/1" }`,
		`{"type":"Contact","url":null}`,
		`{"type":"Contact","URL":"/c/1"}`,
		`{"type":"Contact","url":"/c/\"1"}`,
		`{"type":"Con\"tact","url":"/c/1"}`,
		`{"type":"Contact","url":"/c/é"}`,
		`{"type":"Contáct","url":"/c/1"}`,
		"{\"type\":\"Con\ttact\"}",
		`{"type":"Contact","url":"/c/1"}}`,
	} {
		body := []byte(`{"totalSize":2,"done":true,"records":[{"attributes":` + attrs +
			`,"Email":"a@b.cn","Phone":"+86 10 1234 5678","Name":"N"},{"attributes":` + attrs + `,"Email":"c@d.cn"}]}`)
		for _, max := range []int{0, 1} {
			o := opts
			o.MaxRecords = max
			if d := pathsDiffer(t, body, o); d != "" {
				t.Errorf("%s (max %d): fast and general paths: %s", attrs, max, d)
			}
		}
	}
}

// chunkReader hands out at most n bytes a read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// TestIndexAcrossReads: a body several buffers long, whose strings cross
// block ends and hold dots, escapes and non-ASCII text, comes out alike
// read whole (each fill moves the unread input and drops the index), in
// reads of 100 and of 4099 bytes (the index extended a few blocks at a
// time, members cut by its end) and one byte at a time; the masked value
// never shows.
func TestIndexAcrossReads(t *testing.T) {
	t.Parallel()
	var body bytes.Buffer
	body.WriteString(`{"totalSize":1500,"done":true,"records":[`)
	for i := range 1500 {
		if i > 0 {
			body.WriteByte(',')
		}
		pad := strings.Repeat("p", i%97)
		fmt.Fprintf(&body, `{"attributes":{"type":"Contact","url":"/services/data/v60.0/sobjects/Contact/003%015d"},`+
			`"Id":"003%015d","Name":"N%s","Title":"caf\u00e9 %d","Note":"a\"b\\c %s","Dept":"R&D.%d","City":"北京%s",`+
			`"Email":"secret-%d@example.com","Na.me":"dotted","Esc\u0061ped":"%s","Count":%d,"Ok":true,"Gone":null}`,
			i, i, pad, i, pad, i, pad, i, pad, i)
	}
	body.WriteString(`]}`)
	in := body.Bytes()
	opts := Options{Vendor: "salesforce", Rules: mustRules(t, map[string]string{"Contact.Email": "redact", "*.Escaped": "partial"})}
	whole, st, err := rewrite(t, in, opts)
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if st.Records != 1500 || bytes.Contains(whole, []byte("secret-")) || !json.Valid(whole) {
		t.Fatalf("records %d, secret shown %v, valid %v", st.Records, bytes.Contains(whole, []byte("secret-")), json.Valid(whole))
	}
	for _, n := range []int{100, 4099} {
		r := NewReader(io.NopCloser(chunkReader{bytes.NewReader(in), n}), opts)
		out, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(out, whole) {
			t.Fatalf("reads of %d bytes: %v, output equal %v", n, err, bytes.Equal(out, whole))
		}
	}
	if d := pathsDiffer(t, in, opts); d != "" {
		t.Fatal(d)
	}
}

// repeatReader reads n copies of b.
type repeatReader struct {
	b byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.n)
	for i := range p[:n] {
		p[i] = r.b
	}
	r.n -= n
	return n, nil
}
