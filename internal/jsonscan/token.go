package jsonscan

import (
	"encoding/binary"
	"io"
	"math/bits"
	"unicode/utf8"
)

// The scalar tokens: strings (scanned sixteen or eight bytes at a time,
// escapes and UTF-8 validated), numbers and the literals, and the
// unquoting of a string token.

// stringStopSWAR is StringStop eight bytes a step (see special), for
// every architecture; stop_amd64.s does it sixteen at a time.
func stringStopSWAR(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return i
		}
	}
	return len(b)
}

// scanString returns the length of the string token at pos (0 on error),
// reading more input as needed, and records in s.esc whether it has escapes.
func (s *Scanner) scanString() int {
	j, st, esc := strToken(s.buf[s.pos:s.end])
	for {
		switch st {
		case strDone:
			s.esc = esc
			return j
		case strMore:
			if !s.more() {
				return 0
			}
			var e bool
			j, st, e = strScan(s.buf[s.pos:s.end], j) // resume where the input ran out
			esc = esc || e
			continue
		case strBadCtl:
			s.fail(s.pos+j, "invalid control character %q in string", s.buf[s.pos+j])
		case strBadEsc:
			s.fail(s.pos+j, "invalid escape %q in string", s.buf[s.pos+j:min(s.end, s.pos+j+6)])
		default:
			s.fail(s.pos+j, "invalid UTF-8 in string")
		}
		return 0
	}
}

// simpleStr returns the length of the string token at the start of b when
// it holds no escape, control or non-ASCII byte and its closing quote is in
// b; 0 otherwise (strScan then decides). The commonest strings of a CRM
// body pass here in one StringStop.
func simpleStr(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	if j := 1 + StringStop(b[1:]); j < len(b) && b[j] == '"' {
		return j + 1
	}
	return 0
}

// special flags (high bit of each byte) the bytes of x that end a string's
// fast path: '"', '\\', a control character or a non-ASCII byte, by the
// classic "has zero byte" test on x^'"', x^'\\' and x-0x20, and by each
// byte's own high bit. Flags above the lowest true one may be spurious
// (borrows), so only the lowest may be used.
func special(x uint64) uint64 {
	q := x ^ (lsb * '"')
	e := x ^ (lsb * '\\')
	return (((q - lsb) &^ q) | ((e - lsb) &^ e) | ((x - lsb*0x20) &^ x) | x) & msb
}

// strToken measures the string token at the start of b: plain strings in
// simpleStr's single pass, the others by strScan.
func strToken(b []byte) (n int, st uint8, esc bool) {
	if n := simpleStr(b); n > 0 {
		return n, strDone, false
	}
	return strScan(b, 1)
}

// literal is the literal a token starting with c ('n', 't' or 'f') must be.
func literal(c byte) string {
	switch c {
	case 't':
		return "true"
	case 'f':
		return "false"
	}
	return "null"
}

// What strScan found.
const (
	strDone    = iota // the string ends: j is the token's length
	strMore           // b ends inside the string: resume at j with more input
	strBadCtl         // a control character at j
	strBadEsc         // an invalid escape at j
	strBadUTF8        // invalid UTF-8 at j
)

