package identity

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// A distinguished name is compared in one canonical RFC 4514 form built from
// the certificate's own RDN sequence (docs/identity.md, "mTLS"):
// pkix.Name.String() cannot be used, since pkix.Name keeps one CommonName
// and merges repeated and multi-valued attributes, so a certificate
// "O=Acme, CN=evil, CN=legacy" would print like "CN=legacy,O=Acme".
// Canonical form: RDNs last to first, attributes of a multi-valued RDN
// sorted and joined by "+", attribute types as the upper-case keywords below
// (others as dotted OIDs), values escaped as RFC 4514 §2.4 says, non-string
// values as "#" and the hex of their DER.

// dnKeywords maps the attribute type keywords crmgw knows to their OIDs.
var dnKeywords = map[string]asn1.ObjectIdentifier{
	"CN":           {2, 5, 4, 3},
	"SERIALNUMBER": {2, 5, 4, 5},
	"C":            {2, 5, 4, 6},
	"L":            {2, 5, 4, 7},
	"ST":           {2, 5, 4, 8},
	"STREET":       {2, 5, 4, 9},
	"O":            {2, 5, 4, 10},
	"OU":           {2, 5, 4, 11},
	"POSTALCODE":   {2, 5, 4, 17},
	"DC":           {0, 9, 2342, 19200300, 100, 1, 25},
	"UID":          {0, 9, 2342, 19200300, 100, 1, 1},
}

// dnAttr is one attribute of an RDN: its canonical type and its value,
// either a string (str) or the hex of a DER value (hexDER, "#…").
type dnAttr struct {
	typ    string
	str    string
	hexDER string
}

// keywordFor is the canonical type name of oid.
func keywordFor(oid asn1.ObjectIdentifier) string {
	for k, o := range dnKeywords {
		if o.Equal(oid) {
			return k
		}
	}
	return oid.String()
}

// CanonicalDN is the canonical RFC 4514 form of a certificate's raw subject
// (x509.Certificate.RawSubject). It fails on a subject that is not a valid
// RDN sequence, which then matches nothing.
func CanonicalDN(rawSubject []byte) (string, error) {
	var seq pkix.RDNSequence
	rest, err := asn1.Unmarshal(rawSubject, &seq)
	if err != nil {
		return "", fmt.Errorf("identity: certificate subject: %w", err)
	}
	if len(rest) != 0 {
		return "", errors.New("identity: certificate subject: trailing data")
	}
	return canonicalRDNs(seq)
}

func canonicalRDNs(seq pkix.RDNSequence) (string, error) {
	rdns := make([][]dnAttr, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		set := seq[i]
		if len(set) == 0 {
			return "", errors.New("identity: certificate subject: empty RDN")
		}
		rdn := make([]dnAttr, 0, len(set))
		for _, atv := range set {
			a := dnAttr{typ: keywordFor(atv.Type)}
			if s, ok := atv.Value.(string); ok {
				a.str = s
			} else {
				der, err := asn1.Marshal(atv.Value)
				if err != nil {
					return "", fmt.Errorf("identity: certificate subject: %w", err)
				}
				a.hexDER = hex.EncodeToString(der)
			}
			rdn = append(rdn, a)
		}
		rdns = append(rdns, rdn)
	}
	return formatDN(rdns), nil
}

// ParseDN reads a distinguished name written as RFC 4514 says
// ("CN=legacy,O=Acme", "CN=a+UID=b,DC=example,DC=org", "CN=x\,y") and
// returns its canonical form. Keywords are case-insensitive; spaces around
// "," "+" and "=" are ignored (escape a value's own leading or trailing space
// with "\ ").
func ParseDN(s string) (string, error) {
	rdns, err := parseDN(s)
	if err != nil {
		return "", err
	}
	return formatDN(rdns), nil
}

