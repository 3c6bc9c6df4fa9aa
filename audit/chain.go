package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// GenesisPrev is chain.prev of the first event of a chain.
const GenesisPrev = "0000000000000000000000000000000000000000000000000000000000000000"

// chainHash is the hex SHA-256 over the 64 ASCII hex characters of prev
// followed by the RFC 8785 (JCS) canonical form of the event without
// chain.hash. docs/audit.md spells this out for SOCs re-implementing it.
func chainHash(prev string, canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(canonical)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// canonicalize returns the JCS form of a JSON value (sorted keys, no
// whitespace, minimal string escapes, ES6 number formatting). Duplicate
// names and invalid UTF-8 are errors.
func canonicalize(b []byte) ([]byte, error) {
	v := jsontext.Value(bytes.Clone(b))
	if err := v.Canonicalize(); err != nil {
		return nil, err
	}
	return v, nil
}

// seal computes ev's chain.hash (ev.Chain.Seq and Prev set, Hash empty)
// and returns its JSON line without newline: the bytes json.Marshal writes
// for the sealed event, the hash over its canonical form without the hash.
func seal(ev *Event) ([]byte, error) {
	ev.Chain.Hash = ""
	if !fastEncodable(ev) {
		return sealLibrary(ev)
	}
	// prev and the canonical form are hashed in one piece from a pooled
	// buffer: the writer goroutine seals every request's event.
	sb := sealBuf.Get().(*[]byte)
	canon := appendCanonical(append((*sb)[:0], ev.Chain.Prev...), ev)
	sum := sha256.Sum256(canon)
	ev.Chain.Hash = hex.EncodeToString(sum[:])
	if cap(canon) <= 64<<10 {
		*sb = canon
		sealBuf.Put(sb)
	}
	return appendLine(make([]byte, 0, len(canon)+len(ev.Chain.Hash)+64), ev), nil
}

var sealBuf = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// sealLibrary is seal through encoding/json and jsontext: the reference the
// direct encoders are tested against, and the way for events they do not
// take, whose errors it reports.
func sealLibrary(ev *Event) ([]byte, error) {
	ev.Chain.Hash = ""
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	canon, err := canonicalize(b)
	if err != nil {
		return nil, err
	}
	ev.Chain.Hash = chainHash(ev.Chain.Prev, canon)
	// Chain is the last field and Prev its last member, so the marshalled
	// event ends with `"}}`: put the hash in before the two closing braces.
	if !bytes.HasSuffix(b, []byte(`"}}`)) {
		return nil, errors.New("audit: event JSON does not end with the chain object")
	}
	out := make([]byte, 0, len(b)+80)
	out = append(out, b[:len(b)-2]...)
	out = append(out, `,"hash":"`...)
	out = append(out, ev.Chain.Hash...)
	out = append(out, `"}}`...)
	return out, nil
}

// lineChain is what verification reads from one line.
type lineChain struct {
	seq        int64
	prev, hash string
	computed   string // the hash re-derived from the line
}

// readLineChain parses one line, removes chain.hash, re-serialises the rest
// canonically and recomputes the hash.
func readLineChain(line []byte) (lineChain, error) {
	var lc lineChain
	canon, err := canonicalize(line)
	if err != nil {
		return lc, fmt.Errorf("not valid JSON: %v", err)
	}
	var top map[string]jsontext.Value
	if err := json.Unmarshal(canon, &top); err != nil {
		return lc, fmt.Errorf("not a JSON object: %v", err)
	}
	rawChain, ok := top["chain"]
	if !ok {
		return lc, errors.New("no chain object")
	}
	var ch map[string]jsontext.Value
	if err := json.Unmarshal(rawChain, &ch); err != nil {
		return lc, errors.New("chain is not an object")
	}
	if err := json.Unmarshal(ch["seq"], &lc.seq); err != nil || lc.seq < 1 {
		return lc, errors.New("chain.seq is not a positive integer")
	}
	if err := json.Unmarshal(ch["prev"], &lc.prev); err != nil || !isHexHash(lc.prev) {
		return lc, errors.New("chain.prev is not a 64-character hex hash")
	}
	if err := json.Unmarshal(ch["hash"], &lc.hash); err != nil || !isHexHash(lc.hash) {
		return lc, errors.New("chain.hash is not a 64-character hex hash")
	}
	delete(ch, "hash")
	if top["chain"], err = json.Marshal(ch); err != nil {
		return lc, err
	}
	rest, err := json.Marshal(top)
	if err != nil {
		return lc, err
	}
	if rest, err = canonicalize(rest); err != nil {
		return lc, err
	}
	lc.computed = chainHash(lc.prev, rest)
	return lc, nil
}

func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// VerifyReport is the outcome of a verification.
type VerifyReport struct {
	// Files is how many files were read (VerifyFiles).
	Files int
	// Events is how many lines verified before the first bad one.
	Events int
	// FirstBadLine is the 1-based line of the first bad line (0: intact);
	// with several files, BadFile names the file it is in.
	FirstBadLine int
	BadFile      string
	// Reason says what is wrong with FirstBadLine.
	Reason string
	// FirstSeq and FirstPrev are where the chain started. FirstSeq > 1
	// means the first file continues an earlier (rotated) file that was not
	// checked.
	FirstSeq  int64
	FirstPrev string
	// LastSeq and LastHash are the last verified link: keep LastHash outside
	// the log (or verify the next rotated file from it).
	LastSeq  int64
	LastHash string
}

// OK reports whether the chain is intact.
func (r VerifyReport) OK() bool { return r.FirstBadLine == 0 }

// String is the one-line verdict `crmgw audit verify` prints.
func (r VerifyReport) String() string {
	if !r.OK() {
		where := fmt.Sprintf("line %d", r.FirstBadLine)
		if r.BadFile != "" {
			where = r.BadFile + ": " + where
		}
		return fmt.Sprintf("%s: %s (%d events verified before it)", where, r.Reason, r.Events)
	}
	s := fmt.Sprintf("intact: %d events", r.Events)
	if r.Events > 0 {
		s += fmt.Sprintf(", seq %d..%d, last hash %s", r.FirstSeq, r.LastSeq, r.LastHash)
		if r.FirstSeq > 1 {
			s += fmt.Sprintf(" (continues a chain at prev %s)", r.FirstPrev)
		}
	}
	return s
}

// VerifyOption adjusts a verification.
type VerifyOption func(*verifier)

// WithStart makes the first event have to continue the chain at seq with
// chain.prev == prev (the LastSeq+1 and LastHash of the preceding file).
func WithStart(seq int64, prev string) VerifyOption {
	return func(v *verifier) { v.expectSeq, v.prev, v.known = seq, prev, true }
}

// RequireGenesis makes a chain that does not start at seq 1 with the zero
// prev an error (by default such a file is taken as the continuation of a
// rotated file and its start is reported in FirstSeq/FirstPrev).
func RequireGenesis() VerifyOption {
	return WithStart(1, GenesisPrev)
}

type verifier struct {
	known     bool // expectSeq/prev are set
	expectSeq int64
	prev      string
	// the previous line, to recognise an inserted line
	lastPrev string
	rep      VerifyReport
}

// Verify reads JSON lines from r and recomputes the chain. It returns an
// error only when r cannot be read; a broken chain is reported in the
// VerifyReport.
func Verify(r io.Reader, opts ...VerifyOption) (VerifyReport, error) {
	v := &verifier{}
	for _, o := range opts {
		o(v)
	}
	err := v.run(r, "")
	return v.rep, err
}

// VerifyFile verifies one file (see Verify).
func VerifyFile(path string, opts ...VerifyOption) (VerifyReport, error) {
	return VerifyFiles([]string{path}, opts...)
}

// VerifyFiles verifies files in order as one chain: each file must continue
// from the last hash of the one before (rotation keeps the chain).
func VerifyFiles(paths []string, opts ...VerifyOption) (VerifyReport, error) {
	v := &verifier{}
	for _, o := range opts {
		o(v)
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return v.rep, fmt.Errorf("audit: verify: %w", err)
		}
		v.rep.Files++
		err = v.run(f, p)
		f.Close()
		if err != nil {
			return v.rep, fmt.Errorf("audit: verify %s: %w", p, err)
		}
		if !v.rep.OK() {
			break
		}
	}
	return v.rep, nil
}

