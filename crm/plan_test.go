package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// planCase is one request and the access plan it must produce. Each row
// is one way a caller could read a field or object around a policy
// (docs/classification.md, "Access plan"); the roles listed are checked
// exactly, the objects as a set, the aliases listed exactly.
type planCase struct {
	name    string
	vendor  string // default salesforce
	method  string // default GET
	path    string
	query   string // raw query string
	soql    string // shortcut: GET query?q=<soql>
	body    string
	objects []string
	roles   map[string]string // "Object.Field" -> "role,role"
	aliases map[string]string
	subs    int // number of sub-requests, when > 0
}

var planCases = []planCase{
	{name: "plain select", soql: "SELECT Id, Email FROM Contact",
		objects: []string{"Contact"}, roles: map[string]string{"Contact.Id": "select", "Contact.Email": "select"}},
	{name: "field names are canonicalised", soql: "select mobilephone, EMAIL from contact",
		objects: []string{"Contact"}, roles: map[string]string{"Contact.MobilePhone": "select", "Contact.Email": "select"}},
	{name: "explicit aliases carry their source", soql: "SELECT Name n, MobilePhone m, COUNT(Id) FROM Contact GROUP BY Name, MobilePhone",
		objects: []string{"Contact"},
		roles:   map[string]string{"Contact.Name": "select,group", "Contact.MobilePhone": "select,group", "Contact.Id": "select,aggregate"},
		aliases: map[string]string{"n": "Contact.Name", "m": "Contact.MobilePhone", "expr0": "COUNT(Contact.Id)"}},
	{name: "unaliased aggregates are expr0, expr1 in order; aliased ones take no number", soql: "SELECT MAX(National_ID__c), MIN(Birthdate) b, SUM(Amount__c) FROM Contact",
		objects: []string{"Contact"},
		roles:   map[string]string{"Contact.National_ID__c": "select,aggregate", "Contact.Birthdate": "select,aggregate"},
		aliases: map[string]string{"expr0": "MAX(Contact.National_ID__c)", "b": "MIN(Contact.Birthdate)", "expr1": "SUM(Contact.Amount__c)"}},
	{name: "FORMAT with alias", soql: "SELECT FORMAT(Birthdate) bd FROM Contact",
		objects: []string{"Contact"}, roles: map[string]string{"Contact.Birthdate": "select,aggregate"},
		aliases: map[string]string{"bd": "FORMAT(Contact.Birthdate)"}},
	{name: "toLabel and convertCurrency without alias keep the field's key", soql: "SELECT toLabel(LeadSource), convertCurrency(AnnualRevenue) FROM Account",
		objects: []string{"Account"}, roles: map[string]string{"Account.LeadSource": "select,aggregate", "Account.AnnualRevenue": "select,aggregate"},
		aliases: map[string]string{}},
	{name: "date functions nest", soql: "SELECT CALENDAR_YEAR(convertTimezone(CreatedDate)) y, COUNT(Id) FROM Opportunity GROUP BY CUBE(CALENDAR_YEAR(convertTimezone(CreatedDate)))",
		objects: []string{"Opportunity"}, roles: map[string]string{"Opportunity.CreatedDate": "select,group,aggregate"},
		aliases: map[string]string{"y": "CALENDAR_YEAR(convertTimezone(Opportunity.CreatedDate))", "expr0": "COUNT(Opportunity.Id)"}},
	{name: "child subqueries are objects of their own", soql: "SELECT Id, (SELECT Amount, StageName FROM Opportunities), (SELECT Subject, Description FROM Cases) FROM Account",
		objects: []string{"Account", "Opportunity", "Case"},
		roles: map[string]string{"Account.Id": "select", "Opportunity.Amount": "select", "Opportunity.StageName": "select",
			"Case.Subject": "select", "Case.Description": "select"}},
	{name: "child subquery clauses", soql: "SELECT Name, (SELECT LastName FROM Contacts WHERE MobilePhone LIKE '1%' ORDER BY Birthdate) FROM Account",
		objects: []string{"Account", "Contact"},
		roles:   map[string]string{"Contact.LastName": "select", "Contact.MobilePhone": "filter", "Contact.Birthdate": "sort"}},
	{name: "relationship paths reach their target", soql: "SELECT Id, Account.Owner.Email, Owner.Username FROM Contact",
		objects: []string{"Contact", "Account", "User"},
		roles: map[string]string{"User.Email": "select", "User.Username": "select", "Contact.AccountId": "select",
			"Account.OwnerId": "select", "Contact.OwnerId": "select"}},
	{name: "custom relationship is unknown", soql: "SELECT Id, Broker__r.Phone__c FROM Contact",
		objects: []string{"Contact", "unknown"}, roles: map[string]string{"unknown.Phone__c": "select", "Contact.Broker__c": "select"}},
	{name: "unknown child relationship is unknown", soql: "SELECT Id, (SELECT Id FROM Invoices__r) FROM Account",
		objects: []string{"Account", "unknown"}, roles: map[string]string{"unknown.Id": "select"}},
	{name: "polymorphic TYPEOF resolves by WHEN, ELSE is unknown", soql: "SELECT TYPEOF What WHEN Account THEN Phone ELSE Name END FROM Event",
		objects: []string{"Event", "Account", "unknown"}, roles: map[string]string{"Account.Phone": "select", "unknown.Name": "select"}},
	{name: "FROM aliases", soql: "SELECT c.Name, a.Phone FROM Contact c, c.Account a WHERE c.Email = 'x'",
		objects: []string{"Contact", "Account"}, roles: map[string]string{"Contact.Name": "select", "Account.Phone": "select", "Contact.Email": "filter"}},
	{name: "LIKE on a field is a filter", soql: "SELECT COUNT() FROM Contact WHERE Id='003000000000001' AND MobilePhone LIKE '139%'",
		objects: []string{"Contact"}, roles: map[string]string{"Contact.Id": "filter", "Contact.MobilePhone": "filter"},
		aliases: map[string]string{"expr0": "COUNT()"}},
	{name: "NOT, OR, parentheses, IN lists, date literals", soql: "SELECT Id FROM Lead WHERE NOT (Email = null OR Phone IN ('1','2')) AND CreatedDate = LAST_N_DAYS:30 AND Rating EXCLUDES ('Hot')",
		objects: []string{"Lead"}, roles: map[string]string{"Lead.Email": "filter", "Lead.Phone": "filter", "Lead.CreatedDate": "filter", "Lead.Rating": "filter"}},
	{name: "semi-join and anti-join objects and fields filter", soql: "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE MobilePhone LIKE '1%') AND Id NOT IN (SELECT AccountId FROM Opportunity)",
		objects: []string{"Account", "Contact", "Opportunity"},
		roles:   map[string]string{"Account.Id": "select,filter", "Contact.AccountId": "filter", "Contact.MobilePhone": "filter", "Opportunity.AccountId": "filter"}},
	{name: "HAVING is a filter on the aggregate", soql: "SELECT LeadSource, COUNT(Name) c FROM Lead GROUP BY LeadSource HAVING MAX(AnnualRevenue) > 100",
		objects: []string{"Lead"}, roles: map[string]string{"Lead.LeadSource": "select,group", "Lead.AnnualRevenue": "filter,aggregate"}},
	{name: "ORDER BY a field is a sort", soql: "SELECT Id FROM Contact ORDER BY MobilePhone DESC NULLS LAST, Name LIMIT 1 OFFSET 1",
		objects: []string{"Contact"}, roles: map[string]string{"Contact.MobilePhone": "sort", "Contact.Name": "sort"}},
	{name: "GROUP BY ROLLUP", soql: "SELECT Industry, COUNT(Id) FROM Account GROUP BY ROLLUP(Industry)",
		objects: []string{"Account"}, roles: map[string]string{"Account.Industry": "select,group"}},
	{name: "WITH and USING SCOPE are not fields", soql: "SELECT Id FROM Account USING SCOPE mine WHERE Name != null WITH SECURITY_ENFORCED",
		objects: []string{"Account"}, roles: map[string]string{"Account.Id": "select", "Account.Name": "filter"}},
	{name: "DISTANCE in WHERE", soql: "SELECT Name FROM Account WHERE DISTANCE(Location__c, GEOLOCATION(37.7,-122.4), 'mi') < 20",
		objects: []string{"Account"}, roles: map[string]string{"Account.Location__c": "filter,aggregate"}},
	{name: "FIELDS(ALL) selects every field", soql: "SELECT FIELDS(ALL) FROM Contact LIMIT 200",
		objects: []string{"Contact"}, roles: map[string]string{"Contact.*": "select"}},
	{name: "SOSL scope and RETURNING", path: "/services/data/v60.0/search",
		query:   "q=" + url.QueryEscape("FIND {139*} IN PHONE FIELDS RETURNING Contact(Name, Phone WHERE Birthdate > 2000-01-01 ORDER BY Email)"),
		objects: []string{"Contact"},
		roles:   map[string]string{"Contact.*": "search", "Contact.Name": "select,search", "Contact.Phone": "select,search", "Contact.Birthdate": "filter,search", "Contact.Email": "sort,search"}},
	{name: "SOSL without RETURNING searches everything", path: "/services/data/v60.0/search",
		query: "q=" + url.QueryEscape("FIND {139*} IN ALL FIELDS"), objects: []string{"*"}, roles: map[string]string{"*.*": "search"}},
	{name: "SOSL several objects", path: "/services/data/v60.0/search",
		query:   "q=" + url.QueryEscape("FIND {x} IN EMAIL FIELDS RETURNING Contact(Email), Lead"),
		objects: []string{"Contact", "Lead"}, roles: map[string]string{"Contact.*": "search", "Lead.*": "search", "Contact.Email": "select,search"}, subs: 2},
	{name: "parameterized search", path: "/services/data/v60.0/parameterizedSearch", query: "q=139&sobject=Contact&fields=Name",
		objects: []string{"Contact"}, roles: map[string]string{"Contact.*": "search", "Contact.Name": "select,search"}},
	{name: "search suggestions search the whole object", path: "/services/data/v60.0/search/suggestions", query: "q=139&sobject=Contact",
		objects: []string{"Contact"}, roles: map[string]string{"Contact.*": "search", "Contact.Name": "select,search", "Contact.Id": "select,search"}},
	{name: "external id lookup is a filter on the lookup field", path: "/services/data/v60.0/sobjects/Contact/MobilePhone/13912345678",
		objects: []string{"Contact"}, roles: map[string]string{"Contact.MobilePhone": "filter", "Contact.*": "select"}},
	{name: "relationship path reads the related object through the parent", path: "/services/data/v60.0/sobjects/Contact/003D000000QV9n2IAD/Owner",
		objects: []string{"User", "Contact"}, roles: map[string]string{"User.*": "select", "Contact.OwnerId": "select"}},
	{name: "sobject read with fields", path: "/services/data/v60.0/sobjects/Contact/003D000000QV9n2IAD", query: "fields=Email,Account.Phone",
		objects: []string{"Contact", "Account"}, roles: map[string]string{"Contact.Email": "select", "Account.Phone": "select"}},
	{name: "UI API childRelationships and optionalFields", path: "/services/data/v60.0/ui-api/records/001D000000IRFmaIAH",
		query:   "fields=Account.Name&optionalFields=Account.Owner.Email&childRelationships=Account.Opportunities,Account.Cases",
		objects: []string{"Account", "User", "Opportunity", "Case"},
		roles:   map[string]string{"Account.Name": "select", "User.Email": "select", "Opportunity.*": "select", "Case.*": "select"}},
	{name: "UI API unknown child relationship", path: "/services/data/v60.0/ui-api/records/001D000000IRFmaIAH",
		query: "fields=Account.Name&childRelationships=Account.Invoices__r", objects: []string{"Account", "unknown"}},
	{name: "Zoho COQL", vendor: "zoho", method: "POST", path: "/crm/v8/coql",
		body:    `{"select_query":"select Last_Name, Account_Name.Account_Name, count(id) from Contacts where Mobile like '139%' and Email is not null group by Last_Name order by Date_of_Birth limit 10"}`,
		objects: []string{"Contacts", "Accounts"},
		roles: map[string]string{"Contacts.Last_Name": "select,group", "Accounts.Account_Name": "select", "Contacts.Account_Name": "select", "Contacts.Mobile": "filter",
			"Contacts.Email": "filter", "Contacts.Date_of_Birth": "sort", "Contacts.id": "select,aggregate"},
		aliases: map[string]string{"count(id)": "count(Contacts.id)"}},
	{name: "Zoho search criteria with and/or nesting", vendor: "zoho", path: "/crm/v8/Contacts/search",
		query:   "criteria=" + url.QueryEscape("((Mobile:starts_with:139)and(Email:equals:a@b.c))or(Last_Name:equals:W\\(x\\))"),
		objects: []string{"Contacts"}, roles: map[string]string{"Contacts.Mobile": "filter", "Contacts.Email": "filter", "Contacts.Last_Name": "filter", "Contacts.*": "select"}},
	{name: "Zoho list sort_by is a sort", vendor: "zoho", path: "/crm/v8/Contacts", query: "fields=Last_Name&sort_by=Mobile&sort_order=asc",
		objects: []string{"Contacts"}, roles: map[string]string{"Contacts.Mobile": "sort", "Contacts.Last_Name": "select"}},
	{name: "Zoho bulk read criteria are filters", vendor: "zoho", method: "POST", path: "/crm/bulk/v8/read",
		body:    `{"query":{"module":{"api_name":"Contacts"},"fields":["Last_Name"],"criteria":{"group_operator":"and","group":[{"field":{"api_name":"Mobile"},"comparator":"starts_with","value":"139"},{"field":{"api_name":"Account_Name.Account_Name"},"comparator":"equal","value":"x"}]}}}`,
		objects: []string{"Contacts", "Accounts"}, roles: map[string]string{"Contacts.Mobile": "filter", "Accounts.Account_Name": "filter", "Contacts.Last_Name": "select"}},
	{name: "UI API list-records sortBy and where", path: "/services/data/v60.0/ui-api/list-records/Contact/AllContacts", query: "sortBy=-MobilePhone&where=" + url.QueryEscape(`{"Name":{"like":"A%"}}`),
		objects: []string{"Contact"}, roles: map[string]string{"Contact.MobilePhone": "sort", "Contact.*": "select,search"}},
	{name: "Zoho phone search scope", vendor: "zoho", path: "/crm/v8/Contacts/search", query: "phone=139&fields=Last_Name",
		objects: []string{"Contacts"}, roles: map[string]string{"Contacts.*": "search", "Contacts.Last_Name": "select"}},
	{name: "Zoho word search scope", vendor: "zoho", path: "/crm/v8/Leads/search", query: "word=acme",
		objects: []string{"Leads"}, roles: map[string]string{"Leads.*": "select,search"}},
	{name: "GraphQL aliases at every level", method: "POST", path: "/services/data/v60.0/graphql",
		body:    gqlBody(`query { u: uiapi { q: query { c: Contact { e: edges { n: node { Id m: MobilePhone { v: value } } } } } } }`, ""),
		objects: []string{"Contact"}, roles: map[string]string{"Contact.Id": "select", "Contact.MobilePhone": "select"},
		aliases: map[string]string{"u": "uiapi", "q": "query", "c": "Contact", "e": "edges", "n": "node", "m": "Contact.MobilePhone",
			"Contact.m": "Contact.MobilePhone", "v": "value", "Contact.v": "value"}},
	{name: "GraphQL child connections and parent relationships", method: "POST", path: "/services/data/v60.0/graphql",
		body:    gqlBody(`{ uiapi { query { Account { edges { node { Name { value } Owner { Email { value } } opps: Opportunities(where: { Amount: { gt: 5 } }) { edges { node { Amount { value } } } } } } } } } }`, ""),
		objects: []string{"Account", "User", "Opportunity"},
		roles:   map[string]string{"Account.Name": "select", "User.Email": "select", "Account.OwnerId": "select", "Opportunity.Amount": "select,filter"},
		aliases: map[string]string{"opps": "Opportunities"}},
	{name: "GraphQL where with and/or/not, relationships and orderBy", method: "POST", path: "/services/data/v60.0/graphql",
		body:    gqlBody(`{ uiapi { query { Contact(where: { and: [ { MobilePhone: { like: "139%" } }, { not: { Account: { Name: { eq: "x" } } } }, { or: [ { Email: { eq: null } }, { CreatedDate: { CALENDAR_YEAR: { value: { eq: 2020 } } } } ] } ] }, orderBy: { Birthdate: { order: ASC }, Account: { Phone: { order: DESC } } }) { edges { node { Id } } } } } }`, ""),
		objects: []string{"Contact", "Account"},
		roles: map[string]string{"Contact.MobilePhone": "filter", "Account.Name": "filter", "Contact.AccountId": "filter,sort", "Contact.Email": "filter",
			"Contact.CreatedDate": "filter,aggregate", "Contact.Birthdate": "sort", "Account.Phone": "sort", "Contact.Id": "select"}},
	{name: "GraphQL where from variables", method: "POST", path: "/services/data/v60.0/graphql",
		body:    gqlBody(`query q($w: Contact_Filter) { uiapi { query { Contact(where: $w) { edges { node { Id } } } } } }`, `{"w": {"MobilePhone": {"like": "139%"}}}`),
		objects: []string{"Contact"}, roles: map[string]string{"Contact.MobilePhone": "filter", "Contact.Id": "select"}},
	{name: "GraphQL semi-join", method: "POST", path: "/services/data/v60.0/graphql",
		body:    gqlBody(`{ uiapi { query { Account(where: { Id: { inq: { Contact: { MobilePhone: { like: "1%" } }, ApiName: "AccountId" } } }) { edges { node { Id } } } } } }`, ""),
		objects: []string{"Account", "Contact"}, roles: map[string]string{"Account.Id": "select,filter", "Contact.AccountId": "filter", "Contact.MobilePhone": "filter"}},
	{name: "GraphQL aggregate and groupBy with aliases", method: "POST", path: "/services/data/v60.0/graphql",
		body:    gqlBody(`{ uiapi { aggregate { Opportunity(groupBy: { StageName: { group: true } }) { edges { node { aggregate { StageName { value } t: Amount { s: sum { value } } } } } } } } }`, ""),
		objects: []string{"Opportunity"}, roles: map[string]string{"Opportunity.StageName": "select,group", "Opportunity.Amount": "select,aggregate"},
		aliases: map[string]string{"t": "Opportunity.Amount", "Opportunity.t": "Opportunity.Amount", "s": "sum", "Opportunity.s": "sum"}},
	{name: "GraphQL two objects", method: "POST", path: "/services/data/v60.0/graphql", body: "@salesforce/graphql_two_objects.json",
		objects: []string{"Contact", "Account", "User"}, roles: map[string]string{"Contact.Email": "select", "Account.Name": "select", "User.Email": "select"},
		aliases: map[string]string{"acc": "Account"}, subs: 2},
	{name: "Zoho GraphQL aliases and where", vendor: "zoho", method: "POST", path: "/crm/graphql",
		body:    gqlBody(`{ Records { c: Contacts(where: { Mobile: { like: "139%" } }) { d: _data { m: Mobile { value } Account_Name { Account_Name { value } } } } } }`, ""),
		objects: []string{"Contacts", "Accounts"},
		roles:   map[string]string{"Contacts.Mobile": "select,filter", "Accounts.Account_Name": "select", "Contacts.Account_Name": "select"},
		aliases: map[string]string{"c": "Contacts", "d": "_data", "m": "Contacts.Mobile", "Contacts.m": "Contacts.Mobile"}},
}

