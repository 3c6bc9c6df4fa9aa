package crm

import (
	"strconv"
	"strings"
)

// The SOQL (and COQL) access plan parser: a second pass over the query text,
// with the same tokenizer as parseSOQL, that reads every clause instead of
// skipping them, and records each field reference with the role the clause
// gives it (docs/classification.md, "Access plan"). It knows nothing of
// objects: relationship paths are resolved afterwards (plan.go), so the
// parse is the same whatever the CRM's metadata says. What it does not
// understand is an error, and the query is then unknown.

// soqlPlan is one SELECT (the query, a child subquery or a semi-join).
type soqlPlan struct {
	object   string            // FROM name as written (a relationship name in a child subquery)
	aliases  map[string]string // FROM aliases (lower case) -> relationship path from object ("" for object itself)
	refs     []planRef
	keys     []planKey   // response keys of select-list expressions that are not plain fields
	children []*soqlPlan // child relationship subqueries of the select list
	semis    []*soqlPlan // semi-join and anti-join subqueries (WHERE x IN (SELECT ...))
	search   bool        // a SOSL RETURNING object: every field is in the search scope
}

// planRef is one use of a field, relative to the plan's object.
type planRef struct {
	path   string // as written: "Account.Owner.Email", "c.Name", "*" for FIELDS()
	role   string
	fn     bool   // inside a function: RoleAggregate too
	typeOf string // TYPEOF ... WHEN <typeOf>: the object the relationship resolves to
}

// planKey is a response key (explicit alias or exprN) and the expression
// it carries; the expression's field references point into refs.
type planKey struct {
	key      string
	expr     []exprPart
	numbered bool // an exprN key (unaliased)
}

type exprPart struct {
	text string
	ref  int // >= 0: the field refs[ref]; -1: literal text
}

type planParser struct {
	l *soqlLexer
}

// parseSOQLPlan parses a SOQL or COQL SELECT statement into its plan.
func parseSOQLPlan(q string) (*soqlPlan, error) {
	p := &planParser{l: &soqlLexer{s: q}}
	p.l.next()
	sp, err := p.selectStmt(0, RoleSelect)
	if err != nil {
		return nil, err
	}
	if p.l.tok.kind != tEOF || p.l.err != nil {
		return nil, errSOQL
	}
	return sp, nil
}

