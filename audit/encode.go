package audit

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The writer goroutine encodes every event twice: the line, as
// encoding/json marshals it, and the RFC 8785 (JCS) canonical form the
// chain hash covers. json.Marshal (reflection) followed by
// jsontext.Canonicalize (a parse, a sort and a re-encode of those bytes)
// took 5% of the gateway's CPU per request in the make bench-load profile,
// for a struct whose shape is fixed; the encoders below write both forms
// directly. TestEventEncodingMatchesTheLibraries holds them to the
// libraries' bytes for events with every field set (by reflection, so a
// field added to Event and not here fails it) and FuzzEventEncoding for
// arbitrary strings and numbers. Events they cannot take (a time outside
// RFC 3339, a duration JSON cannot hold) go the library way, which
// reports the error.

// fastEncodable reports whether the direct encoders can take ev.
func fastEncodable(ev *Event) bool {
	if y := ev.Time.Year(); y < 0 || y > 9999 || ev.Time.Location() != time.UTC {
		return false
	}
	return !math.IsNaN(ev.DurationMS) && !math.IsInf(ev.DurationMS, 0)
}

// encoder appends JSON to b; canon selects the JCS form (minimal string
// escapes, ES6 numbers for integers too) over encoding/json's.
type encoder struct {
	b     []byte
	canon bool
}

func (e *encoder) raw(s string) { e.b = append(e.b, s...) }

func (e *encoder) bool(v bool) { e.b = strconv.AppendBool(e.b, v) }

// int writes an integer. JCS numbers are IEEE 754 doubles: an integer past
// 2^53 is written as the double it rounds to, as canonicalizing the line
// would.
func (e *encoder) int(v int64) {
	if e.canon && (v > 1<<53 || v < -(1<<53)) {
		e.float(float64(v))
		return
	}
	e.b = strconv.AppendInt(e.b, v, 10)
}

