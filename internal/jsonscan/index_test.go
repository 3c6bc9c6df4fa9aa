package jsonscan

import (
	"bytes"
	"math/rand/v2"
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
