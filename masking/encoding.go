package masking

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DecodeBody undoes a Content-Encoding so the body can be masked: "" and
// identity pass through, gzip, x-gzip and deflate (zlib-wrapped, as HTTP
// defines it, or raw DEFLATE, as some servers send) are decoded. A comma-separated
// list is undone right to left. Anything else (br, zstd, compress, unknown)
// is ErrUnsupportedEncoding: a body crmgw cannot read is never passed
// through unmasked. Closing the result closes body.
func DecodeBody(contentEncoding string, body io.ReadCloser) (io.ReadCloser, error) {
	codings := strings.Split(contentEncoding, ",")
	for i := range codings {
		c := strings.ToLower(strings.TrimSpace(codings[i]))
		switch c {
		case "", "identity", "gzip", "x-gzip", "deflate":
		default:
			return nil, fmt.Errorf("%w: %q", ErrUnsupportedEncoding, c)
		}
		codings[i] = c
	}
	var r io.Reader = body
	for i := len(codings) - 1; i >= 0; i-- {
		switch codings[i] {
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(r)
			if err != nil {
				return nil, fmt.Errorf("%w: gzip: %v", ErrMalformed, err)
			}
			r = zr
		case "deflate":
			br := bufio.NewReader(r)
			hdr, err := br.Peek(2)
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: deflate: %v", ErrMalformed, err)
			}
			if len(hdr) == 2 && hdr[0]&0x0f == 8 && (uint16(hdr[0])<<8|uint16(hdr[1]))%31 == 0 {
				zr, err := zlib.NewReader(br)
				if err != nil {
					return nil, fmt.Errorf("%w: deflate: %v", ErrMalformed, err)
				}
				r = zr
			} else {
				r = flate.NewReader(br)
			}
		}
	}
	if r == io.Reader(body) {
		return body, nil
	}
	return &decodedBody{Reader: r, body: body}, nil
}

type decodedBody struct {
	io.Reader
	body io.ReadCloser
}

func (d *decodedBody) Read(p []byte) (int, error) {
	n, err := d.Reader.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return n, err
}

func (d *decodedBody) Close() error { return d.body.Close() }

// EncodeBody returns a writer that compresses into w with encoding ("" or
// identity: none, gzip, deflate as zlib). Close flushes the encoder, not w.
func EncodeBody(w io.Writer, encoding string) (io.WriteCloser, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		return nopWriteCloser{w}, nil
	case "gzip", "x-gzip":
		return gzip.NewWriter(w), nil
	case "deflate":
		return zlib.NewWriter(w), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedEncoding, encoding)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