// float is encoding/json's float64 encoding, which is also ES6's (and so
// JCS's): %f between 1e-6 and 1e21, exponent form outside without padding.
func (e *encoder) float(f float64) {
	if e.canon && f == 0 {
		f = 0 // JCS has no negative zero
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(e.b, f, format, -1, 64)
	if format == 'e' {
		// e-09 -> e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	e.b = b
}

const hexDigits = "0123456789abcdef"

// str writes s quoted. Both forms escape '"', '\\' and control characters
// (\b \f \n \r \t by name, the rest as \u00xx) and write invalid UTF-8 as
// U+FFFD (encoding/json as the escape, JCS the character itself, as
// canonicalizing the line gives); encoding/json also escapes <, >, & and
// U+2028/U+2029.
func (e *encoder) str(s string) {
	b := append(e.b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (e.canon || (c != '<' && c != '>' && c != '&')) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			if e.canon {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, `\ufffd`...)
			}
		case !e.canon && (r == '\u2028' || r == '\u2029'):
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	e.b = append(b, '"')
}

// strs writes a string list; nil is null, as encoding/json writes it.
func (e *encoder) strs(l []string) {
	if l == nil {
		e.raw("null")
		return
	}
	e.b = append(e.b, '[')
	for i, s := range l {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(s)
	}
	e.b = append(e.b, ']')
}

// field writes `,"name":` (name is a constant needing no escape), or
// `{"name":` for the first member of an object.
func (e *encoder) field(name string, first bool) {
	if first {
		e.b = append(e.b, '{')
	} else {
		e.b = append(e.b, ',')
	}
	e.b = append(e.b, '"')
	e.b = append(e.b, name...)
	e.b = append(e.b, '"', ':')
}

func (e *encoder) time(t time.Time) {
	e.b = append(e.b, '"')
	e.b = t.AppendFormat(e.b, time.RFC3339Nano) // no byte in it needs escaping
	e.b = append(e.b, '"')
}

// appendLine appends ev as json.Marshal(ev) would write it: fields in
// struct order, omitempty honoured.
func appendLine(b []byte, ev *Event) []byte {
	e := encoder{b: b}
	e.field("time", true)
	e.time(ev.Time)
	e.field("class_uid", false)
	e.int(int64(ev.ClassUID))
	e.field("request_id", false)
	e.str(ev.RequestID)
	e.field("activity", false)
	e.str(ev.Activity)
	e.field("severity", false)
	e.str(ev.Severity)
	if ev.Status != "" {
		e.field("status", false)
		e.str(ev.Status)
	}
	e.field("actor", false)
	a := &ev.Actor
	e.field("user", true)
	e.field("uid", true)
	e.str(a.User.UID)
	e.field("email", false)
	e.str(a.User.Email)
	e.field("groups", false)
	e.strs(a.User.Groups)
	if len(a.User.Roles) > 0 {
		e.field("roles", false)
		e.strs(a.User.Roles)
	}
	e.raw("}")
	e.field("client_id", false)
	e.str(a.ClientID)
	e.field("mfa", false)
	e.bool(a.MFA)
	if a.Kind != "" {
		e.field("kind", false)
		e.str(a.Kind)
	}
	if a.Issuer != "" {
		e.field("issuer", false)
		e.str(a.Issuer)
	}
	e.raw("}")
	e.field("src_endpoint", false)
	e.field("ip", true)
	e.str(ev.SrcEndpoint.IP)
	e.raw("}")
	e.field("http_request", false)
	e.field("method", true)
	e.str(ev.HTTPRequest.Method)
	e.field("path", false)
	e.str(ev.HTTPRequest.Path)
	e.field("user_agent", false)
	e.str(ev.HTTPRequest.UserAgent)
	e.raw("}")
	e.field("http_response", false)
	e.field("code", true)
	e.int(int64(ev.HTTPResponse.Code))
	e.field("bytes", false)
	e.int(ev.HTTPResponse.Bytes)
	e.raw("}")
	e.field("crm", false)
	e.lineCRM(&ev.CRM)
	d := &ev.Decision
	e.field("decision", false)
	e.field("allow", true)
	e.bool(d.Allow)
	e.field("enforced", false)
	e.bool(d.Enforced)
	e.field("reason", false)
	e.str(d.Reason)
	e.field("masked", false)
	e.strs(d.Masked)
	e.field("policy_revision", false)
	e.str(d.PolicyRevision)
	if d.MaxRecords != 0 {
		e.field("max_records", false)
		e.int(d.MaxRecords)
	}
	e.raw("}")
	e.field("duration_ms", false)
	e.float(ev.DurationMS)
	if ev.Error != "" {
		e.field("error", false)
		e.str(ev.Error)
	}
	if len(ev.Subrequests) > 0 {
		e.field("subrequests", false)
		e.raw("[")
		for i := range ev.Subrequests {
			if i > 0 {
				e.raw(",")
			}
			e.lineCRM(&ev.Subrequests[i])
		}
		e.raw("]")
	}
	e.field("chain", false)
	e.field("seq", true)
	e.int(ev.Chain.Seq)
	e.field("prev", false)
	e.str(ev.Chain.Prev)
	if ev.Chain.Hash != "" {
		e.field("hash", false)
		e.str(ev.Chain.Hash)
	}
	e.raw("}}")
	return e.b
}

func (e *encoder) lineCRM(c *CRM) {
	e.field("upstream", true)
	e.str(c.Upstream)
	e.field("type", false)
	e.str(c.Type)
	e.field("operation", false)
	e.str(c.Operation)
	e.field("category", false)
	e.str(c.Category)
	e.field("object", false)
	e.str(c.Object)
	e.field("fields", false)
	e.strs(c.Fields)
	e.field("records", false)
	e.int(c.Records)
	e.field("truncated", false)
	e.bool(c.Truncated)
	if c.Host != "" {
		e.field("host", false)
		e.str(c.Host)
	}
	e.raw("}")
}

// appendCanonical appends the JCS form of ev without chain.hash: what
// canonicalize(json.Marshal(ev)) gives, members sorted by name (every name
// is ASCII, so byte order is JCS's UTF-16 order).
func appendCanonical(b []byte, ev *Event) []byte {
	e := encoder{b: b, canon: true}
	e.field("activity", true)
	e.str(ev.Activity)
	a := &ev.Actor
	e.field("actor", false)
	e.field("client_id", true)
	e.str(a.ClientID)
	if a.Issuer != "" {
		e.field("issuer", false)
		e.str(a.Issuer)
	}
	if a.Kind != "" {
		e.field("kind", false)
		e.str(a.Kind)
	}
	e.field("mfa", false)
	e.bool(a.MFA)
	e.field("user", false)
	e.field("email", true)
	e.str(a.User.Email)
	e.field("groups", false)
	e.strs(a.User.Groups)
	if len(a.User.Roles) > 0 {
		e.field("roles", false)
		e.strs(a.User.Roles)
	}
	e.field("uid", false)
	e.str(a.User.UID)
	e.raw("}}")
	e.field("chain", false)
	e.field("prev", true)
	e.str(ev.Chain.Prev)
	e.field("seq", false)
	e.int(ev.Chain.Seq)
	e.raw("}")
	e.field("class_uid", false)
	e.int(int64(ev.ClassUID))
	e.field("crm", false)
	e.canonCRM(&ev.CRM)
	d := &ev.Decision
	e.field("decision", false)
	e.field("allow", true)
	e.bool(d.Allow)
	e.field("enforced", false)
	e.bool(d.Enforced)
	e.field("masked", false)
	e.strs(d.Masked)
	if d.MaxRecords != 0 {
		e.field("max_records", false)
		e.int(d.MaxRecords)
	}
	e.field("policy_revision", false)
	e.str(d.PolicyRevision)
	e.field("reason", false)
	e.str(d.Reason)
	e.raw("}")
	e.field("duration_ms", false)
	e.float(ev.DurationMS)
	if ev.Error != "" {
		e.field("error", false)
		e.str(ev.Error)
	}
	e.field("http_request", false)
	e.field("method", true)
	e.str(ev.HTTPRequest.Method)
	e.field("path", false)
	e.str(ev.HTTPRequest.Path)
	e.field("user_agent", false)
	e.str(ev.HTTPRequest.UserAgent)
	e.raw("}")
	e.field("http_response", false)
	e.field("bytes", true)
	e.int(ev.HTTPResponse.Bytes)
	e.field("code", false)
	e.int(int64(ev.HTTPResponse.Code))
	e.raw("}")
	e.field("request_id", false)
	e.str(ev.RequestID)
	e.field("severity", false)
	e.str(ev.Severity)
	e.field("src_endpoint", false)
	e.field("ip", true)
	e.str(ev.SrcEndpoint.IP)
	e.raw("}")
	if ev.Status != "" {
		e.field("status", false)
		e.str(ev.Status)
	}
	if len(ev.Subrequests) > 0 {
		e.field("subrequests", false)
		e.raw("[")
		for i := range ev.Subrequests {
			if i > 0 {
				e.raw(",")
			}
			e.canonCRM(&ev.Subrequests[i])
		}
		e.raw("]")
	}
	e.field("time", false)
	e.time(ev.Time)
	e.raw("}")
	return e.b
}

func (e *encoder) canonCRM(c *CRM) {
	e.field("category", true)
	e.str(c.Category)
	e.field("fields", false)
	e.strs(c.Fields)
	if c.Host != "" {
		e.field("host", false)
		e.str(c.Host)
	}
	e.field("object", false)
	e.str(c.Object)
	e.field("operation", false)
	e.str(c.Operation)
	e.field("records", false)
	e.int(c.Records)
	e.field("truncated", false)
	e.bool(c.Truncated)
	e.field("type", false)
	e.str(c.Type)
	e.field("upstream", false)
	e.str(c.Upstream)
	e.raw("}")
}
