package crm

import (
	"net/http"
	"strings"
)

// normalizePath canonicalises an escaped request path: it decodes
// percent-encoding once (an encoded "/" becomes a separator: the decoded
// path is what is classified and forwarded), removes empty, "." and ".."
// segments, and re-escapes each segment the one canonical way. It rejects
// what the CRM could read differently from the gateway: invalid or double
// percent-encoding of separators and dots, control bytes, backslashes,
// ";" path parameters and ".." above the root.
//
// It returns the canonical escaped path and its decoded form. A path that is
// already canonical is returned as is, without allocating.
func normalizePath(escaped string) (canon, decoded string, err error) {
	if escaped == "" {
		return "/", "/", nil
	}
	if escaped[0] != '/' {
		return "", "", reject("path does not start with /")
	}
	slow := false
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return "", "", reject("control byte in path")
		case c == '\\':
			return "", "", reject("backslash in path")
		case c == ';':
			return "", "", reject("path parameter (;) in path")
		case c == '%':
			if i+2 >= len(escaped) || !isHex(escaped[i+1]) || !isHex(escaped[i+2]) {
				return "", "", reject("invalid percent-encoding in path")
			}
			d := unhex(escaped[i+1])<<4 | unhex(escaped[i+2])
			switch {
			case d < 0x20 || d == 0x7f:
				return "", "", reject("encoded control byte in path")
			case d == '\\':
				return "", "", reject("encoded backslash in path")
			case d == ';':
				return "", "", reject("encoded path parameter (;) in path")
			case d == '%':
				// Double encoding: what is left after one decoding must
				// not itself decode to a separator, dot or escape.
				if i+4 < len(escaped) {
					if dd, ok := percentByte(escaped, i+3); ok && isTricky(dd) {
						return "", "", reject("double-encoded path")
					}
				}
			}
			slow = true
		case c == '/':
			if i+1 < len(escaped) && escaped[i+1] == '/' {
				slow = true
			}
			if i+1 < len(escaped) && escaped[i+1] == '.' {
				// "/." or "/.." segment?
				j := i + 2
				if j < len(escaped) && escaped[j] == '.' {
					j++
				}
				if j == len(escaped) || escaped[j] == '/' {
					slow = true
				}
			}
		case !keepInSegment(c):
			slow = true
		}
	}
	if !slow {
		return escaped, escaped, nil
	}
	return normalizeSlow(escaped)
}

// percentByte decodes "%XY" or "%25XY" style sequences at s[i:] when s[i]
// begins a hex pair ("2F" after "%25").
func percentByte(s string, i int) (byte, bool) {
	if i+1 >= len(s) || !isHex(s[i]) || !isHex(s[i+1]) {
		return 0, false
	}
	return unhex(s[i])<<4 | unhex(s[i+1]), true
}

// isTricky reports bytes whose encoded form must never survive decoding.
func isTricky(b byte) bool {
	return b == '/' || b == '.' || b == '\\' || b == '%' || b == ';' || b < 0x20 || b == 0x7f
}

func normalizeSlow(escaped string) (string, string, error) {
	// Decode once.
	dec := make([]byte, 0, len(escaped))
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		if c == '%' {
			c = unhex(escaped[i+1])<<4 | unhex(escaped[i+2])
			i += 2
		}
		dec = append(dec, c)
	}
	// A "%XY" left after decoding that decodes to something tricky was
	// double-encoded; refuse it whatever the upstream would do.
	for i := 0; i+2 < len(dec); i++ {
		if dec[i] == '%' {
			if b, ok := percentByte(string(dec[i+1:i+3]), 0); ok && isTricky(b) {
				return "", "", reject("double-encoded path")
			}
		}
	}
	// Resolve segments.
	segs := make([]string, 0, 8)
	ds := string(dec)
	trailing := false
	for _, seg := range strings.Split(ds[1:], "/") {
		trailing = false
		switch seg {
		case "":
			trailing = true
		case ".":
			trailing = true
		case "..":
			if len(segs) == 0 {
				return "", "", reject("path climbs above the root")
			}
			segs = segs[:len(segs)-1]
			trailing = true
		default:
			segs = append(segs, seg)
		}
	}
	var d, e strings.Builder
	d.Grow(len(ds))
	e.Grow(len(escaped))
	for _, s := range segs {
		d.WriteByte('/')
		d.WriteString(s)
		e.WriteByte('/')
		escapeSegment(&e, s)
	}
	if len(segs) == 0 || trailing {
		d.WriteByte('/')
		e.WriteByte('/')
	}
	return e.String(), d.String(), nil
}

