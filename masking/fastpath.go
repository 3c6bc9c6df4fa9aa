package masking

import "github.com/crmgw/crmgw/internal/jsonscan"

// The rewriter's fast paths for a Salesforce query: members, nextRecord,
// objMembers, copyAttributes, openRelated, literalAttributes and
// firstAttributes are the general path (open, value and closeFrame in
// json.go, one token at a time through step) written out for the
// commonest cases of a Salesforce query body: scalar members read whole
// from the scanner's buffer, runs of fields no rule can name copied
// unread, attributes objects copied whole, related records and the next
// record of a list opened without a round through step. Each decides
// exactly as the general path would, and leaves to it everything else; a
// change to what the general path does for these cases is a change here
// too. TestFastPathDecidesLikeTheGeneralPath and FuzzJSONRewriter compare
// the two paths (whole reads take the fast paths, one-byte reads the
// general one).

// members rewrites the members of object p whose values are scalars while
// they are complete in the scanner's buffer: most tokens of a CRM body are
// such members, and this loop spares them a round through Reader.fill and
// step per token. Each member is decided exactly as step and value decide
// it. done is true when step should return: a chunk of output is ready, the
// buffered input is used up (the Reader then hands its output on before
// reading), p's record was cut at the cap, or on an error.
func (w *jsonRewriter) members(p *frame) (done bool, err error) {
	for {
		done, next, err := w.objMembers(p)
		if !next {
			return done, err
		}
		// p ended, or opened a child: the top frame's members go on here
		// when it is an object and output is still wanted; after a record
		// of a Salesforce list, the next one is opened here. An object
		// whose closing brace is next too (its last member was the object
		// that just ended) is closed here, as objMembers would close it.
		for {
			p = w.top()
			if p != nil && !p.isObj && p.role == roleList && w.mode == modeSalesforce && w.avail() < chunk && w.nextRecord(p) {
				p = w.top()
				break
			}
			if p == nil || !p.isObj || p.hasKey || w.avail() >= chunk {
				return true, nil
			}
			if !w.sc.CloseObject() {
				break
			}
			w.closeFrame()
		}
	}
}

// nextRecord opens the next record of Salesforce list p when `,{` (with
// any whitespace) is next in the buffer: what step, value and open do for
// it while no cap is reached. It is false, and nothing done, otherwise.
// With no rules, no detector and no capture nothing in a record is
// rewritten: records that CompactObject measures are copied from the
// input whole (and counted) before the next one is opened, while output
// is still wanted; it is false after them too when none is opened.
func (w *jsonRewriter) nextRecord(p *frame) bool {
	sc := w.sc
	whole := w.rules.Empty() && w.det == 0 && w.capDepth == 0
	var i int // the next record's '{'
	for {
		if w.opts.MaxRecords != 0 && w.records >= max(w.opts.MaxRecords, 0) {
			return false
		}
		var ok bool
		if i, ok = sc.NextElementObject(); !ok {
			return false
		}
		if whole && w.recBack.try() {
			end := sc.CompactObject(i, &w.recFlag)
			if w.recBack.done(end); end > 0 {
				p.idx++
				w.sep(p)
				w.out.b = append(w.out.b, sc.Buffered()[i:end]...)
				w.records++
				sc.Advance(end)
				if w.avail() >= chunk {
					return false
				}
				continue
			}
		}
		break
	}
	sc.EnterObject(i)
	p.idx++
	w.sep(p)
	w.out.b = append(w.out.b, '{')
	inRec := p.inRec
	c := w.push(true, roleRecord) // p may move: not used after this
	c.top, c.counted, c.inRec = true, true, inRec
	w.records++
	return true
}

