package masking

import (
	"bytes"
	"io"
	"strconv"
	"sync"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/crmgw/crmgw/internal/jsonscan"
)

// frame is one open container. Frames are reused between records (their
// byte slices keep their capacity), so steady-state rewriting does not allocate.
type frame struct {
	frameState
	key    []byte // current member name, unquoted (aliases rawKey or keyBuf)
	rawKey []byte // current member name as in the input
	keyBuf []byte // unquoted name when it has escapes
	typ    []byte // record type for members
	field  []byte // wrapper / field array / list view column: the field name
}

// frameState is the part of a frame that push resets in one store (no
// pointers: the byte slices of frame keep their buffers).
type frameState struct {
	isObj    bool
	role     role
	n        int // members/elements written (for commas)
	idx      int // elements started (arrays)
	hasKey   bool
	typed    bool
	inRec    bool // inside a record (nested records are not top-level)
	top      bool // a top-level record: counted once its type is known
	counted  bool
	maybeWrp bool // untyped top-level Salesforce object that may be a result wrapper
	hasField bool
	step     int      // GraphQL path depth; report cell column
	cell     Strategy // report cell rule
}

// jsonRewriter is the streaming JSON engine: tokens in through a
// jsonscan.Scanner (internal/jsonscan), bytes out through a small
// hand-written emitter (so members can be dropped, replaced by null or
// rewritten after their name was read).
type jsonRewriter struct {
	sc     *jsonscan.Scanner
	out    *outBuf
	opts   Options
	shape  *shape
	mode   mode // shape.mode
	rules  *Rules
	det    uint8
	m      masker
	frames []frame
	rootOK bool

	scratch, val, tmp []byte
	spans             []span
	records           int
	truncated         bool
	over              bool // upstream totalSize exceeded the cap
	masked            map[string]struct{}
	captured          map[string]string
	capDepth          int
	columns           [][]byte
	colRules          []Strategy
	colsKnown         bool

	// A composite body holding a single record is only known to be a
	// record once its attributes.type arrives, after "{" was written. While
	// such a body is undecided and the cap could be reached, its output is
	// held back from holdMark on, so the record can be replaced by null.
	holding   bool
	holdMark  int // offset in out.b where the body value starts
	holdFrame int // index of the body's frame

	// memo remembers field rules by (record type, field name) for the body
	// being rewritten (generation gen): the same few pairs come back in
	// every record, and a rule lookup lowercases both and probes two maps.
	memo [64]ruleMemo
	gen  uint32

	// The flags of the scanner's Member: the names under which a record
	// field or an attributes member is not copied unread (flagsFor and
	// flagsMode: the rules and mode they were made for).
	recFlag, attrFlag [64]uint64
	flagsFor          *Rules
	flagsMode         mode

	// When to try the scanner's CompactObject (compact.go): for whole
	// records, and for related records by member name.
	recBack backoff
	relBack [16]backoff
}

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

// maxHold bounds the output held back for one undecided body; past it the
// body is released (and counted, but not cut, if it is a record after all).
const maxHold = 1 << 20

var jsonPool = sync.Pool{New: func() any {
	return &jsonRewriter{sc: jsonscan.New()}
}}

func newJSONRewriter(src io.Reader, out *outBuf, opts Options, det uint8) *jsonRewriter {
	w := jsonPool.Get().(*jsonRewriter)
	w.sc.Reset(src)
	w.shape = shapeFor(opts)
	w.out, w.opts, w.mode, w.rules, w.det = out, opts, w.shape.mode, opts.Rules, det
	w.m = newMasker(opts.HMACKey)
	w.frames = w.frames[:0]
	w.rootOK, w.records, w.truncated, w.over = false, 0, false, false
	clear(w.masked) // kept with the pooled rewriter: no map per body
	w.captured = nil
	if w.gen++; w.gen == 0 { // forgets the rule memo
		w.memo, w.gen = [len(w.memo)]ruleMemo{}, 1
	}
	w.columns, w.colRules, w.colsKnown = w.columns[:0], w.colRules[:0], false
	w.capDepth, w.holding = 0, false
	w.recBack, w.relBack = backoff{}, [len(w.relBack)]backoff{}
	if w.flagsFor != w.rules || w.flagsMode != w.mode || w.attrFlag == ([64]uint64{}) {
		w.setFlags()
	}
	for _, p := range opts.Capture {
		d := 0
		for i := 0; i < len(p); i++ {
			if p[i] == '/' {
				d++
			}
		}
		w.capDepth = max(w.capDepth, d)
	}
	return w
}

