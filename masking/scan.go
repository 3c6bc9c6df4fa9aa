package masking

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"unicode/utf8"
)

// scanner is the JSON tokenizer under the streaming rewriter: it reads
// tokens from a source, validates the grammar (RFC 8259: structure,
// separators, numbers, escapes, control characters, UTF-8) and hands out
// each token's raw bytes without copying or allocating.
//
// It is written here rather than on jsontext.Decoder because the rewriter
// is the largest part of the gateway's CPU time under load, and jsontext's
// per-token API (Kind/Value/Token bookkeeping, its own state machine next to
// the rewriter's, per-byte string validation) would be half of the
// rewriter. This scanner does only what the rewriter asks (peek a
// kind, read a scalar, open or close a container, skip a value), scans string
// contents eight bytes at a time, and reads the source only when the next
// token is not complete in its buffer, so a slow upstream's records are
// handed on as soon as they arrive. It accepts exactly what encoding/json's
// Valid accepts for valid UTF-8 input (checked by FuzzScanner).
type scanner struct {
	r        io.Reader
	buf      []byte // buf[pos:end] is the unread input
	pos, end int
	base     int64 // input offset of buf[0], for error messages
	eof      bool  // the source returned io.EOF
	rerr     error // the source's own error, returned once buf is used up
	err      error // sticky: the first error returned
	seen     bool  // a non-space byte was read (an empty body is no error)
	stack    []byte
	st       scanState
	kind     byte // the peeked kind; 0: not peeked
	key      bool // the peeked string is an object member name
	// esc: the last string read has escapes; keyEsc: the last member name
	// read by member has escapes; keyFree: member was given a flag, the
	// name of the container it returned last is plain and the flag does
	// not mark it.
	esc, keyEsc, keyFree bool
	// runFirst, runEnd: where the last run member consumed starts and ends.
	runFirst, runEnd int
	ix               []sblock // the structural index of buf (index.go)
}

type scanState uint8

const (
	stValue scanState = iota // a value: root, after ':', after ',' in an array
	stFirst                  // after '{' or '[': a member/element or the closing delimiter
	stAfter                  // after a value: ',' or the closing delimiter; at the root the end of input
	stColon                  // after a member name: ':' and a value
)

const (
	// scanBuf is the initial input buffer; it grows only for a token
	// longer than it.
	scanBuf = 64 << 10
	// maxToken bounds a single token (one string or number). Salesforce
	// long text areas hold at most 131,072 characters and Zoho multi-line
	// fields 32,000, so a longer token is not a CRM record field; it is
	// refused instead of growing the buffer without bound.
	maxToken = 16 << 20
	// maxNumber bounds a number's text; no CRM field holds a longer one.
	maxNumber = 4096
	// maxDepth bounds nesting (as jsontext, which the scanner replaced,
	// did): the rewriter keeps a frame per open container.
	maxDepth = 10000
)

