package masking

import "fmt"

// Detectors are a safety net for free-text fields: they find personal data
// inside string values that no rule names and replace only the matched span
// with "****". They are hand-written scanners rather than regular
// expressions because they run on every string of every record when enabled:
// one pass over the bytes, no allocation, and checksums (Luhn, ISO 7064) that
// a regexp cannot express anyway.
const (
	detectEmail    = 1 << iota // local@domain.tld
	detectMobileCN             // 1[3-9] followed by 9 digits, not inside a longer number
	detectE164                 // '+' then 8-15 digits, single spaces allowed between digits
	detectCNID                 // 18-character PRC resident ID with ISO 7064 MOD 11-2 check
	detectBankCard             // 13-19 consecutive digits passing Luhn
)

var detectorNames = map[string]uint8{
	"email":     detectEmail,
	"mobile_cn": detectMobileCN,
	"e164":      detectE164,
	"cn_id":     detectCNID,
	"bank_card": detectBankCard,
}

// DetectorNames lists the detectors Options.Detectors accepts.
func DetectorNames() []string {
	return []string{"bank_card", "cn_id", "e164", "email", "mobile_cn"}
}

func parseDetectors(names []string) (uint8, error) {
	var set uint8
	for _, n := range names {
		d, ok := detectorNames[n]
		if !ok {
			return 0, fmt.Errorf("masking: unknown detector %q (known: %v)", n, DetectorNames())
		}
		set |= d
	}
	return set, nil
}

type span struct{ start, end int }

