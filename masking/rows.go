package masking

import (
	"errors"
	"io"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

// pointerRewriter rewrites the JSON body of a CRM described by a profile
// (docs/profiles.md): the records are at a JSON pointer (Options.Records,
// Kind "records": an array of objects, or one object) or are positional
// rows (Options.Rows, Kind "rows": an array of arrays whose columns are
// Options.Columns, in order, repeated names included). Records are
// counted and capped at a record boundary; their fields are masked by name
// (at any depth inside the record) or, in rows, by column. Outside the
// records every member a rule names is masked too, so a record the
// profile did not point at still leaves masked.
//
// Records of profile CRMs carry no type: their object is Options.Object.
type pointerRewriter struct {
	dec *jsontext.Decoder
	enc *jsontext.Encoder
	out *outBuf

	rules   *Rules
	m       masker
	obj     []byte
	objOK   bool
	scratch []byte

	kind     bodyshape.Kind // Records, Rows or "" (no records: mask by name only)
	at       string
	colStrat []Strategy
	cols     []string
	max      int

	inList    bool
	started   bool // the top-level value has begun
	n         int
	truncated bool
	masked    map[string]bool
	capture   map[string]bool
	captured  map[string]string

	// det are the content detectors run on record values no rule masks.
	det   uint8
	spans []span
	tmp   []byte

	// sub reads one record or row already in memory (reset per record).
	sub    *jsontext.Decoder
	subSrc sliceReader
	buf    []byte
}

// subDecoder returns the record decoder reset to v.
func (w *pointerRewriter) subDecoder(v []byte) *jsontext.Decoder {
	w.subSrc.b = v
	if w.sub == nil {
		w.sub = jsontext.NewDecoder(&w.subSrc)
	} else {
		w.sub.Reset(&w.subSrc)
	}
	return w.sub
}

func newPointerRewriter(src io.Reader, out *outBuf, opts Options, det uint8) *pointerRewriter {
	w := &pointerRewriter{
		det:   det,
		dec:   jsontext.NewDecoder(src),
		enc:   jsontext.NewEncoder(out),
		out:   out,
		rules: opts.Rules,
		m:     newMasker(opts.HMACKey),
		obj:   []byte(opts.Object),
		objOK: opts.Object != "",
		max:   opts.MaxRecords,
	}
	switch opts.Kind {
	case bodyshape.Records:
		w.kind, w.at = bodyshape.Records, opts.Records
	case bodyshape.Rows:
		w.kind, w.at, w.cols = bodyshape.Rows, opts.Rows, opts.Columns
		w.colStrat = make([]Strategy, len(opts.Columns))
		for i, c := range opts.Columns {
			w.colStrat[i] = w.rule([]byte(c))
		}
	}
	if len(opts.Capture) > 0 {
		w.capture = make(map[string]bool, len(opts.Capture))
		for _, c := range opts.Capture {
			w.capture[c] = true
		}
	}
	return w
}

func (w *pointerRewriter) rule(field []byte) Strategy {
	if w.rules.Empty() {
		return StrategyNone
	}
	return w.rules.fieldRule(&w.scratch, w.obj, w.objOK, field)
}

func (w *pointerRewriter) noteMasked(field string) {
	if w.masked == nil {
		w.masked = map[string]bool{}
	}
	obj := string(w.obj)
	if !w.objOK {
		obj = "*"
	}
	w.masked[obj+"."+field] = true
}

// step rewrites one token, one member or one record.
func (w *pointerRewriter) step() error {
	if w.inList {
		if w.dec.PeekKind() == ']' {
			tok, err := w.dec.ReadToken()
			if err != nil {
				return malformed(err)
			}
			w.inList = false
			return w.enc.WriteToken(tok)
		}
		return w.record()
	}
	kind := w.dec.PeekKind()
	if kind == 0 {
		if _, err := w.dec.ReadToken(); err != io.EOF {
			if err == nil {
				err = errors.New("unexpected data")
			}
			return malformed(err)
		}
		return io.EOF
	}
	if w.dec.StackDepth() == 0 {
		if w.started {
			return malformed(errors.New("more than one JSON document"))
		}
		w.started = true
	}
	// The root itself may be the records (a top-level array of rows).
	if w.kind != "" && w.at == "" && w.dec.StackDepth() == 0 {
		return w.enter(kind)
	}
	depth := w.dec.StackDepth()
	if kind == '"' && depth > 0 {
		if k, n := w.dec.StackIndex(depth); k == '{' && n%2 == 0 {
			tok, err := w.dec.ReadToken()
			if err != nil {
				return malformed(err)
			}
			tok = tok.Clone() // the next read voids it
			name := tok.String()
			ptr := string(w.dec.StackPointer())
			if w.kind != "" && ptr == w.at {
				if err := w.enc.WriteToken(tok); err != nil {
					return err
				}
				return w.enter(w.dec.PeekKind())
			}
			if s := w.rule([]byte(name)); s != StrategyNone {
				v, err := w.dec.ReadValue()
				if err != nil {
					return malformed(err)
				}
				w.noteMasked(name)
				if s == StrategyRemove {
					return nil
				}
				if err := w.enc.WriteToken(tok); err != nil {
					return err
				}
				return w.writeMasked(v, s)
			}
			return w.enc.WriteToken(tok)
		}
	}
	tok, err := w.dec.ReadToken()
	if err != nil {
		return malformed(err)
	}
	if w.capture != nil && kind != '{' && kind != '[' {
		if p := string(w.dec.StackPointer()); w.capture[p] {
			if w.captured == nil {
				w.captured = map[string]string{}
			}
			w.captured[p] = tok.String()
		}
	}
	return w.enc.WriteToken(tok)
}

// enter starts the records: an array is a list of records, an object one
// record; anything else is written as it is (no records).
func (w *pointerRewriter) enter(kind jsontext.Kind) error {
	switch kind {
	case '[':
		tok, err := w.dec.ReadToken()
		if err != nil {
			return malformed(err)
		}
		w.inList = true
		return w.enc.WriteToken(tok)
	case '{':
		return w.record()
	}
	v, err := w.dec.ReadValue()
	if err != nil {
		return malformed(err)
	}
	return w.enc.WriteValue(v)
}

// record rewrites one record, or drops it past the cap.
func (w *pointerRewriter) record() error {
	v, err := w.dec.ReadValue()
	if err != nil {
		return malformed(err)
	}
	if w.max > 0 && w.n >= w.max {
		w.truncated = true
		return nil
	}
	w.n++
	if w.kind == bodyshape.Rows && v.Kind() == '[' {
		return w.row(v)
	}
	if w.rules.Empty() && w.det == 0 {
		return w.enc.WriteValue(v)
	}
	return w.maskValue(v)
}

// row masks a positional row by column.
func (w *pointerRewriter) row(v jsontext.Value) error {
	d := w.subDecoder(v)
	if _, err := d.ReadToken(); err != nil { // '['
		return malformed(err)
	}
	if err := w.enc.WriteToken(jsontext.BeginArray); err != nil {
		return err
	}
	for i := 0; d.PeekKind() != ']'; i++ {
		cell, err := d.ReadValue()
		if err != nil {
			return malformed(err)
		}
		s := StrategyNone
		switch {
		case i < len(w.colStrat):
			s = w.colStrat[i]
			if s != StrategyNone {
				w.noteMasked(w.cols[i])
			}
		case !w.rules.Empty():
			// A column the request did not name: nothing says what it
			// holds, so it leaves redacted.
			s = StrategyRedact
			w.noteMasked("column" + strconv.Itoa(i))
		}
		if s == StrategyNone {
			name := "column" + strconv.Itoa(i)
			if i < len(w.cols) {
				name = w.cols[i]
			}
			if err := w.writeDetected(cell, name); err != nil {
				return err
			}
			continue
		}
		if s == StrategyRemove {
			s = StrategyNull // removing a cell would shift every later column
		}
		if err := w.writeMasked(cell, s); err != nil {
			return err
		}
	}
	if _, err := d.ReadToken(); err != nil {
		return malformed(err)
	}
	return w.enc.WriteToken(jsontext.EndArray)
}

// maskValue writes v with every member a rule names masked, at any depth.
func (w *pointerRewriter) maskValue(v jsontext.Value) error {
	d := w.subDecoder(v)
	last := "" // the member name of the value being read
	for {
		kind := d.PeekKind()
		if kind == 0 {
			return nil
		}
		depth := d.StackDepth()
		if kind == '"' && depth > 0 {
			if k, n := d.StackIndex(depth); k == '{' && n%2 == 0 {
				tok, err := d.ReadToken()
				if err != nil {
					return malformed(err)
				}
				tok = tok.Clone() // the next read voids it
				name := tok.String()
				if s := w.rule([]byte(name)); s != StrategyNone {
					val, err := d.ReadValue()
					if err != nil {
						return malformed(err)
					}
					w.noteMasked(name)
					if s == StrategyRemove {
						continue
					}
					if err := w.enc.WriteToken(tok); err != nil {
						return err
					}
					if err := w.writeMasked(val, s); err != nil {
						return err
					}
					continue
				}
				if err := w.enc.WriteToken(tok); err != nil {
					return err
				}
				last = name
				continue
			}
		}
		if w.det != 0 && (kind == '"' || kind == '0') {
			val, err := d.ReadValue()
			if err != nil {
				return malformed(err)
			}
			if err := w.writeDetected(val, last); err != nil {
				return err
			}
			continue
		}
		tok, err := d.ReadToken()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return malformed(err)
		}
		if err := w.enc.WriteToken(tok); err != nil {
			return err
		}
	}
}