// gqlBody is a GraphQL request body with optional variables (JSON text).
func gqlBody(q, vars string) string {
	b, _ := json.Marshal(q)
	if vars == "" {
		return `{"query":` + string(b) + `}`
	}
	return `{"query":` + string(b) + `,"variables":` + vars + `}`
}

// planMismatches returns what differs between a classification's plan
// and the row's expectation (empty when they agree).
func planMismatches(c *Classifier, pc planCase) []string {
	m, path, raw := pc.method, pc.path, pc.query
	if m == "" {
		m = http.MethodGet
	}
	if pc.soql != "" {
		path, raw = "/services/data/v60.0/query", "q="+url.QueryEscape(pc.soql)
	}
	var body []byte
	if pc.body != "" {
		body = loadBodyBytes(pc.body)
	}
	res, err := c.Classify(context.Background(), Request{Method: m, Path: path, RawQuery: raw, Header: http.Header{}, Body: body, Subject: "issuer|alice"})
	if err != nil {
		return []string{"classify: " + err.Error()}
	}
	a := res.Action
	if a.Operation == OpUnknown {
		return []string{"classified unknown"}
	}
	var bad []string
	got := slices.Clone(a.Objects)
	want := slices.Clone(pc.objects)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		bad = append(bad, fmt.Sprintf("objects = %q, want %q", a.Objects, pc.objects))
	}
	for k, v := range pc.roles {
		if g := strings.Join(a.FieldRoles[k], ","); g != v {
			bad = append(bad, fmt.Sprintf("roles[%s] = %q, want %q (all: %v)", k, g, v, a.FieldRoles))
		}
	}
	for k, v := range pc.aliases {
		if a.Aliases[k] != v {
			bad = append(bad, fmt.Sprintf("aliases[%s] = %q, want %q (all: %v)", k, a.Aliases[k], v, a.Aliases))
		}
	}
	if pc.aliases != nil && len(a.Aliases) != len(pc.aliases) {
		bad = append(bad, fmt.Sprintf("aliases = %v, want %v", a.Aliases, pc.aliases))
	}
	if pc.subs > 0 && len(res.Subrequests) != pc.subs {
		bad = append(bad, fmt.Sprintf("%d sub-requests, want %d", len(res.Subrequests), pc.subs))
	}
	return bad
}

