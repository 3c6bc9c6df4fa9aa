package samplecrm

import (
	"bufio"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// This file holds the hand-written JSON and CSV encoding of the hot path:
// records are appended to a reused byte slice field by field, without
// reflection.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendValue appends a stored field value as JSON: null for empty, bare for
// numbers and booleans, a string otherwise.
func appendValue(b []byte, k kind, v string) []byte {
	if v == "" {
		return append(b, "null"...)
	}
	switch k {
	case kNumber, kInt, kBool:
		return append(b, v...)
	}
	return appendString(b, v)
}

// appendCSV appends v as a quoted CSV cell (Bulk API 2.0 quotes every cell).
func appendCSV(b []byte, v string) []byte {
	b = append(b, '"')
	if strings.IndexByte(v, '"') < 0 {
		b = append(b, v...)
	} else {
		for i := 0; i < len(v); i++ {
			if v[i] == '"' {
				b = append(b, '"')
			}
			b = append(b, v[i])
		}
	}
	return append(b, '"')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// flushScratch writes the scratch buffer to bw and empties it.
func flushScratch(bw *bufio.Writer, b []byte) ([]byte, error) {
	_, err := bw.Write(b)
	return b[:0], err
}

// stream is a pooled buffered writer plus a scratch slice for one response.
type stream struct {
	bw *bufio.Writer
	b  []byte
}

var streamPool = sync.Pool{New: func() any {
	return &stream{bw: bufio.NewWriterSize(nil, 32<<10), b: make([]byte, 0, 20<<10)}
}}

func getStream(w io.Writer) *stream {
	st := streamPool.Get().(*stream)
	st.bw.Reset(w)
	st.b = st.b[:0]
	return st
}

// put returns the stream to the pool (dropping oversized scratch buffers).
func (st *stream) put() {
	st.bw.Reset(nil)
	if cap(st.b) > 256<<10 {
		st.b = make([]byte, 0, 20<<10)
	}
	streamPool.Put(st)
}
