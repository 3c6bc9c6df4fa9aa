package jsonscan

import "math/bits"

// A Salesforce record nests related records (Account, Account.Owner) that
// no rule may name, and with no rules at all a whole record is such a
// subtree: the rewriter's output for it is its input. The general path
// still opens a frame per object, reads each attributes object for its
// type and stops at each container and closing brace (in make bench-load's
// body, a record's Account and Owner are most of the rewriter's stops).
// CompactObject measures such a subtree in one pass over the structural
// index instead, so that the rewriter copies it as one span.
//
// It takes only the subtrees whose copy is exactly what the rewriter's
// general path writes, and leaves everything else to it (returning 0, nothing
// consumed): the object must be whole in the indexed part of the buffer,
// written without whitespace (the general path drops the whitespace
// around members), hold objects and scalars only (an array may be a child
// relationship's records, which the general path counts and caps), with
// every member name plain (no escape, control or non-ASCII byte), no
// member name that flag marks or that has a dot (a name a rule may name,
// a path), and no string or number the general path would refuse (string
// values that are not plain are validated by strScan, as the Scanner
// validates them: a third of the sample CRM's records hold a name in
// Chinese or with an accent). The names of an
// attributes object (a member named attributes, whose value is copied
// unread by the general path too and only its type read) are not checked
// against flag; its values must be scalars.

// maxCompact bounds the nesting CompactObject follows: a related record's
// own related records (Account.Owner is two levels below the record).
const maxCompact = 8

// CompactObject returns the offset in Buffered just past the object at
// offset i (a '{') when the rewriter may copy it from the input as it is
// (see above: flag marks the names a rule may name, as for Member); 0
// otherwise. It reads no input and consumes nothing (it may extend the
// index): Advance(end) then steps over the object. i is at Pos or just past
// it (past the comma before an array's next element, NextElementObject).
// Without the structural index (no AVX2) it takes nothing.
func (s *Scanner) CompactObject(i int, flag *[64]uint64) int {
	if !indexOn || len(s.stack)+maxCompact > MaxDepth {
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
			// one-block case written out, as Member has it.
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
					if !EqualFold(b[i+1:i+n-1], "attributes") {
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