func TestPlan(t *testing.T) {
	t.Parallel()
	cs := map[string]*Classifier{"salesforce": newTestClassifier(t, "salesforce", Options{}), "zoho": newTestClassifier(t, "zoho", Options{})}
	for _, pc := range planCases {
		t.Run(pc.name, func(t *testing.T) {
			v := pc.vendor
			if v == "" {
				v = "salesforce"
			}
			for _, b := range planMismatches(cs[v], pc) {
				t.Error(b)
			}
		})
	}
}

// TestPlanMutation shows the plan table catches a plan that loses a role:
// with the builder dropping one role, every row that expects that role
// must fail.
func TestPlanMutation(t *testing.T) {
	t.Parallel()
	for _, role := range roleOrder {
		sf, zo := newTestClassifier(t, "salesforce", Options{}), newTestClassifier(t, "zoho", Options{})
		sf.dropRole, zo.dropRole = role, role
		expecting, caught := 0, 0
		for _, pc := range planCases {
			uses := false
			for _, v := range pc.roles {
				uses = uses || slices.Contains(strings.Split(v, ","), role)
			}
			if !uses {
				continue
			}
			expecting++
			c := sf
			if pc.vendor == "zoho" {
				c = zo
			}
			if len(planMismatches(c, pc)) > 0 {
				caught++
			} else {
				t.Errorf("role %s dropped, row %q still passes", role, pc.name)
			}
		}
		if expecting == 0 {
			t.Errorf("no row expects role %s", role)
		}
		t.Logf("role %s dropped: %d of %d rows fail", role, caught, expecting)
	}
}

