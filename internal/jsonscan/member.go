package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// The calls the rewriter's fast paths (masking/fastpath.go) are made of:
// whole members and runs of members read from the buffer, and the small
// reads and moves of the position that let the caller step over what it
// measured there. None of them reads the source.

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

// IndexByte is the index of the first c in b, -1 if none: a loop the
// compiler inlines, for the short names and tokens the scanner and the
// rewriter search (bytes.IndexByte is a call into assembly).
func IndexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// EqualFold reports whether b is s, ASCII letters compared without case:
// how the scanner and the rewriter compare member names.
func EqualFold(b []byte, s string) bool {
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