// setFlags makes member's flags for the rules and mode: every name a rule
// may name (Rules.quick) and Salesforce's attributes stop a record's run;
// type stops an attributes object's.
func (w *jsonRewriter) setFlags() {
	w.recFlag, w.attrFlag = [64]uint64{}, [64]uint64{}
	if w.rules != nil {
		w.recFlag = w.rules.quick
	}
	flag := func(f *[64]uint64, name string) {
		i, bit := jsonscan.QuickBit([]byte(name))
		f[i] |= bit
	}
	if w.mode == modeSalesforce {
		flag(&w.recFlag, "attributes")
	}
	flag(&w.attrFlag, "type")
	w.flagsFor, w.flagsMode = w.rules, w.mode
}

func (w *jsonRewriter) release() {
	w.sc.Reset(nil) // a pooled scanner holds no reference to a body
	w.out, w.rules, w.opts = nil, nil, Options{}
	w.m = masker{}
	w.captured = nil
	jsonPool.Put(w)
}

func (w *jsonRewriter) stats(st *Stats) {
	st.Records, st.Truncated = w.records, w.truncated
	st.Masked = st.Masked[:0]
	if cap(st.Masked) < len(w.masked) {
		st.Masked = make([]string, 0, len(w.masked))
	}
	for k := range w.masked {
		st.Masked = append(st.Masked, k)
	}
	if len(w.captured) > 0 {
		st.Captured = make(map[string]string, len(w.captured))
		for k, v := range w.captured {
			st.Captured[k] = v
		}
	}
}

func (w *jsonRewriter) decodeErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if jsonscan.IsSyntax(err) {
		return malformed(err)
	}
	return err // the source's own error (connection reset, ...)
}

// push opens a new frame, reusing the slot's buffers.
func (w *jsonRewriter) push(isObj bool, r role) *frame {
	if len(w.frames) < cap(w.frames) {
		w.frames = w.frames[:len(w.frames)+1]
	} else {
		w.frames = append(w.frames, frame{})
	}
	f := &w.frames[len(w.frames)-1]
	f.frameState = frameState{isObj: isObj, role: r}
	f.key, f.rawKey, f.keyBuf, f.typ, f.field = nil, f.rawKey[:0], f.keyBuf[:0], f.typ[:0], f.field[:0]
	return f
}

func (w *jsonRewriter) top() *frame {
	if len(w.frames) == 0 {
		return nil
	}
	return &w.frames[len(w.frames)-1]
}

func (w *jsonRewriter) parent() *frame {
	if len(w.frames) < 2 {
		return nil
	}
	return &w.frames[len(w.frames)-2]
}

// sep writes the comma before a member or element of p.
func (w *jsonRewriter) sep(p *frame) {
	if p == nil {
		return
	}
	if p.n > 0 {
		w.out.b = append(w.out.b, ',')
	}
	p.n++
}

func (w *jsonRewriter) writeKey(p *frame) {
	w.sep(p)
	w.out.b = append(w.out.b, p.rawKey...)
	w.out.b = append(w.out.b, ':')
}