func parseDN(s string) ([][]dnAttr, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty distinguished name")
	}
	var rdns [][]dnAttr
	var rdn []dnAttr
	i := 0
	for {
		// type
		for i < len(s) && s[i] == ' ' {
			i++
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ',' && s[i] != '+' {
			i++
		}
		if i >= len(s) || s[i] != '=' {
			return nil, fmt.Errorf("distinguished name %q: attribute %q has no \"=\"", s, strings.TrimSpace(s[start:i]))
		}
		typ, err := dnType(strings.TrimSpace(s[start:i]))
		if err != nil {
			return nil, fmt.Errorf("distinguished name %q: %w", s, err)
		}
		i++ // '='
		for i < len(s) && s[i] == ' ' {
			i++
		}
		a := dnAttr{typ: typ}
		if i < len(s) && s[i] == '#' {
			j := i + 1
			for j < len(s) && s[j] != ',' && s[j] != '+' && s[j] != ' ' {
				j++
			}
			der, err := hex.DecodeString(s[i+1 : j])
			if err != nil || len(der) == 0 {
				return nil, fmt.Errorf("distinguished name %q: bad hex value for %s", s, typ)
			}
			var raw asn1.RawValue
			if rest, err := asn1.Unmarshal(der, &raw); err != nil || len(rest) != 0 {
				return nil, fmt.Errorf("distinguished name %q: %s value is not one DER value", s, typ)
			}
			a.hexDER = hex.EncodeToString(der)
			i = j
			for i < len(s) && s[i] == ' ' {
				i++
			}
		} else {
			var b []byte
			trailing := 0 // unescaped spaces at the end of b
			for i < len(s) && s[i] != ',' && s[i] != '+' {
				c := s[i]
				switch {
				case c == '\\':
					if i+1 >= len(s) {
						return nil, fmt.Errorf("distinguished name %q: a value ends with a lone \\", s)
					}
					n := s[i+1]
					if strings.IndexByte(` "#+,;<=>\`, n) >= 0 {
						b = append(b, n)
						i += 2
					} else if i+2 < len(s) && isHex(n) && isHex(s[i+2]) {
						v, _ := hex.DecodeString(s[i+1 : i+3])
						b = append(b, v[0])
						i += 3
					} else {
						return nil, fmt.Errorf("distinguished name %q: bad escape \\%c", s, n)
					}
					trailing = 0
				case c == '"' || c == ';' || c == '<' || c == '>' || c == 0:
					return nil, fmt.Errorf("distinguished name %q: %q must be escaped", s, c)
				default:
					b = append(b, c)
					if c == ' ' {
						trailing++
					} else {
						trailing = 0
					}
					i++
				}
			}
			a.str = string(b[:len(b)-trailing])
			if a.str == "" {
				// An empty value is legal in RFC 4514 but never what an
				// operator means in an allow-list.
				return nil, fmt.Errorf("distinguished name %q: %s has an empty value", s, typ)
			}
		}
		rdn = append(rdn, a)
		if i >= len(s) {
			rdns = append(rdns, rdn)
			return rdns, nil
		}
		if s[i] == ',' {
			rdns = append(rdns, rdn)
			rdn = nil
		}
		i++
		if i >= len(s) {
			return nil, fmt.Errorf("distinguished name %q ends with a separator", s)
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// dnType reads an attribute type: a known keyword (any case) or a dotted
// OID, returned in canonical form.
func dnType(t string) (string, error) {
	if t == "" {
		return "", errors.New("empty attribute type")
	}
	up := strings.ToUpper(t)
	if _, ok := dnKeywords[up]; ok {
		return up, nil
	}
	if strings.HasPrefix(up, "OID.") {
		t = t[4:]
	}
	var oid asn1.ObjectIdentifier
	for part := range strings.SplitSeq(t, ".") {
		if part == "" || len(part) > 9 || (len(part) > 1 && part[0] == '0') {
			return "", fmt.Errorf("unknown attribute type %q (use CN, O, OU, C, L, ST, STREET, DC, UID, SERIALNUMBER, POSTALCODE or a dotted OID)", t)
		}
		n := 0
		for _, c := range []byte(part) {
			if c < '0' || c > '9' {
				return "", fmt.Errorf("unknown attribute type %q (use CN, O, OU, C, L, ST, STREET, DC, UID, SERIALNUMBER, POSTALCODE or a dotted OID)", t)
			}
			n = n*10 + int(c-'0')
		}
		oid = append(oid, n)
	}
	if len(oid) < 2 {
		return "", fmt.Errorf("unknown attribute type %q", t)
	}
	return keywordFor(oid), nil
}

// formatDN writes rdns in canonical form.
func formatDN(rdns [][]dnAttr) string {
	var b strings.Builder
	for i, rdn := range rdns {
		if i > 0 {
			b.WriteByte(',')
		}
		parts := make([]string, len(rdn))
		for j, a := range rdn {
			v := "#" + a.hexDER
			if a.hexDER == "" {
				v = escapeDNValue(a.str)
			}
			parts[j] = a.typ + "=" + v
		}
		slices.Sort(parts)
		b.WriteString(strings.Join(parts, "+"))
	}
	return b.String()
}

// escapeDNValue escapes a value as RFC 4514 §2.4 asks, and also every
// control character and every byte of invalid UTF-8 (as \XX), so two
// different values never print alike.
func escapeDNValue(s string) string {
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' || c == '=':
			b.WriteByte('\\')
			b.WriteByte(c)
			i++
		case (c == ' ' || c == '#') && i == 0, c == ' ' && i == len(s)-1:
			b.WriteByte('\\')
			b.WriteByte(c)
			i++
		case c < 0x20 || c == 0x7f:
			b.WriteByte('\\')
			b.WriteByte(hexdigits[c>>4])
			b.WriteByte(hexdigits[c&15])
			i++
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b.WriteByte('\\')
				b.WriteByte(hexdigits[c>>4])
				b.WriteByte(hexdigits[c&15])
				i++
				continue
			}
			b.WriteString(s[i : i+n])
			i += n
		}
	}
	return b.String()
}
