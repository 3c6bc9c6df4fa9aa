package masking

import (
	"bytes"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/crmgw/crmgw/internal/jsonscan"
)

// What the JSON rewriter (json.go) does with a value a rule or a detector
// names: the rule for a field of a record, a report cell or a list view
// column, the masked value written in place of the value read, and the
// "Object.Field" noted as masked.

// ruleMemo is one remembered field rule; noted: its name is in masked.
type ruleMemo struct {
	gen        uint32
	typed      bool
	s          Strategy
	noted      bool
	typ, field []byte
}

// recordRule is Rules.fieldRule for a field of a record, through the memo.
// The memo entry is nil when no rule names the field.
func (w *jsonRewriter) recordRule(typ []byte, typed bool, name []byte) (Strategy, *ruleMemo) {
	if len(name) == 0 && !w.rules.Empty() && w.rules.planKeys != nil {
		return w.rules.fieldRule(&w.scratch, typ, typed, name), nil // a plan's default applies to "" too
	}
	if w.rules.Empty() || len(name) == 0 || !w.rules.mayName(name) {
		return StrategyNone, nil
	}
	e := &w.memo[(uint(len(name))*7+uint(name[0])*31+uint(name[len(name)-1])+uint(len(typ))*13)&63]
	if e.gen == w.gen && e.typed == typed && bytes.Equal(e.field, name) && bytes.Equal(e.typ, typ) {
		return e.s, e
	}
	s := w.rules.fieldRule(&w.scratch, typ, typed, name)
	e.gen, e.typed, e.s, e.noted = w.gen, typed, s, false
	e.field, e.typ = append(e.field[:0], name...), append(e.typ[:0], typ...)
	return s, e
}

// ruleAt decides the masking strategy for the value at p's current position.
func (w *jsonRewriter) ruleAt(p *frame, k byte) Strategy {
	if w.rules.Empty() {
		return StrategyNone
	}
	if !p.isObj {
		if p.role == roleReportCells {
			return StrategyNone // decided per cell member
		}
		return StrategyNone // array fields were decided at their member name
	}
	switch p.role {
	case roleRecord:
		if w.mode == modeSalesforce && equalFold(p.key, memberAttributes) {
			return StrategyNone
		}
		if p.maybeWrp && isWrapperKey(p.key) {
			return StrategyNone // decided in open/scalar: the object is a result wrapper
		}
		s := w.rules.fieldRule(&w.scratch, p.typ, p.typed, p.key)
		if w.mode == modeGraphQL && k == '{' && s != StrategyRemove {
			return StrategyNone // keep {value: ...}; the wrapper masks inside
		}
		return s
	case roleUIFields:
		s := w.rules.fieldRule(&w.scratch, p.typ, p.typed, p.key)
		if k == '{' && s != StrategyRemove {
			return StrategyNone
		}
		return s
	case roleWrapper:
		if equalFold(p.key, memberValue) || equalFold(p.key, memberDisplayValue) {
			return w.rules.fieldRule(&w.scratch, p.typ, p.typed, p.field)
		}
		if k == '{' {
			return StrategyNone // nested reference of unknown type: a wrapper of its own
		}
		return w.rules.fieldRule(&w.scratch, nil, false, p.key)
	case roleReportCell:
		return p.cell
	case roleLVColumn:
		if equalFold(p.key, memberValue) {
			if !p.hasField {
				return StrategyRedact // column not named yet: assume the worst
			}
			return w.columnRule(p.field)
		}
	}
	return StrategyNone
}

// columnRule is the rule for a column named by a path (CSV header, list view
// fieldNameOrPath, report column) whose object is Options.Object for plain
// names and unknown for relationship paths.
func (w *jsonRewriter) columnRule(col []byte) Strategy {
	return columnRule(w.rules, &w.scratch, w.opts.Object, col)
}

func columnRule(r *Rules, scratch *[]byte, object string, col []byte) Strategy {
	if r.Empty() {
		return StrategyNone
	}
	obj := []byte(object) // object strings are short; escape analysis keeps this on the stack
	return r.fieldRule(scratch, obj, object != "", col)
}

// maskValue replaces the value at p's current member by strategy s.
func (w *jsonRewriter) maskValue(p *frame, k byte, s Strategy) error {
	var v []byte
	var err error
	if k == '{' || k == '[' {
		err = w.sc.SkipValue()
	} else {
		v, err = w.sc.ReadScalar()
	}
	if err != nil {
		return w.decodeErr(err)
	}
	return w.maskRead(p, k, s, v, nil, nil)
}