// selectStmt parses SELECT ... FROM ... [clauses]. selectRole is the role
// of the select list: RoleFilter inside a semi-join.
func (p *planParser) selectStmt(depth int, selectRole string) (*soqlPlan, error) {
	l := p.l
	if depth > maxSOQLDepth || !l.isKeyword("SELECT") {
		return nil, errSOQL
	}
	l.next()
	sp := &soqlPlan{}
	exprN := 0
	for {
		switch {
		case l.isPunct("("):
			l.next()
			if selectRole != RoleSelect {
				return nil, errSOQL // no child subqueries inside a semi-join
			}
			child, err := p.selectStmt(depth+1, RoleSelect)
			if err != nil {
				return nil, err
			}
			if !l.isPunct(")") {
				return nil, errSOQL
			}
			l.next()
			sp.children = append(sp.children, child)
		case l.isPunct("*"):
			sp.refs = append(sp.refs, planRef{path: "*", role: selectRole})
			l.next()
		case l.isKeyword("FIELDS") && l.peekPunct('('):
			l.next()
			l.next()
			if !(l.isKeyword("ALL") || l.isKeyword("STANDARD") || l.isKeyword("CUSTOM")) {
				return nil, errSOQL
			}
			l.next()
			if !l.isPunct(")") {
				return nil, errSOQL
			}
			l.next()
			sp.refs = append(sp.refs, planRef{path: "*", role: selectRole})
		case l.isKeyword("TYPEOF"):
			if err := p.typeOf(sp, selectRole); err != nil {
				return nil, err
			}
		case l.tok.kind == tIdent && l.peekPunct('('):
			outer := l.tok.text
			expr, plainArg, err := p.function(sp, selectRole, depth+1)
			if err != nil {
				return nil, err
			}
			if alias, ok := p.alias(); ok {
				sp.keys = append(sp.keys, planKey{key: alias, expr: expr})
			} else if !(isWrapperFunc(outer) && plainArg) {
				// Salesforce names unaliased aggregate and date function
				// results expr0, expr1, ... in select-list order; toLabel,
				// FORMAT and convertCurrency of a plain field come back
				// under the field's own name.
				sp.keys = append(sp.keys, planKey{key: "expr" + strconv.Itoa(exprN), expr: expr, numbered: true})
				exprN++
			}
		case l.tok.kind == tIdent && !isReserved(l.tok.text):
			path := l.tok.text
			if !validPath(path) {
				return nil, errSOQL
			}
			sp.refs = append(sp.refs, planRef{path: path, role: selectRole})
			l.next()
			if alias, ok := p.alias(); ok {
				sp.keys = append(sp.keys, planKey{key: alias, expr: []exprPart{{ref: len(sp.refs) - 1}}})
			}
		default:
			return nil, errSOQL
		}
		if !l.isPunct(",") {
			break
		}
		l.next()
	}
	if !l.isKeyword("FROM") {
		return nil, errSOQL
	}
	l.next()
	if l.tok.kind != tIdent || isReserved(l.tok.text) || !isObjectName(l.tok.text) {
		return nil, errSOQL
	}
	sp.object = l.tok.text
	l.next()
	if alias, ok := p.alias(); ok {
		sp.addAlias(alias, "")
	}
	// FROM Contact c, c.Account a: relationship aliases.
	for l.isPunct(",") {
		l.next()
		if l.tok.kind != tIdent || !validPath(l.tok.text) {
			return nil, errSOQL
		}
		path := l.tok.text
		l.next()
		alias, ok := p.alias()
		if !ok {
			return nil, errSOQL
		}
		sp.addAlias(alias, path)
		// The path is walked whether or not a field uses the alias: its
		// objects are touched.
		sp.refs = append(sp.refs, planRef{path: path + ".Id", role: selectRole})
	}
	return sp, p.clauses(sp, depth, selectRole == RoleFilter)
}

func (sp *soqlPlan) addAlias(alias, path string) {
	if sp.aliases == nil {
		sp.aliases = make(map[string]string, 2)
	}
	sp.aliases[strings.ToLower(alias)] = path
}

// clauses parses what follows FROM up to the end of the statement (EOF or
// the ")" closing a subquery, left to the caller). In a semi-join every
// field is a filter.
func (p *planParser) clauses(sp *soqlPlan, depth int, semi bool) error {
	l := p.l
	role := func(r string) string {
		if semi {
			return RoleFilter
		}
		return r
	}
	for l.tok.kind != tEOF && !l.isPunct(")") {
		switch {
		case l.isKeyword("USING"):
			// USING SCOPE mine|team|... (SOQL), USING LISTVIEW = id
			// (SOSL): a record filter, not a field.
			l.next()
			switch {
			case l.isKeyword("SCOPE"):
				l.next()
			case l.isKeyword("LISTVIEW"):
				l.next()
				if !l.isPunct("=") {
					return errSOQL
				}
				l.next()
			default:
				return errSOQL
			}
			if l.tok.kind != tIdent {
				return errSOQL
			}
			l.next()
		case l.isKeyword("WHERE"), l.isKeyword("HAVING"):
			l.next()
			if err := p.condition(sp, RoleFilter, depth+1); err != nil {
				return err
			}
		case l.isKeyword("WITH"):
			// WITH SECURITY_ENFORCED, USER_MODE, DATA CATEGORY g AT (c, d):
			// data category names, not fields.
			l.next()
			if err := p.skipWith(); err != nil {
				return err
			}
		case l.isKeyword("GROUP"), l.isKeyword("ORDER"):
			r := role(RoleGroup)
			if l.isKeyword("ORDER") {
				r = role(RoleSort)
			}
			l.next()
			if !l.isKeyword("BY") {
				return errSOQL
			}
			l.next()
			if err := p.exprList(sp, r, depth+1); err != nil {
				return err
			}
		case l.isKeyword("LIMIT"), l.isKeyword("OFFSET"):
			l.next()
			if l.tok.kind != tNumber && l.tok.kind != tRef {
				return errSOQL
			}
			l.next()
		case l.isKeyword("FOR"):
			l.next()
			for l.isKeyword("VIEW") || l.isKeyword("REFERENCE") || l.isKeyword("UPDATE") {
				l.next()
				if !l.isPunct(",") {
					break
				}
				l.next()
			}
		case l.isKeyword("UPDATE"):
			l.next()
			if !(l.isKeyword("TRACKING") || l.isKeyword("VIEWSTAT")) {
				return errSOQL
			}
			l.next()
		default:
			return errSOQL
		}
	}
	return l.err
}