// TestPlanUnparseableIsUnknown: a query the plan parser cannot read is not
// classified, whatever the select-list parser made of it.
func TestPlanUnparseableIsUnknown(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	for _, q := range []string{
		"SELECT Id FROM Contact WHERE MobilePhone",             // no operator
		"SELECT Id FROM Contact WHERE Phone = Email",           // a field as value
		"SELECT Id FROM Contact ORDER BY",                      // nothing to sort by
		"SELECT Id FROM Contact WHERE (Phone = '1'",            // unbalanced
		"SELECT Id FROM Contact BOGUS CLAUSE",                  // unknown clause
		"SELECT Id FROM Contact WHERE Phone LIKE '1%' GARBAGE", // trailing words
		"SELECT Id FROM Contact WHERE Account..Name = 'x'",     // empty path segment
	} {
		res, err := c.Classify(context.Background(), Request{Method: "GET", Path: "/services/data/v60.0/query", RawQuery: "q=" + url.QueryEscape(q), Header: http.Header{}, Subject: "s"})
		if err != nil || res.Action.Operation != OpUnknown {
			t.Errorf("%q: got %v, %+v; want unknown", q, err, res.Action)
		}
	}
}

func loadBodyBytes(b string) []byte {
	if strings.HasPrefix(b, "@") {
		data, err := os.ReadFile(filepath.Join("testdata", b[1:]))
		if err != nil {
			panic(err)
		}
		return data
	}
	return []byte(b)
}

