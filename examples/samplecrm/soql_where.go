package samplecrm

import (
	"cmp"
	"strconv"
	"strings"
)

// The WHERE clause of the sample CRM's SOQL (soql.go): its conditions, how
// they are parsed and how a row is tested against them.

type cond interface {
	eval(r *row) bool
}

type andCond []cond
type orCond []cond
type notCond struct{ c cond }

// valuer is a field reached from a row (a SOQL path or a Zoho field path).
type valuer interface {
	value(r *row) string
}

type cmpCond struct {
	p    valuer
	k    kind
	op   string
	vals []string // one for comparisons, several for IN
	null bool     // compared with null
	num  bool
}

func (c andCond) eval(r *row) bool {
	for _, x := range c {
		if !x.eval(r) {
			return false
		}
	}
	return true
}

func (c orCond) eval(r *row) bool {
	for _, x := range c {
		if x.eval(r) {
			return true
		}
	}
	return false
}

func (c notCond) eval(r *row) bool { return !c.c.eval(r) }

func (c *cmpCond) eval(r *row) bool {
	v := c.p.value(r)
	if c.null {
		switch c.op {
		case "=":
			return v == ""
		case "!=", "<>":
			return v != ""
		}
		return false
	}
	switch c.op {
	case "IN":
		for _, x := range c.vals {
			if strings.EqualFold(v, x) {
				return true
			}
		}
		return false
	case "NOT IN":
		for _, x := range c.vals {
			if strings.EqualFold(v, x) {
				return false
			}
		}
		return true
	case "LIKE":
		return v != "" && like(strings.ToLower(v), strings.ToLower(c.vals[0]))
	}
	var d int
	if c.num {
		a, err1 := strconv.ParseFloat(v, 64)
		b, err2 := strconv.ParseFloat(c.vals[0], 64)
		if err1 != nil || err2 != nil {
			return c.op == "!=" || c.op == "<>"
		}
		d = cmp.Compare(a, b)
	} else {
		if v == "" {
			return c.op == "!=" || c.op == "<>"
		}
		d = strings.Compare(strings.ToLower(v), strings.ToLower(c.vals[0]))
		if c.k == kID && len(c.vals[0]) == 15 && len(v) == 18 && v[:15] == c.vals[0] {
			d = 0
		}
	}
	switch c.op {
	case "=":
		return d == 0
	case "!=", "<>":
		return d != 0
	case "<":
		return d < 0
	case "<=":
		return d <= 0
	case ">":
		return d > 0
	case ">=":
		return d >= 0
	}
	return false
}

// like matches SOQL LIKE patterns (% any run, _ one character) in linear
// space and O(len(s)*len(pat)) time: greedy matching that backtracks only to
// the last %.
func like(s, pat string) bool {
	str, p := []rune(s), []rune(pat)
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(str) {
		switch {
		case pi < len(p) && (p[pi] == '_' || p[pi] == str[si]):
			si++
			pi++
		case pi < len(p) && p[pi] == '%':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

func (s *Server) parseOr(p *parser, obj *object) (cond, error) {
	var out orCond
	for {
		c, err := s.parseAnd(p, obj)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		if !p.acceptKw("OR") {
			break
		}
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return out, nil
}

func (s *Server) parseAnd(p *parser, obj *object) (cond, error) {
	var out andCond
	for {
		c, err := s.parseUnary(p, obj)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		if !p.acceptKw("AND") {
			break
		}
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return out, nil
}

func (s *Server) parseUnary(p *parser, obj *object) (cond, error) {
	if p.acceptKw("NOT") {
		c, err := s.parseUnary(p, obj)
		if err != nil {
			return nil, err
		}
		return notCond{c}, nil
	}
	if p.acceptPunct("(") {
		c, err := s.parseOr(p, obj)
		if err != nil {
			return nil, err
		}
		return c, p.expectPunct(")")
	}
	t := p.next()
	if t.kind != tIdent {
		return nil, malformed("expected a field in WHERE at position " + strconv.Itoa(t.pos))
	}
	pth, err := resolvePath(obj, t.text)
	if err != nil {
		return nil, err
	}
	c := &cmpCond{p: &pth, k: pth.f.kind, num: pth.f.kind == kNumber || pth.f.kind == kInt}
	switch {
	case p.acceptKw("LIKE"):
		c.op = "LIKE"
	case p.acceptKw("IN"):
		c.op = "IN"
	case p.isKw("NOT"):
		p.next()
		if !p.acceptKw("IN") {
			return nil, p.unexpected("IN")
		}
		c.op = "NOT IN"
	case p.peek().kind == tPunct && p.peek().text != "(" && p.peek().text != ")" && p.peek().text != ",":
		c.op = p.next().text
	default:
		return nil, p.unexpected("an operator")
	}
	if c.op == "IN" || c.op == "NOT IN" {
		if err := p.expectPunct("("); err != nil {
			return nil, err
		}
		for {
			v := p.next()
			if v.kind != tString && v.kind != tNumber {
				return nil, malformed("IN takes a list of literals")
			}
			c.vals = append(c.vals, v.text)
			if !p.acceptPunct(",") {
				break
			}
		}
		return c, p.expectPunct(")")
	}
	v := p.next()
	switch {
	case v.kind == tString || v.kind == tNumber:
		c.vals = []string{v.text}
	case v.kind == tIdent && strings.EqualFold(v.text, "null"):
		if c.op != "=" && c.op != "!=" && c.op != "<>" {
			return nil, malformed("null can only be compared with = or !=")
		}
		c.null = true
	case v.kind == tIdent && (strings.EqualFold(v.text, "true") || strings.EqualFold(v.text, "false")):
		c.vals = []string{strings.ToLower(v.text)}
	default:
		return nil, malformed("unsupported value '" + v.text + "' in WHERE (the sample CRM takes literals only)")
	}
	return c, nil
}
