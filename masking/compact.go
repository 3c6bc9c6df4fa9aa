package masking

import "math/bits"

// A Salesforce record nests related records (Account, Account.Owner) that
// no rule may name, and with no rules at all a whole record is such a
// subtree: the rewriter's output for it is its input. The general path
// still opens a frame per object, reads each attributes object for its
// type and stops at each container and closing brace (in make bench-load's
// body, a record's Account and Owner are most of the rewriter's stops).
// compactObject measures such a subtree in one pass over the structural
// index instead, so that the rewriter copies it as one span.
//
// It takes only the subtrees whose copy is exactly what the general path
// writes, and leaves everything else to it (returning 0, nothing
// consumed): the object must be whole in the indexed part of the buffer,
// written without whitespace (the general path drops the whitespace
// around members), hold objects and scalars only (an array may be a child
// relationship's records, which the general path counts and caps), with
// every member name plain (no escape, control or non-ASCII byte), no
// member name that flag marks or that has a dot (a name a rule may name,
// a path), and no string or number the general path would refuse (string
// values that are not plain are validated by strScan, as the scanner
// validates them: a third of the sample CRM's records hold a name in
// Chinese or with an accent). The names of an
// attributes object (a member named attributes, whose value is copied
// unread by the general path too and only its type read) are not checked
// against flag; its values must be scalars.

// maxCompact bounds the nesting compactObject follows: a related record's
// own related records (Account.Owner is two levels below the record).
const maxCompact = 8

// compactObject returns the offset just past the object at buf[i] (a '{')
// when the rewriter may copy it from the input as it is (see above); 0
// otherwise. It reads no input and consumes nothing (it may extend the
// index); i is at or just past the scanner's position.
func (s *scanner) compactObject(i int, flag *[64]uint64) int {
	if !indexOn || len(s.stack)+maxCompact > maxDepth {
		return 0
	}
	if s.pos>>6+ixAhead > len(s.ix) {
		s.index()
	}
	ix := s.ix
	b := s.buf[:min(len(ix)<<6, s.end)] // the indexed bytes: strings are measured from the index alone
	depth, attrs := 0, 0                // attrs: the depth of the attributes object being read, 0 outside one
	if i >= len(b) || b[i] != '{' {
		return 0
	}
	for {
		// b[i] is '{'.
		if depth++; depth > maxCompact {
			return 0
		}
		if i++; i >= len(b) {
			return 0
		}
		if b[i] == '}' {
			goto closed
		}
	member:
		// A member: "name":value. b[i] should be the name's quote.
		if b[i] != '"' {
			return 0
		}
		{
			// The name, from the index alone: plainStr with its
			// one-block case written out, as member has it.
			n, dotted := 0, false
			if k := (i + 1) >> 6; k < len(ix) {
				keep := ^uint64(0) << ((i + 1) & 63)
				bl := &ix[k]
				if q := bl.q & keep; q == 0 {
					n, dotted = plainStr(ix, i)
				} else if before := q&-q - 1; bl.s&keep&before == 0 {
					n, dotted = k<<6+bits.TrailingZeros64(q)+1-i, bl.d&keep&before != 0
				}
			}
			if n == 0 {
				return 0
			}
			attrsNext := false
			if attrs == 0 && n > 2 {
				if dotted {
					return 0
				}
				c := b[i+1]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				if flag[(n-2)&63]&(1<<(c&63)) != 0 {
					if !equalFold(b[i+1:i+n-1], "attributes") {
						return 0 // a name a rule may name
					}
					attrsNext = true
				}
			}
			if i += n; i+1 >= len(b) || b[i] != ':' {
				return 0
			}
			i++
			if attrsNext && b[i] != '{' {
				return 0 // attributes that is not an object: the general path says what it is
			}
			switch c := b[i]; c {
			case '"':
				m := 0 // as for the name
				if k := (i + 1) >> 6; k < len(ix) {
					keep := ^uint64(0) << ((i + 1) & 63)
					bl := &ix[k]
					if q := bl.q & keep; q == 0 {
						m, _ = plainStr(ix, i)
					} else if bl.s&keep&(q&-q-1) == 0 {
						m = k<<6 + bits.TrailingZeros64(q) + 1 - i
					}
				}
				if m == 0 { // escapes or non-ASCII text: validated as the scanner does
					var st uint8
					if m, st, _ = strScan(b[i:], 1); st != strDone {
						return 0
					}
				}
				i += m
			case '{':
				if attrs != 0 {
					return 0 // attributes hold scalars only here
				}
				if attrsNext {
					attrs = depth + 1
				}
				continue // opens the object
			case 't', 'f', 'n':
				lit := literal(c)
				if len(b)-i <= len(lit) || string(b[i:i+len(lit)]) != lit {
					return 0
				}
				i += len(lit)
			default:
				n, complete := numberLen(b[i:])
				if n <= 0 || !complete || n > maxNumber {
					return 0
				}
				i += n
			}
		}
	after:
		// After a value: ',' and the next member, or the object's end.
		if i >= len(b) {
			return 0
		}
		switch b[i] {
		case ',':
			if i++; i >= len(b) {
				return 0
			}
			goto member
		case '}':
			goto closed
		}
		return 0
	closed:
		// b[i] is the '}' that ends the object at depth.
		if depth == attrs {
			attrs = 0
		}
		i++
		if depth--; depth == 0 {
			return i
		}
		goto after
	}
}

// backoff spares the rewriter compactObject's walk where it keeps being
// refused: in a body whose records share a shape, a related record that
// holds a masked field (Account.Owner.Email) would be walked to that
// field in every record and then read again by the general path (a sixth
// more time for such a body). After each refusal in a row the next
// 1, 3, 7, ... 63 chances are passed over; a success starts again.
type backoff struct{ miss, skip uint8 }

// try reports whether to call compactObject this time.
func (b *backoff) try() bool {
	if b.skip > 0 {
		b.skip--
		return false
	}
	return true
}

// done records compactObject's answer (end > 0: taken).
func (b *backoff) done(end int) {
	if end > 0 {
		b.miss = 0
		return
	}
	if b.miss < 6 {
		b.miss++
	}
	b.skip = 1<<b.miss - 1
}

// compactRelated consumes the object that is the value of the member
// name of a record, just read by the scanner, when compactObject takes it
// (and its backoff lets it try), and returns the offset of its end in the
// buffer; 0, and nothing consumed, otherwise.
func (w *jsonRewriter) compactRelated(name []byte) int {
	bo := w.relatedBackoff(name)
	if !bo.try() {
		return 0
	}
	sc := w.sc
	end := sc.compactObject(sc.Pos(), &w.recFlag)
	if bo.done(end); end > 0 {
		sc.Advance(end)
	}
	return end
}

// relatedBackoff is the backoff for related records under member name
// name (a few slots by a hash of it: records repeat the same names).
func (w *jsonRewriter) relatedBackoff(name []byte) *backoff {
	h := uint(len(name))
	if len(name) > 0 {
		h = h*7 + uint(name[0])*31 + uint(name[len(name)-1])
	}
	return &w.relBack[h&(uint(len(w.relBack))-1)]
}