func (v *verifier) run(r io.Reader, name string) error {
	br := bufio.NewReaderSize(r, 64<<10)
	lineNo := 0
	for {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			return nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		lineNo++
		torn := err == io.EOF // no newline: the writer stopped mid-line
		if reason, back := v.check(bytes.TrimRight(line, "\r\n"), torn); reason != "" {
			v.rep.FirstBadLine, v.rep.BadFile, v.rep.Reason = lineNo-back, name, reason
			return nil
		}
		if torn {
			return nil
		}
	}
}

// check verifies one line against the chain so far and returns why it is
// bad, or "", and how many lines back the bad one is (1: the line before).
func (v *verifier) check(line []byte, torn bool) (string, int) {
	lc, err := readLineChain(line)
	if err != nil {
		if torn {
			return "incomplete last line (write interrupted or file truncated): " + err.Error(), 0
		}
		return "malformed line: " + err.Error(), 0
	}
	if lc.computed != lc.hash {
		return "hash mismatch: the line was edited (chain.hash does not match its content)", 0
	}
	if !v.known {
		// First line and nothing expected: start from it.
		v.known, v.expectSeq, v.prev = true, lc.seq, lc.prev
		if lc.seq == 1 && lc.prev != GenesisPrev {
			return "chain.seq is 1 but chain.prev is not the genesis value (64 zeros)", 0
		}
	}
	if v.rep.Events == 0 && v.rep.FirstSeq == 0 {
		v.rep.FirstSeq, v.rep.FirstPrev = lc.seq, lc.prev
	}
	switch {
	case lc.seq != v.expectSeq:
		if v.rep.Events > 0 && lc.seq == v.expectSeq-1 && lc.prev == v.lastPrev {
			// This line and the one before claim the same place and the
			// same predecessor, and this one's hash is sound: the one
			// before it was slipped in (forged) ahead of it.
			v.rep.Events--
			v.rep.LastSeq, v.rep.LastHash = lc.seq-1, lc.prev
			return fmt.Sprintf("inserted line: the next line also claims seq %d after the same predecessor; this line links past it", lc.seq), 1
		}
		if lc.seq > v.expectSeq {
			return fmt.Sprintf("seq gap: expected seq %d, got %d (lines deleted or reordered)", v.expectSeq, lc.seq), 0
		}
		return fmt.Sprintf("seq out of order: expected seq %d, got %d (lines inserted, duplicated or reordered)", v.expectSeq, lc.seq), 0
	case lc.prev != v.prev:
		return fmt.Sprintf("prev mismatch at seq %d: chain.prev is not the hash of the preceding event (line deleted, inserted or replaced)", lc.seq), 0
	}
	v.lastPrev = lc.prev
	v.prev, v.expectSeq = lc.hash, lc.seq+1
	v.rep.Events++
	v.rep.LastSeq, v.rep.LastHash = lc.seq, lc.hash
	return "", 0
}

// lastChainOf returns the chain of the last complete line of data (a file's
// tail), or ok=false if there is none.
func lastChainOf(data []byte) (seq int64, hash string, ok bool) {
	data = bytes.TrimRight(data, "\n")
	for len(data) > 0 {
		i := bytes.LastIndexByte(data, '\n')
		line := data[i+1:]
		if lc, err := readLineChain(line); err == nil && lc.computed == lc.hash {
			return lc.seq, lc.hash, true
		}
		if i < 0 {
			break
		}
		data = data[:i]
	}
	return 0, "", false
}
