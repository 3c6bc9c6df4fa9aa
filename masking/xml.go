package masking

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"maps"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

// xmlRewriter rewrites the XML bodies of Salesforce's Bulk API 1.0
// (docs/masking.md, "XML"): query results (queryResult/records), ingest
// requests (sObjects/sObject) and results (results/result), each child
// element of the root being one record, and job answers (jobInfo, Kind
// "job": no records, members captured for Options.Capture).
//
// A record's type is its <type> child (Salesforce writes it first), else
// Options.Object for a top-level record; an element holding elements is a
// relationship record (Account inside Contact) whose type is its own
// <type>, unknown (strictest rule of any object) until it is seen. A field
// a rule masks has its text replaced; remove drops the element, null
// writes it empty with xsi:nil. Everything else is copied byte for byte
// from the upstream body: only masked values change. Records are counted
// and capped at a record boundary; the root is always closed.
//
// encoding/xml reads the tokens (it checks well-formedness, matching end
// tags and entities, and refuses non-UTF-8 encodings); the bytes are taken
// from the input by token offset rather than re-encoded, because
// xml.Encoder rewrites namespace prefixes. A DOCTYPE is refused.
type xmlRewriter struct {
	in  xmlSource
	dec *xml.Decoder
	out *outBuf

	rules   *Rules
	m       masker
	obj     []byte
	objOK   bool
	records bool // Kind "records": the root's children are records
	max     int
	det     uint8

	last     int64 // input offset where the next token's bytes start
	stack    []xmlFrame
	rootDone bool
	skipAt   int // >= 0: tokens are dropped until the stack is this deep again

	// The element being held: its bytes until its end decides how it leaves.
	hold      bool
	holdStart int // length of its start tag in holdRaw
	holdRaw   []byte
	holdVal   []byte
	holdName  string
	holdStrat Strategy
	holdType  bool // it is a record's <type>
	holdCapt  bool // its text is captured

	n         int
	truncated bool
	masked    map[string]struct{}
	capture   map[string]bool
	captured  map[string]string

	scratch []byte
	tmp     []byte
	spans   []span
}

// xmlFrame is one open element.
type xmlFrame struct {
	record bool     // a record or a relationship record: its children are fields
	typ    []byte   // the record's type, from <type> or Options.Object
	typOK  bool     // typ is known
	forced Strategy // the strategy of the field holding this relationship
}

// xsiNil is what a field masked with null becomes (its own namespace
// declaration, so it is valid wherever it stands).
const xsiNil = ` xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>`

// maxXMLHold bounds one held element (a masked value is held whole).
const maxXMLHold = 64 << 20

var errElementTooLarge = errors.New("element larger than 64 MiB")

func newXMLRewriter(src io.Reader, out *outBuf, opts Options, det uint8) *xmlRewriter {
	w := &xmlRewriter{
		out:     out,
		rules:   opts.Rules,
		m:       newMasker(opts.HMACKey),
		obj:     []byte(opts.Object),
		objOK:   opts.Object != "",
		records: opts.Kind != bodyshape.Job,
		max:     opts.MaxRecords,
		det:     det,
		skipAt:  -1,
	}
	w.in.src = src
	w.dec = xml.NewDecoder(&w.in) // a ByteReader: the decoder reads no further than it needs
	if len(opts.Capture) > 0 {
		w.capture = make(map[string]bool, len(opts.Capture))
		for _, c := range opts.Capture {
			w.capture[c] = true
		}
	}
	return w
}

func (w *xmlRewriter) release() {}

func (w *xmlRewriter) stats(st *Stats) {
	st.Records, st.Truncated = w.n, w.truncated
	for k := range w.masked {
		st.Masked = append(st.Masked, k)
	}
	if len(w.captured) > 0 {
		st.Captured = maps.Clone(w.captured)
	}
}

func (w *xmlRewriter) drained() bool { return w.in.r >= len(w.in.buf) && w.in.err == nil }

// step reads one token and writes what of it may leave.
func (w *xmlRewriter) step() error {
	tok, err := w.dec.Token()
	if err == io.EOF {
		if !w.rootDone {
			return malformed(errors.New("XML body without a root element"))
		}
		return io.EOF
	}
	if err != nil {
		return malformed(err)
	}
	off := w.dec.InputOffset()
	raw := w.in.buf[w.last-w.in.base : off-w.in.base]
	w.last = off
	w.in.keep = off
	switch t := tok.(type) {
	case xml.StartElement:
		return w.start(t, raw)
	case xml.EndElement:
		return w.end(raw)
	case xml.CharData:
		return w.text(t, raw)
	case xml.Directive:
		return malformed(errors.New("XML directive (DOCTYPE) in a CRM body"))
	default: // comments, processing instructions
		w.emit(raw)
	}
	return nil
}

