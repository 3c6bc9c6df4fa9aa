package masking

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestIndexMatchesDefinition: the vector builder sets the bits indexGo
// defines, for every byte value at every position of a block.
func TestIndexMatchesDefinition(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]byte, 64*40)
	for round := range 50 {
		for i := range src {
			switch round % 3 {
			case 0:
				src[i] = byte(rng.IntN(256))
			case 1: // JSON-like: mostly text, some specials
				src[i] = (`abc."\` + "\x01\x7f\x80\xff")[rng.IntN(10)]
			default:
				src[i] = byte((i + round) % 256)
			}
		}
		for _, n := range []int{0, 1, 2, 39, 40} {
			got, want := make([]sblock, n), make([]sblock, n)
			buildIndex(got, src[:64*n])
			indexGo(want, src[:64*n])
			for k := range want {
				if got[k] != want[k] {
					t.Fatalf("round %d, block %d: %+v, want %+v", round, k, got[k], want[k])
				}
			}
		}
	}
}

// plainStrDef is plainStr's definition, byte by byte.
func plainStrDef(b []byte, i, covered int) (int, bool) {
	dotted := false
	for j := i + 1; j < covered; j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1 - i, dotted
		case c == '.':
			dotted = true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return 0, false
		}
	}
	return 0, false
}

// TestPlainStr: a plain string measured from the index, at every offset
// across block boundaries, as the byte-wise definition; not measured when
// an escape, control or non-ASCII byte comes first or its end is past the
// index.
func TestPlainStr(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte(`aaaaaaaaaaaaaaaaaaaa.."\` + "\x1f\xc3\xa9")
	b := make([]byte, 64*6)
	for round := range 400 {
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
			if round%4 == 0 && b[i] != '"' { // long strings across blocks
				b[i] = 'x'
			}
		}
		nblocks := 1 + round%6
		ix := make([]sblock, nblocks)
		buildIndex(ix, b[:64*nblocks])
		for i := range b {
			if b[i] != '"' {
				continue
			}
			n, d := plainStr(ix, i)
			wn, wd := plainStrDef(b, i, 64*nblocks)
			if n != wn || n > 0 && d != wd {
				t.Fatalf("round %d, string at %d in %q (%d blocks): %d %v, want %d %v", round, i, b[i:min(len(b), i+80)], nblocks, n, d, wn, wd)
			}
		}
	}
	if n, _ := plainStr(nil, 0); n != 0 {
		t.Fatalf("empty index measured a string: %d", n)
	}
	long := append([]byte(`"`), bytes.Repeat([]byte("y"), 64*3)...)
	long = append(long, '"')
	ix := make([]sblock, len(long)/64)
	buildIndex(ix, long[:64*len(ix)])
	if n, _ := plainStr(ix, 0); n != 0 {
		t.Fatalf("string ending past the index measured: %d", n)
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
