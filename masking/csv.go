package masking

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// csvRewriter masks CSV bodies (Bulk API 2.0 and 1.0 query results, Zoho
// bulk read files). The header row names the columns; each column's rule is
// decided once from the header: a plain name is a field of Options.Object, a
// relationship path (Account.Owner.Email) is matched as Object.<full path>,
// then its first segment, then its last segment under an unknown object
// (the strictest rule naming that field on any object).
//
// It is a hand-written scanner with exactly encoding/csv's rules (LazyQuotes
// false, FieldsPerRecord from the header, \r\n normalised, empty lines
// skipped; FuzzCSVRewriter checks it against encoding/csv), because
// encoding/csv decodes and re-quotes every cell, and this one copies the
// raw bytes of unmasked cells (BenchmarkCSVRewrite measures it).
type csvRewriter struct {
	src    io.Reader
	out    *outBuf
	opts   Options
	det    uint8
	m      masker
	buf    []byte
	r, w   int // unread input is buf[r:w]
	eof    bool
	header bool
	nf     int // fields per record, from the header
	rules  []Strategy
	names  []string
	detect []bool
	fields []fieldSpan
	val    []byte
	tmp    []byte
	spans  []span
	scr    []byte

	verbatim bool // no column is masked, removed or scanned: copy rows as they are

	records   int
	truncated bool
	limitZero bool // a ZIP's earlier files used up the cap: header only
	masked    map[string]struct{}
	used      []bool
}

// fieldSpan is one field's raw bytes buf[start:end] (quotes included).
type fieldSpan struct {
	start, end int
	quoted     bool
}

// maxCSVRecord bounds one record (a CSV record is held whole to be masked).
const maxCSVRecord = 64 << 20

var errRecordTooLarge = errors.New("record larger than 64 MiB")

// csvBuf is a CSV rewriter's input buffer; it grows for a longer record.
const csvBuf = 64 << 10

// csvPool recycles rewriters with their input buffer and per-column slices:
// a CSV body then allocates nothing for them.
var csvPool = sync.Pool{New: func() any { return &csvRewriter{buf: make([]byte, csvBuf)} }}

func newCSVRewriter(src io.Reader, out *outBuf, opts Options, det uint8) *csvRewriter {
	c := csvPool.Get().(*csvRewriter)
	masked := c.masked
	clear(masked)
	*c = csvRewriter{src: src, out: out, opts: opts, det: det, m: newMasker(opts.HMACKey), buf: c.buf[:cap(c.buf)],
		rules: c.rules[:0], names: c.names[:0], detect: c.detect[:0], used: c.used[:0], fields: c.fields[:0],
		val: c.val[:0], tmp: c.tmp[:0], spans: c.spans[:0], scr: c.scr[:0], masked: masked}
	return c
}

// release returns c to the pool; c is not used after it (stats come first).
func (c *csvRewriter) release() {
	if cap(c.buf) > 16*csvBuf {
		c.buf = make([]byte, csvBuf) // a huge record's buffer is not kept
	}
	c.src, c.out, c.opts, c.m = nil, nil, Options{}, masker{}
	csvPool.Put(c)
}

func (c *csvRewriter) stats(st *Stats) {
	st.Records, st.Truncated = c.records, c.truncated
	st.Masked = st.Masked[:0]
	for k := range c.masked {
		st.Masked = append(st.Masked, k)
	}
}

// fill reads more input, compacting or growing the buffer.
func (c *csvRewriter) fill() error {
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	if c.w == len(c.buf) {
		if len(c.buf) >= maxCSVRecord {
			return malformed(errRecordTooLarge)
		}
		nb := make([]byte, 2*len(c.buf))
		copy(nb, c.buf[:c.w])
		c.buf = nb
	}
	n, err := c.src.Read(c.buf[c.w:])
	c.w += n
	if err == io.EOF {
		c.eof = true
		return nil
	}
	return err
}

// step rewrites records until a chunk of output is ready; the output only
// ever holds complete records.
func (c *csvRewriter) step() error {
	for len(c.out.b) < chunk {
		end, nl, err := c.parse(c.buf[c.r:c.w], c.eof)
		switch {
		case err == errNeedMore:
			if ferr := c.fill(); ferr != nil {
				return ferr
			}
			continue
		case err == io.EOF:
			return io.EOF
		case err != nil:
			return malformed(err)
		}
		base := c.r
		rec := c.buf[base : base+end]
		if !c.header {
			c.header = true
			c.nf = len(c.fields)
			c.compileHeader(rec)
			c.write(rec, false, nl)
		} else {
			if len(c.fields) != c.nf {
				return malformed(fmt.Errorf("record %d has %d fields, header has %d", c.records+1, len(c.fields), c.nf))
			}
			if (c.opts.MaxRecords != 0 && c.records >= max(c.opts.MaxRecords, 0)) || c.limitZero {
				c.truncated = true
				return io.EOF // the rest of the body is not read
			}
			c.records++
			c.write(rec, true, nl)
		}
		c.r += end
	}
	return nil
}