// detect appends to spans the byte ranges of s matched by the detectors in set.
// Spans are ordered and do not overlap.
func detect(spans []span, s []byte, set uint8) []span {
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '@' && set&detectEmail != 0:
			if st, en, ok := emailAround(s, i); ok {
				// An email span may start before spans already recorded
				// (digits in the local part): drop those.
				for len(spans) > 0 && spans[len(spans)-1].end > st {
					spans = spans[:len(spans)-1]
				}
				spans = append(spans, span{st, en})
				i = en
				continue
			}
		case c == '+' && set&detectE164 != 0 && (i == 0 || !isDigit(s[i-1])):
			if en, ok := e164At(s, i); ok {
				spans = append(spans, span{i, en})
				i = en
				continue
			}
		case isDigit(c) && (i == 0 || !isDigit(s[i-1])):
			j := i
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			run := s[i:j]
			switch {
			case set&detectCNID != 0 && isCNID(s, i, j):
				end := j
				if len(run) == 17 {
					end++ // the X check character
				}
				spans = append(spans, span{i, end})
				i = end
				continue
			case set&detectMobileCN != 0 && len(run) == 11 && run[0] == '1' && run[1] >= '3':
				spans = append(spans, span{i, j})
			case set&detectBankCard != 0 && len(run) >= 13 && len(run) <= 19 && luhn(run):
				spans = append(spans, span{i, j})
			case set&detectBankCard != 0 && len(run) >= 4 && len(run) <= 6 && j+1 < len(s) && (s[j] == ' ' || s[j] == '-') && isDigit(s[j+1]):
				// Cards written in groups: "6222 0212 3456 7890 123", "4111-1111-1111-1111".
				if end, ok := groupedCard(s, i); ok {
					spans = append(spans, span{i, end})
					i = end
					continue
				}
			}
			i = j
			continue
		}
		i++
	}
	return spans
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isEmailLocal(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') ||
		c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomainChar(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c == '.' || c == '-'
}

// emailAround expands around the '@' at i; the domain needs a dot and a
// final label of at least two letters.
func emailAround(s []byte, at int) (int, int, bool) {
	st := at
	for st > 0 && isEmailLocal(s[st-1]) {
		st--
	}
	en := at + 1
	for en < len(s) && isDomainChar(s[en]) {
		en++
	}
	for en > at+1 && (s[en-1] == '.' || s[en-1] == '-') {
		en-- // sentence punctuation after the address
	}
	if st == at || en == at+1 {
		return 0, 0, false
	}
	dom := s[at+1 : en]
	dot := lastIndexByte(dom, '.')
	if dot <= 0 || len(dom)-dot-1 < 2 {
		return 0, 0, false
	}
	for _, c := range dom[dot+1:] {
		if isDigit(c) || c == '-' {
			return 0, 0, false
		}
	}
	return st, en, true
}

// e164At matches '+' and 8-15 digits with single spaces between digits.
func e164At(s []byte, plus int) (int, bool) {
	digits, i, end := 0, plus+1, plus+1
	for i < len(s) {
		switch {
		case isDigit(s[i]):
			digits++
			i++
			end = i
		case s[i] == ' ' && i+1 < len(s) && isDigit(s[i+1]) && digits > 0:
			i++
		default:
			goto done
		}
	}
done:
	if digits < 8 || digits > 15 {
		return 0, false
	}
	return end, true
}

// isCNID checks the digit run s[i:j] (plus a following 'X' when the run is
// 17 digits) for a resident ID: plausible birth date and the ISO 7064
// MOD 11-2 check character.
func isCNID(s []byte, i, j int) bool {
	n := j - i
	var check byte
	switch {
	case n == 18:
		check = s[j-1]
	case n == 17 && j < len(s) && (s[j] == 'X' || s[j] == 'x'):
		check = 'X'
		j++
	default:
		return false
	}
	if j < len(s) && (isDigit(s[j]) || ('a' <= s[j]|0x20 && s[j]|0x20 <= 'z')) {
		return false
	}
	id := s[i : i+17]
	month := int(id[10]-'0')*10 + int(id[11]-'0')
	day := int(id[12]-'0')*10 + int(id[13]-'0')
	year := int(id[6]-'0')*1000 + int(id[7]-'0')*100 + int(id[8]-'0')*10 + int(id[9]-'0')
	if year < 1900 || year > 2100 || month < 1 || month > 12 || day < 1 || day > 31 {
		return false
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for k, c := range id {
		sum += int(c-'0') * weights[k]
	}
	want := "10X98765432"[sum%11]
	if check == 'x' {
		check = 'X'
	}
	return check == want
}

// groupedCard matches 13-19 digits in groups of 3-6 separated by single
// spaces or dashes, passing Luhn.
func groupedCard(s []byte, i int) (int, bool) {
	var digits [19]byte
	n, end, group := 0, i, 0
	for i < len(s) {
		c := s[i]
		switch {
		case isDigit(c):
			if n == len(digits) {
				return 0, false
			}
			digits[n] = c
			n++
			group++
			i++
			end = i
		case (c == ' ' || c == '-') && group >= 3 && i+1 < len(s) && isDigit(s[i+1]):
			group = 0
			i++
		default:
			goto done
		}
	}
done:
	if group < 3 || n < 13 || (end < len(s) && isDigit(s[end])) {
		return 0, false
	}
	return end, luhn(digits[:n])
}

func luhn(d []byte) bool {
	sum, double := 0, false
	for i := len(d) - 1; i >= 0; i-- {
		x := int(d[i] - '0')
		if double {
			x *= 2
			if x > 9 {
				x -= 9
			}
		}
		sum += x
		double = !double
	}
	return sum%10 == 0
}

// appendDetected appends s with every span replaced by "****".
func appendDetected(dst, s []byte, spans []span) []byte {
	prev := 0
	for _, sp := range spans {
		dst = append(dst, s[prev:sp.start]...)
		dst = append(dst, redacted...)
		prev = sp.end
	}
	return append(dst, s[prev:]...)
}

// idLike reports whether a field holds record ids, which detectors skip:
// Zoho ids are 18-19 digit numbers that can pass Luhn or look like a
// resident ID by chance.
func idLike(field []byte) bool {
	n := len(field)
	if equalFold(field, "id") {
		return true
	}
	if n > 2 && field[n-2] == 'I' && field[n-1] == 'd' {
		return true // Salesforce AccountId, OwnerId
	}
	return n > 3 && equalFold(field[n-3:], "_id")
}
