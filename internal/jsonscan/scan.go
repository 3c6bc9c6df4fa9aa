// Package jsonscan is the JSON tokenizer under masking's streaming JSON
// rewriter (masking/json.go), which is its only user: it reads tokens from
// a source, validates the JSON grammar (structure, separators, numbers,
// escapes, control characters, UTF-8) and hands out each token's raw bytes
// without copying or allocating.
//
// It is hand-written rather than built on jsontext.Decoder because the
// rewriter is the largest part of the gateway's CPU time under load, and
// jsontext's per-token API (Kind/Value/Token bookkeeping, its own state
// machine next to the rewriter's, per-byte string validation) would be
// half of the rewriter. The Scanner does only what the rewriter asks (peek
// a kind, read a scalar, open or close a container, skip a value), scans
// string contents sixteen or eight bytes at a time, and reads the source
// only when the next token is not complete in its buffer, so a slow
// upstream's records are handed on as soon as they arrive. It accepts
// exactly what encoding/json's Valid accepts for valid UTF-8 input
// (checked by FuzzScanner).
//
// Beside the token calls (Peek, ReadDelim, ReadScalar, SkipValue, Finish)
// it has the calls the rewriter's fast paths (masking/fastpath.go) are
// made of: Member reads a whole member with a scalar value, or a run of
// members whose names the caller's flag does not mark, from the buffer;
// CompactObject measures an object the caller may copy unread; and small
// reads and moves of the position (Pos, Buffered, Advance, Mark and
// Rewind, ObjectNext, EnterObject, CloseObject) let the caller step over
// what it measured in the buffer. None of these reads the source, so the
// bytes of Buffered stay where they are between them. docs/masking.md
// ("How the JSON rewriter reads") describes the whole.
package jsonscan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"unicode/utf8"
)

// A Scanner reads the JSON tokens of one body at a time (Reset), valid
// or refused, from its source. It is not safe for concurrent use; the
// rewriter keeps one per pooled rewriter.
type Scanner struct {
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
	// read by Member has escapes; keyFree: Member was given a flag, the
	// name of the container it returned last is plain and the flag does
	// not mark it.
	esc, keyEsc, keyFree bool
	// runFirst, runEnd: where the last run Member consumed starts and ends.
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
	// MaxToken bounds a single token (one string or number). Salesforce
	// long text areas hold at most 131,072 characters and Zoho multi-line
	// fields 32,000, so a longer token is not a CRM record field; it is
	// refused instead of growing the buffer without bound.
	MaxToken = 16 << 20
	// maxNumber bounds a number's text; no CRM field holds a longer one.
	maxNumber = 4096
	// MaxDepth bounds nesting (as jsontext, which the Scanner replaced,
	// did): the rewriter keeps a frame per open container. ReadDelim
	// refuses the container that would pass it.
	MaxDepth = 10000
)