// keepInSegment reports bytes that stay unescaped in a canonical segment:
// RFC 3986 unreserved characters and the sub-delimiters except ";".
func keepInSegment(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', '=', ':', '@', '/':
		return true
	}
	return false
}

const upperHex = "0123456789ABCDEF"

func escapeSegment(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '/' && keepInSegment(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

// overrideHeaders are method-override headers some servers honour. The
// gateway cannot know whether the CRM (or something in front of it) does,
// so a request carrying one is refused rather than classified on a method
// that may not be the one executed.
var overrideHeaders = [...]string{"X-Http-Method-Override", "X-Method-Override", "X-Http-Method"}

// effectiveMethod returns the method the CRM will execute and the query to
// forward. Salesforce honours ?_HttpMethod=X on a POST: it is honoured here
// too (and removed from the forwarded query, the effective method being
// sent instead); every other override is refused.
func effectiveMethod(vendor string, req Request) (string, string, error) {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		return "", "", reject("unsupported HTTP method")
	}
	for _, h := range overrideHeaders {
		if _, ok := req.Header[h]; ok {
			return "", "", reject("method override header " + h)
		}
	}
	// Headers may arrive non-canonical when set directly on the map.
	for k := range req.Header {
		if len(k) > 9 && containsFold(k, "method") {
			for _, h := range overrideHeaders {
				if strings.EqualFold(k, h) {
					return "", "", reject("method override header " + h)
				}
			}
		}
	}
	raw := req.RawQuery
	if raw == "" || (strings.IndexByte(raw, '_') < 0 && strings.IndexByte(raw, '%') < 0) {
		return req.Method, raw, nil
	}
	method := req.Method
	overrides := 0
	var kept strings.Builder
	for rest := raw; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		k, v, _ := strings.Cut(part, "=")
		key, ok := unescapeQuery(k)
		if !ok {
			return "", "", reject("invalid percent-encoding in query")
		}
		switch {
		case strings.EqualFold(key, "_method"):
			return "", "", reject("_method override parameter")
		case strings.EqualFold(key, "_HttpMethod"):
			overrides++
			if vendor != vendorSalesforce || req.Method != http.MethodPost || overrides > 1 {
				return "", "", reject("_HttpMethod override is honoured only once on a Salesforce POST")
			}
			val, ok := unescapeQuery(v)
			if !ok {
				return "", "", reject("invalid percent-encoding in query")
			}
			switch strings.ToUpper(val) {
			case http.MethodGet, http.MethodHead, http.MethodPatch, http.MethodPut, http.MethodDelete, http.MethodPost:
				method = strings.ToUpper(val)
			default:
				return "", "", reject("unsupported _HttpMethod value")
			}
			continue
		}
		if kept.Len() > 0 {
			kept.WriteByte('&')
		}
		kept.WriteString(part)
	}
	if overrides == 0 {
		return method, raw, nil
	}
	return method, kept.String(), nil
}

// unescapeQuery decodes one query component ("+" is a space), allocating
// only when there is something to decode.
func unescapeQuery(s string) (string, bool) {
	valid, coded := escapes(s)
	if !valid {
		return "", false
	}
	if !coded {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		case '+':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// escapes reports, in one pass over s, whether every '%' in it starts a
// %XX escape (valid) and whether it holds anything to decode (coded: an
// escape or a '+').
func escapes(s string) (valid, coded bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false, false
			}
			coded = true
		case '+':
			coded = true
		}
	}
	return true, coded
}

// queryParam returns the decoded value of key in a raw query (keys compared
// case-insensitively), how many times the key occurs, and false when the
// query cannot be decoded. Callers treat n > 1 as ambiguous.
func queryParam(raw, key string) (val string, n int, ok bool) {
	rv, n, ok := queryParamRaw(raw, key)
	if !ok || n == 0 {
		return "", n, ok
	}
	if val, ok = unescapeQuery(rv); !ok {
		return "", 0, false
	}
	return val, n, true
}

// queryParamRaw is queryParam without unescaping the value: the last
// value of key as sent. Every value of key must unescape (ok is false
// otherwise), as queryParam requires.
func queryParamRaw(raw, key string) (val string, n int, ok bool) {
	for rest := raw; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		k, v, _ := strings.Cut(part, "=")
		if len(k) != len(key) && strings.IndexByte(k, '%') < 0 && strings.IndexByte(k, '+') < 0 {
			continue
		}
		dk, ok := unescapeQuery(k)
		if !ok {
			return "", 0, false
		}
		if !strings.EqualFold(dk, key) {
			continue
		}
		n++
		if valid, _ := escapes(v); !valid {
			return "", 0, false
		}
		val = v
	}
	return val, n, true
}