// skipWith skips a WITH clause up to the next clause keyword, with
// balanced parentheses.
func (p *planParser) skipWith() error {
	l := p.l
	depth := 0
	for l.tok.kind != tEOF {
		if depth == 0 && (l.isPunct(")") || l.isKeyword("GROUP") || l.isKeyword("ORDER") || l.isKeyword("LIMIT") ||
			l.isKeyword("OFFSET") || l.isKeyword("FOR") || l.isKeyword("UPDATE") || l.isKeyword("HAVING") || l.isKeyword("WHERE")) {
			return nil
		}
		if l.isPunct("(") {
			depth++
		} else if l.isPunct(")") {
			depth--
		}
		l.next()
	}
	if depth != 0 {
		return errSOQL
	}
	return l.err
}

// exprList parses GROUP BY / ORDER BY items: fields or functions
// (ROLLUP(...) and CUBE(...) group their arguments), each optionally
// followed by ASC/DESC and NULLS FIRST/LAST.
func (p *planParser) exprList(sp *soqlPlan, role string, depth int) error {
	l := p.l
	for {
		switch {
		case l.tok.kind == tIdent && l.peekPunct('(') && (l.isKeyword("ROLLUP") || l.isKeyword("CUBE")):
			l.next()
			l.next()
			if err := p.exprList(sp, role, depth+1); err != nil {
				return err
			}
			if !l.isPunct(")") {
				return errSOQL
			}
			l.next()
		case l.tok.kind == tIdent && l.peekPunct('('):
			if _, _, err := p.function(sp, role, depth+1); err != nil {
				return err
			}
		case l.tok.kind == tIdent && !isReserved(l.tok.text) && validPath(l.tok.text):
			sp.refs = append(sp.refs, planRef{path: l.tok.text, role: role})
			l.next()
		default:
			return errSOQL
		}
		if l.isKeyword("ASC") || l.isKeyword("DESC") {
			l.next()
		}
		if l.isKeyword("NULLS") {
			l.next()
			if !(l.isKeyword("FIRST") || l.isKeyword("LAST")) {
				return errSOQL
			}
			l.next()
		}
		if !l.isPunct(",") {
			return nil
		}
		l.next()
	}
}

// condition parses a WHERE/HAVING condition: terms joined by AND/OR, NOT,
// parentheses; a term is a field or function, an operator and a value, a
// value list or a semi-join subquery. Values are never fields (SOQL does
// not compare a field with another).
func (p *planParser) condition(sp *soqlPlan, role string, depth int) error {
	l := p.l
	if depth > maxSOQLDepth {
		return errSOQL
	}
	for {
		for l.isKeyword("NOT") {
			l.next()
		}
		switch {
		case l.isPunct("("):
			l.next()
			if err := p.condition(sp, role, depth+1); err != nil {
				return err
			}
			if !l.isPunct(")") {
				return errSOQL
			}
			l.next()
		default:
			if err := p.term(sp, role, depth); err != nil {
				return err
			}
		}
		if !(l.isKeyword("AND") || l.isKeyword("OR")) {
			return nil
		}
		l.next()
	}
}

