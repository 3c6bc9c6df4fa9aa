package crm

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// The plan fuzzers check one invariant: every field identifier that
// appears in the request text appears in the plan with a role. The
// checker below finds identifiers on its own, with a tokenizer that knows
// only string literals, keywords, function calls and the few positions
// where a name is not a field (FROM object and alias, USING SCOPE, WITH,
// TYPEOF ... WHEN type, a select item's alias); it does not use the parser.

var planCheckKeywords = map[string]bool{
	"select": true, "from": true, "where": true, "and": true, "or": true, "not": true, "in": true, "like": true,
	"includes": true, "excludes": true, "group": true, "by": true, "order": true, "asc": true, "desc": true,
	"nulls": true, "first": true, "last": true, "limit": true, "offset": true, "having": true, "with": true,
	"using": true, "scope": true, "for": true, "view": true, "reference": true, "update": true, "tracking": true,
	"viewstat": true, "typeof": true, "when": true, "then": true, "else": true, "end": true, "null": true,
	"true": true, "false": true, "is": true, "between": true, "find": true, "returning": true, "all": true,
	"name": false, "listview": true, "fields": true,
}

type checkTok struct {
	text  string
	ident bool
}

// checkTokens splits text into identifiers (with dots) and single
// punctuation characters, dropping quoted strings and {…} search terms.
func checkTokens(s string) []checkTok {
	var out []checkTok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			i = j + 1
		case c == '{' && strings.HasPrefix(strings.ToUpper(strings.TrimSpace(s[:i])), "FIND"):
			j := i + 1
			for j < len(s) && s[j] != '}' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			i = j + 1
		case c == '@' && i+1 < len(s) && s[i+1] == '{':
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return out
			}
			i += j + 1
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdentPart(s[j]) {
				j++
			}
			out = append(out, checkTok{s[i:j], true})
			i = j
		case isDigit(c) || c == '-' && i+1 < len(s) && isDigit(s[i+1]):
			j := i + 1
			for j < len(s) && (isIdentPart(s[j]) || s[j] == ':' || s[j] == '+' || s[j] == '-') {
				j++
			}
			i = j
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		default:
			out = append(out, checkTok{s[i : i+1], false})
			i++
		}
	}
	return out
}

// planNames is what a plan accounts for: field names of its roles,
// objects, alias keys.
func planNames(a Action) map[string]bool {
	names := map[string]bool{}
	for k := range a.FieldRoles {
		if _, f, ok := strings.Cut(k, "."); ok {
			names[strings.ToLower(f)] = true
		}
	}
	for _, o := range a.Objects {
		names[strings.ToLower(o)] = true
	}
	for k := range a.Aliases {
		names[strings.ToLower(k)] = true
	}
	return names
}

// unplannedFields returns the field identifiers of a SOQL/COQL/SOSL text
// that the plan does not account for.
func unplannedFields(q string, a Action) []string {
	names := planNames(a)
	toks := checkTokens(q)
	var missing []string
	skip := 0
	inWith := false
	fromAliases := map[string]bool{}
	for i, t := range toks {
		lower := strings.ToLower(t.text)
		if skip > 0 {
			skip--
			continue
		}
		if !t.ident {
			continue
		}
		if inWith {
			switch lower {
			case "group", "order", "limit", "offset", "for", "update", "having", "where", "returning":
				inWith = false
			default:
				continue
			}
		}
		next := checkTok{}
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		prev := checkTok{}
		if i > 0 {
			prev = toks[i-1]
		}
		switch {
		case lower == "from" || lower == "scope" || lower == "when":
			skip = 1
			if lower == "from" && i+2 < len(toks) && toks[i+2].ident && !planCheckKeywords[strings.ToLower(toks[i+2].text)] {
				skip = 2 // FROM Object alias
				fromAliases[strings.ToLower(toks[i+2].text)] = true
			}
			continue
		case lower == "with":
			inWith = true
			continue
		case lower == "in" && i+2 < len(toks) && strings.EqualFold(toks[i+2].text, "fields"):
			skip = 2 // SOSL IN <scope> FIELDS
			continue
		case lower == "listview":
			skip = 2 // = view
			continue
		case planCheckKeywords[lower], isValueWord(t.text):
			continue
		case next.text == "(" || next.text == ":":
			continue // a function, FIELDS(...), an object's RETURNING list, a date literal's name
		case prev.text == ":":
			continue // a bind variable (:name), a value, never a field
		case prev.ident && !planCheckKeywords[strings.ToLower(prev.text)] || prev.text == ")":
			continue // an alias after a select item or FROM path
		case prev.text == ",":
			// FROM Contact c, c.Account a: the path after a comma in FROM
			// is a relationship path; fall through to the field check.
		}
		segs := strings.Split(lower, ".")
		if last := segs[len(segs)-1]; fromAliases[lower] || names[last] || names[lower] || names[last+"id"] ||
			strings.HasSuffix(last, "__r") && names[strings.TrimSuffix(last, "__r")+"__c"] {
			continue // a field, an object or alias, or a relationship whose lookup field is planned
		}
		missing = append(missing, t.text)
	}
	return missing
}