var errNeedMore = errors.New("need more input")

// parse finds the next record in b (skipping empty lines), filling
// c.fields with spans relative to b. It returns the bytes consumed and the
// line ending to write ("\n", "\r\n" or "" at EOF).
func (c *csvRewriter) parse(b []byte, atEOF bool) (int, string, error) {
	c.fields = c.fields[:0]
	i := 0
	for {
		switch {
		case i >= len(b):
			if atEOF {
				return i, "", io.EOF
			}
			return 0, "", errNeedMore
		case b[i] == '\n':
			i++
			continue
		case b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n':
			i += 2
			continue
		case b[i] == '\r' && i+1 == len(b):
			if !atEOF {
				return 0, "", errNeedMore
			}
			i++ // a trailing \r before EOF is dropped
			continue
		}
		break
	}
	// Fast path: a whole line without quotes splits at commas (IndexByte is
	// vectorised; most bulk rows take this path).
	if nl := bytes.IndexByte(b[i:], '\n'); nl >= 0 && bytes.IndexByte(b[i:i+nl], '"') < 0 {
		lineEnd := i + nl
		for {
			k := bytes.IndexByte(b[i:lineEnd], ',')
			if k < 0 {
				break
			}
			c.fields = append(c.fields, fieldSpan{i, i + k, false})
			i += k + 1
		}
		if lineEnd > i && b[lineEnd-1] == '\r' {
			c.fields = append(c.fields, fieldSpan{i, lineEnd - 1, false})
			return lineEnd + 1, "\r\n", nil
		}
		c.fields = append(c.fields, fieldSpan{i, lineEnd, false})
		return lineEnd + 1, "\n", nil
	}
	for {
		fs := i
		if i < len(b) && b[i] == '"' {
			j := i + 1
			for {
				if j >= len(b) {
					if atEOF {
						return 0, "", csv.ErrQuote
					}
					return 0, "", errNeedMore
				}
				if b[j] != '"' {
					j++
					continue
				}
				// a quote: doubled, or the end of the field
				if j+1 >= len(b) {
					if !atEOF {
						return 0, "", errNeedMore
					}
					c.fields = append(c.fields, fieldSpan{fs, j + 1, true})
					return j + 1, "", nil
				}
				switch b[j+1] {
				case '"':
					j += 2
					continue
				case ',':
					c.fields = append(c.fields, fieldSpan{fs, j + 1, true})
					i = j + 2
				case '\n':
					c.fields = append(c.fields, fieldSpan{fs, j + 1, true})
					return j + 2, "\n", nil
				case '\r':
					if j+2 < len(b) && b[j+2] == '\n' {
						c.fields = append(c.fields, fieldSpan{fs, j + 1, true})
						return j + 3, "\r\n", nil
					}
					if j+2 == len(b) {
						if !atEOF {
							return 0, "", errNeedMore
						}
						c.fields = append(c.fields, fieldSpan{fs, j + 1, true})
						return j + 2, "", nil
					}
					return 0, "", csv.ErrQuote
				default:
					return 0, "", csv.ErrQuote
				}
				break
			}
			continue
		}
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '\n' {
			if b[j] == '"' {
				return 0, "", csv.ErrBareQuote
			}
			j++
		}
		switch {
		case j == len(b):
			if !atEOF {
				return 0, "", errNeedMore
			}
			e := j
			if e > fs && b[e-1] == '\r' {
				e-- // a trailing \r before EOF is dropped
			}
			c.fields = append(c.fields, fieldSpan{fs, e, false})
			return j, "", nil
		case b[j] == ',':
			c.fields = append(c.fields, fieldSpan{fs, j, false})
			i = j + 1
		default: // '\n'
			if j > fs && b[j-1] == '\r' {
				c.fields = append(c.fields, fieldSpan{fs, j - 1, false})
				return j + 1, "\r\n", nil
			}
			c.fields = append(c.fields, fieldSpan{fs, j, false})
			return j + 1, "\n", nil
		}
	}
}