// emit writes raw bytes: to the held element, or out, or nowhere while
// skipping.
func (w *xmlRewriter) emit(raw []byte) {
	switch {
	case w.skipAt >= 0:
	case w.hold:
		w.holdRaw = append(w.holdRaw, raw...)
	default:
		w.out.b = append(w.out.b, raw...)
	}
}

func (w *xmlRewriter) start(t xml.StartElement, raw []byte) error {
	depth := len(w.stack)
	if w.skipAt >= 0 {
		w.stack = append(w.stack, xmlFrame{})
		return nil
	}
	if w.hold {
		// The held field holds elements: a relationship record. Its text
		// so far must be blank (no mixed content in a CRM body).
		if len(bytes.TrimSpace(w.holdVal)) > 0 {
			return malformed(errors.New("XML element with both text and elements"))
		}
		if w.holdType || w.holdCapt {
			return malformed(errors.New("XML element with elements where a value was expected"))
		}
		w.hold = false
		w.out.b = append(w.out.b, w.holdRaw...)
		w.holdRaw = w.holdRaw[:0]
	}
	switch {
	case depth == 0:
		if w.rootDone {
			return malformed(errors.New("XML body with more than one root element"))
		}
		w.stack = append(w.stack, xmlFrame{})
		w.out.b = append(w.out.b, raw...)
		return nil
	case depth == 1 && w.records:
		if w.max < 0 || (w.max > 0 && w.n >= w.max) {
			w.truncated = true
			w.stack = append(w.stack, xmlFrame{})
			w.skipAt = depth
			return nil
		}
		w.n++
		w.stack = append(w.stack, xmlFrame{record: true, typ: w.obj, typOK: w.objOK})
		w.out.b = append(w.out.b, raw...)
		return nil
	case depth == 1:
		// A member of a job answer: captured, never masked.
		w.stack = append(w.stack, xmlFrame{})
		if key := "/" + t.Name.Local; w.capture[key] {
			w.holdElement(t.Name.Local, raw, StrategyNone)
			w.holdCapt = true
			return nil
		}
		w.out.b = append(w.out.b, raw...)
		return nil
	}
	parent := &w.stack[depth-1]
	if !parent.record {
		w.stack = append(w.stack, xmlFrame{})
		w.out.b = append(w.out.b, raw...)
		return nil
	}
	name := t.Name.Local
	if name == "type" {
		// A record's type marker (lower case; Salesforce's field Type and
		// custom fields are spelt otherwise, and XML names are case-sensitive).
		w.stack = append(w.stack, xmlFrame{})
		w.holdElement(name, raw, StrategyNone)
		w.holdType = true
		return nil
	}
	s := stricter(parent.forced, w.rule(parent, name))
	w.stack = append(w.stack, xmlFrame{record: true, forced: s})
	switch s {
	case StrategyRemove:
		w.note(parent, name)
		w.skipAt = depth
	case StrategyNull:
		w.note(parent, name)
		w.out.b = append(w.out.b, raw[:qnameEnd(raw)]...)
		w.out.b = append(w.out.b, xsiNil...)
		w.skipAt = depth
	case StrategyNone:
		if w.det != 0 && !idLike([]byte(name)) {
			w.holdElement(name, raw, s)
			return nil
		}
		w.out.b = append(w.out.b, raw...)
	default:
		w.holdElement(name, raw, s)
	}
	return nil
}

func (w *xmlRewriter) holdElement(name string, raw []byte, s Strategy) {
	w.hold, w.holdName, w.holdStrat, w.holdType, w.holdCapt = true, name, s, false, false
	w.holdRaw = append(w.holdRaw[:0], raw...)
	w.holdStart = len(raw)
	w.holdVal = w.holdVal[:0]
}

func (w *xmlRewriter) text(t xml.CharData, raw []byte) error {
	if w.skipAt >= 0 {
		return nil
	}
	if w.hold {
		if len(w.holdRaw)+len(raw) > maxXMLHold {
			return malformed(errElementTooLarge)
		}
		w.holdRaw = append(w.holdRaw, raw...)
		w.holdVal = append(w.holdVal, t...)
		return nil
	}
	if d := len(w.stack); (d <= 1 || d == 2 && w.records) && len(bytes.TrimSpace(t)) > 0 {
		// Text outside any field: no CRM shape has it, and no rule could
		// say how to mask it.
		return malformed(errors.New("XML text outside a field"))
	}
	w.out.b = append(w.out.b, raw...)
	return nil
}

func (w *xmlRewriter) end(raw []byte) error {
	depth := len(w.stack) - 1
	if w.skipAt >= 0 {
		w.stack = w.stack[:depth]
		if depth == w.skipAt {
			w.skipAt = -1
		}
		return nil
	}
	if w.hold {
		w.hold = false
		w.stack = w.stack[:depth]
		return w.release1(&w.stack[depth-1], raw)
	}
	w.stack = w.stack[:depth]
	if depth == 0 {
		w.rootDone = true
	}
	w.out.b = append(w.out.b, raw...)
	return nil
}