func (w *jsonRewriter) step() error {
	if w.rootOK {
		// One value per body: anything but EOF after it is malformed.
		if err := w.sc.Finish(); err != io.EOF {
			return w.decodeErr(err)
		}
		return io.EOF
	}
	if p := w.top(); p != nil && p.isObj && !p.hasKey {
		if done, err := w.members(p); done {
			return err
		}
	}
	k := w.sc.Peek()
	if k == 0 {
		err := w.sc.LastErr()
		if err == io.EOF && len(w.frames) == 0 {
			return io.EOF // empty body: nothing to rewrite
		}
		return w.decodeErr(err)
	}
	p := w.top()
	switch {
	case p == nil:
		return w.value(nil, k)
	case k == '}' || k == ']':
		if err := w.sc.ReadDelim(); err != nil {
			return w.decodeErr(err)
		}
		w.closeFrame()
		return nil
	case p.isObj && !p.hasKey:
		v, err := w.sc.ReadScalar()
		if err != nil {
			return w.decodeErr(err)
		}
		setKey(p, v, w.sc.Esc())
		return nil
	case p.isObj:
		p.hasKey = false
		return w.value(p, k)
	default:
		p.idx++
		return w.value(p, k)
	}
}

// setKey makes the member name token v p's current key, its value next.
func setKey(p *frame, v []byte, esc bool) {
	setName(p, v, esc)
	p.hasKey = true
}

// setName records the member name token v as p's key; members sets it for
// a member it reads whole (name and value), so no value is pending.
func setName(p *frame, v []byte, esc bool) {
	p.rawKey = append(p.rawKey[:0], v...)
	if !esc {
		p.key = p.rawKey[1 : len(p.rawKey)-1] // no escapes: the name is the raw bytes
	} else {
		p.key = jsonscan.AppendUnquote(p.keyBuf[:0], v)
		p.keyBuf = p.key
	}
}

// scalarMember writes the scalar v, already read, as p's current member.
func (w *jsonRewriter) scalarMember(p *frame, v []byte) error {
	k := kindOf(v)
	if s := w.ruleAt(p, k); s != StrategyNone {
		return w.maskRead(p, k, s, v, nil, nil)
	}
	return w.scalar(p, v)
}

// appendUnquoted appends the contents of a string token read by the scanner.
func appendUnquoted(dst []byte, raw []byte) []byte {
	if len(raw) >= 2 && indexByte(raw, '\\') < 0 {
		return append(dst, raw[1:len(raw)-1]...)
	}
	return jsonscan.AppendUnquote(dst, raw)
}

// kindOf is the kind of a scalar token: '"', '0' (number), 'n', 't' or 'f'.
func kindOf(v []byte) byte {
	if len(v) == 0 {
		return 0
	}
	if c := v[0]; c == '-' || isDigit(c) {
		return '0'
	}
	return v[0]
}

func (w *jsonRewriter) closeFrame() {
	f := w.top()
	if f.isObj {
		w.out.b = append(w.out.b, '}')
	} else {
		w.out.b = append(w.out.b, ']')
	}
	if f.role == roleDetailColumns {
		w.compileColumns()
	}
	if w.holding && len(w.frames)-1 == w.holdFrame {
		w.holding = false
	}
	w.frames = w.frames[:len(w.frames)-1]
	if len(w.frames) == 0 {
		w.rootOK = true
	}
}