func fuzzPlanQuery(t *testing.T, c *Classifier, req Request, text string) {
	res, err := c.Classify(context.Background(), req)
	if err != nil || res.Action.Operation == OpUnknown {
		return
	}
	if slices.Contains(res.Action.Objects, ObjectUnknown) {
		return // a request touching an object the plan cannot resolve is denied by default
	}
	if m := unplannedFields(text, res.Action); len(m) > 0 {
		t.Fatalf("fields %q of %q are not in the plan %v / objects %v / aliases %v", m, text, res.Action.FieldRoles, res.Action.Objects, res.Action.Aliases)
	}
	for k, rs := range res.Action.FieldRoles {
		if len(rs) == 0 || !strings.Contains(k, ".") {
			t.Fatalf("plan key %q with roles %q", k, rs)
		}
	}
}

var soqlSeeds = []string{
	"SELECT Id, Name n, Account.Owner.Email, (SELECT Amount FROM Opportunities WHERE StageName = 'x' ORDER BY CloseDate) FROM Contact WHERE MobilePhone LIKE '1%' ORDER BY Email",
	"SELECT COUNT(Id), MAX(National_ID__c), FORMAT(Birthdate) bd FROM Contact GROUP BY ROLLUP(LeadSource) HAVING COUNT(Id) > 1",
	"SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE Phone != null) AND NOT (Name = 'a' OR Industry IN ('b'))",
	"SELECT c.Name, a.Phone FROM Contact c, c.Account a WHERE c.Email = 'x' USING SCOPE mine WITH SECURITY_ENFORCED LIMIT 5",
	"SELECT TYPEOF What WHEN Account THEN Phone ELSE Name END FROM Event WHERE CreatedDate = LAST_N_DAYS:30",
	"SELECT Name FROM Account WHERE DISTANCE(Location__c, GEOLOCATION(37.7,-122.4), 'mi') < 20 ORDER BY Name DESC NULLS LAST",
}

func FuzzPlanSOQL(f *testing.F) {
	for _, s := range soqlSeeds {
		f.Add(s)
	}
	c, err := NewClassifier("salesforce", Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		fuzzPlanQuery(t, c, Request{Method: "GET", Path: "/services/data/v60.0/query", RawQuery: "q=" + url.QueryEscape(q), Header: http.Header{}, Subject: "s"}, q)
	})
}

func FuzzPlanCOQL(f *testing.F) {
	for _, s := range []string{
		"select Last_Name, Account_Name.Account_Name, count(id) from Contacts where Mobile like '139%' and Email is not null group by Last_Name order by Date_of_Birth limit 10",
		"select Full_Name from Leads where (Lead_Status = 'x' or Annual_Revenue between 1 and 5) and Mobile not like '1%'",
	} {
		f.Add(s)
	}
	c, err := NewClassifier("zoho", Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		body, _ := jsonMarshalString(q)
		fuzzPlanQuery(t, c, Request{Method: "POST", Path: "/crm/v8/coql", Header: http.Header{}, Body: []byte(`{"select_query":` + body + `}`), Subject: "s"}, q)
	})
}

func FuzzPlanSOSL(f *testing.F) {
	for _, s := range []string{
		"FIND {139*} IN PHONE FIELDS RETURNING Contact(Name, Phone WHERE Birthdate > 2000-01-01 ORDER BY Email LIMIT 5), Lead",
		"FIND {x} IN ALL FIELDS RETURNING Account(Name, toLabel(Type) t WHERE Industry = 'y' USING LISTVIEW = Recent) WITH SNIPPET(target_length=120) LIMIT 20",
	} {
		f.Add(s)
	}
	c, err := NewClassifier("salesforce", Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		fuzzPlanQuery(t, c, Request{Method: "GET", Path: "/services/data/v60.0/search", RawQuery: "q=" + url.QueryEscape(q), Header: http.Header{}, Subject: "s"}, q)
	})
}

