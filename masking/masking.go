// Package masking rewrites CRM response bodies while they stream: it masks
// fields by "Object.Field" rules (the object being the type of the record a
// field sits in, at any depth), runs optional content detectors on free text,
// counts the records that leave, cuts the body at a record boundary when a
// cap is reached, and captures page tokens for the proxy. JSON (Salesforce
// and Zoho shapes), CSV (Bulk API results) and ZIP-wrapped CSV (Zoho bulk
// read) are rewritten without holding the body in memory; the output is
// always complete, valid JSON/CSV, or cut off with an error (never unmasked).
package masking

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

// Errors a Reader or DecodeBody may return; match them with errors.Is.
var (
	// ErrUnsupportedEncoding is returned by DecodeBody/EncodeBody for a
	// content encoding they cannot handle (br, zstd, unknown or stacked unknown).
	ErrUnsupportedEncoding = errors.New("masking: unsupported content encoding")
	// ErrMalformed means the upstream body is not valid JSON/CSV/ZIP; the
	// output stops before the bad part.
	ErrMalformed = errors.New("masking: malformed upstream body")
	// ErrTooLarge means a ZIP body exceeded Options.SpoolLimit.
	ErrTooLarge = errors.New("masking: body exceeds spool limit")
	// ErrUnsupportedFormat means the body (or a ZIP entry) is in a format
	// the rewriter cannot mask; it is refused, never passed through.
	ErrUnsupportedFormat = errors.New("masking: unsupported body format")
)

// DefaultSpoolLimit caps the temporary file a ZIP body is spooled to.
const DefaultSpoolLimit = 1 << 30

// Options say what a body is and how to rewrite it.
type Options struct {
	// Format is bodyshape.JSON (the default, also for ""), CSV, ZipCSV or
	// XML (Salesforce Bulk API 1.0 results and job answers, Kind Records
	// or Job).
	Format bodyshape.Format
	// Vendor is "salesforce", "zoho" or "generic" (treated like zoho: records
	// under data[] or a top-level array).
	Vendor string
	// Kind is the response shape the classification names
	// (crm.ResponseShape.Kind): GraphQL, Report, UIAPI and ListView bodies
	// are walked each their own way, Records and Rows of a generic vendor
	// at the Records and Rows pointers; any other kind (or none) where
	// the vendor keeps records.
	Kind bodyshape.Kind
	// Object is the object of records that carry no type of their own (Zoho
	// module, CSV object, list view object).
	Object string
	// Rules are the compiled mask rules; nil masks nothing.
	Rules *Rules
	// Plan, when set, says which field each response key carries (aliases,
	// aggregate keys, GraphQL aliases) and which keys are unattributable
	// (masked strictly): plan.go, docs/masking.md "Masking by plan".
	Plan *Plan
	// MaxRecords caps the top-level records in the output; 0 = no cap;
	// negative: no record may leave (the body keeps its envelope or CSV
	// header and says it is done).
	MaxRecords int
	// HMACKey keys the hash strategy; without it hash redacts.
	HMACKey []byte
	// Detectors enables content detectors: "email", "mobile_cn", "e164",
	// "cn_id", "bank_card". Unknown names make the Reader fail at once.
	Detectors []string
	// Capture lists JSON pointers ("/nextRecordsUrl", "/info/next_page_token")
	// whose scalar values are recorded in Stats.Captured.
	Capture []string
	// SpoolDir is where a zip_csv body is spooled ("" = os.TempDir()).
	SpoolDir string
	// SpoolLimit caps the spooled ZIP (default DefaultSpoolLimit).
	SpoolLimit int64
	// Records and Rows are the JSON pointers of a profile CRM's records
	// (Vendor "generic", Kind "records" or "rows"); Columns name the
	// positional columns of rows. See rows.go and docs/profiles.md.
	Records, Rows string
	Columns       []string
}