func (p *planParser) term(sp *soqlPlan, role string, depth int) error {
	l := p.l
	switch {
	case l.tok.kind == tIdent && l.peekPunct('('):
		if _, _, err := p.function(sp, role, depth+1); err != nil {
			return err
		}
	case l.tok.kind == tIdent && !isReserved(l.tok.text) && validPath(l.tok.text):
		sp.refs = append(sp.refs, planRef{path: l.tok.text, role: role})
		l.next()
	default:
		return errSOQL
	}
	// Operator.
	switch {
	case l.isPunct("="), l.isPunct("!="), l.isPunct("<"), l.isPunct("<="), l.isPunct(">"), l.isPunct(">="),
		l.isKeyword("LIKE"), l.isKeyword("IN"), l.isKeyword("INCLUDES"), l.isKeyword("EXCLUDES"):
		l.next()
	case l.isKeyword("NOT"):
		// NOT IN; COQL also has NOT LIKE.
		l.next()
		if !l.isKeyword("IN") && !l.isKeyword("LIKE") {
			return errSOQL
		}
		l.next()
	case l.isKeyword("IS"):
		// COQL: IS [NOT] NULL.
		l.next()
		if l.isKeyword("NOT") {
			l.next()
		}
		if !l.isKeyword("NULL") {
			return errSOQL
		}
		l.next()
		return nil
	case l.isKeyword("BETWEEN"):
		// COQL: BETWEEN a AND b.
		l.next()
		if err := p.value(); err != nil {
			return err
		}
		if !l.isKeyword("AND") {
			return errSOQL
		}
		l.next()
		return p.value()
	default:
		return errSOQL
	}
	// Value.
	if l.isPunct("(") {
		l.next()
		if l.isKeyword("SELECT") {
			semi, err := p.selectStmt(depth+1, RoleFilter)
			if err != nil {
				return err
			}
			sp.semis = append(sp.semis, semi)
		} else {
			for {
				if err := p.value(); err != nil {
					return err
				}
				if !l.isPunct(",") {
					break
				}
				l.next()
			}
		}
		if !l.isPunct(")") {
			return errSOQL
		}
		l.next()
		return nil
	}
	return p.value()
}

// value reads a literal: string, number, date, date literal (TODAY,
// LAST_N_DAYS:30), NULL/TRUE/FALSE, a composite reference or a bind.
func (p *planParser) value() error {
	l := p.l
	switch l.tok.kind {
	case tString, tNumber, tRef:
		l.next()
		return nil
	case tIdent:
		// SOQL never compares a field with a field: a word here is NULL,
		// TRUE, FALSE or a date literal, anything else is not understood.
		if !isValueWord(l.tok.text) || l.peekPunct('(') {
			return errSOQL
		}
		l.next()
		if l.isPunct(":") {
			l.next()
			if l.tok.kind != tNumber && l.tok.kind != tIdent {
				return errSOQL
			}
			l.next()
		}
		return nil
	case tPunct:
		if l.isPunct(":") { // bind variable
			l.next()
			if l.tok.kind != tIdent {
				return errSOQL
			}
			l.next()
			return nil
		}
	}
	return errSOQL
}

// function parses name(args) at the current token. Every field inside is
// a reference with role and fn set. It returns the expression (for the
// response key) and whether the only argument is a plain field.
func (p *planParser) function(sp *soqlPlan, role string, depth int) ([]exprPart, bool, error) {
	l := p.l
	if depth > maxSOQLDepth {
		return nil, false, errSOQL
	}
	name := l.tok.text
	l.next()
	l.next() // "("
	expr := []exprPart{{text: name + "(", ref: -1}}
	fields, others := 0, 0
	for first := true; ; first = false {
		if l.isPunct(")") {
			l.next()
			expr = append(expr, exprPart{text: ")", ref: -1})
			return expr, fields == 1 && others == 0, nil
		}
		if !first {
			if !l.isPunct(",") {
				return nil, false, errSOQL
			}
			l.next()
			expr = append(expr, exprPart{text: ", ", ref: -1})
		}
		switch {
		case l.tok.kind == tIdent && l.peekPunct('('):
			inner, _, err := p.function(sp, role, depth+1)
			if err != nil {
				return nil, false, err
			}
			expr = append(expr, inner...)
			others++
		case l.tok.kind == tIdent && !isLiteralWord(l.tok.text) && !isReserved(l.tok.text) && validPath(l.tok.text):
			sp.refs = append(sp.refs, planRef{path: l.tok.text, role: role, fn: true})
			expr = append(expr, exprPart{ref: len(sp.refs) - 1})
			fields++
			l.next()
		case l.tok.kind == tNumber, l.tok.kind == tString, l.tok.kind == tRef, l.tok.kind == tIdent && isLiteralWord(l.tok.text):
			expr = append(expr, exprPart{text: l.tok.text, ref: -1})
			others++
			l.next()
		default:
			return nil, false, errSOQL
		}
	}
}