// maskRead writes the masked form of the value of kind k just read (v; nil
// for a container, which was skipped). memo, when the rule came from it,
// says whether the field's name is noted already. rawKey, when set, is the
// member's name token, written in place of p.rawKey (which is then stale).
func (w *jsonRewriter) maskRead(p *frame, k byte, s Strategy, v []byte, memo *ruleMemo, rawKey []byte) error {
	// A null stays null: nothing was masked (unless the member is removed).
	if (k != 'n' || s == StrategyRemove) && (memo == nil || !memo.noted) {
		w.noteMasked(p)
		if memo != nil {
			memo.noted = true
		}
	}
	// Masked values are never captured: Stats must not carry them.
	if s == StrategyRemove {
		return nil
	}
	switch {
	case rawKey != nil:
		w.sep(p)
		w.out.b = append(append(w.out.b, rawKey...), ':')
	case p.isObj:
		w.writeKey(p)
	default:
		w.sep(p)
	}
	switch {
	case k == 'n':
		w.out.b = append(w.out.b, "null"...)
	case s == StrategyNull || k == '{' || k == '[' || k == 't' || k == 'f':
		w.out.b = append(w.out.b, "null"...)
	case k == '"':
		if bytes.IndexByte(v, '\\') < 0 {
			// The token's own bytes are its text, and hold nothing a JSON
			// string must escape: neither does what a strategy makes of
			// them (stars, whole characters of the text, hex), so it is
			// written between quotes unchecked.
			w.out.b = append(w.out.b, '"')
			w.out.b = append(w.m.apply(w.out.b, s, v[1:len(v)-1]), '"')
			break
		}
		w.val = jsonscan.AppendUnquote(w.val[:0], v)
		w.tmp = w.m.apply(w.tmp[:0], s, w.val)
		w.out.b = appendQuote(w.out.b, w.tmp)
	default: // number: masked numbers become strings
		w.tmp = w.m.apply(w.tmp[:0], s, v)
		w.out.b = appendQuote(w.out.b, w.tmp)
	}
	return nil
}

// appendQuote appends v as a JSON string: quotes around it when no byte of
// it needs an escape (masked values are mostly stars, digits and ASCII),
// else jsontext's quoting. v comes from valid JSON, so it is valid UTF-8.
func appendQuote(dst, v []byte) []byte {
	if jsonscan.StringStop(v) < len(v) {
		dst, _ = jsontext.AppendQuote(dst, v)
		return dst
	}
	dst = append(dst, '"')
	dst = append(dst, v...)
	return append(dst, '"')
}

// noteMasked records "Object.Field" for the member being masked.
func (w *jsonRewriter) noteMasked(p *frame) {
	b := w.scratch[:0]
	field := p.key
	switch p.role {
	case roleWrapper:
		if equalFold(p.key, memberValue) || equalFold(p.key, memberDisplayValue) {
			field = p.field
		}
	case roleLVColumn:
		field = p.field
	case roleReportCell:
		if p.step < len(w.columns) {
			field = w.columns[p.step]
		} else {
			field = []byte("?")
		}
	}
	switch {
	case p.role == roleReportCell:
		b = append(b, "Report"...)
	case p.role == roleLVColumn && w.opts.Object != "":
		b = append(b, w.opts.Object...)
	case p.typed:
		b = append(b, p.typ...)
	default:
		b = append(b, '*')
	}
	b = append(b, '.')
	b = append(b, field...)
	w.scratch = b
	if _, ok := w.masked[string(b)]; !ok {
		if w.masked == nil {
			w.masked = make(map[string]struct{})
		}
		w.masked[intern(b)] = struct{}{}
	}
}

// cellRule is the rule for report column i; unknown columns (factMap before
// reportMetadata, or more cells than columns) are redacted when any rule exists.
func (w *jsonRewriter) cellRule(i int) Strategy {
	if w.rules.Empty() {
		return StrategyNone
	}
	if !w.colsKnown || i >= len(w.colRules) {
		return StrategyRedact
	}
	return w.colRules[i]
}

func (w *jsonRewriter) compileColumns() {
	w.colsKnown = true
	w.colRules = w.colRules[:0]
	for _, c := range w.columns {
		s := StrategyNone
		if !w.rules.Empty() {
			s = w.rules.lookup(&w.scratch, []byte("Report"), true, c)
			s = stricter(s, w.rules.fieldRule(&w.scratch, nil, false, c))
			if dot := lastIndexByte(c, '.'); dot >= 0 {
				s = stricter(s, w.rules.lookup(&w.scratch, nil, false, c[dot+1:]))
			}
		}
		w.colRules = append(w.colRules, s)
	}
}

// detectable reports whether detectors run on the value at p's position:
// record data only, never ids.
func (w *jsonRewriter) detectable(p *frame) bool {
	switch p.role {
	case roleRecord, roleWrapper, roleUIFields, roleReportCell, roleLVColumn, roleFieldArray:
	default:
		return false
	}
	if p.role == roleLVColumn {
		return equalFold(p.key, memberValue) && !(p.hasField && idLike(p.field))
	}
	if p.role == roleRecord && w.mode == modeSalesforce && p.maybeWrp {
		return true
	}
	if p.isObj && idLike(p.key) {
		return false
	}
	if (p.role == roleFieldArray || p.role == roleWrapper) && p.hasField && idLike(p.field) {
		return false
	}
	return true
}

func (w *jsonRewriter) detectValue(p *frame, v []byte) error {
	text := v
	if kindOf(v) == '"' {
		w.val = appendUnquoted(w.val[:0], v)
		text = w.val
	}
	w.spans = detect(w.spans[:0], text, w.det)
	if len(w.spans) == 0 {
		w.out.b = append(w.out.b, v...)
		return nil
	}
	w.tmp = appendDetected(w.tmp[:0], text, w.spans)
	w.out.b = appendQuote(w.out.b, w.tmp)
	if p.isObj {
		w.noteMasked(p)
	}
	return nil
}