// strScan scans the string token at the start of b from offset i (1 at the
// start, past the quote). esc reports escapes in the part scanned.
func strScan(b []byte, i int) (j int, st uint8, esc bool) {
	for {
		i += StringStop(b[i:])
		if i >= len(b) {
			return i, strMore, esc
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, strDone, esc
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return i, strMore, esc
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return i, strMore, esc
				}
				for _, h := range b[i+2 : i+6] {
					if unhex(h) < 0 {
						return i, strBadEsc, esc
					}
				}
				i += 6
			default:
				return i, strBadEsc, esc
			}
		case c < 0x20:
			return i, strBadCtl, esc
		default:
			// Non-ASCII text. Three-byte characters other than those
			// led by E0 and ED (whose second byte has a narrower range):
			// all of CJK, tested inline (Chinese text took a third more
			// instructions per byte than ASCII through a DecodeRune call
			// per character).
			j := i
			for j+3 <= len(b) {
				if c := b[j]; c < 0xe1 || c == 0xed || c > 0xef || b[j+1]&0xc0 != 0x80 || b[j+2]&0xc0 != 0x80 {
					break
				}
				j += 3
			}
			if j > i {
				i = j
				continue
			}
			// Other runs of bytes at or above 0x80 (eight a step) are
			// validated in one utf8.Valid. A run cut by the buffer's end,
			// or invalid, goes a rune at a time, which says where.
			k := i + 1
			for k+8 <= len(b) && binary.LittleEndian.Uint64(b[k:])&msb == msb {
				k += 8
			}
			for k < len(b) && b[k] >= 0x80 {
				k++
			}
			if k < len(b) && utf8.Valid(b[i:k]) {
				i = k
				continue
			}
			if !utf8.FullRune(b[i:]) {
				return i, strMore, esc
			}
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return i, strBadUTF8, esc
			}
			i += size
		}
	}
}
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// scanNumber returns the length of the number at pos (0 on error): JSON's
// number grammar -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, ended by
// a byte that cannot continue it.
func (s *Scanner) scanNumber() int {
	for {
		n, complete := numberLen(s.buf[s.pos:s.end])
		if !complete && s.end-s.pos > maxNumber {
			// numberLen starts over after each read: a number trickling in
			// byte by byte would cost its length squared.
			s.fail(s.pos, "number longer than %d bytes", maxNumber)
			return 0
		}
		if !complete && !s.eof {
			if s.fill() || s.eof && s.err == nil {
				continue // the end of input ends a number too
			}
			return 0
		}
		if n <= 0 {
			s.fail(s.pos-n, "invalid number")
			return 0
		}
		return n
	}
}

// numberLen scans a number at the start of b. It returns its length (or
// minus the offset of the bad byte) and whether the end of b was not
// reached (a following byte ended it).
func numberLen(b []byte) (int, bool) {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -i, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return -i, true
	}
	if i < len(b) && b[i] == '.' {
		i++
		j := i
		for ; i < len(b) && isDigit(b[i]); i++ {
		}
		if i == j {
			return -i, i < len(b)
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := i
		for ; i < len(b) && isDigit(b[i]); i++ {
		}
		if i == j {
			return -i, i < len(b)
		}
	}
	return i, i < len(b)
}

// scanLiteral returns the length of lit at pos (0 on error).
func (s *Scanner) scanLiteral(lit string) int {
	for s.end-s.pos < len(lit) && s.fill() {
	}
	if s.err != nil {
		return 0
	}
	b := s.buf[s.pos:s.end]
	for i := 0; i < len(lit); i++ {
		if i >= len(b) {
			s.err = io.ErrUnexpectedEOF
			return 0
		}
		if b[i] != lit[i] {
			s.fail(s.pos+i, "invalid character %q in literal %s", b[i], lit)
			return 0
		}
	}
	return len(lit)
}

// AppendUnquote appends the contents of the string token raw (quotes
// included, as validated by Scanner) with escapes decoded. Escaped UTF-16
// surrogates that do not pair become U+FFFD, as encoding/json decodes them.
func AppendUnquote(dst, raw []byte) []byte {
	if len(raw) < 2 {
		return dst
	}
	b := raw[1 : len(raw)-1]
	for len(b) > 0 {
		i := IndexByte(b, '\\')
		if i < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:i]...)
		b = b[i:]
		if len(b) < 2 {
			return append(dst, b...)
		}
		switch c := b[1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := unescapeRune(b)
			dst = utf8.AppendRune(dst, r)
			b = b[n:]
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		b = b[2:]
	}
	return dst
}

// unescapeRune decodes \uXXXX (and a following low surrogate) at the start
// of b, returning the rune and the bytes used.
func unescapeRune(b []byte) (rune, int) {
	r := hex4(b)
	if r < 0 {
		return utf8.RuneError, min(2, len(b))
	}
	if 0xD800 <= r && r < 0xDC00 { // high surrogate: a low one must follow
		if len(b) >= 12 {
			if lo := hex4(b[6:]); 0xDC00 <= lo && lo < 0xE000 {
				return (r-0xD800)<<10 | (lo - 0xDC00) + 0x10000, 12
			}
		}
		return utf8.RuneError, 6
	}
	if 0xDC00 <= r && r < 0xE000 {
		return utf8.RuneError, 6
	}
	return r, 6
}

// hex4 reads the four hex digits of \uXXXX at the start of b; -1 if absent.
func hex4(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range b[2:6] {
		h := unhex(c)
		if h < 0 {
			return -1
		}
		r = r<<4 | rune(h)
	}
	return r
}