// Stats describe what a Reader did. They are complete once Read returned
// io.EOF or an error, or after Close.
type Stats struct {
	// Records is the number of top-level records written to the output:
	// records of a query/search/collection/composite body, GraphQL edges,
	// report rows, CSV data rows. Nested relationship and child records are
	// not counted separately.
	Records int
	// Truncated is true when MaxRecords cut records off.
	Truncated bool
	// Masked lists "Object.Field" names actually masked (rule or detector),
	// sorted and unique; "*" stands for a record whose type was unknown.
	// Once the Reader is done the list may be shared with other Readers'
	// Stats: read it, do not modify it.
	Masked []string
	// Captured maps each Options.Capture pointer found to its value.
	Captured map[string]string
	// BytesIn counts bytes read from the source (after content decoding);
	// BytesOut counts bytes returned to the caller.
	BytesIn, BytesOut int64
	// Err is the error that ended the stream early (nil on success).
	Err error
}

// outBuf is the rewritten bytes waiting for the caller.
type outBuf struct{ b []byte }

func (o *outBuf) Write(p []byte) (int, error) { o.b = append(o.b, p...); return len(p), nil }

// engine produces rewritten output step by step into its outBuf; step
// returns io.EOF when the body is complete.
type engine interface {
	step() error
	stats(*Stats)
	release()
}

// holder is an engine that may hold back the tail of its output until it
// knows whether that part may leave (see jsonRewriter.avail).
type holder interface {
	avail() int
	shift(n int)
}

// drainer is an engine that can tell whether its next step would have to
// read from the source.
type drainer interface{ drained() bool }

// closedOut stands in for a closed Reader's output: empty, never written
// (Read returns the Reader's error before filling it).
var closedOut outBuf

// outPool recycles output buffers between Readers.
var outPool = sync.Pool{New: func() any { return &outBuf{b: make([]byte, 0, 2*chunk)} }}

// chunk is how much output a Read prepares before returning. A proxy
// writes each Read to its client as one chunk of a chunked body, which
// costs two write system calls (net/http's 4 KiB connection buffer takes
// the chunk header and the first bytes): 64 KiB chunks, and a scanner
// buffer as large, halve the calls of 32 KiB ones, a visible share of
// crmgw's CPU per 200-record query; 128 KiB would buy little more for twice
// the memory per response in flight.
const chunk = 64 << 10

// Reader is an io.ReadCloser producing the rewritten body. It pulls from the
// source only as fast as the caller reads (no goroutine), so memory stays
// bounded by one chunk plus the largest single JSON token or CSV row.
type Reader struct {
	src    countingReader // a value: one allocation less per body
	closer io.Closer
	eng    engine
	// The engine's optional faces, asserted once: Read consults them per
	// token, and an interface assertion per token shows in profiles.
	holder  holder
	drainer drainer
	// json is the engine when it is the JSON rewriter: its per-token loop
	// calls it directly, so avail and drained inline (see fillJSON).
	json *jsonRewriter
	// idle: the last Read stopped because the next step needs input (or
	// the body ended). Atomic: a proxy may ask from its flush goroutine.
	idle atomic.Bool
	// ended: the body was read to its end, failed or was closed (set
	// before the Read that returns the end). Atomic, like idle.
	ended atomic.Bool
	out   *outBuf
	off   int
	err   error
	st    Stats
	final bool
}

var _ io.ReadCloser = (*Reader)(nil)

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// NewReader wraps src (already content-decoded, see DecodeBody) in a
// rewriter described by opts. Configuration problems (unknown format or
// detector) surface as the first Read's error.
func NewReader(src io.ReadCloser, opts Options) *Reader {
	r := new(Reader)
	r.Init(src, opts)
	return r
}

// Init makes r, a Reader never used before (its zero value), what
// NewReader returns. A caller that keeps per-request state in one struct
// may hold the Reader in it by value: a body then costs no allocation of
// the package's own.
func (r *Reader) Init(src io.ReadCloser, opts Options) {
	r.src, r.closer, r.out = countingReader{r: src}, src, outPool.Get().(*outBuf)
	det, err := parseDetectors(opts.Detectors)
	if err != nil {
		r.fail(err)
		return
	}
	if opts.Plan != nil {
		opts.Rules = opts.Rules.withPlan(opts.Plan)
	}
	switch opts.Format {
	case "", bodyshape.JSON:
		if opts.Vendor == "generic" {
			r.eng = newPointerRewriter(&r.src, r.out, opts, det)
			break
		}
		r.eng = newJSONRewriter(&r.src, r.out, opts, det)
	case bodyshape.CSV:
		r.eng = newCSVRewriter(&r.src, r.out, opts, det)
	case bodyshape.ZipCSV:
		r.eng = newZipRewriter(&r.src, r.out, opts, det)
	case bodyshape.XML:
		r.eng = newXMLRewriter(&r.src, r.out, opts, det) // xml.go: Bulk API 1.0
	default:
		r.fail(fmt.Errorf("%w: %q", ErrUnsupportedFormat, opts.Format))
	}
	r.holder, _ = r.eng.(holder)
	r.drainer, _ = r.eng.(drainer)
	r.json, _ = r.eng.(*jsonRewriter)
}