// TestPlanGraphQLUnreadable: GraphQL the plan cannot read in full is
// unknown.
func TestPlanGraphQLUnreadable(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	for _, q := range []string{
		`{ uiapi { query { Contact(bogus: 1) { edges { node { Id } } } } } }`,                                                        // unknown argument
		`{ uiapi { query { Contact(where: { MobilePhone: "139" }) { edges { node { Id } } } } } }`,                                   // filter that is not an object
		`{ uiapi { query { Contact(where: { Id: { inq: { Contact: {}, Lead: {}, ApiName: "x" } } }) { edges { node { Id } } } } } }`, // two semi-join objects
		`{ uiapi { query { Contact(where: { Email: { eq: "a" }, Email: { eq: "b" } }) { edges { node { Id } } } } } }`,               // duplicate member
	} {
		res, err := c.Classify(context.Background(), Request{Method: "POST", Path: "/services/data/v60.0/graphql", Header: http.Header{}, Body: []byte(gqlBody(q, "")), Subject: "s"})
		if err != nil || res.Action.Operation != OpUnknown {
			t.Errorf("%s: got %v, %+v; want unknown", q, err, res.Action)
		}
	}
	res, _ := c.Classify(context.Background(), Request{Method: "POST", Path: "/services/data/v60.0/graphql", Header: http.Header{},
		Body: []byte(`{"query":"{ uiapi { query { Contact { edges { node { Id } } } } } }","variables":[1]}`), Subject: "s"})
	if res.Action.Operation != OpUnknown {
		t.Errorf("variables that are not an object: %+v, want unknown", res.Action)
	}
}