func jsonMarshalString(s string) (string, error) {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// gqlCheckWords are the GraphQL words that are never fields: the
// language's keywords, the CRMs' structural fields, argument names,
// filter operators and enum values.
var gqlCheckWords = map[string]bool{
	"query": true, "fragment": true, "on": true, "true": true, "false": true, "null": true,
	"uiapi": true, "aggregate": true, "edges": true, "node": true, "cursor": true, "totalcount": true,
	"pageinfo": true, "hasnextpage": true, "endcursor": true, "value": true, "displayvalue": true, "format": true,
	"label": true, "__typename": true, "records": true, "_data": true, "_info": true, "meta": true,
	"where": true, "orderby": true, "groupby": true, "first": true, "after": true, "last": true, "before": true,
	"scope": true, "upperbound": true, "offset": true, "limit": true, "page": true, "per_page": true,
	"page_token": true, "and": true, "or": true, "not": true, "_and": true, "_or": true, "_not": true,
	"order": true, "nulls": true, "asc": true, "desc": true, "group": true, "function": true, "apiname": true,
	"sum": true, "avg": true, "min": true, "max": true, "count": true, "countdistinct": true, "grouping": true,
	"more_records": true, "mine": true, "everything": true,
}

func unplannedGraphQL(q string, a Action) []string {
	names := planNames(a)
	for k := range sfChildTable {
		names[k] = names[k] || slices.Contains(a.Objects, sfChildTable[k])
	}
	accounted := func(lw string) bool {
		return names[lw] || names[lw+"id"] || strings.HasSuffix(lw, "__r") && names[strings.TrimSuffix(lw, "__r")+"__c"] ||
			strings.HasSuffix(lw, "__r") && slices.Contains(a.Objects, ObjectUnknown)
	}
	var missing []string
	prevDollar, prevKw := false, false
	parens := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(q) && q[j] != '"' {
				if q[j] == '\\' {
					j++
				}
				j++
			}
			i = j + 1
			prevDollar = false
		case c == '#':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(q) && (isIdentStart(q[j]) || isDigit(q[j])) {
				j++
			}
			w := q[i:j]
			lw := strings.ToLower(w)
			rest := strings.TrimLeft(q[j:], " \t\r\n,")
			keyed := strings.HasPrefix(rest, ":")
			switch {
			case prevDollar, prevKw, gqlCheckWords[lw], inFold(w, gqlOperators[:]), isFunctionName(w):
			case parens > 0 && !keyed:
				// an argument value: enum, variable type, literal
			case !accounted(lw):
				// a field, relationship or connection (or, before a colon,
				// an alias in a selection set or a key of a filter)
				missing = append(missing, w)
			}
			prevKw = lw == "fragment" || lw == "on" || lw == "query" && !strings.HasPrefix(rest, "{")
			prevDollar = false
			i = j
		case c == '$', c == '@':
			prevDollar = true // a variable's name, or a directive's (@include): never a field
			i++
		default:
			switch c {
			case '(':
				parens++
			case ')':
				parens--
			}
			prevDollar = false
			i++
		}
	}
	return missing
}

func FuzzPlanGraphQL(f *testing.F) {
	for _, s := range []string{
		`query { u: uiapi { q: query { c: Contact(where: { and: [ { MobilePhone: { like: "139%" } }, { not: { Account: { Name: { eq: "x" } } } } ] }, orderBy: { Birthdate: { order: ASC } }) { e: edges { n: node { Id m: MobilePhone { v: value } Account { Name { value } } Opportunities { edges { node { Amount { value } } } } } } } } } }`,
		`{ uiapi { aggregate { Opportunity(groupBy: { StageName: { group: true } }) { edges { node { aggregate { StageName { value } t: Amount { s: sum { value } } } } } } } } }`,
		`{ uiapi { query { Account(where: { Id: { inq: { Contact: { MobilePhone: { like: "1%" } }, ApiName: "AccountId" } } }) { edges { node { Id } } } } } }`,
	} {
		f.Add(s)
	}
	f.Add(`query q($w: Contact_Filter) { uiapi { query { Contact(where: $w, first: 10) { edges { node { Id Email { value } } } } } } }`)
	c, err := NewClassifier("salesforce", Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		body, _ := jsonMarshalString(q)
		res, err := c.Classify(context.Background(), Request{Method: "POST", Path: "/services/data/v60.0/graphql", Header: http.Header{}, Body: []byte(`{"query":` + body + `}`), Subject: "s"})
		if err != nil || res.Action.Operation == OpUnknown || slices.Contains(res.Action.Objects, ObjectUnknown) {
			return // unknown objects are denied by default: nothing to plan
		}
		if m := unplannedGraphQL(q, res.Action); len(m) > 0 {
			t.Fatalf("names %q of %q are not in the plan %v / objects %v / aliases %v", m, q, res.Action.FieldRoles, res.Action.Objects, res.Action.Aliases)
		}
	})
}
