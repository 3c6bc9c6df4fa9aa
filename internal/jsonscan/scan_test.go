package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// scanAll tokenizes b with the scanner and returns the tokens joined by
// spaces, or the error that stopped it.
func scanAll(r io.Reader) (string, error) {
	s := New()
	s.Reset(r)
	var toks []string
	for {
		k := s.Peek()
		switch k {
		case 0:
			if err := s.LastErr(); err != io.EOF {
				return strings.Join(toks, " "), err
			}
			return strings.Join(toks, " "), nil
		case '{', '[', '}', ']':
			if err := s.ReadDelim(); err != nil {
				return "", err
			}
			toks = append(toks, string(k))
		default:
			v, err := s.ReadScalar()
			if err != nil {
				return strings.Join(toks, " "), err
			}
			toks = append(toks, string(v))
		}
	}
}

func TestScannerTokens(t *testing.T) {
	in := " {\"a\" : [1, -2.5e+3, true,false,null, \"x\\\"y\\u00e9\"],\n\t\"b\":{}, \"c\":[] , \"\u4e2d\":0} "
	want := `{ "a" [ 1 -2.5e+3 true false null "x\"y\u00e9" ] "b" { } "c" [ ] "中" 0 }`
	for name, r := range map[string]io.Reader{
		"whole":    strings.NewReader(in),
		"one byte": iotest.OneByteReader(strings.NewReader(in)),
		"half":     iotest.HalfReader(strings.NewReader(in)),
	} {
		got, err := scanAll(r)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", name, got, err, want)
		}
	}
}

func TestScannerRejects(t *testing.T) {
	for _, in := range []string{
		`{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{"a":1 "b":2}`, `{1:2}`, `{"a"}`, `[1 2]`,
		`01`, `1.`, `.5`, `-`, `1e`, `1e+`, `+1`, `tru`, `nulll`, `True`, `[truex]`,
		`"a`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\x01b\"", "\"\xff\"", "\"\xe4\xb8\"",
		`{"a":1}}`, `{"a":1} x`, `[1]]`, `]`, `}`, `{`, `[`, `{"a":`, `{"a"`, `"x"y`,
		// Invalid UTF-8 inside and at the ends of long non-ASCII runs.
		"\"王芳王芳王芳\xff王芳王芳\"", "\"王芳王芳王芳王芳\xe4\xb8\"", "\"王芳王芳王芳王芳\xe4\xb8a\"",
		"\"\xed\xa0\x80王芳王芳王芳\"", "\"王芳\xe0\x80\x80王芳\"", "\"王芳\xe1\x80王芳\"", "\"王芳\xef\xbf\"", "\"王芳王芳王芳王芳\xc0\xaf\"", "\"王芳王芳王芳王芳\xf4\x90\x80\x80\"",
	} {
		_, err := scanAll(strings.NewReader(in))
		if err == nil {
			t.Errorf("%q accepted", in)
		} else if !IsSyntax(err) {
			t.Errorf("%q: error %v is not a syntax error", in, err)
		}
		// Split reads must not change the verdict.
		if _, err := scanAll(iotest.OneByteReader(strings.NewReader(in))); err == nil {
			t.Errorf("%q accepted one byte at a time", in)
		}
	}
}

// TestScannerAcceptsEveryUTF8Length: strings of one- to four-byte
// characters at the edges of each lead byte's range, alone and in runs (the
// three-byte fast path and the run validation), whole and one byte a time.
func TestScannerAcceptsEveryUTF8Length(t *testing.T) {
	chars := []string{"a", "\u0080", "\u07ff", "\u0800", "\u0fff", "\u1000", "\ucfff", "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0010ffff", "王", "é"}
	for _, c := range chars {
		for _, in := range []string{`"` + c + `"`, `"` + strings.Repeat(c, 9) + `"`, `"王芳` + c + `王芳a` + c + `"`} {
			for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
				if got, err := scanAll(r); err != nil || got != in {
					t.Errorf("%q: got %q, %v", in, got, err)
				}
			}
		}
	}
}