// objMembers is members for p alone; next reports that p ended (its
// closing brace was next in the buffer) and its frame was closed, or that
// it opened a child object whose members are next.
func (w *jsonRewriter) objMembers(p *frame) (done, next bool, err error) {
	depth := len(w.frames)
	// A field of a record: the commonest member of all. When no detector
	// or capture can apply and its name is plain, scalar and ruleAt come
	// down to the field rule, and a run of unmasked fields is copied from
	// the input in one piece (span: offsets in the scanner's buffer, which
	// does not move while this loop runs, since member never reads). A
	// Salesforce attributes object is copied the same way but for its type.
	noCapture := w.capDepth == 0 || depth > w.capDepth
	plain := p.role == roleRecord && !p.maybeWrp && w.det == 0 && noCapture
	attrs := p.role == roleAttributes && noCapture
	span, spanEnd := -1, 0
	flush := func() {
		if span >= 0 {
			w.out.b = append(w.out.b, w.sc.Buffered()[span:spanEnd]...)
			span = -1
		}
	}
	defer flush()
	// keep adds the input from the member whose name starts at first to
	// end to the span: the input's comma before it is the output's comma
	// too, unless nothing was written before it (at: where the member loop
	// stood before it).
	at := 0
	keep := func(first, end int) {
		if span < 0 {
			span = at
			if p.n == 0 {
				span = first
			}
		}
		spanEnd = end
	}
	var flag *[64]uint64
	// replain says again whether p is a plain record, after its type.
	replain := func() {
		if plain = p.role == roleRecord && !p.maybeWrp && w.det == 0 && noCapture; plain {
			flag = &w.recFlag
		}
	}
	switch {
	case plain:
		flag = &w.recFlag
	case attrs:
		flag = &w.attrFlag
	}
	// A Salesforce record's first member is its attributes, as Salesforce
	// writes it: matched here whole, as member, the attributes case below
	// and literalAttributes would read it (three per record of make
	// bench-load's body: a member call and its dispatch less each).
	first := p.n == 0 && p.role == roleRecord && w.mode == modeSalesforce && !w.holding && (w.capDepth == 0 || depth >= w.capDepth)
	for n := 0; w.avail() < chunk; n++ {
		at = w.sc.Pos()
		if first {
			first = false
			if typ, end := w.firstAttributes(); end > 0 {
				keep(at, end)
				p.n++
				if _, err := w.setPlainType(p, typ); err != nil { // never cut: only a held body is
					return true, false, err
				}
				replain()
				continue
			}
		}
		run, key, val, ok := w.sc.Member(flag)
		if run > 0 {
			// Fields no rule can name, as the code below would have
			// copied them one by one.
			first, end := w.sc.Run()
			keep(first, end)
			p.n += run
			n++
			at = end
		}
		if !ok {
			// With members written and nothing more buffered, return so
			// the Reader can hand them on before step reads the source.
			if w.sc.CloseObject() {
				flush()
				w.closeFrame()
				return false, true, nil
			}
			return n > 0 && w.sc.Drained(), false, nil
		}
		name := key[1 : len(key)-1]
		if val == nil {
			// A container: opened (or masked whole) as step would; its
			// frame is then the top one, so this loop ends. A record's
			// Salesforce attributes are copied whole when they can be.
			if p.role == roleRecord && w.mode == modeSalesforce && !w.holding && !w.sc.KeyEsc() &&
				(w.capDepth == 0 || depth >= w.capDepth) && equalFold(name, memberAttributes) {
				if typ, end := w.literalAttributes(); end > 0 {
					// The member joins the span of input copied as it is.
					keep(w.sc.OffsetOf(key), end)
					p.n++
					if _, err := w.setPlainType(p, typ); err != nil { // never cut: only a held body is
						return true, false, err
					}
					replain()
					continue
				}
				flush()
				setName(p, key, false)
				if copied, err := w.copyAttributes(p); err != nil {
					return true, false, err
				} else if copied {
					replain() // the type may have made p a plain record just now
					continue
				}
			} else if plain && w.mode == modeSalesforce && !w.sc.KeyEsc() && (w.sc.KeyFree() || !equalFold(name, memberAttributes)) {
				// A related record or child result ({"Account":{...}}) that
				// no rule names: opened as value and open would, and its
				// members read next in this loop's caller. keyFree: recFlag
				// (the rules' quick bits and attributes) does not mark the
				// name, so no rule names it (mayName) and it is not
				// attributes.
				free := w.sc.KeyFree()
				if !free {
					s, _ := w.recordRule(p.typ, p.typed, name)
					free = s == StrategyNone
				}
				if free {
					// Nothing in it a rule may name: copied unread with
					// the run (compact.go), when it can be.
					if end := w.compactRelated(name); end > 0 {
						keep(w.sc.OffsetOf(key), end)
						p.n++
						continue
					}
				}
				if free && w.openRelated(p, key, flush) {
					return false, true, nil
				}
				flush()
				setName(p, key, false)
			} else {
				flush()
				setName(p, key, w.sc.KeyEsc())
			}
			return true, false, w.value(p, w.sc.Peek())
		}
		if !w.sc.KeyEsc() {
			s, memo, fast := StrategyNone, (*ruleMemo)(nil), false
			switch {
			case plain && !(w.mode == modeSalesforce && equalFold(name, memberAttributes)):
				s, memo = w.recordRule(p.typ, p.typed, name)
				fast = true
			case attrs && !equalFold(name, memberType):
				fast = true
			}
			if fast && s == StrategyNone {
				keep(w.sc.OffsetOf(key), w.sc.Pos())
				p.n++
				continue
			}
			if fast {
				flush()
				// The name is needed as p's key only to be noted as masked
				// (once per body and field); else maskRead writes it from
				// the input.
				raw := key
				if memo == nil || !memo.noted {
					setName(p, key, false)
					raw = nil
				}
				if err := w.maskRead(p, kindOf(val), s, val, memo, raw); err != nil {
					return true, false, err
				}
				continue
			}
		}
		flush()
		setName(p, key, w.sc.KeyEsc())
		if err := w.scalarMember(p, val); err != nil {
			return true, false, err
		}
		if len(w.frames) != depth {
			return true, false, nil // a held body was cut: p is gone
		}
	}
	return true, false, nil
}

