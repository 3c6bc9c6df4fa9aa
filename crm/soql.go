package crm

import (
	"errors"
	"strings"
)

// This is a small hand-written SOQL (and Zoho COQL) tokenizer and parser:
// no SOQL library exists for Go. It parses only what classification needs
// (the FROM object, the select list with relationship paths, child
// subqueries, FIELDS(), functions, aliases, TYPEOF, GROUP BY) and skips the
// rest token by token, so that anything it does not understand is an error
// (the request is then OpUnknown), never a guess.

var errSOQL = errors.New("crm: unparseable query")

// soqlQuery is a parsed SOQL/COQL query.
type soqlQuery struct {
	Object     string      // FROM object (a child relationship name in a subquery)
	Fields     []string    // selected fields, relationship paths keep their dots
	AllFields  bool        // FIELDS(ALL|STANDARD|CUSTOM) or *
	Aggregate  bool        // GROUP BY or an aggregate function: AggregateResult
	Subqueries []soqlQuery // child relationship subqueries of the select list
	plan       *soqlPlan   // a SOSL RETURNING object's access plan
}

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tNumber
	tString
	tPunct
	tRef // @{ref.field} composite reference
)

type token struct {
	kind tokKind
	text string
}

type soqlLexer struct {
	s   string
	pos int
	tok token
	err error
}

func (l *soqlLexer) next() {
	if l.err != nil {
		l.tok = token{kind: tEOF}
		return
	}
	s := l.s
	i := l.pos
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	if i >= len(s) {
		l.pos = i
		l.tok = token{kind: tEOF}
		return
	}
	start := i
	c := s[i]
	switch {
	case isIdentStart(c):
		for i < len(s) && isIdentPart(s[i]) {
			i++
		}
		l.tok = token{tIdent, s[start:i]}
	case isDigit(c) || (c == '-' && i+1 < len(s) && isDigit(s[i+1])):
		i++
		// Numbers, dates and datetimes (2024-01-01T00:00:00+08:00).
		for i < len(s) && (isIdentPart(s[i]) || s[i] == ':' || s[i] == '+' || s[i] == '-') {
			i++
		}
		l.tok = token{tNumber, s[start:i]}
	case c == '\'':
		i++
		for {
			if i >= len(s) {
				l.fail()
				return
			}
			if s[i] == '\\' {
				i += 2
				continue
			}
			if s[i] == '\'' {
				i++
				break
			}
			i++
		}
		if i > len(s) {
			l.fail()
			return
		}
		l.tok = token{tString, s[start:i]}
	case c == '@' && i+1 < len(s) && s[i+1] == '{':
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			l.fail()
			return
		}
		i += j + 1
		l.tok = token{tRef, s[start:i]}
	case c == '!' || c == '<' || c == '>':
		i++
		if i < len(s) && s[i] == '=' {
			i++
		} else if c == '!' {
			l.fail()
			return
		}
		l.tok = token{tPunct, s[start:i]}
	case c == '(' || c == ')' || c == ',' || c == '=' || c == ':' || c == '*':
		i++
		l.tok = token{tPunct, s[start:i]}
	default:
		l.fail()
		return
	}
	l.pos = i
}

func (l *soqlLexer) fail() {
	l.err = errSOQL
	l.tok = token{kind: tEOF}
}

func isIdentStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '.' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (l *soqlLexer) isKeyword(kw string) bool {
	return l.tok.kind == tIdent && strings.EqualFold(l.tok.text, kw)
}

func (l *soqlLexer) isPunct(p string) bool { return l.tok.kind == tPunct && l.tok.text == p }

// peekPunct reports whether the token after the current one is p.
func (l *soqlLexer) peekPunct(p byte) bool {
	i := l.pos
	for i < len(l.s) && (l.s[i] == ' ' || l.s[i] == '\t' || l.s[i] == '\n' || l.s[i] == '\r') {
		i++
	}
	return i < len(l.s) && l.s[i] == p
}

const maxSOQLDepth = 16

// parseSOQL parses a SOQL or COQL SELECT statement.
func parseSOQL(q string) (soqlQuery, error) {
	l := &soqlLexer{s: q}
	l.next()
	sq, err := parseSelect(l, 0)
	if err != nil {
		return soqlQuery{}, err
	}
	if l.tok.kind != tEOF || l.err != nil {
		return soqlQuery{}, errSOQL
	}
	return sq, nil
}