func TestScannerEmptyAndScalarBodies(t *testing.T) {
	for in, want := range map[string]string{"": "", "  \n": "", "42": "42", ` "s" `: `"s"`, "null": "null", "-0.0e0": "-0.0e0"} {
		got, err := scanAll(iotest.OneByteReader(strings.NewReader(in)))
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestScannerSourceError(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := scanAll(io.MultiReader(strings.NewReader(`{"a":[1,2`), iotest.ErrReader(boom)))
	if err != boom {
		t.Fatalf("got %v, want the source's error", err)
	}
	if IsSyntax(err) {
		t.Fatal("a source error is not the body's fault")
	}
}

func TestScannerLongTokens(t *testing.T) {
	long := strings.Repeat("x", 3*scanBuf+5) // spans several buffer fills
	got, err := scanAll(iotest.HalfReader(strings.NewReader(`["` + long + `",1]`)))
	if err != nil || got != `[ "`+long+`" 1 ]` {
		t.Fatalf("long string: %v (%d bytes)", err, len(got))
	}
	// Past MaxToken the body is refused, not buffered without bound.
	huge := io.MultiReader(strings.NewReader(`["`), &repeatReader{b: 'x', n: MaxToken + 1}, strings.NewReader(`"]`))
	if _, err := scanAll(huge); err != ErrTokenTooLong {
		t.Fatalf("huge token: got %v", err)
	}
}

func TestScannerDepthLimit(t *testing.T) {
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := scanAll(strings.NewReader(ok)); err != nil {
		t.Fatalf("%d levels: %v", MaxDepth, err)
	}
	// One level more is refused before it costs memory; an endless run
	// of brackets is refused the same way.
	deep := io.MultiReader(strings.NewReader(strings.Repeat("[", MaxDepth+1)), &repeatReader{b: '[', n: 1 << 30})
	if _, err := scanAll(deep); err == nil || !IsSyntax(err) || !strings.Contains(err.Error(), "nesting deeper") {
		t.Fatalf("too deep: got %v", err)
	}
}

func TestScannerNumberLimit(t *testing.T) {
	ok := "[" + strings.Repeat("7", maxNumber-1) + "]"
	if _, err := scanAll(iotest.HalfReader(strings.NewReader(ok))); err != nil {
		t.Fatalf("%d digits: %v", maxNumber-1, err)
	}
	// A number that never ends, delivered a byte at a time, is refused
	// once it passes the cap (not rescanned for ever).
	long := iotest.OneByteReader(io.MultiReader(strings.NewReader("[1"), &repeatReader{b: '2', n: 1 << 30}))
	if _, err := scanAll(long); err == nil || !strings.Contains(err.Error(), "number longer") {
		t.Fatalf("got %v", err)
	}
}

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

func TestStringStop(t *testing.T) {
	// Every stopping byte at every position of a 20-byte window, with
	// stopping bytes after it (the borrow of the SWAR test must not move it).
	for _, stop := range []byte{'"', '\\', 0, 0x1f, 0x80, 0xff} {
		for i := 0; i < 20; i++ {
			b := bytes.Repeat([]byte{'a'}, 20)
			b[i] = stop
			for j := i + 1; j < 20; j += 3 {
				b[j] = []byte{'"', 0x01, 0xc3}[j%3]
			}
			if got := StringStop(b); got != i {
				t.Errorf("stop %#x at %d: got %d", stop, i, got)
			}
		}
	}
	for _, c := range []byte{' ', '!', '#', '[', ']', '~', 0x7f, 'a'} {
		if got := StringStop(bytes.Repeat([]byte{c}, 17)); got != 17 {
			t.Errorf("%#x stops the fast path at %d", c, got)
		}
	}
}

func TestSimpleStr(t *testing.T) {
	pad := strings.Repeat(" ", 16)
	for in, want := range map[string]int{
		`"abc"` + pad:              5,
		`"0123456789abcdef"` + pad: 18,
		`"abc"`:                    5, // at the very end of b
		`"a\"b"` + pad:             0, // an escape
		"\"a\x01b\"" + pad:         0, // a control character
		"\"\xc3\xa9\"" + pad:       0, // non-ASCII
		`"abcdefghijklmnop`:        0, // not closed in b
	} {
		if got := simpleStr([]byte(in)); got != want {
			t.Errorf("%q: got %d, want %d", in, got, want)
		}
	}
}

func TestAppendUnquote(t *testing.T) {
	for _, raw := range []string{`"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\u4e2d"`, `"\ud83d\ude00"`, `"\ud800"`, `"\udc00x"`, `"\ud800\u0041"`, `"\ud800\ud800"`} {
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatal(err)
		}
		if got := string(AppendUnquote(nil, []byte(raw))); got != want {
			t.Errorf("%s: got %q, want %q (encoding/json)", raw, got, want)
		}
	}
}

// FuzzScanner: the scanner accepts exactly what encoding/json accepts (for
// valid UTF-8; invalid UTF-8 in a string is refused, encoding/json replaces
// it), whatever the read sizes.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\u00e9\n"],"b":{"c":null}}`, `[]`, `"\ud800"`, `-0`, `[1,]`, `{"a" 1}`, "\"\xe4\xb8\xad\""} {
		f.Add([]byte(s), byte(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, split byte) {
		var r io.Reader = bytes.NewReader(data)
		if split%2 == 1 {
			r = iotest.OneByteReader(r)
		}
		_, err := scanAll(r)
		want := json.Valid(data) && utf8.Valid(data) || len(bytes.Trim(data, " \t\r\n")) == 0 // an empty body is no error
		if (err == nil) != want {
			t.Fatalf("%q: scanner error %v, encoding/json valid %v", data, err, want)
		}
	})
}

// TestStringStopEveryByte: the stop routine of this architecture and the
// portable SWAR one agree with the definition for every byte value at every
// position of buffers long enough for whole 16- and 8-byte steps and tails.
func TestStringStopEveryByte(t *testing.T) {
	t.Parallel()
	stops := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	for _, n := range []int{7, 17, 41} {
		for c := 0; c < 256; c++ {
			for i := 0; i < n; i++ {
				b := bytes.Repeat([]byte{'a'}, n)
				b[i] = byte(c)
				want := n
				if stops(byte(c)) {
					want = i
				}
				if got := StringStop(b); got != want {
					t.Fatalf("StringStop: byte %#x at %d of %d: got %d, want %d", c, i, n, got, want)
				}
				if got := stringStopSWAR(b); got != want {
					t.Fatalf("stringStopSWAR: byte %#x at %d of %d: got %d, want %d", c, i, n, got, want)
				}
			}
		}
	}
}

func FuzzStringStop(f *testing.F) {
	f.Add([]byte(`plain text, then "a quote`))
	f.Add([]byte("tab\there and é there"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k := 0; k <= len(b) && k < 20; k++ { // every alignment
			in, want := b[k:], len(b)-k
			for i, c := range in {
				if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
					want = i
					break
				}
			}
			if got, swar := StringStop(in), stringStopSWAR(in); got != want || swar != want {
				t.Fatalf("%q: StringStop %d, SWAR %d, want %d", in, got, swar, want)
			}
		}
	})
}
