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
	"errors"
	"fmt"
	"io"
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

// IsSyntax reports whether err is the body's fault (grammar, cut, too long)
// rather than the source's.
func IsSyntax(err error) bool {
	var se *syntaxError
	return errors.As(err, &se) || err == io.ErrUnexpectedEOF || err == ErrTokenTooLong
}
