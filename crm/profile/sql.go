package profile

import (
	"strings"

	"github.com/crmgw/crmgw/crm"
)

// sqlParts splits a simple SQL-like query (Neocrm XOQL) into its select
// list, object, filter and sort text:
//
//	SELECT a, b.c FROM obj [WHERE expr] [ORDER BY expr] [LIMIT n] [OFFSET n]
//
// Anything the gateway could attribute wrongly is refused: a sub-query, a
// second object (a comma or JOIN after FROM), a select item that is not a
// plain field name (functions and aliases rename what comes back), a
// keyword out of order.
type sqlParts struct {
	selectList []string
	from       string
	where      string
	order      string
}

func parseSQL(q string) (sqlParts, error) {
	var p sqlParts
	words, err := sqlWords(q)
	if err != nil {
		return p, err
	}
	// Find the clause keywords (outside parentheses and quotes).
	type clause struct {
		kw         string
		at         int // index of the keyword
		start, end int // the clause's words
	}
	var cls []clause
	for i, w := range words {
		if w.depth > 0 || w.quoted {
			continue
		}
		lw := strings.ToLower(w.text)
		switch lw {
		case "select", "from", "where", "limit", "offset":
			cls = append(cls, clause{kw: lw, at: i, start: i + 1})
		case "order", "group", "having", "union", "join":
			if lw == "order" && i+1 < len(words) && strings.EqualFold(words[i+1].text, "by") {
				cls = append(cls, clause{kw: "order", at: i, start: i + 2})
				continue
			}
			return p, crm.Reject("XOQL " + strings.ToUpper(lw) + " is not supported by the gateway")
		}
	}
	for i := range cls {
		cls[i].end = len(words)
		if i+1 < len(cls) {
			cls[i].end = cls[i+1].at
		}
		if cls[i].start > cls[i].end {
			cls[i].start = cls[i].end
		}
	}
	order := []string{"select", "from", "where", "order", "limit", "offset"}
	last := -1
	for _, c := range cls {
		idx := indexOf(order, c.kw)
		if idx <= last {
			return p, crm.Reject("XOQL clauses out of order or repeated")
		}
		last = idx
	}
	if len(cls) < 2 || cls[0].kw != "select" || cls[1].kw != "from" || cls[0].at != 0 {
		return p, crm.Reject("XOQL must be SELECT … FROM …")
	}
	for _, w := range words {
		if w.depth > 0 && strings.EqualFold(w.text, "select") {
			return p, crm.Reject("XOQL sub-queries are not supported by the gateway")
		}
	}
	text := func(c clause) []sqlWord { return words[c.start:c.end] }
	// The select list: plain names separated by commas.
	items := splitComma(text(cls[0]))
	for _, it := range items {
		if len(it) != 1 || it[0].quoted || it[0].depth > 0 || !isFieldName(it[0].text) {
			return p, crm.Reject("XOQL select item the gateway cannot attribute to a field")
		}
		p.selectList = append(p.selectList, it[0].text)
	}
	from := text(cls[1])
	if len(from) != 1 || !isFieldName(from[0].text) || strings.Contains(from[0].text, ".") {
		return p, crm.Reject("XOQL must read exactly one object")
	}
	p.from = from[0].text
	for _, c := range cls[2:] {
		var b strings.Builder
		for _, w := range text(c) {
			if w.quoted {
				b.WriteString("'x' ")
				continue
			}
			b.WriteString(w.text)
			b.WriteByte(' ')
		}
		switch c.kw {
		case "where":
			p.where = b.String()
		case "order":
			p.order = b.String()
		}
	}
	return p, nil
}

type sqlWord struct {
	text   string
	depth  int
	quoted bool
	comma  bool
}

// sqlWords tokenises: quoted strings, parentheses (tracked as depth),
// commas and runs of other non-space characters.
func sqlWords(q string) ([]sqlWord, error) {
	var out []sqlWord
	depth := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"':
			j := i + 1
			for ; j < len(q); j++ {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c {
						j++
						continue
					}
					break
				}
			}
			if j >= len(q) {
				return nil, crm.Reject("XOQL has an unterminated string")
			}
			out = append(out, sqlWord{text: q[i : j+1], depth: depth, quoted: true})
			i = j + 1
		case c == '(':
			depth++
			out = append(out, sqlWord{text: "(", depth: depth})
			i++
		case c == ')':
			if depth == 0 {
				return nil, crm.Reject("XOQL has unbalanced parentheses")
			}
			out = append(out, sqlWord{text: ")", depth: depth})
			depth--
			i++
		case c == ',':
			out = append(out, sqlWord{text: ",", depth: depth, comma: true})
			i++
		default:
			j := i
			for j < len(q) && !strings.ContainsRune(" \t\n\r'\"(),", rune(q[j])) {
				j++
			}
			out = append(out, sqlWord{text: q[i:j], depth: depth})
			i = j
		}
	}
	if depth != 0 {
		return nil, crm.Reject("XOQL has unbalanced parentheses")
	}
	return out, nil
}

func splitComma(ws []sqlWord) [][]sqlWord {
	var out [][]sqlWord
	var cur []sqlWord
	for _, w := range ws {
		if w.comma && w.depth == 0 {
			out = append(out, cur)
			cur = nil
			continue
		}
		cur = append(cur, w)
	}
	return append(out, cur)
}

func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c == '.' || ('a' <= c|0x20 && c|0x20 <= 'z') || ('0' <= c && c <= '9' && i > 0) || c >= 0x80 {
			continue
		}
		return false
	}
	return true
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
