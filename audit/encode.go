package audit

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The writer goroutine encodes every event twice: the line, as
// encoding/json marshals it, and the RFC 8785 (JCS) canonical form the
// chain hash covers. json.Marshal (reflection) followed by
// jsontext.Canonicalize (a parse, a sort and a re-encode of those bytes)
// costs 5% of the gateway's CPU per request in the make bench-load profile,
// for a struct whose shape is fixed; the encoder below writes both forms
// directly from one description of the event (eventChain, in struct order;
// the canonical form sorts each object's members as it closes, which costs
// about a third of writing the two orders out by hand, for one place to add
// a field). TestEventEncodingMatchesTheLibraries holds them to the
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
// escapes, ES6 numbers for integers too, members sorted by name) over
// encoding/json's (members in struct order). Objects are written once, in
// struct order, between open and close; in the canonical form close sorts
// the object's members in place.
type encoder struct {
	b     []byte
	canon bool
	objs  []int       // per open object: its first entry in members
	mems  []memberPos // the members of the open objects, in written order
	idx   []int       // close's scratch: member order
	tmp   []byte      // close's scratch: sorted members
	keys  []string    // mapKeys' scratch
}

// encoders are reused: the writer goroutine encodes every request's event
// twice.
var encoders = sync.Pool{New: func() any { return new(encoder) }}

// encode appends ev to b with a pooled encoder; chain stands for ev.Chain.
func encode(b []byte, ev *Event, chain *Chain, canon bool) []byte {
	e := encoders.Get().(*encoder)
	e.b, e.canon = b, canon
	e.eventChain(ev, chain)
	b = e.b
	e.b = nil
	clear(e.keys) // no event's strings kept alive by the pool
	if cap(e.tmp) <= 64<<10 {
		encoders.Put(e)
	}
	return b
}