// syntaxError is a grammar violation in the upstream body.
type syntaxError struct {
	off int64
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

// errTokenTooLong is returned for a token above maxToken.
var errTokenTooLong = fmt.Errorf("a single JSON token longer than %d bytes", maxToken)

func newScanner() *scanner {
	s := &scanner{buf: make([]byte, scanBuf)}
	if indexOn {
		s.ix = make([]sblock, 0, ixBlocks)
	}
	return s
}

// reset points the scanner at a new source (nil parks it).
func (s *scanner) reset(r io.Reader) {
	if cap(s.buf) > 4*scanBuf {
		s.buf = make([]byte, scanBuf) // do not keep a huge token's buffer in the pool
	}
	s.buf = s.buf[:cap(s.buf)]
	*s = scanner{r: r, buf: s.buf, stack: s.stack[:0], ix: s.ix[:0]}
}

// depth is the number of open containers.
func (s *scanner) depth() int { return len(s.stack) }

// drained reports whether the buffered input holds nothing but whitespace
// and separators: the next token needs a read from the source.
func (s *scanner) drained() bool {
	for i := s.pos; i < s.end; i++ {
		switch s.buf[i] {
		case ' ', '\t', '\n', '\r', ',', ':':
		default:
			return false
		}
	}
	return true
}

func (s *scanner) fail(off int, format string, args ...any) byte {
	if s.err == nil {
		s.err = &syntaxError{off: s.base + int64(off), msg: fmt.Sprintf(format, args...)}
	}
	return 0
}

// fill reads more input, keeping buf[pos:end] (moved to the front). It
// reports whether bytes arrived; false means end of input or an error
// (s.err is set for an error, s.eof for the end).
func (s *scanner) fill() bool {
	if s.err != nil || s.eof {
		return false
	}
	if s.rerr != nil {
		s.err = s.rerr
		return false
	}
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:s.end])
		s.base += int64(s.pos)
		s.pos, s.end = 0, n
		s.ix = s.ix[:0] // the bytes moved
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= maxToken {
			s.err = errTokenTooLong
			return false
		}
		nb := make([]byte, max(2*len(s.buf), scanBuf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for range 100 {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			if n > 0 {
				s.rerr = err // the bytes that came first are still input
			} else {
				s.err = err
			}
		}
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
	s.err = io.ErrNoProgress
	return false
}

// skipSpace advances over whitespace and returns the next byte, reading as
// needed; ok is false at the end of input or on an error.
func (s *scanner) skipSpace() (byte, bool) {
	for {
		if s.pos = skipWS(s.buf[:s.end], s.pos); s.pos < s.end {
			return s.buf[s.pos], true
		}
		if !s.fill() {
			return 0, false
		}
	}
}

// unexpectedEnd records the end of input inside a value.
func (s *scanner) unexpectedEnd() byte {
	if s.err == nil {
		s.err = io.ErrUnexpectedEOF
	}
	return 0
}

// peek returns the kind of the next token: '{', '}', '[', ']', '"', '0' (a
// number), 'n', 't' or 'f'; 0 at the end of input or on an error (see
// error). It consumes the separators before the token. Repeated calls
// without a read in between return the same kind.
func (s *scanner) peek() byte {
	if s.kind != 0 {
		return s.kind
	}
	if s.err != nil {
		return 0
	}
	c, ok := s.skipSpace()
	if !ok {
		if len(s.stack) == 0 && (s.st == stAfter || !s.seen) && s.err == nil {
			s.err = io.EOF // end of a complete body (or an empty one)
			return 0
		}
		return s.unexpectedEnd()
	}
	s.seen = true
	inObj := len(s.stack) > 0 && s.stack[len(s.stack)-1] == '{'
	switch s.st {
	case stAfter:
		if len(s.stack) == 0 {
			return s.fail(s.pos, "data after the top-level value: %q", c)
		}
		if c == closer(inObj) {
			return s.setKind(c, false)
		}
		if c != ',' {
			return s.fail(s.pos, "invalid character %q after %s", c, elemName(inObj))
		}
		s.pos++
		if c, ok = s.skipSpace(); !ok {
			return s.unexpectedEnd()
		}
		if inObj {
			return s.name(c)
		}
		return s.value(c)
	case stColon:
		if c != ':' {
			return s.fail(s.pos, "invalid character %q after object key", c)
		}
		s.pos++
		if c, ok = s.skipSpace(); !ok {
			return s.unexpectedEnd()
		}
		return s.value(c)
	case stFirst:
		if c == closer(inObj) {
			return s.setKind(c, false)
		}
		if inObj {
			return s.name(c)
		}
		return s.value(c)
	}
	return s.value(c)
}

func closer(inObj bool) byte {
	if inObj {
		return '}'
	}
	return ']'
}

func elemName(inObj bool) string {
	if inObj {
		return "object value"
	}
	return "array element"
}

func (s *scanner) setKind(k byte, key bool) byte {
	s.kind, s.key = k, key
	return k
}

// name checks that c starts a member name.
func (s *scanner) name(c byte) byte {
	if c != '"' {
		return s.fail(s.pos, "invalid character %q where an object key was expected", c)
	}
	return s.setKind('"', true)
}

// value checks that c starts a value.
func (s *scanner) value(c byte) byte {
	switch c {
	case '{', '[', '"', 'n', 't', 'f':
		return s.setKind(c, false)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return s.setKind('0', false)
	}
	return s.fail(s.pos, "invalid character %q looking for the beginning of a value", c)
}

// lastErr returns the error behind a 0 from peek (io.EOF at the end of a
// complete body).
func (s *scanner) lastErr() error { return s.err }

// readDelim consumes the peeked '{', '[', '}' or ']'.
func (s *scanner) readDelim() error {
	switch k := s.peek(); k {
	case '{', '[':
		if len(s.stack) >= maxDepth {
			s.fail(s.pos, "nesting deeper than %d levels", maxDepth)
			return s.err
		}
		s.stack = append(s.stack, k)
		s.st = stFirst
	case '}', ']':
		s.stack = s.stack[:len(s.stack)-1]
		s.st = stAfter
	case 0:
		return s.err
	default:
		panic("masking: readDelim on a scalar")
	}
	s.pos++
	s.kind = 0
	return nil
}

// readScalar consumes the peeked string, number or literal and returns its
// raw bytes, valid until the next call.
func (s *scanner) readScalar() ([]byte, error) {
	var n int
	switch k := s.peek(); k {
	case '"':
		n = s.scanString()
	case '0':
		n = s.scanNumber()
	case 'n', 't', 'f':
		n = s.scanLiteral(literal(k))
	case 0:
		return nil, s.err
	default:
		panic("masking: readScalar on a delimiter")
	}
	if n == 0 {
		return nil, s.err
	}
	v := s.buf[s.pos : s.pos+n]
	s.pos += n
	if s.key {
		s.st = stColon
	} else {
		s.st = stAfter
	}
	s.kind = 0
	return v, nil
}

// skipValue consumes the next value, whole.
func (s *scanner) skipValue() error {
	switch s.peek() {
	case 0:
		return s.err
	case '{', '[':
	default:
		_, err := s.readScalar()
		return err
	}
	d := len(s.stack)
	if err := s.readDelim(); err != nil {
		return err
	}
	for len(s.stack) > d {
		var err error
		switch s.peek() {
		case 0:
			return s.err
		case '{', '[', '}', ']':
			err = s.readDelim()
		default:
			_, err = s.readScalar()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// finish checks that nothing but whitespace follows the top-level value;
// it returns io.EOF then.
func (s *scanner) finish() error {
	s.peek() // after the root value it never returns a kind
	return s.err
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// stringStopSWAR is stringStop eight bytes a step (see special), for
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
func (s *scanner) scanString() int {
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
// body pass here in one stringStop.
func simpleStr(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	if j := 1 + stringStop(b[1:]); j < len(b) && b[j] == '"' {
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
		i += stringStop(b[i:])
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

// member reads a whole object member whose value is a scalar,
// `,"name":value` (the comma when one is due), if it is complete in the
// buffer. It is the rewriter's fast path: most tokens of a CRM body are
// such members. When the value is a container, member reads the name and
// returns val nil: the container is the next token. ok is false, and
// nothing more consumed, for anything else (the object's end, a token cut
// by the buffer's end, an error): the general path then reads it.
//
// With flag, member first consumes the run of members with scalar values
// whose names flag does not mark, and returns how many (run; runFirst and
// runEnd then hold the offsets of the first one's name and of the run's
// end): the fields of a record that no rule can name, which the rewriter
// copies from the input unread. A name is marked when it is not plain (an
// escape, a control or non-ASCII byte, a dot: dotted names are paths to
// look up) or when the bit of its length and lowercased first byte is set
// in flag (the layout of Rules.quick). The member after the run is
// returned as without flag.
func (s *scanner) member(flag *[64]uint64) (run int, key, val []byte, ok bool) {
	if !s.inMembers() {
		return 0, nil, nil, false
	}
	if s.pos>>6+ixAhead > len(s.ix) && indexOn {
		s.index()
	}
	st := s.st
	b := s.buf[:s.end]
	for i := s.pos; ; {
		if st == stAfter {
			if i = skipWS(b, i); i >= len(b) || b[i] != ',' {
				break
			}
			i++
		}
		if i = skipWS(b, i); i >= len(b) || b[i] != '"' {
			break
		}
		ks := i
		// The name: from the index when it says (index.go), else
		// simpleStr's test eight bytes a step, written out on this hot
		// path, noting dots on the way (flags of y below the lowest true
		// one are exact, so dots before the quote are told by the bits
		// below it).
		n, plain, esc := 0, false, false
		if k := (i + 1) >> 6; k < len(s.ix) {
			// plainStr, its one-block case written out on this hot path
			// (the function is over the inlining budget).
			keep := ^uint64(0) << ((i + 1) & 63)
			if q := s.ix[k].q & keep; q == 0 {
				var dotted bool
				n, dotted = plainStr(s.ix, i)
				plain = n > 0 && !dotted
			} else if before := q&-q - 1; s.ix[k].s&keep&before == 0 {
				n, plain = k<<6+bits.TrailingZeros64(q)+1-i, s.ix[k].d&keep&before == 0
			}
		}
		var dots uint64
		for j := i + 1; n == 0 && j+8 <= len(b); j += 8 {
			x := binary.LittleEndian.Uint64(b[j:])
			y := x ^ (lsb * '.')
			if m := special(x); m != 0 {
				z := bits.TrailingZeros64(m)
				if q := j + z>>3; b[q] == '"' {
					n, plain = q+1-i, dots|((y-lsb)&^y)&msb&(1<<z-1) == 0
				}
				break
			}
			dots |= ((y - lsb) &^ y) & msb
		}
		if n == 0 { // not a plain string: strToken's second case, written out on this hot path
			var kst uint8
			if n, kst, esc = strScan(b[i:], 1); kst != strDone {
				break
			}
		}
		if plain && flag != nil && n > 2 {
			// quickBit of the name, written out: calling it on a slice
			// of b costs 1% of the instructions per body.
			c := b[i+1]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			plain = flag[(n-2)&63]&(1<<(c&63)) == 0
		} else if plain && flag != nil {
			// "": no rule names it, but a plan's strictest rule may apply
			// to it (every flag is set then: Rules.withPlan).
			plain = flag[0] != ^uint64(0)
		}
		i += n
		ke := i
		if i = skipWS(b, i); i >= len(b) || b[i] != ':' {
			break
		}
		if i = skipWS(b, i+1); i >= len(b) {
			break
		}
		vs := i
		switch c := b[i]; c {
		case '{', '[':
			// The member's value is a container: the name is read, the
			// value is next (peek reports it).
			s.pos, s.st, s.keyEsc, s.keyFree = i, stValue, esc, plain && flag != nil
			return run, b[ks:ke], nil, true
		case '"':
			var vst uint8
			n = 0
			if k := (i + 1) >> 6; k < len(s.ix) { // plainStr, as for the name
				keep := ^uint64(0) << ((i + 1) & 63)
				if q := s.ix[k].q & keep; q == 0 {
					n, _ = plainStr(s.ix, i)
				} else if s.ix[k].s&keep&(q&-q-1) == 0 {
					n = k<<6 + bits.TrailingZeros64(q) + 1 - i
				}
			}
			if n == 0 {
				n = simpleStr(b[i:])
			}
			if s.esc = false; n == 0 {
				if n, vst, s.esc = strScan(b[i:], 1); vst != strDone {
					return s.endRun(run), nil, nil, false
				}
			}
		case 't', 'f', 'n':
			lit := literal(c)
			if n = len(lit); len(b)-i <= n || string(b[i:i+n]) != lit {
				return s.endRun(run), nil, nil, false // cut, or not the literal (the general path says why)
			}
		default:
			var complete bool
			if n, complete = numberLen(b[i:]); n <= 0 || !complete {
				return s.endRun(run), nil, nil, false
			}
		}
		if !plain || flag == nil {
			s.pos, s.st, s.keyEsc = i+n, stAfter, esc
			return run, b[ks:ke], b[vs : i+n], true
		}
		if run == 0 {
			s.runFirst = ks
		}
		run++
		i += n
		s.runEnd, st = i, stAfter
	}
	return s.endRun(run), nil, nil, false
}

// closeObj consumes the '}' that ends the current object when it is next
// in the buffer, where member stopped: the rewriter then closes the object
// and goes on with its parent without a round through peek.
func (s *scanner) closeObj() bool {
	if !s.inMembers() {
		return false
	}
	i := skipWS(s.buf[:s.end], s.pos)
	if i >= s.end || s.buf[i] != '}' {
		return false
	}
	s.stack = s.stack[:len(s.stack)-1]
	s.pos, s.st = i+1, stAfter
	return true
}

// inMembers reports that the scanner stands between the members of an
// object, nothing peeked: where member and closeObj read.
func (s *scanner) inMembers() bool {
	return s.kind == 0 && s.err == nil && len(s.stack) > 0 && s.stack[len(s.stack)-1] == '{' && (s.st == stAfter || s.st == stFirst)
}

// objectNext reports that the value the scanner stands before (member
// returned its name) is an object starting in the buffer, which may be
// opened without passing the nesting limit.
func (s *scanner) objectNext() bool {
	return s.kind == 0 && s.st == stValue && s.pos < s.end && s.buf[s.pos] == '{' && len(s.stack) < maxDepth
}

// enterObject consumes the '{' at i, as readDelim does after peek.
func (s *scanner) enterObject(i int) {
	s.stack = append(s.stack, '{')
	s.pos, s.st = i+1, stFirst
}

// endRun leaves the scanner after a run of run members member consumed.
func (s *scanner) endRun(run int) int {
	if run > 0 {
		s.pos, s.st = s.runEnd, stAfter
	}
	return run
}

// offsetOf is the offset in buf of a token slice member returned.
func (s *scanner) offsetOf(tok []byte) int { return cap(s.buf) - cap(tok) }

// Pos is the offset in Buffered of the next unread byte.
func (s *scanner) Pos() int { return s.pos }

// Buffered is the input read so far that the buffer still holds; the
// tokens member returns and the offsets Pos, Run and offsetOf give are in
// it. Its bytes stay where they are until the next call that may read the
// source (peek, readDelim, readScalar, skipValue, finish); member,
// closeObj, objectNext, enterObject, compactObject, Advance, Mark and
// Rewind never read.
func (s *scanner) Buffered() []byte { return s.buf[:s.end] }

// Esc reports whether the last string value read (by readScalar or
// member) has escapes.
func (s *scanner) Esc() bool { return s.esc }

// KeyEsc reports whether the last member name member read has escapes.
func (s *scanner) KeyEsc() bool { return s.keyEsc }

// KeyFree reports, after member was given a flag and returned a member
// whose value is a container, that the member's name is plain and flag
// does not mark it.
func (s *scanner) KeyFree() bool { return s.keyFree }

// Run is where the run of members the last member call consumed starts
// (the first one's name) and ends, offsets in Buffered; valid when member
// returned a run.
func (s *scanner) Run() (first, end int) { return s.runFirst, s.runEnd }

// Advance steps over the input from Pos to end, a value (or an object
// member, name and value) that the caller measured in Buffered: the
// scanner then stands after a value, as after readScalar. The scanner does
// not look: the caller vouches that the input is valid, complete, and
// leaves the nesting as it was (an object opened and closed), and nothing
// is peeked.
func (s *scanner) Advance(end int) { s.pos, s.st = end, stAfter }

// A Mark is where the scanner stood, for Rewind.
type Mark struct {
	pos, depth int
	st         scanState
}

// Mark returns where the scanner stands; nothing is peeked.
func (s *scanner) Mark() Mark { return Mark{pos: s.pos, depth: len(s.stack), st: s.st} }

// Rewind returns the scanner to m, as if nothing had been read since.
// Only calls that never read the source (member, closeObj, objectNext,
// enterObject) may have run since m was taken, and no container open at m
// may have been closed.
func (s *scanner) Rewind(m Mark) {
	s.pos, s.st, s.stack = m.pos, m.st, s.stack[:m.depth]
}

// NextElementObject reports that the scanner stands after an element of
// an array, nothing peeked and no error, and that the next element is an
// object whose start is in the buffer (`,{`, whitespace allowed around the
// comma) and which may be opened without passing maxDepth. i is the offset
// in Buffered of its '{': enterObject(i) opens it, or Advance steps over
// it whole (compactObject measures it).
func (s *scanner) NextElementObject() (i int, ok bool) {
	if s.kind != 0 || s.err != nil || s.st != stAfter || len(s.stack) == 0 || s.stack[len(s.stack)-1] != '[' || len(s.stack) >= maxDepth {
		return 0, false
	}
	b := s.buf[:s.end]
	if i = skipWS(b, s.pos); i >= len(b) || b[i] != ',' {
		return 0, false
	}
	if i = skipWS(b, i+1); i >= len(b) || b[i] != '{' {
		return 0, false
	}
	return i, true
}

// AtFirstMember reports that the scanner stands just inside the object it
// opened last, before its first member or its closing brace, nothing
// peeked and no error, and that an object may be opened inside it without
// passing maxDepth.
func (s *scanner) AtFirstMember() bool {
	return s.inMembers() && s.st == stFirst && len(s.stack) < maxDepth
}

// skipWS returns the index of the first byte at or after i in b that is not
// JSON whitespace (len(b) if none). Compact JSON has none: one comparison
// settles most bytes.
func skipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// more reads input while a token is open (fill refuses one past
// maxToken); at the end of input the token is incomplete.
func (s *scanner) more() bool {
	if s.fill() {
		return true
	}
	if s.err == nil {
		s.err = io.ErrUnexpectedEOF
	}
	return false
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

// scanNumber returns the length of the number at pos (0 on error): the
// RFC 8259 grammar -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, ended by
// a byte that cannot continue it.
func (s *scanner) scanNumber() int {
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
func (s *scanner) scanLiteral(lit string) int {
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

// appendUnquote appends the contents of the string token raw (quotes
// included, as validated by scanner) with escapes decoded. Escaped UTF-16
// surrogates that do not pair become U+FFFD, as encoding/json decodes them.
func appendUnquote(dst, raw []byte) []byte {
	if len(raw) < 2 {
		return dst
	}
	b := raw[1 : len(raw)-1]
	for len(b) > 0 {
		i := indexByte(b, '\\')
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

// isSyntax reports whether err is the body's fault (grammar, cut, too long)
// rather than the source's.
func isSyntax(err error) bool {
	var se *syntaxError
	return errors.As(err, &se) || err == io.ErrUnexpectedEOF || err == errTokenTooLong
}