// unquote appends the value of field f of rec.
func unquoteField(dst, rec []byte, f fieldSpan) []byte {
	raw := rec[f.start:f.end]
	if !f.quoted {
		return append(dst, raw...)
	}
	raw = raw[1 : len(raw)-1]
	for i := 0; i < len(raw); i++ {
		switch {
		case raw[i] == '"': // always doubled inside a valid quoted field
			dst = append(dst, '"')
			i++
		case raw[i] == '\r' && i+1 < len(raw) && raw[i+1] == '\n':
			// encoding/csv normalises \r\n to \n
		default:
			dst = append(dst, raw[i])
		}
	}
	return dst
}

// appendField appends v as a CSV field, quoted when it must be or when the
// source field was quoted (Salesforce quotes every field; keep its style).
func appendField(dst, v []byte, quote bool) []byte {
	need := quote
	for _, ch := range v {
		if ch == ',' || ch == '"' || ch == '\r' || ch == '\n' {
			need = true
			break
		}
	}
	if !need {
		return append(dst, v...)
	}
	dst = append(dst, '"')
	for _, ch := range v {
		if ch == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, ch)
	}
	return append(dst, '"')
}

// resize returns s with n zero elements, in its own array when it has room.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func (c *csvRewriter) compileHeader(rec []byte) {
	n := len(c.fields)
	c.rules = resize(c.rules, n)
	c.names = resize(c.names, n)
	c.detect = resize(c.detect, n)
	c.used = resize(c.used, n)
	obj := c.opts.Object
	for i, f := range c.fields {
		name := string(unquoteField(nil, rec, f))
		name = strings.TrimPrefix(name, "\ufeff")
		c.rules[i] = columnRule(c.opts.Rules, &c.scr, obj, []byte(name))
		c.detect[i] = c.det != 0 && !idLike([]byte(name)) && !strings.HasPrefix(name, "sf__")
		o := obj
		if o == "" || strings.Contains(name, ".") {
			o = "*"
		}
		c.names[i] = o + "." + name
	}
	c.verbatim = c.det == 0
	for _, r := range c.rules {
		if r != StrategyNone {
			c.verbatim = false
		}
	}
}

// write appends one record, masking data rows and dropping removed columns.
func (c *csvRewriter) write(rec []byte, data bool, nl string) {
	if c.verbatim && nl != "" {
		c.out.b = append(c.out.b, rec...) // with its line end and any empty lines before it
		return
	}
	start := len(c.out.b)
	written := 0
	for i, f := range c.fields {
		s := c.rules[i]
		if s == StrategyRemove {
			if data && f.end > f.start {
				c.note(i)
			}
			continue
		}
		if written > 0 {
			c.out.b = append(c.out.b, ',')
		}
		written++
		raw := rec[f.start:f.end]
		empty := len(raw) == 0 || (f.quoted && len(raw) == 2)
		switch {
		case !data || empty || (s == StrategyNone && !(c.det != 0 && c.detect[i])):
			c.out.b = append(c.out.b, raw...)
		case s == StrategyNull:
			c.note(i)
		case s != StrategyNone:
			c.note(i)
			c.val = unquoteField(c.val[:0], rec, f)
			c.tmp = c.m.apply(c.tmp[:0], s, c.val)
			c.out.b = appendField(c.out.b, c.tmp, f.quoted)
		default: // detectors
			c.val = unquoteField(c.val[:0], rec, f)
			c.spans = detect(c.spans[:0], c.val, c.det)
			if len(c.spans) == 0 {
				c.out.b = append(c.out.b, raw...)
				break
			}
			c.note(i)
			c.tmp = appendDetected(c.tmp[:0], c.val, c.spans)
			c.out.b = appendField(c.out.b, c.tmp, f.quoted)
		}
	}
	if len(c.out.b) == start {
		c.out.b = append(c.out.b, `""`...) // an empty line would be skipped by readers
	}
	if nl == "" || c.out.b[len(c.out.b)-1] == '\r' {
		// A field ending in \r followed by \n would read as a \r\n line end.
		nl = "\n"
		if c.out.b[len(c.out.b)-1] == '\r' {
			nl = "\r\n"
		}
	}
	c.out.b = append(c.out.b, nl...)
}

func (c *csvRewriter) note(i int) {
	if c.used[i] {
		return
	}
	c.used[i] = true
	if c.masked == nil {
		c.masked = make(map[string]struct{})
	}
	c.masked[c.names[i]] = struct{}{}
}

