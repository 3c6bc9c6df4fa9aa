package masking

import (
	"io"
	"sync"

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
// rewritten after their name was read). This file holds the walk (step,
// value, open, scalar, closeFrame); shape.go the shapes it walks,
// fastpath.go its Salesforce fast paths, json_mask.go the rules and masked
// values, json_records.go the record count, types and cap.
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
		flag(&w.recFlag, memberAttributes)
	}
	flag(&w.attrFlag, memberType)
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
		// The edge's role, and what else it says.
		c.role, c.step = e.to, int(e.toStep)
		t := e.then
		if t&recordEffects != 0 {
			w.followRecord(c, t)
		}
		switch {
		case e.typ != "":
			c.typ, c.typed = append(c.typ[:0], e.typ...), true
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
			case w.mode == modeGraphQL && pHasFld && (pStep == gqlAggregated || equalFold(pField, memberAggregate) && pTyped):
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

// recordEffects are the effects of an edge (open) that followRecord applies: those on the
// record count, the cap and the report columns, taken once per record or
// list rather than once per field.
const recordEffects = top | topIfOutside | wrapIfOutside | hold | count | resetColumns | cellColumn | unwrapParent

// followRecord applies the record effects of t to child c.
func (w *jsonRewriter) followRecord(c *frame, t effect) {
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
			if equalFold(p.key, memberType) && kindOf(v) == '"' {
				if cut, err := w.setType(w.parent(), v); cut || err != nil {
					return err
				}
			}
		case roleUIRecord:
			if equalFold(p.key, memberAPIName) && kindOf(v) == '"' {
				if _, err := w.setType(p, v); err != nil {
					return err
				}
			}
		case roleLVColumn:
			if equalFold(p.key, memberColumnName) && kindOf(v) == '"' {
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
			case equalFold(p.key, memberMoreRecords):
				w.writeKey(p)
				w.out.b = append(w.out.b, "false"...)
				return nil
			case equalFold(p.key, memberPageToken):
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

// drained reports whether the next token needs a read from the source.
func (j *jsonRewriter) drained() bool { return j.sc.Drained() }
