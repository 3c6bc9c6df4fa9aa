package masking

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"unicode/utf8"
)

// redacted is what redact (and a detector hit) writes.
const redacted = "****"

// stars are the stars appendPartial writes for ASCII values up to their length.
const stars = "****************************************************************"

// masker applies strategies to decoded values. It owns reusable buffers and
// one HMAC state, so it is not safe for concurrent use (one per Reader).
type masker struct {
	key []byte
	mac hash.Hash
	sum []byte
}

// newMasker makes a masker for key. The HMAC state is made when a hash
// rule first needs it: most bodies have none, and making it costs five
// allocations.
func newMasker(key []byte) masker { return masker{key: key} }

// apply appends the masked form of v (the decoded text of a string or the
// literal text of a number) for strategy s. Strategies that do not produce
// text (null, remove) are handled by the caller. A hash rule without a key
// redacts: failing safe beats leaking.
func (m *masker) apply(dst []byte, s Strategy, v []byte) []byte {
	switch s {
	case StrategyPartial:
		return appendPartial(dst, v)
	case StrategyEmail:
		return appendEmail(dst, v)
	case StrategyHash:
		if len(m.key) == 0 {
			return append(dst, redacted...)
		}
		if m.mac == nil {
			m.mac = hmac.New(sha256.New, m.key)
		}
		m.mac.Reset()
		m.mac.Write(v)
		m.sum = m.mac.Sum(m.sum[:0])
		dst = append(dst, "hmac:"...)
		return hex.AppendEncode(dst, m.sum[:16])
	default:
		return append(dst, redacted...)
	}
}

// appendPartial keeps the last four characters (runes, so Chinese text is
// cut on character boundaries) and stars the rest. Values of four characters
// or fewer become "****": keeping them would reveal the whole value.
func appendPartial(dst, v []byte) []byte {
	n := utf8.RuneCount(v)
	if n <= 4 {
		return append(dst, redacted...)
	}
	if n == len(v) && n-4 <= len(stars) { // ASCII: a byte is a character
		dst = append(dst, stars[:n-4]...)
		return append(dst, v[n-4:]...)
	}
	i := 0
	for range n - 4 {
		_, size := utf8.DecodeRune(v[i:])
		i += size
		dst = append(dst, '*')
	}
	return append(dst, v[i:]...)
}

// appendEmail keeps the first character of the local part and the domain:
// "wang.fang@customer-corp.cn" -> "w***@customer-corp.cn". Anything that is
// not local@domain (one '@', both sides non-empty) is redacted.
func appendEmail(dst, v []byte) []byte {
	at := bytes.IndexByte(v, '@')
	if at <= 0 || at == len(v)-1 || bytes.IndexByte(v[at+1:], '@') >= 0 {
		return append(dst, redacted...)
	}
	_, size := utf8.DecodeRune(v)
	if size > at {
		size = at
	}
	dst = append(dst, v[:size]...)
	dst = append(dst, "***"...)
	return append(dst, v[at:]...)
}