// value handles the value at the current position: p's current member, p's
// next element, or the root (p == nil).
func (w *jsonRewriter) value(p *frame, k byte) error {
	container := k == '{' || k == '['

	// Top-level record lists: count, and cut at the cap.
	if p != nil && !p.isObj && (p.role == roleList || p.role == roleRootArray) {
		if w.opts.MaxRecords != 0 && w.records >= max(w.opts.MaxRecords, 0) {
			w.truncated = true
			if err := w.sc.SkipValue(); err != nil {
				return w.decodeErr(err)
			}
			return nil
		}
	}

	var s Strategy
	if p != nil {
		s = w.ruleAt(p, k)
	}
	if s != StrategyNone {
		return w.maskValue(p, k, s)
	}
	if container {
		return w.open(p, k == '{')
	}
	v, err := w.sc.ReadScalar()
	if err != nil {
		return w.decodeErr(err)
	}
	return w.scalar(p, v)
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
		if w.mode == modeSalesforce && equalFold(p.key, "attributes") {
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
		if equalFold(p.key, "value") || equalFold(p.key, "displayValue") {
			return w.rules.fieldRule(&w.scratch, p.typ, p.typed, p.field)
		}
		if k == '{' {
			return StrategyNone // nested reference of unknown type: a wrapper of its own
		}
		return w.rules.fieldRule(&w.scratch, nil, false, p.key)
	case roleReportCell:
		return p.cell
	case roleLVColumn:
		if equalFold(p.key, "value") {
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

func isWrapperKey(k []byte) bool {
	for _, s := range [...]string{"totalSize", "done", "nextRecordsUrl", "records", "searchRecords",
		"compositeResponse", "results", "hasErrors", "graphs", "queryLocator"} {
		if equalFold(k, s) {
			return true
		}
	}
	return false
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
		if equalFold(p.key, "value") || equalFold(p.key, "displayValue") {
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

// open starts a container at p's current position, choosing its role: by
// the edges of the body's shape (shape.go) where one leads from p's role
// under p's member name, else by the record model below, which is the
// same for every shape. openRelated, nextRecord and literalAttributes
// (fastpath.go) are it (with value and closeFrame) written out for the
// three commonest cases of a Salesforce query; a change to those cases
// here is a change there too (TestFastPathDecidesLikeTheGeneralPath and
// FuzzJSONRewriter compare the two paths).
func (w *jsonRewriter) open(p *frame, isObj bool) error {
	if err := w.sc.ReadDelim(); err != nil {
		return w.decodeErr(err)
	}
	// A Salesforce attributes object: the key is compared once.
	if p != nil && p.isObj {
		if p.maybeWrp && isWrapperKey(p.key) {
			p.role, p.maybeWrp, p.top = rolePlain, false, false
			w.releaseIf(p)
		}
		if p.role == rolePlain && isObj && w.shape.attributes != "" && equalFold(p.key, w.shape.attributes) {
			// An object outside the known record positions that turns out to
			// be a record: mask it from here on (its attributes are the
			// record's edge's).
			p.role = roleRecord
			p.top = !p.inRec
		}
		w.writeKey(p)
	} else {
		w.sep(p)
	}
	if isObj {
		w.out.b = append(w.out.b, '{')
	} else {
		w.out.b = append(w.out.b, '[')
	}
	// Copy what the child needs from p before push (push may move frames).
	var (
		pRole   = roleBody
		pTyp    []byte
		pTyped  bool
		pInRec  bool
		pKey    []byte
		pField  []byte
		pStep   int
		pHasFld bool
	)
	if p != nil {
		pRole, pTyped, pInRec, pStep, pHasFld = p.role, p.typed, p.inRec, p.step, p.hasField
		pTyp, pKey, pField = p.typ, p.key, p.field
	}
	e := w.next(pRole, p, isObj, pKey)
	c := w.push(isObj, rolePlain)
	// pTyp/pKey/pField alias the parent's buffers, which push never touches.
	isRec := pRole == roleRecord || pRole == roleWrapper || pRole == roleUIRecord || pRole == roleUIFields ||
		pRole == roleFieldArray || pRole == roleLVRecord || pRole == roleReportRow
	c.inRec = pInRec || isRec
	if e != nil {
		w.follow(c, e, pTyp, pTyped, pKey, pField)
	} else {
		// The record model: a record's object members are related records
		// (or compound fields, or child results: their type is unknown
		// until their attributes), its array members field arrays.
		switch pRole {
		case roleRecord:
			if isObj {
				c.role = roleRecord
			} else {
				c.role = roleFieldArray
				c.field, c.hasField = append(c.field[:0], pKey...), true
			}
		case roleFieldArray:
			if isObj {
				c.role = roleRecord
			} else {
				c.role = roleFieldArray
				c.field, c.hasField = append(c.field[:0], pField...), pHasFld
			}
		case roleWrapper:
			switch {
			case !isObj:
				c.role = roleFieldArray
				c.field, c.hasField = append(c.field[:0], pKey...), true
			case w.mode == modeGraphQL && pHasFld && (pStep == gqlAggregated || equalFold(pField, "aggregate") && pTyped):
				// A GraphQL aggregate: node { aggregate { MobilePhone { max
				// { value } } } }: the field is the key under aggregate, the
				// functions below it read that field of the record's type.
				c.role, c.hasField, c.step = roleWrapper, true, gqlAggregated
				if pStep == gqlAggregated {
					c.field = append(c.field[:0], pField...)
				} else {
					c.field = append(c.field[:0], pKey...)
				}
				c.typ, c.typed = append(c.typ[:0], pTyp...), pTyped
			default: // a reference record of unknown type: each key is a field
				c.role, c.field, c.hasField = roleWrapper, append(c.field[:0], pKey...), true
			}
		}
	}
	if w.shape.nestedRecords && (c.role == roleUIRecord || c.role == roleFieldArray) {
		// Records wherever their type member shows up.
		c.inRec = c.inRec || pRole != rolePlain && pRole != roleBody
	}
	return nil
}

// follow gives child c the role and the rest edge e says.
func (w *jsonRewriter) follow(c *frame, e *edge, pTyp []byte, pTyped bool, pKey, pField []byte) {
	c.role, c.step = e.to, int(e.toStep)
	if e.then == 0 && e.typ == "" {
		return
	}
	if e.typ != "" {
		c.typ, c.typed = append(c.typ[:0], e.typ...), true
	}
	t := e.then
	if t&top != 0 {
		c.top = true
	}
	if t&topIfOutside != 0 {
		c.top = !c.inRec
	}
	if t&wrapIfOutside != 0 {
		c.maybeWrp = !c.inRec
	}
	if t&hold != 0 && c.top && w.opts.MaxRecords != 0 && !w.holding {
		w.holding, w.holdMark, w.holdFrame = true, len(w.out.b)-1, len(w.frames)-1
	}
	if t&count != 0 {
		w.records++
		c.counted = true
	}
	switch {
	case t&parentType != 0:
		c.typ, c.typed = append(c.typ[:0], pTyp...), pTyped
	case t&connectionType != 0:
		c.typ, c.typed = append(c.typ[:0], w.gqlObject(pKey)...), true
	case t&optionsType != 0:
		c.typ, c.typed = append(c.typ[:0], w.opts.Object...), w.opts.Object != ""
	case t&optionsTypeUnknown != 0:
		c.typ, c.typed = append(c.typ[:0], w.opts.Object...), false
	}
	switch {
	case t&fieldFromName != 0:
		c.field, c.hasField = append(c.field[:0], pKey...), true
	case t&fieldFromParent != 0:
		c.field, c.hasField = append(c.field[:0], pField...), true
	}
	if t&resetColumns != 0 {
		w.columns, w.colsKnown = w.columns[:0], false
	}
	if t&cellColumn != 0 {
		c.step = w.parent().idx - 1
		c.cell = w.cellRule(c.step)
	}
	if t&unwrapParent != 0 {
		p := w.parent()
		p.role, p.maybeWrp, p.top = rolePlain, false, false
		c.inRec = false
	}
}

// releaseIf ends the hold when f, the held body, turned out to be a wrapper.
func (w *jsonRewriter) releaseIf(f *frame) {
	if w.holding && &w.frames[w.holdFrame] == f {
		w.holding = false
	}
}

// gqlAggregated marks (frameState.step) a GraphQL wrapper inside an
// aggregate result whose field is the aggregated field.
const gqlAggregated = -1

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

// scalar writes a string/number/literal value that no rule masks, applying
// the shape's bookkeeping (types, caps, captures) and detectors.
func (w *jsonRewriter) scalar(p *frame, v []byte) error {
	w.capture(p, v)
	if p == nil {
		w.out.b = append(w.out.b, v...) // a scalar body
		w.rootOK = true
		return nil
	}
	if p.isObj {
		switch p.role {
		case roleAttributes:
			if equalFold(p.key, "type") && kindOf(v) == '"' {
				if cut, err := w.setType(w.parent(), v); cut || err != nil {
					return err
				}
			}
		case roleUIRecord:
			if equalFold(p.key, "apiName") && kindOf(v) == '"' {
				if _, err := w.setType(p, v); err != nil {
					return err
				}
			}
		case roleLVColumn:
			if equalFold(p.key, "fieldNameOrPath") && kindOf(v) == '"' {
				p.field = appendUnquoted(p.field[:0], v)
				p.hasField = true
			}
		case roleRecord:
			if p.maybeWrp && isWrapperKey(p.key) {
				p.role, p.maybeWrp, p.top = rolePlain, false, false
				w.releaseIf(p)
			}
		}
		if p.role == rolePlain && w.opts.MaxRecords != 0 && !p.inRec {
			if drop, repl := w.capRewrite(p, v); drop {
				return nil
			} else if repl != "" {
				w.writeKey(p)
				w.out.b = append(w.out.b, repl...)
				return nil
			}
		}
		if p.role == roleInfo && w.truncated {
			switch {
			case equalFold(p.key, "more_records"):
				w.writeKey(p)
				w.out.b = append(w.out.b, "false"...)
				return nil
			case equalFold(p.key, "next_page_token"):
				return nil
			}
		}
		w.writeKey(p)
	} else {
		if p.role == roleDetailColumns && kindOf(v) == '"' {
			c := appendUnquoted(nil, v)
			w.columns = append(w.columns, c)
		}
		w.sep(p)
	}
	if k := kindOf(v); w.det != 0 && k != 'n' && k != 't' && k != 'f' && w.detectable(p) {
		return w.detectValue(p, v)
	}
	w.out.b = append(w.out.b, v...)
	return nil
}

// capRewrite adjusts Salesforce result wrappers when a cap is set: totalSize
// above the cap is rewritten to the cap (known before any record streams),
// done becomes true and nextRecordsUrl disappears once the cap applies.
func (w *jsonRewriter) capRewrite(p *frame, v []byte) (drop bool, repl string) {
	if w.mode != modeSalesforce {
		return false, ""
	}
	switch {
	case equalFold(p.key, "totalSize") && kindOf(v) == '0':
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err == nil && n > int64(max(w.opts.MaxRecords, 0)) {
			w.over = true
			return false, strconv.Itoa(max(w.opts.MaxRecords, 0))
		}
	case equalFold(p.key, "done") && (w.over || w.truncated):
		return false, "true"
	case equalFold(p.key, "nextRecordsUrl") && (w.over || w.truncated):
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
	f.typ, f.typed = t, (w.rules != nil && w.rules.planKeys != nil) || !equalFold(t, "AggregateResult")
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

// detectable reports whether detectors run on the value at p's position:
// record data only, never ids.
func (w *jsonRewriter) detectable(p *frame) bool {
	switch p.role {
	case roleRecord, roleWrapper, roleUIFields, roleReportCell, roleLVColumn, roleFieldArray:
	default:
		return false
	}
	if p.role == roleLVColumn {
		return equalFold(p.key, "value") && !(p.hasField && idLike(p.field))
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

// drained reports whether the next token needs a read from the source.
func (j *jsonRewriter) drained() bool { return j.sc.Drained() }