func (r *Reader) fail(err error) {
	if r.err == nil {
		r.err = err
		r.st.Err = err
	}
}

// Read returns rewritten bytes. It fills p for as long as the rewriter has
// input in hand: a proxy writing each Read as one chunk of its response
// makes two write system calls per chunk (net/http's 4 KiB connection
// buffer takes the chunk header and the first bytes), so a caller's buffer
// larger than chunk saves calls without the Reader holding more output.
// It returns what it has as soon as the next output would need a read from
// the source (Idle is then true) or the body ended (the end or error comes
// with the next Read).
func (r *Reader) Read(p []byte) (int, error) {
	n := 0
	for {
		for r.off >= r.avail() {
			if n > 0 && (r.err != nil || r.idle.Load()) {
				r.st.BytesOut += int64(n)
				return n, nil
			}
			if r.err != nil {
				r.finish()
				return 0, r.err
			}
			if r.off > 0 {
				// Keep held-back bytes (if any), drop what was read.
				k := copy(r.out.b, r.out.b[r.off:])
				r.out.b = r.out.b[:k]
				if r.holder != nil {
					r.holder.shift(r.off)
				}
				r.off = 0
			}
			r.idle.Store(false)
			if r.json != nil {
				r.fillJSON()
			} else {
				r.fill()
			}
		}
		k := copy(p[n:], r.out.b[r.off:r.avail()])
		r.off += k
		if n += k; n == len(p) || r.idle.Load() {
			r.st.BytesOut += int64(n)
			return n, nil
		}
	}
}

// fill runs the engine until a chunk of output is ready, the engine would
// block on the source with some output in hand (a slow upstream's records
// then reach the caller as they arrive instead of waiting for a full
// chunk), or the body ends.
func (r *Reader) fill() {
	for {
		a := r.avail()
		if a >= chunk {
			return
		}
		if a > r.off && r.drainer != nil && r.drainer.drained() {
			r.idle.Store(true)
			return
		}
		if err := r.eng.step(); err != nil {
			r.stop(err)
			return
		}
	}
}

// fillJSON is fill for the JSON rewriter with direct calls instead of the
// engine interfaces: it runs once per token, and the interface calls would
// be a tenth of the rewriting time.
func (r *Reader) fillJSON() {
	w := r.json
	for {
		a := w.avail()
		if a >= chunk {
			return
		}
		if a > r.off && w.drained() {
			r.idle.Store(true)
			return
		}
		if err := w.step(); err != nil {
			r.stop(err)
			return
		}
	}
}

// stop records the end of the body (io.EOF) or the engine's error.
func (r *Reader) stop(err error) {
	r.idle.Store(true)
	r.ended.Store(true)
	if err == io.EOF {
		r.err = io.EOF
	} else {
		r.fail(err)
	}
}

// avail is how much of the output buffer may be read: all of it once the
// stream ended (on an error, held bytes are complete masked data too).
func (r *Reader) avail() int {
	if r.err == nil && r.holder != nil && r.eng != nil {
		return r.holder.avail()
	}
	return len(r.out.b)
}

// Idle reports whether the bytes the last Read returned were all the
// rewriter could produce without reading the source again. A proxy flushes
// to its client then (the next read may wait on a slow upstream) and may
// skip flushing otherwise, saving a write system call per chunk.
// It is safe to call from another goroutine than the one reading.
func (r *Reader) Idle() bool { return r.idle.Load() }

// Complete reports whether the body was read to its end without an error.
func (r *Reader) Complete() bool { return r.err == io.EOF }