// release1 writes the held element, whose end tag is raw, masked as its
// strategy (or the detectors) say. parent is the element holding it.
func (w *xmlRewriter) release1(parent *xmlFrame, raw []byte) error {
	val := w.holdVal
	switch {
	case w.holdCapt:
		if w.captured == nil {
			w.captured = map[string]string{}
		}
		w.captured["/"+w.holdName] = string(val)
	case w.holdType:
		// A type is an object name; anything else there is no type and
		// might be a value, which a rule could not mask.
		t := bytes.TrimSpace(val)
		if !objectName(t) {
			return malformed(errors.New("XML record type that is not an object name"))
		}
		parent.typ, parent.typOK = append([]byte(nil), t...), true
	case len(val) == 0:
	case w.holdStrat != StrategyNone:
		w.note(parent, w.holdName)
		w.tmp = w.m.apply(w.tmp[:0], w.holdStrat, val)
		return w.writeValue(raw)
	default: // detectors
		w.spans = detect(w.spans[:0], val, w.det)
		if len(w.spans) > 0 {
			w.note(parent, w.holdName)
			w.tmp = appendDetected(w.tmp[:0], val, w.spans)
			return w.writeValue(raw)
		}
	}
	w.out.b = append(w.out.b, w.holdRaw...)
	w.out.b = append(w.out.b, raw...)
	return nil
}

// writeValue writes the held start tag, w.tmp escaped as its text, and
// the end tag raw.
func (w *xmlRewriter) writeValue(raw []byte) error {
	w.out.b = append(w.out.b, w.holdRaw[:w.holdStart]...)
	if err := xml.EscapeText(w.out, w.tmp); err != nil {
		return err
	}
	w.out.b = append(w.out.b, raw...)
	return nil
}

func (w *xmlRewriter) rule(rec *xmlFrame, field string) Strategy {
	if w.rules.Empty() {
		return StrategyNone
	}
	return w.rules.fieldRule(&w.scratch, rec.typ, rec.typOK, []byte(field))
}

func (w *xmlRewriter) note(rec *xmlFrame, field string) {
	if w.masked == nil {
		w.masked = make(map[string]struct{})
	}
	obj := "*"
	if rec.typOK {
		obj = string(rec.typ)
	}
	w.masked[obj+"."+field] = struct{}{}
}

// objectName reports whether b is a Salesforce object name: a letter, then
// letters, digits and underscores (Account, Invoice__c, ns__Thing__c).
func objectName(b []byte) bool {
	if len(b) == 0 || len(b) > 80 || !('A' <= b[0] && b[0] <= 'Z' || 'a' <= b[0] && b[0] <= 'z') {
		return false
	}
	for _, c := range b {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// qnameEnd is the length of "<name" at the start of a start tag.
func qnameEnd(raw []byte) int {
	for i := 1; i < len(raw); i++ {
		switch raw[i] {
		case ' ', '\t', '\r', '\n', '/', '>':
			return i
		}
	}
	return len(raw)
}

// xmlSource is the rewriter's input: a buffer the decoder reads bytes
// from, keeping every byte from offset keep on, so that a token's bytes
// are still there when the decoder has returned it.
type xmlSource struct {
	src  io.Reader
	buf  []byte
	base int64 // input offset of buf[0]
	r    int   // next byte for the decoder
	keep int64 // bytes before this offset may be dropped
	err  error
}

func (s *xmlSource) ReadByte() (byte, error) {
	if s.r >= len(s.buf) {
		if err := s.more(); err != nil {
			return 0, err
		}
	}
	b := s.buf[s.r]
	s.r++
	return b, nil
}

func (s *xmlSource) Read(p []byte) (int, error) {
	if s.r >= len(s.buf) {
		if err := s.more(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.buf[s.r:])
	s.r += n
	return n, nil
}

// more reads the next part of the source, dropping what was kept long
// enough.
func (s *xmlSource) more() error {
	if s.err != nil {
		return s.err
	}
	if drop := int(s.keep - s.base); drop > 0 {
		n := copy(s.buf, s.buf[drop:])
		s.buf = s.buf[:n]
		s.base += int64(drop)
		s.r -= drop
	}
	if cap(s.buf)-len(s.buf) < 4<<10 {
		if len(s.buf) > maxXMLHold {
			s.err = errElementTooLarge
			return s.err
		}
		nb := make([]byte, len(s.buf), max(2*cap(s.buf), 32<<10))
		copy(nb, s.buf)
		s.buf = nb
	}
	for {
		n, err := s.src.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if err != nil {
			s.err = err
		}
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