func parseSelect(l *soqlLexer, depth int) (soqlQuery, error) {
	var q soqlQuery
	if depth > maxSOQLDepth || !l.isKeyword("SELECT") {
		return q, errSOQL
	}
	l.next()
	for {
		switch {
		case l.isPunct("("):
			// Child relationship subquery.
			l.next()
			sub, err := parseSelect(l, depth+1)
			if err != nil {
				return q, err
			}
			if !l.isPunct(")") {
				return q, errSOQL
			}
			l.next()
			q.Subqueries = append(q.Subqueries, sub)
		case l.isPunct("*"):
			q.AllFields = true
			l.next()
		case l.isKeyword("FIELDS") && l.peekPunct('('):
			l.next()
			l.next()
			if !(l.isKeyword("ALL") || l.isKeyword("STANDARD") || l.isKeyword("CUSTOM")) {
				return q, errSOQL
			}
			l.next()
			if !l.isPunct(")") {
				return q, errSOQL
			}
			l.next()
			q.AllFields = true
		case l.isKeyword("TYPEOF"):
			if err := parseTypeof(l, &q); err != nil {
				return q, err
			}
		case l.tok.kind == tIdent && l.peekPunct('('):
			name := l.tok.text
			if isAggregateFunc(name) {
				q.Aggregate = true
			}
			l.next()
			l.next()
			if err := parseArgs(l, &q, depth+1); err != nil {
				return q, err
			}
			skipAlias(l)
		case l.tok.kind == tIdent && !isReserved(l.tok.text):
			q.addField(l.tok.text)
			l.next()
			skipAlias(l)
		default:
			return q, errSOQL
		}
		if !l.isPunct(",") {
			break
		}
		l.next()
	}
	if !l.isKeyword("FROM") {
		return q, errSOQL
	}
	l.next()
	if l.tok.kind != tIdent || isReserved(l.tok.text) {
		return q, errSOQL
	}
	q.Object = l.tok.text
	l.next()
	// The rest (alias, USING SCOPE, WHERE, WITH, GROUP BY, HAVING, ORDER BY,
	// LIMIT, OFFSET, FOR ...) is skipped with balanced parentheses; only a
	// top-level GROUP BY matters (AggregateResult).
	parens := 0
	for l.tok.kind != tEOF {
		switch {
		case l.isPunct("("):
			parens++
		case l.isPunct(")"):
			if parens == 0 {
				return q, l.err // end of a subquery: the caller consumes ")"
			}
			parens--
		case parens == 0 && l.isKeyword("GROUP"):
			l.next()
			if !l.isKeyword("BY") {
				return q, errSOQL
			}
			q.Aggregate = true
		}
		l.next()
	}
	if l.err != nil || parens != 0 {
		return q, errSOQL
	}
	return q, nil
}

// parseTypeof parses TYPEOF rel WHEN T THEN f, f [WHEN ...] [ELSE f, f] END.
func parseTypeof(l *soqlLexer, q *soqlQuery) error {
	l.next()
	if l.tok.kind != tIdent {
		return errSOQL
	}
	rel := l.tok.text
	l.next()
	clauses := 0
	for {
		switch {
		case l.isKeyword("WHEN"):
			l.next()
			if l.tok.kind != tIdent {
				return errSOQL
			}
			l.next()
			if !l.isKeyword("THEN") {
				return errSOQL
			}
		case l.isKeyword("ELSE"):
		case l.isKeyword("END"):
			if clauses == 0 {
				return errSOQL
			}
			l.next()
			return nil
		default:
			return errSOQL
		}
		clauses++
		l.next()
		for {
			if l.tok.kind != tIdent || isReserved(l.tok.text) {
				return errSOQL
			}
			q.addField(rel + "." + l.tok.text)
			l.next()
			if !l.isPunct(",") {
				break
			}
			l.next()
		}
	}
}

// parseArgs reads function arguments up to the closing ")", keeping the
// field names (COUNT(Id), toLabel(Status), DAY_ONLY(convertTimezone(x))).
func parseArgs(l *soqlLexer, q *soqlQuery, depth int) error {
	if depth > maxSOQLDepth {
		return errSOQL
	}
	for {
		switch {
		case l.isPunct(")"):
			l.next()
			return nil
		case l.tok.kind == tIdent && l.peekPunct('('):
			if isAggregateFunc(l.tok.text) {
				q.Aggregate = true
			}
			l.next()
			l.next()
			if err := parseArgs(l, q, depth+1); err != nil {
				return err
			}
			continue
		case l.tok.kind == tIdent:
			if !isLiteralWord(l.tok.text) {
				q.addField(l.tok.text)
			}
		case l.tok.kind == tNumber, l.tok.kind == tString, l.tok.kind == tRef, l.isPunct(","):
		default:
			return errSOQL
		}
		l.next()
	}
}

// skipAlias consumes an alias after a field or function.
func skipAlias(l *soqlLexer) {
	if l.tok.kind == tIdent && !l.isKeyword("FROM") && !isReserved(l.tok.text) {
		l.next()
	}
}

func (q *soqlQuery) addField(f string) {
	if f == "" {
		return
	}
	for _, x := range q.Fields {
		if strings.EqualFold(x, f) {
			return
		}
	}
	if q.Fields == nil {
		q.Fields = make([]string, 0, 8)
	}
	q.Fields = append(q.Fields, f)
}

var (
	aggregateFuncs = [...]string{"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX", "GROUPING"}
	literalWords   = [...]string{"NULL", "TRUE", "FALSE", "ASC", "DESC"}
	reservedWords  = [...]string{"SELECT", "FROM", "WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET", "HAVING", "WITH", "USING", "FOR", "TYPEOF", "WHEN", "THEN", "ELSE", "END", "AND", "OR", "NOT", "IN", "LIKE"}
)

// inFold reports whether s is one of words, ignoring case (no allocation).
func inFold(s string, words []string) bool {
	for _, w := range words {
		if len(w) == len(s) && strings.EqualFold(w, s) {
			return true
		}
	}
	return false
}

func isAggregateFunc(s string) bool { return inFold(s, aggregateFuncs[:]) }

func isLiteralWord(s string) bool { return inFold(s, literalWords[:]) }

// isReserved reports words that cannot be a field or object name here.
func isReserved(s string) bool {
	if len(s) < 2 || len(s) > 6 {
		return false
	}
	return inFold(s, reservedWords[:])
}