// syntaxError is a grammar violation in the upstream body.
type syntaxError struct {
	off int64
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

// ErrTokenTooLong is returned for a token above MaxToken (IsSyntax counts
// it as the body's fault).
var ErrTokenTooLong = fmt.Errorf("a single JSON token longer than %d bytes", MaxToken)

// New returns a Scanner with its buffers; Reset gives it a source.
func New() *Scanner {
	s := &Scanner{buf: make([]byte, scanBuf)}
	if indexOn {
		s.ix = make([]sblock, 0, ixBlocks)
	}
	return s
}

// Reset points the Scanner at a new source, to read one JSON value (a
// body) from it, and forgets the last one; nil parks it, holding no
// reference to the last source.
func (s *Scanner) Reset(r io.Reader) {
	if cap(s.buf) > 4*scanBuf {
		s.buf = make([]byte, scanBuf) // do not keep a huge token's buffer in the pool
	}
	s.buf = s.buf[:cap(s.buf)]
	*s = Scanner{r: r, buf: s.buf, stack: s.stack[:0], ix: s.ix[:0]}
}

// Depth is the number of open containers.
func (s *Scanner) Depth() int { return len(s.stack) }

// Drained reports whether the buffered input holds nothing but whitespace
// and separators: the next token needs a read from the source.
func (s *Scanner) Drained() bool {
	for i := s.pos; i < s.end; i++ {
		switch s.buf[i] {
		case ' ', '\t', '\n', '\r', ',', ':':
		default:
			return false
		}
	}
	return true
}

func (s *Scanner) fail(off int, format string, args ...any) byte {
	if s.err == nil {
		s.err = &syntaxError{off: s.base + int64(off), msg: fmt.Sprintf(format, args...)}
	}
	return 0
}

// fill reads more input, keeping buf[pos:end] (moved to the front). It
// reports whether bytes arrived; false means end of input or an error
// (s.err is set for an error, s.eof for the end).
func (s *Scanner) fill() bool {
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
		if len(s.buf) >= MaxToken {
			s.err = ErrTokenTooLong
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
func (s *Scanner) skipSpace() (byte, bool) {
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
func (s *Scanner) unexpectedEnd() byte {
	if s.err == nil {
		s.err = io.ErrUnexpectedEOF
	}
	return 0
}

// Peek returns the kind of the next token: '{', '}', '[', ']', '"', '0' (a
// number), 'n', 't' or 'f'; 0 at the end of input or on an error (see
// LastErr). It consumes the separators before the token, reading the
// source as needed. Repeated calls without a read in between return the
// same kind.
func (s *Scanner) Peek() byte {
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

func (s *Scanner) setKind(k byte, key bool) byte {
	s.kind, s.key = k, key
	return k
}

// name checks that c starts a member name.
func (s *Scanner) name(c byte) byte {
	if c != '"' {
		return s.fail(s.pos, "invalid character %q where an object key was expected", c)
	}
	return s.setKind('"', true)
}

// value checks that c starts a value.
func (s *Scanner) value(c byte) byte {
	switch c {
	case '{', '[', '"', 'n', 't', 'f':
		return s.setKind(c, false)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return s.setKind('0', false)
	}
	return s.fail(s.pos, "invalid character %q looking for the beginning of a value", c)
}

// LastErr returns the error behind a 0 from Peek (io.EOF at the end of a
// complete body). Errors are sticky: once one is returned, every call
// returns it.
func (s *Scanner) LastErr() error { return s.err }

// ReadDelim consumes the next token, which Peek reported as '{', '[',
// '}' or ']'; it panics on a scalar. A container past MaxDepth is an
// error.
func (s *Scanner) ReadDelim() error {
	switch k := s.Peek(); k {
	case '{', '[':
		if len(s.stack) >= MaxDepth {
			s.fail(s.pos, "nesting deeper than %d levels", MaxDepth)
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
		panic("jsonscan: ReadDelim on a scalar")
	}
	s.pos++
	s.kind = 0
	return nil
}

// ReadScalar consumes the next token, which Peek reported as a string,
// number or literal, and returns its raw bytes (a string with its quotes
// and escapes), valid until the next call that may read the source; it
// panics on a delimiter. Esc then tells whether a string has escapes.
func (s *Scanner) ReadScalar() ([]byte, error) {
	var n int
	switch k := s.Peek(); k {
	case '"':
		n = s.scanString()
	case '0':
		n = s.scanNumber()
	case 'n', 't', 'f':
		n = s.scanLiteral(literal(k))
	case 0:
		return nil, s.err
	default:
		panic("jsonscan: ReadScalar on a delimiter")
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

// SkipValue consumes the next value, whole, validating it.
func (s *Scanner) SkipValue() error {
	switch s.Peek() {
	case 0:
		return s.err
	case '{', '[':
	default:
		_, err := s.ReadScalar()
		return err
	}
	d := len(s.stack)
	if err := s.ReadDelim(); err != nil {
		return err
	}
	for len(s.stack) > d {
		var err error
		switch s.Peek() {
		case 0:
			return s.err
		case '{', '[', '}', ']':
			err = s.ReadDelim()
		default:
			_, err = s.ReadScalar()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Finish checks that nothing but whitespace follows the top-level value;
// it returns io.EOF then.
func (s *Scanner) Finish() error {
	s.Peek() // after the root value it never returns a kind
	return s.err
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

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

// Member reads a whole object member whose value is a scalar,
// `,"name":value` (the comma when one is due), if it is complete in the
// buffer, and returns the name's and the value's tokens (slices of
// Buffered; KeyEsc and Esc tell their escapes). It is the rewriter's fast
// path: most tokens of a CRM body are such members. When the value is a
// container, Member reads the name and returns val nil: the container is
// the next token (ObjectNext, Peek). ok is false, and nothing more
// consumed, for anything else (the object's end, a token cut by the
// buffer's end, an error): the token calls then read it, and say what is
// wrong. Member never reads the source.
//
// With flag, Member first consumes the run of members with scalar values
// whose names flag does not mark, and returns how many (run; Run then
// gives the offsets of the first one's name and of the run's end): the
// fields of a record that no rule can name, which the rewriter copies from
// the input unread. A name is marked when it is not plain (an escape, a
// control or non-ASCII byte, a dot: dotted names are paths to look up) or
// when its QuickBit is set in flag. The member after the run is returned
// as without flag (KeyFree then tells whether flag marks its name).
func (s *Scanner) Member(flag *[64]uint64) (run int, key, val []byte, ok bool) {
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
			// QuickBit of the name, written out: calling it on a slice
			// of b costs 1% of the instructions per body.
			c := b[i+1]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			plain = flag[(n-2)&63]&(1<<(c&63)) == 0
		} else if plain && flag != nil {
			// "": no rule names it, but a plan's strictest rule may apply
			// to it (every flag is set then: masking's Rules.withPlan).
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
			// value is next (Peek reports it).
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

// CloseObject consumes the '}' that ends the current object when it is
// next in the buffer, where Member stopped (nothing peeked, no error): the
// rewriter then closes the object and goes on with its parent without a
// round through Peek. It is false, and nothing consumed, otherwise.
func (s *Scanner) CloseObject() bool {
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
// object, nothing peeked, no error: where Member and CloseObject read.
func (s *Scanner) inMembers() bool {
	return s.kind == 0 && s.err == nil && len(s.stack) > 0 && s.stack[len(s.stack)-1] == '{' && (s.st == stAfter || s.st == stFirst)
}

// ObjectNext reports that the value the scanner stands before (Member
// returned its name, nothing peeked since) is an object starting at Pos
// in the buffer, which may be opened without passing MaxDepth:
// EnterObject(Pos()) opens it.
func (s *Scanner) ObjectNext() bool {
	return s.kind == 0 && s.st == stValue && s.pos < s.end && s.buf[s.pos] == '{' && len(s.stack) < MaxDepth
}

// EnterObject consumes the '{' at offset i of Buffered, as ReadDelim does
// after Peek: the scanner then stands before the object's first member.
// The caller has seen to it that the object may be opened there
// (ObjectNext or NextElementObject said so, for that i).
func (s *Scanner) EnterObject(i int) {
	s.stack = append(s.stack, '{')
	s.pos, s.st = i+1, stFirst
}

// endRun leaves the scanner after a run of run members Member consumed.
func (s *Scanner) endRun(run int) int {
	if run > 0 {
		s.pos, s.st = s.runEnd, stAfter
	}
	return run
}

// OffsetOf is the offset in Buffered of a token Member returned.
func (s *Scanner) OffsetOf(tok []byte) int { return cap(s.buf) - cap(tok) }

// Pos is the offset in Buffered of the next unread byte.
func (s *Scanner) Pos() int { return s.pos }

// Buffered is the input read so far that the buffer still holds: the
// tokens Member returns and the offsets Pos, Run, OffsetOf,
// NextElementObject and CompactObject give are in it. Its bytes stay where
// they are until the next call that may read the source (Peek, ReadDelim,
// ReadScalar, SkipValue, Finish); the other calls never read.
func (s *Scanner) Buffered() []byte { return s.buf[:s.end] }

// Esc reports whether the last string value read (by ReadScalar or
// Member) has escapes.
func (s *Scanner) Esc() bool { return s.esc }

// KeyEsc reports whether the name of the last member Member returned has
// escapes.
func (s *Scanner) KeyEsc() bool { return s.keyEsc }

// KeyFree reports, after Member was given a flag and returned a member
// whose value is a container, that the member's name is plain and flag
// does not mark it.
func (s *Scanner) KeyFree() bool { return s.keyFree }

// Run is where the run of members the last Member call consumed starts
// (the first one's name) and ends, offsets in Buffered; valid when Member
// returned a run.
func (s *Scanner) Run() (first, end int) { return s.runFirst, s.runEnd }

// Advance steps over the input from Pos to end, a value (or an object
// member, name and value) that the caller measured in Buffered: the
// scanner then stands after a value, as after ReadScalar. The scanner does
// not look: the caller vouches that the input is valid, complete, leaves
// the nesting as it was (an object opened and closed) and may stand where
// it stands (CompactObject measured it, or the caller matched it byte for
// byte), and that nothing is peeked.
func (s *Scanner) Advance(end int) { s.pos, s.st = end, stAfter }

// A Mark is where the scanner stood, for Rewind.
type Mark struct {
	pos, depth int
	st         scanState
}

// Mark returns where the scanner stands, nothing peeked, for Rewind.
func (s *Scanner) Mark() Mark { return Mark{pos: s.pos, depth: len(s.stack), st: s.st} }

// Rewind returns the scanner to m, as if nothing had been read since.
// Only calls that never read the source (Member, CloseObject, ObjectNext,
// EnterObject, Advance) may have run since m was taken, and no container
// open at m may have been closed.
func (s *Scanner) Rewind(m Mark) {
	s.pos, s.st, s.stack = m.pos, m.st, s.stack[:m.depth]
}

// NextElementObject reports that the scanner stands after an element of
// an array, nothing peeked and no error, and that the next element is an
// object whose start is in the buffer (`,{`, whitespace allowed around the
// comma) and which may be opened without passing MaxDepth. i is the offset
// in Buffered of its '{': EnterObject(i) opens it, or Advance steps over
// it whole when CompactObject(i) measured it.
func (s *Scanner) NextElementObject() (i int, ok bool) {
	if s.kind != 0 || s.err != nil || s.st != stAfter || len(s.stack) == 0 || s.stack[len(s.stack)-1] != '[' || len(s.stack) >= MaxDepth {
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
// passing MaxDepth.
func (s *Scanner) AtFirstMember() bool {
	return s.inMembers() && s.st == stFirst && len(s.stack) < MaxDepth
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
// MaxToken); at the end of input the token is incomplete.
func (s *Scanner) more() bool {
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

// IsSyntax reports whether err is the body's fault (grammar, cut, too long)
// rather than the source's.
func IsSyntax(err error) bool {
	var se *syntaxError
	return errors.As(err, &se) || err == io.ErrUnexpectedEOF || err == ErrTokenTooLong
}

// QuickBit is where name (not empty) is marked in a flag of Member and
// CompactObject: bit of flag[i], by the name's length and its first byte,
// lowercased (both mod 64). The caller's filter of the names it wants to
// see (masking's Rules.quick) must be built with this function.
func QuickBit(name []byte) (i int, bit uint64) {
	c := name[0]
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	return len(name) & 63, 1 << (c & 63)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// equalFold reports whether b is s, ASCII letters compared without case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	if string(b) == s {
		return true // the usual spelling: one memequal
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
