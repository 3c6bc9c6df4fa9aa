package jsonscan

import "math/bits"

// A structural index of the scanner's buffer: for each 64-byte block of
// buf, a bit per byte for the bytes Member's fast path asks about. Built a
// window at a time ahead of Member (with AVX2, 64 bytes in a dozen
// instructions), it lets Member measure a plain string by a bit search
// instead of a byte loop: in the load benchmark's body most tokens are
// short plain strings, and measuring them eight bytes a step is the
// largest part of the rewriter's time (~245 instructions per member). It
// is hand-written because no Go library builds such an index over a
// caller's buffer.
//
// The index covers buf[0 : 64*len(ix)], whole blocks below end only; a
// token reaching past it is measured byte-wise (and the next Member call
// extends it). Bytes of buf below end never change except when fill moves
// the unread input to the front, which drops the index.
type sblock struct {
	q uint64 // '"'
	s uint64 // '\\', a control character (< 0x20) or a non-ASCII byte (>= 0x80)
	d uint64 // '.'
}

// ixBlocks is how many blocks the index holds: the scanner's initial
// buffer. A longer buffer (grown for a long token) is indexed up to this.
const ixBlocks = scanBuf / 64

// indexGo is the index builder in Go, the definition the assembly follows
// (TestIndexMatchesDefinition); len(src) is 64*len(dst).
func indexGo(dst []sblock, src []byte) {
	for k := range dst {
		var bl sblock
		for i, c := range src[k*64 : k*64+64] {
			bit := uint64(1) << i
			switch {
			case c == '"':
				bl.q |= bit
			case c == '.':
				bl.d |= bit
			case c == '\\' || c < 0x20 || c >= 0x80:
				bl.s |= bit
			}
		}
		dst[k] = bl
	}
}

// Lazily, a window at a time: Member asks for the index when fewer than
// ixAhead blocks of it are left past its position, and gets ixWindow
// blocks more. The window is small so that the bytes the builder reads are
// still in the first-level cache when Member reads them (indexing a whole
// 64 KiB buffer at each read passed over it twice: callgrind's cache
// model counted 11 548 first-level misses per loadbench body that way
// against 8 712 without an index, 9 388 with the window; 16, 32 and 128
// blocks gave 9 346, 9 350 and 9 481 for 1.720, 1.711 and 1.705 M
// instructions against 64's 1.706 M).
const (
	ixAhead  = 8
	ixWindow = 64
)

// index extends the index, from where it ends, to ixWindow blocks past
// pos's or to the last whole block read. Blocks are built in order from
// the first, none skipped. Member and CompactObject call it only where there is a vector
// builder (indexOn; without one New gives the index no capacity).
func (s *Scanner) index() {
	have, want := len(s.ix), min(s.end>>6, s.pos>>6+ixWindow, cap(s.ix))
	if want > have {
		s.ix = s.ix[:want]
		buildIndex(s.ix[have:], s.buf[have<<6:want<<6])
	}
}

// plainStr measures, from the index, the string token at i (b[i] is '"')
// when it holds no escape, control or non-ASCII byte: its length and
// whether it holds a dot. n is 0 when the index cannot say so (such a byte
// comes first, or the closing quote is past the index): the byte-wise
// scan then decides. Member writes the case of a string that ends in the
// block where it starts out twice (name and value: this function is over
// the inlining budget) and calls plainStr for the others; TestPlainStr
// holds this function to a byte-by-byte definition, and masking's
// tests of the rewriter (whole against one-byte reads,
// TestIndexAcrossReads) hold Member's copies to it.
func plainStr(ix []sblock, i int) (n int, dotted bool) {
	j := i + 1
	k := j >> 6
	if k >= len(ix) {
		return 0, false
	}
	keep := ^uint64(0) << (j & 63)
	var dots uint64
	for {
		bl := &ix[k]
		q, sp := bl.q&keep, bl.s&keep
		if q != 0 {
			before := q&-q - 1 // the bits below the closing quote
			if sp&before != 0 {
				return 0, false
			}
			return k<<6 + bits.TrailingZeros64(q) + 1 - i, dots|bl.d&keep&before != 0
		}
		if sp != 0 {
			return 0, false
		}
		dots |= bl.d & keep
		if k++; k >= len(ix) {
			return 0, false
		}
		keep = ^uint64(0)
	}
}