// copyAttributes copies the attributes object of record p, the scanner's
// next value, from the input as it is, and gives p its type: what open,
// the members of an attributes frame and closeFrame would have written and
// done, for an object whose members are all scalars with plain names and
// which is whole in the buffer (the scanner is left as it was otherwise,
// and the general path reads it). Nothing in attributes is masked,
// detected or captured; only type is read.
func (w *jsonRewriter) copyAttributes(p *frame) (bool, error) {
	sc := w.sc
	if !sc.ObjectNext() {
		return false, nil
	}
	start, mark := sc.Pos(), sc.Mark()
	leave := func() (bool, error) { // as it was: the general path reads it
		sc.Rewind(mark)
		return false, nil
	}
	sc.EnterObject(start)
	var typ []byte
	for {
		_, key, val, ok := sc.Member(&w.attrFlag)
		if !ok {
			break
		}
		if val == nil || sc.KeyEsc() {
			return leave()
		}
		if kindOf(val) == '"' && equalFold(key[1:len(key)-1], memberType) {
			typ = val
		}
	}
	if !sc.CloseObject() {
		return leave()
	}
	w.writeKey(p)
	w.out.b = append(w.out.b, sc.Buffered()[start:sc.Pos()]...)
	if typ == nil {
		return true, nil
	}
	_, err := w.setType(p, typ) // never cut: only a held body is
	return true, err
}

// openRelated opens the object that is the value of record p's member key
// (its name just read by the scanner, plain): what value and open do for an
// object member of a Salesforce record that no rule names. It is false,
// and nothing done, when the value is not an object or nesting is at its
// limit (the general path then reads it and says why). flush writes what
// the caller holds back before the member.
func (w *jsonRewriter) openRelated(p *frame, key []byte, flush func()) bool {
	sc := w.sc
	if !sc.ObjectNext() {
		return false
	}
	sc.EnterObject(sc.Pos())
	flush()
	setName(p, key, false)
	w.writeKey(p)
	w.out.b = append(w.out.b, '{')
	c := w.push(true, roleRecord) // p may move: not used after this
	c.inRec = true
	return true
}

// literalAttributes consumes the scanner's next value when it is an
// attributes object plainAttributes matches, whole in the buffer, and
// returns its type token and the offset of its end in the buffer; end is 0,
// and nothing consumed, otherwise (copyAttributes then tries).
func (w *jsonRewriter) literalAttributes() (typ []byte, end int) {
	sc := w.sc
	if !sc.ObjectNext() {
		return nil, 0
	}
	start := sc.Pos()
	typ, n := plainAttributes(sc.Buffered()[start:])
	if n == 0 {
		return nil, 0
	}
	// The object, opened and closed: as copyAttributes leaves it.
	sc.Advance(start + n)
	return typ, start + n
}

// firstAttributes consumes `"attributes":{...}` when it is the first member
// of the object the scanner has just opened, written without whitespace and
// with an attributes object plainAttributes matches, whole in the buffer;
// it returns the type token and the offset of the member's end in the
// buffer. end is 0, and nothing consumed, otherwise (member then reads
// the member).
func (w *jsonRewriter) firstAttributes() (typ []byte, end int) {
	const name = `"` + memberAttributes + `":`
	sc := w.sc
	if !sc.AtFirstMember() {
		return nil, 0
	}
	b := sc.Buffered()[sc.Pos():]
	if len(b) < len(name) || string(b[:len(name)]) != name {
		return nil, 0
	}
	typ, n := plainAttributes(b[len(name):])
	if n == 0 {
		return nil, 0
	}
	end = sc.Pos() + len(name) + n
	sc.Advance(end)
	return typ, end
}

// plainAttributes measures the attributes object at the start of b when
// it is exactly as Salesforce writes it, {"type":"T"} or
// {"type":"T","url":"U"} with T and U plain strings (no escape, control or
// non-ASCII byte), and returns the type's token and the object's length;
// n is 0 for anything else, which copyAttributes' member loop reads. A
// record has one or more of these (its own, each parent's): matching them
// as two literals and two string scans costs about 1000 instructions per
// object, this about 100 (make bench-load's body has three per record).
func plainAttributes(b []byte) (typ []byte, n int) {
	const head, url = `{"` + memberType + `":"`, `,"url":"`
	if len(b) < len(head) || string(b[:len(head)]) != head {
		return nil, 0
	}
	i := len(head)
	i += jsonscan.StringStop(b[i:])
	if i >= len(b) || b[i] != '"' {
		return nil, 0
	}
	typ, i = b[len(head)-1:i+1], i+1
	if i < len(b) && b[i] == '}' {
		return typ, i + 1
	}
	if len(b)-i < len(url) || string(b[i:i+len(url)]) != url {
		return nil, 0
	}
	i += len(url)
	i += jsonscan.StringStop(b[i:])
	if i+1 >= len(b) || b[i] != '"' || b[i+1] != '}' {
		return nil, 0
	}
	return typ, i + 2
}