// writeDetected writes a value no rule masks, with the spans the content
// detectors find in a string or number replaced (a number with a hit
// becomes a string).
func (w *pointerRewriter) writeDetected(v jsontext.Value, field string) error {
	k := v.Kind()
	if w.det == 0 || (k != '"' && k != '0') {
		return w.enc.WriteValue(v)
	}
	text := []byte(v)
	if k == '"' {
		t, err := jsontext.AppendUnquote(w.buf[:0], v)
		if err != nil {
			return malformed(err)
		}
		w.buf, text = t, t
	}
	w.spans = detect(w.spans[:0], text, w.det)
	if len(w.spans) == 0 {
		return w.enc.WriteValue(v)
	}
	w.tmp = appendDetected(w.tmp[:0], text, w.spans)
	if field == "" {
		field = "*"
	}
	w.noteMasked(field)
	return w.enc.WriteToken(jsontext.String(string(w.tmp)))
}

// writeMasked writes the masked form of a value: strings and numbers by
// the strategy, null stays null, objects, arrays and booleans become
// "****" (or null for the null strategy).
func (w *pointerRewriter) writeMasked(v jsontext.Value, s Strategy) error {
	if s == StrategyNull {
		return w.enc.WriteToken(jsontext.Null)
	}
	switch v.Kind() {
	case 'n':
		return w.enc.WriteToken(jsontext.Null)
	case '"':
		str, err := jsontext.AppendUnquote(w.buf[:0], v)
		if err != nil {
			return malformed(err)
		}
		w.buf = str
		return w.enc.WriteToken(jsontext.String(string(w.m.apply(nil, s, str))))
	case '0':
		return w.enc.WriteToken(jsontext.String(string(w.m.apply(nil, s, v))))
	}
	return w.enc.WriteToken(jsontext.String(redacted))
}

func (w *pointerRewriter) stats(st *Stats) {
	st.Records += w.n
	st.Truncated = st.Truncated || w.truncated
	for k := range w.masked {
		st.Masked = append(st.Masked, k)
	}
	if len(w.captured) > 0 {
		if st.Captured == nil {
			st.Captured = map[string]string{}
		}
		for k, v := range w.captured {
			st.Captured[k] = v
		}
	}
}

func (w *pointerRewriter) release() {}

// sliceReader reads a record already in memory.
type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