// memberPos is where a member starts in b (its name's quote).
type memberPos struct {
	name  string
	start int
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

// strField writes the member name: v.
func (e *encoder) strField(name, v string) {
	e.field(name)
	e.str(v)
}

// optStr writes name: v unless v is empty (omitempty).
func (e *encoder) optStr(name, v string) {
	if v != "" {
		e.strField(name, v)
	}
}

func (e *encoder) open() {
	e.b = append(e.b, '{')
	e.objs = append(e.objs, len(e.mems))
}

// field writes `"name":` (name is a constant needing no escape), with the
// comma before it when it is not the object's first member.
func (e *encoder) field(name string) {
	if len(e.mems) > e.objs[len(e.objs)-1] {
		e.b = append(e.b, ',')
	}
	e.mems = append(e.mems, memberPos{name, len(e.b)})
	e.b = append(e.b, '"')
	e.b = append(e.b, name...)
	e.b = append(e.b, '"', ':')
}

// close ends the innermost object; in the canonical form its members are
// put in name order first (every name is ASCII, so byte order is JCS's
// UTF-16 order; the values, nested objects included, are moved whole).
func (e *encoder) close() {
	first := e.objs[len(e.objs)-1]
	ms := e.mems[first:]
	if e.canon && !sortedByName(ms) {
		end := func(i int) int { // a member's end: before the next one's comma
			if i+1 < len(ms) {
				return ms[i+1].start - 1
			}
			return len(e.b)
		}
		from := ms[0].start
		e.tmp = e.tmp[:0]
		e.idx = sortedMembers(e.idx[:0], ms)
		for _, i := range e.idx {
			if len(e.tmp) > 0 {
				e.tmp = append(e.tmp, ',')
			}
			e.tmp = append(e.tmp, e.b[ms[i].start:end(i)]...)
		}
		copy(e.b[from:], e.tmp)
	}
	e.mems, e.objs = e.mems[:first], e.objs[:len(e.objs)-1]
	e.b = append(e.b, '}')
}

// before orders member names; most differ in their first byte.
func before(a, b string) bool {
	if a[0] != b[0] {
		return a[0] < b[0]
	}
	return a < b
}

func sortedByName(ms []memberPos) bool {
	for i := 1; i < len(ms); i++ {
		if before(ms[i].name, ms[i-1].name) {
			return false
		}
	}
	return true
}

// sortedMembers appends to idx the order of ms by name (at most the 16
// members of an event: an insertion sort of their indexes).
func sortedMembers(idx []int, ms []memberPos) []int {
	for i := range ms {
		j := len(idx)
		idx = append(idx, i)
		for ; j > 0 && before(ms[i].name, ms[idx[j-1]].name); j-- {
			idx[j] = idx[j-1]
		}
		idx[j] = i
	}
	return idx
}

func (e *encoder) time(t time.Time) {
	e.b = append(e.b, '"')
	e.b = t.AppendFormat(e.b, time.RFC3339Nano) // no byte in it needs escaping
	e.b = append(e.b, '"')
}

// appendLine appends ev as json.Marshal(ev) would write it: fields in
// struct order, omitempty honoured.
func appendLine(b []byte, ev *Event) []byte { return encode(b, ev, &ev.Chain, false) }

// appendCanonical appends the JCS form of ev without chain.hash: what
// canonicalize(json.Marshal(ev)) gives.
func appendCanonical(b []byte, ev *Event) []byte {
	unhashed := ev.Chain
	unhashed.Hash = ""
	return encode(b, ev, &unhashed, true)
}

func (e *encoder) eventChain(ev *Event, chain *Chain) {
	e.open()
	e.field("time")
	e.time(ev.Time)
	e.field("class_uid")
	e.int(int64(ev.ClassUID))
	e.strField("request_id", ev.RequestID)
	e.strField("activity", ev.Activity)
	e.strField("severity", ev.Severity)
	e.optStr("status", ev.Status)
	a := &ev.Actor
	e.field("actor")
	e.open()
	e.field("user")
	e.open()
	e.strField("uid", a.User.UID)
	e.strField("email", a.User.Email)
	e.field("groups")
	e.strs(a.User.Groups)
	if len(a.User.Roles) > 0 {
		e.field("roles")
		e.strs(a.User.Roles)
	}
	e.close()
	e.strField("client_id", a.ClientID)
	e.field("mfa")
	e.bool(a.MFA)
	e.optStr("kind", a.Kind)
	e.optStr("issuer", a.Issuer)
	if len(a.Watch) > 0 {
		e.field("watch")
		e.strs(a.Watch)
	}
	if a.Frozen {
		e.field("frozen")
		e.bool(true)
	}
	e.close()
	e.field("src_endpoint")
	e.open()
	e.strField("ip", ev.SrcEndpoint.IP)
	e.close()
	e.field("http_request")
	e.open()
	e.strField("method", ev.HTTPRequest.Method)
	e.strField("path", ev.HTTPRequest.Path)
	e.strField("user_agent", ev.HTTPRequest.UserAgent)
	e.close()
	e.field("http_response")
	e.open()
	e.field("code")
	e.int(int64(ev.HTTPResponse.Code))
	e.field("bytes")
	e.int(ev.HTTPResponse.Bytes)
	e.close()
	e.field("crm")
	e.crm(&ev.CRM)
	d := &ev.Decision
	e.field("decision")
	e.open()
	e.field("allow")
	e.bool(d.Allow)
	e.field("enforced")
	e.bool(d.Enforced)
	e.strField("reason", d.Reason)
	e.field("masked")
	e.strs(d.Masked)
	e.strField("policy_revision", d.PolicyRevision)
	if d.MaxRecords != 0 {
		e.field("max_records")
		e.int(d.MaxRecords)
	}
	e.close()
	e.field("duration_ms")
	e.float(ev.DurationMS)
	e.optStr("error", ev.Error)
	if len(ev.Subrequests) > 0 {
		e.field("subrequests")
		e.raw("[")
		for i := range ev.Subrequests {
			if i > 0 {
				e.raw(",")
			}
			e.crm(&ev.Subrequests[i])
		}
		e.raw("]")
	}
	if ev.Approval != nil {
		e.field("approval")
		e.approval(ev.Approval)
	}
	e.optStr("trace_id", ev.TraceID)
	e.optStr("span_id", ev.SpanID)
	e.field("chain")
	e.open()
	e.field("seq")
	e.int(chain.Seq)
	e.strField("prev", chain.Prev)
	e.optStr("hash", chain.Hash)
	e.close()
	e.close()
}

func (e *encoder) approval(a *Approval) {
	e.open()
	e.strField("id", a.ID)
	e.optStr("step", a.Step)
	e.strField("status", a.Status)
	e.optStr("subject", a.Subject)
	if len(a.Approvers) > 0 {
		e.field("approvers")
		e.strs(a.Approvers)
	}
	e.optStr("approver", a.Approver)
	e.optStr("decided_at", a.DecidedAt)
	e.optStr("comment", a.Comment)
	e.optStr("reason", a.Reason)
	e.optStr("url", a.URL)
	if len(a.UsedBy) > 0 {
		e.field("used_by")
		e.strs(a.UsedBy)
	}
	if a.Records != 0 {
		e.field("records")
		e.int(a.Records)
	}
	e.close()
}

func (e *encoder) crm(c *CRM) {
	e.open()
	e.strField("upstream", c.Upstream)
	e.strField("type", c.Type)
	e.strField("operation", c.Operation)
	e.strField("category", c.Category)
	e.strField("object", c.Object)
	e.field("fields")
	e.strs(c.Fields)
	e.field("records")
	e.int(c.Records)
	e.field("truncated")
	e.bool(c.Truncated)
	e.optStr("host", c.Host)
	if len(c.Objects) > 0 {
		e.field("objects")
		e.strs(c.Objects)
	}
	if len(c.FieldRoles) > 0 {
		e.field("field_roles")
		e.b = append(e.b, '{')
		for i, k := range mapKeys(e, c.FieldRoles) {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.str(k)
			e.b = append(e.b, ':')
			e.strs(c.FieldRoles[k])
		}
		e.b = append(e.b, '}')
	}
	if len(c.Aliases) > 0 {
		e.field("aliases")
		e.b = append(e.b, '{')
		for i, k := range mapKeys(e, c.Aliases) {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.str(k)
			e.b = append(e.b, ':')
			e.str(c.Aliases[k])
		}
		e.b = append(e.b, '}')
	}
	e.optStr("query", c.Query)
	e.close()
}

// mapKeys lists a map's keys in the order each form writes them:
// encoding/json sorts them by their bytes, JCS by the UTF-16 code units of
// the text as read back (an invalid byte is U+FFFD there). The keys are
// written by str, not registered as members: close never moves them.
func mapKeys[V any](e *encoder, m map[string]V) []string {
	keys := e.keys[:0] // one map's keys at a time: nothing nests
	for k := range m {
		keys = append(keys, k)
	}
	e.keys = keys
	if e.canon {
		slices.SortFunc(keys, compareUTF16)
	} else {
		slices.Sort(keys)
	}
	return keys
}

// compareUTF16 orders strings by their UTF-16 code units, each invalid
// UTF-8 byte read as U+FFFD.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		a, b = a[na:], b[nb:]
		if ra == rb {
			continue
		}
		ua, ub := utf16Units(ra), utf16Units(rb)
		if c := cmp.Compare(ua[0], ub[0]); c != 0 {
			return c
		}
		return cmp.Compare(ua[1], ub[1])
	}
	return cmp.Compare(len(a), len(b))
}

// utf16Units is r as one or two UTF-16 code units (the second 0 if one).
func utf16Units(r rune) [2]uint16 {
	if r >= 0x10000 {
		r1, r2 := utf16.EncodeRune(r)
		return [2]uint16{uint16(r1), uint16(r2)}
	}
	return [2]uint16{uint16(r), 0}
}