// typeOf parses TYPEOF rel WHEN T THEN f, ... [ELSE f, ...] END.
func (p *planParser) typeOf(sp *soqlPlan, role string) error {
	l := p.l
	l.next()
	if l.tok.kind != tIdent || !validPath(l.tok.text) {
		return errSOQL
	}
	rel := l.tok.text
	l.next()
	clauses := 0
	for {
		target := ""
		switch {
		case l.isKeyword("WHEN"):
			l.next()
			if l.tok.kind != tIdent || !isObjectName(l.tok.text) {
				return errSOQL
			}
			target = l.tok.text
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
			if l.tok.kind != tIdent || isReserved(l.tok.text) || !validPath(l.tok.text) {
				return errSOQL
			}
			sp.refs = append(sp.refs, planRef{path: rel + "." + l.tok.text, role: role, typeOf: target})
			l.next()
			if !l.isPunct(",") {
				break
			}
			l.next()
		}
	}
}

// alias consumes an alias after a select item or FROM object.
func (p *planParser) alias() (string, bool) {
	l := p.l
	if l.tok.kind != tIdent || isReserved(l.tok.text) || l.isKeyword("UPDATE") || l.isKeyword("NULLS") ||
		strings.IndexByte(l.tok.text, '.') >= 0 {
		return "", false
	}
	a := l.tok.text
	l.next()
	return a, true
}

// validPath reports a dotted identifier whose every segment is a name
// (not empty, not starting with a digit).
func validPath(s string) bool {
	if s == "" || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (i == 0 || s[i-1] == '.') && !isIdentStart(s[i]) {
			return false
		}
	}
	return true
}

// wrapperFuncs return a field's value under the field's own name.
var wrapperFuncs = [...]string{"toLabel", "FORMAT", "convertCurrency"}

func isWrapperFunc(s string) bool { return inFold(s, wrapperFuncs[:]) }

// returning parses the inside of a SOSL RETURNING Object(...) up to the
// closing ")" (left to the caller): fields and functions with aliases,
// then WHERE, ORDER BY, LIMIT, OFFSET, USING LISTVIEW.
func (p *planParser) returning(sp *soqlPlan) error {
	l := p.l
	for !l.isPunct(")") {
		switch {
		case l.tok.kind == tIdent && l.peekPunct('('):
			if _, _, err := p.function(sp, RoleSelect, 1); err != nil {
				return err
			}
			p.alias()
		case l.tok.kind == tIdent && !isReserved(l.tok.text) && !l.isKeyword("USING") && validPath(l.tok.text):
			sp.refs = append(sp.refs, planRef{path: l.tok.text, role: RoleSelect})
			l.next()
			// SOSL has no field aliases: a second word here ("BY x" for
			// "ORDER BY x", a missing comma) is not understood.
			if l.tok.kind == tIdent && !isReserved(l.tok.text) && !l.isKeyword("USING") {
				return errSOQL
			}
		default:
			return p.clauses(sp, 1, false)
		}
		if !l.isPunct(",") {
			return p.clauses(sp, 1, false)
		}
		l.next()
	}
	return l.err
}

// dateLiteralParts are the words SOQL date literals are made of
// (TODAY, LAST_N_DAYS, THIS_FISCAL_QUARTER, N_YEARS_AGO, LAST_90_DAYS ...).
var dateLiteralParts = [...]string{"YESTERDAY", "TODAY", "TOMORROW", "THIS", "LAST", "NEXT", "N", "90", "DAYS", "WEEK",
	"WEEKS", "MONTH", "MONTHS", "QUARTER", "QUARTERS", "YEAR", "YEARS", "FISCAL", "AGO"}

// isValueWord reports NULL, TRUE, FALSE and date literals.
func isValueWord(s string) bool {
	if inFold(s, literalWords[:3]) {
		return true
	}
	if s == "" {
		return false
	}
	for part := range strings.SplitSeq(s, "_") {
		if !inFold(part, dateLiteralParts[:]) {
			return false
		}
	}
	return true
}