// Ended reports whether the rewriter has no more output to make: the body
// ended, failed or was closed. It is safe to call from another goroutine
// than the one reading; the remaining output, if any, is still to be read.
func (r *Reader) Ended() bool { return r.ended.Load() }

// finish gathers the stats once and releases pooled state.
func (r *Reader) finish() {
	if r.final {
		return
	}
	r.final = true
	if r.eng != nil {
		scratch := scratchPool.Get().(*[]string)
		r.st.Masked = (*scratch)[:0]
		r.eng.stats(&r.st)
		sort.Strings(r.st.Masked)
		*scratch = slices.Compact(r.st.Masked)
		r.st.Masked = lists.intern(*scratch)
		if cap(*scratch) <= maxScratch { // a body with a flood of masked names does not pin its list
			scratchPool.Put(scratch)
		}
		r.eng.release()
		r.eng = nil
	}
	r.st.BytesIn = r.src.n
}

// Close closes the source and releases the rewriter; Stats are final after it.
func (r *Reader) Close() error {
	r.ended.Store(true)
	if r.err == nil {
		r.err = errors.New("masking: reader closed")
	}
	r.finish()
	if r.out != nil {
		if cap(r.out.b) <= 4*chunk {
			r.out.b = r.out.b[:0]
			outPool.Put(r.out)
		}
		r.out, r.off = &closedOut, 0
	}
	return r.closer.Close()
}

// Stats returns what the Reader did so far; complete after io.EOF, an error
// or Close.
func (r *Reader) Stats() Stats {
	st := r.st
	if !r.final && r.eng != nil {
		r.eng.stats(&st)
		st.BytesIn = r.src.n
		sort.Strings(st.Masked)
		st.Masked = slices.Compact(st.Masked)
	}
	return st
}

// names interns the "Object.Field" names bodies mask, so that reporting
// them (Stats.Masked, once per body) does not allocate a string per name and
// body. A policy names a bounded set of fields; past maxNames (names seen
// only in data, such as detector hits under unknown keys) new names are
// allocated as usual instead of kept.
var names = struct {
	sync.Mutex
	m map[string]string
}{m: make(map[string]string)}

const maxNames = 4096

func intern(b []byte) string {
	names.Lock()
	defer names.Unlock()
	if s, ok := names.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(names.m) < maxNames {
		names.m[s] = s
	}
	return s
}

// scratchPool holds the slices finish gathers masked names in; one grown
// past maxScratch names is left to the collector.
var scratchPool = sync.Pool{New: func() any { return new([]string) }}

const maxScratch = 1024

// lists interns the final Stats.Masked lists: the bodies of one policy mask
// the same few fields again and again, and a shared list saves the slice a
// body would otherwise allocate for them. Past maxLists distinct lists, new
// ones are copied and not kept. A list is found by a hash of its names and
// taken only when it is equal.
var lists = listIntern{seed: maphash.MakeSeed(), m: make(map[uint64][]string)}

const maxLists = 1024

type listIntern struct {
	sync.Mutex
	seed maphash.Seed
	m    map[uint64][]string
}

// intern returns a list equal to names that the caller may keep (nil for
// none): a shared one when there is one, else a copy of names.
func (l *listIntern) intern(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	var h maphash.Hash
	h.SetSeed(l.seed)
	for _, n := range names {
		h.WriteString(n)
		h.WriteByte(0) // {"ab"} and {"a", "b"} hash apart (and a list found is compared anyway)
	}
	k := h.Sum64()
	l.Lock()
	defer l.Unlock()
	kept, taken := l.m[k]
	if taken && slices.Equal(kept, names) {
		return kept
	}
	s := slices.Clone(names)
	if !taken && len(l.m) < maxLists {
		l.m[k] = s
	}
	return s
}

// malformed wraps a syntax or I/O problem of the upstream body.
func malformed(err error) error {
	if errors.Is(err, ErrMalformed) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// Compile-time interface guards.
var (
	_ engine    = (*jsonRewriter)(nil)
	_ engine    = (*csvRewriter)(nil)
	_ engine    = (*zipRewriter)(nil)
	_ engine    = (*xmlRewriter)(nil)
	_ io.Writer = (*outBuf)(nil)
)
