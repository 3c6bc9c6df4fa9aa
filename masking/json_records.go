package masking

import "strconv"

// How the JSON rewriter (json.go) keeps count of records: their types
// (a top-level object is counted once its type shows it is a record, not a
// result wrapper: wrapperMembers in shape.go), the cap (totalSize and
// paging rewritten, a held record cut), and the values captured by pointer.

// maxHold bounds the output held back for one undecided body; past it the
// body is released (and counted, but not cut, if it is a record after all).
const maxHold = 1 << 20

// capRewrite adjusts Salesforce result wrappers when a cap is set: totalSize
// above the cap is rewritten to the cap (known before any record streams),
// done becomes true and nextRecordsUrl disappears once the cap applies.
func (w *jsonRewriter) capRewrite(p *frame, v []byte) (drop bool, repl string) {
	if w.mode != modeSalesforce {
		return false, ""
	}
	switch {
	case equalFold(p.key, memberTotalSize) && kindOf(v) == '0':
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err == nil && n > int64(max(w.opts.MaxRecords, 0)) {
			w.over = true
			return false, strconv.Itoa(max(w.opts.MaxRecords, 0))
		}
	case equalFold(p.key, memberDone) && (w.over || w.truncated):
		return false, "true"
	case equalFold(p.key, memberNextRecordsURL) && (w.over || w.truncated):
		return true, ""
	}
	return false, ""
}

// setType gives record f its type (from attributes.type or apiName) and
// counts it if it is a top-level record not counted yet.
func (w *jsonRewriter) setType(f *frame, v []byte) (cut bool, err error) {
	if f == nil {
		return false, nil
	}
	return w.typeIs(f, appendUnquoted(f.typ[:0], v))
}

// setPlainType is setType for a type token plainAttributes matched: it
// holds no escape, so its bytes are its text.
func (w *jsonRewriter) setPlainType(f *frame, v []byte) (cut bool, err error) {
	return w.typeIs(f, append(f.typ[:0], v[1:len(v)-1]...))
}

// typeIs is setType after the type's text t (in f.typ's buffer) is known.
func (w *jsonRewriter) typeIs(f *frame, t []byte) (cut bool, err error) {
	// AggregateResult rows (GROUP BY) mix fields of several objects under
	// their own names: mask them as records of unknown type (strictest
	// rule), unless the request's plan attributes their keys (plan.go).
	f.typ, f.typed = t, (w.rules != nil && w.rules.planKeys != nil) || !equalFold(t, typeAggregateResult)
	if f.role == rolePlain {
		f.role = roleRecord
	}
	f.maybeWrp = false
	held := w.holding && &w.frames[w.holdFrame] == f
	if held {
		w.holding = false
	}
	if f.top && !f.counted && !f.inRec {
		if held && w.opts.MaxRecords != 0 && w.records >= max(w.opts.MaxRecords, 0) {
			return true, w.cutHeld()
		}
		f.counted = true
		w.records++
	}
	return false, nil
}

// cutHeld replaces the held body (a record beyond the cap) by null and
// consumes the rest of it from the decoder.
func (w *jsonRewriter) cutHeld() error {
	w.truncated = true
	w.out.b = append(w.out.b[:w.holdMark], "null"...)
	for w.sc.Depth() > w.holdFrame {
		var err error
		if k := w.sc.Peek(); k == '}' || k == ']' {
			err = w.sc.ReadDelim()
		} else {
			err = w.sc.SkipValue()
		}
		if err != nil {
			return w.decodeErr(err)
		}
	}
	w.frames = w.frames[:w.holdFrame]
	return nil
}

// avail is how much of out.b may be handed to the caller.
func (w *jsonRewriter) avail() int {
	if w.holding {
		if len(w.out.b)-w.holdMark <= maxHold {
			return w.holdMark
		}
		w.holding = false
	}
	return len(w.out.b)
}

// shift tells the engine the caller consumed n bytes from the front of out.b.
func (w *jsonRewriter) shift(n int) { w.holdMark -= n }

// capture records the value at the current position when its JSON pointer
// is one of Options.Capture.
func (w *jsonRewriter) capture(p *frame, v []byte) {
	if w.capDepth == 0 || len(w.frames) > w.capDepth || v == nil {
		return
	}
	b := w.scratch[:0]
	for i := range w.frames {
		f := &w.frames[i]
		b = append(b, '/')
		if f.isObj {
			for _, c := range f.key {
				switch c {
				case '~':
					b = append(b, "~0"...)
				case '/':
					b = append(b, "~1"...)
				default:
					b = append(b, c)
				}
			}
		} else {
			b = strconv.AppendInt(b, int64(f.idx-1), 10)
		}
	}
	w.scratch = b
	for _, c := range w.opts.Capture {
		if c == string(b) {
			if w.captured == nil {
				w.captured = make(map[string]string)
			}
			if kindOf(v) == '"' {
				w.captured[c] = string(appendUnquoted(nil, v))
			} else {
				w.captured[c] = string(v)
			}
		}
	}
}