// zipRewriter handles a ZIP holding CSV files (Zoho bulk read results).
// archive/zip needs random access, so the body is spooled to a temporary
// file (capped by SpoolLimit, deleted at the end) and never held in memory;
// the rewritten CSVs stream through a new zip.Writer.
type zipRewriter struct {
	src   io.Reader
	out   *outBuf
	opts  Options
	det   uint8
	tmp   *os.File
	zr    *zip.Reader
	zw    *zip.Writer
	next  int
	cur   *csvRewriter
	curIn io.ReadCloser
	curW  io.Writer
	inner outBuf
	done  bool

	records   int
	truncated bool
	masked    map[string]struct{}
}

func newZipRewriter(src io.Reader, out *outBuf, opts Options, det uint8) *zipRewriter {
	if opts.SpoolLimit <= 0 {
		opts.SpoolLimit = DefaultSpoolLimit
	}
	return &zipRewriter{src: src, out: out, opts: opts, det: det}
}

func (z *zipRewriter) step() error {
	if z.done {
		return io.EOF
	}
	if z.zr == nil {
		if err := z.spool(); err != nil {
			return err
		}
	}
	if z.cur == nil {
		if z.next >= len(z.zr.File) {
			z.done = true
			if err := z.zw.Close(); err != nil {
				return err
			}
			z.cleanup()
			return io.EOF
		}
		f := z.zr.File[z.next]
		z.next++
		if f.FileInfo().IsDir() {
			return nil
		}
		if !strings.HasSuffix(strings.ToLower(f.Name), ".csv") {
			return fmt.Errorf("%w: zip entry %q is not a CSV file", ErrUnsupportedFormat, f.Name)
		}
		in, err := f.Open()
		if err != nil {
			return malformed(err)
		}
		w, err := z.zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: f.Modified})
		if err != nil {
			in.Close()
			return err
		}
		opts := z.opts
		if opts.MaxRecords > 0 {
			opts.MaxRecords = max(opts.MaxRecords-z.records, 0)
			if opts.MaxRecords == 0 {
				opts.MaxRecords = -1 // header only
			}
		}
		z.cur, z.curIn, z.curW = newCSVRewriter(in, &z.inner, opts, z.det), in, w
		if opts.MaxRecords < 0 {
			z.cur.opts.MaxRecords = 0
			z.cur.limitZero = true
		}
	}
	err := z.cur.step()
	if len(z.inner.b) > 0 {
		if _, werr := z.curW.Write(z.inner.b); werr != nil {
			return werr
		}
		z.inner.b = z.inner.b[:0]
	}
	if err == io.EOF {
		z.absorb()
		z.curIn.Close()
		z.cur.release()
		z.cur = nil
		return nil
	}
	if err != nil {
		z.absorb()
	}
	return err
}

func (z *zipRewriter) absorb() {
	var st Stats
	z.cur.stats(&st)
	z.records += st.Records
	z.truncated = z.truncated || st.Truncated
	for _, m := range st.Masked {
		if z.masked == nil {
			z.masked = make(map[string]struct{})
		}
		z.masked[m] = struct{}{}
	}
}

func (z *zipRewriter) spool() error {
	f, err := os.CreateTemp(z.opts.SpoolDir, "crmgw-zip-*")
	if err != nil {
		return fmt.Errorf("masking: spooling zip: %w", err)
	}
	z.tmp = f
	n, err := io.Copy(f, io.LimitReader(z.src, z.opts.SpoolLimit+1))
	if err != nil {
		return fmt.Errorf("masking: spooling zip: %w", err)
	}
	if n > z.opts.SpoolLimit {
		return ErrTooLarge
	}
	z.zr, err = zip.NewReader(f, n)
	if err != nil {
		return malformed(err)
	}
	z.zw = zip.NewWriter(z.out)
	return nil
}

func (z *zipRewriter) cleanup() {
	if z.curIn != nil {
		z.curIn.Close()
		z.curIn = nil
	}
	if z.tmp != nil {
		z.tmp.Close()
		os.Remove(z.tmp.Name())
		z.tmp = nil
	}
}

func (z *zipRewriter) release() { z.cleanup() }

func (z *zipRewriter) stats(st *Stats) {
	st.Records, st.Truncated = z.records, z.truncated
	st.Masked = st.Masked[:0]
	for k := range z.masked {
		st.Masked = append(st.Masked, k)
	}
	if z.cur != nil {
		var cs Stats
		z.cur.stats(&cs)
		st.Records += cs.Records
		st.Truncated = st.Truncated || cs.Truncated
		st.Masked = append(st.Masked, cs.Masked...)
	}
}

// drained reports whether every byte read from the source was consumed.
func (c *csvRewriter) drained() bool { return c.r >= c.w && !c.eof }