// A continuation page (nextRecordsUrl) reads what the first page read: it
// carries the first page's plan, and another subject's locator is unknown.
func TestPlanOfContinuationPage(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{})
	q := "SELECT Id, MobilePhone m, (SELECT Amount FROM Opportunities) FROM Account WHERE Phone LIKE '1%'"
	first := classify(t, c, "alice", "GET", "/services/data/v60.0/query", "q="+url.QueryEscape(q), "")
	c.Observe("alice", first, 200, nil, map[string]string{"/nextRecordsUrl": "/services/data/v60.0/query/01gD0000002HU6KIAW-2000"})
	next := classify(t, c, "alice", "GET", "/services/data/v60.0/query/01gD0000002HU6KIAW-4000", "", "")
	if next.Action.Mode != "next_page" || !slices.Equal(next.Action.Objects, first.Action.Objects) ||
		fmt.Sprint(next.Action.FieldRoles) != fmt.Sprint(first.Action.FieldRoles) || fmt.Sprint(next.Action.Aliases) != fmt.Sprint(first.Action.Aliases) {
		t.Errorf("next page plan %v %v %v, want the first page's %v %v %v", next.Action.Objects, next.Action.FieldRoles, next.Action.Aliases,
			first.Action.Objects, first.Action.FieldRoles, first.Action.Aliases)
	}
	if len(next.Action.FieldRoles["Account.Phone"]) == 0 || next.Action.Aliases["m"] != "Account.MobilePhone" {
		t.Errorf("next page plan lost the filter or alias: %v %v", next.Action.FieldRoles, next.Action.Aliases)
	}
	if other := classify(t, c, "bob", "GET", "/services/data/v60.0/query/01gD0000002HU6KIAW-4000", "", ""); other.Action.Operation != OpUnknown {
		t.Errorf("another subject's locator: %+v", other.Action)
	}
}
