package crm

import (
	"slices"
	"testing"
)

func TestParseSOQL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		q         string
		object    string
		fields    []string
		all       bool
		aggregate bool
		subs      []string // "Rel:f1,f2"
		bad       bool
	}{
		{name: "plain select", q: "SELECT Id, Email FROM Contact", object: "Contact", fields: []string{"Id", "Email"}},
		{name: "keywords are case-insensitive", q: "select Id from Contact where Email != null order by Name limit 5", object: "Contact", fields: []string{"Id"}},
		{name: "relationship paths keep their dots", q: "SELECT Account.Owner.Email FROM Contact", object: "Contact", fields: []string{"Account.Owner.Email"}},
		{name: "FIELDS(STANDARD) is all fields", q: "SELECT FIELDS(STANDARD), Email FROM Contact", object: "Contact", fields: []string{"Email"}, all: true},
		{name: "FIELDS(CUSTOM) is all fields", q: "SELECT FIELDS(custom) FROM Contact LIMIT 200", object: "Contact", all: true},
		{name: "FIELDS(bogus) does not parse", q: "SELECT FIELDS(SOME) FROM Contact", bad: true},
		{name: "functions yield their field", q: "SELECT toLabel(Status), FORMAT(Amount) amt, convertCurrency(AnnualRevenue) FROM Account", object: "Account", fields: []string{"Status", "Amount", "AnnualRevenue"}},
		{name: "aggregate with alias", q: "SELECT COUNT(Id) cnt, Email e FROM Contact GROUP BY Email", object: "Contact", fields: []string{"Id", "Email"}, aggregate: true},
		{name: "COUNT() alone is an aggregate", q: "SELECT COUNT() FROM Contact", object: "Contact", aggregate: true},
		{name: "nested functions", q: "SELECT DAY_ONLY(convertTimezone(CreatedDate)) d, SUM(Amount) FROM Opportunity GROUP BY ROLLUP(DAY_ONLY(convertTimezone(CreatedDate)))", object: "Opportunity", fields: []string{"CreatedDate", "Amount"}, aggregate: true},
		{name: "child subquery", q: "SELECT Name, (SELECT LastName, Email FROM Contacts WHERE Email LIKE '%@x.cn') FROM Account", object: "Account", fields: []string{"Name"}, subs: []string{"Contacts:LastName,Email"}},
		{name: "semi-join in WHERE is not a selected field", q: "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact GROUP BY AccountId)", object: "Account", fields: []string{"Id"}},
		{name: "TYPEOF clause", q: "SELECT TYPEOF What WHEN Account THEN Phone, Name WHEN Opportunity THEN Amount ELSE Name END FROM Event", object: "Event", fields: []string{"What.Phone", "What.Name", "What.Amount"}},
		{name: "string literal with escaped quote and keyword", q: `SELECT Id FROM Contact WHERE LastName = 'O\'Brien FROM Lead' AND Email != null`, object: "Contact", fields: []string{"Id"}},
		{name: "date literals and formulas", q: "SELECT Id FROM Contact WHERE CreatedDate > 2024-01-01T00:00:00+08:00 AND LastModifiedDate = LAST_N_DAYS:30", object: "Contact", fields: []string{"Id"}},
		{name: "composite reference in WHERE", q: "SELECT Name FROM Opportunity WHERE AccountId = @{c.AccountId}", object: "Opportunity", fields: []string{"Name"}},
		{name: "COQL with dotted lookup", q: "select Last_Name, Account_Name.Account_Name from Contacts where Last_Name is not null limit 200", object: "Contacts", fields: []string{"Last_Name", "Account_Name.Account_Name"}},
		{name: "duplicate fields are listed once", q: "SELECT Id, id, ID FROM Contact", object: "Contact", fields: []string{"Id"}},
		{name: "missing FROM", q: "SELECT Id", bad: true},
		{name: "missing object", q: "SELECT Id FROM", bad: true},
		{name: "unterminated string", q: "SELECT Id FROM Contact WHERE Name = 'abc", bad: true},
		{name: "unbalanced parentheses", q: "SELECT Id FROM Contact WHERE (Name = 'a'", bad: true},
		{name: "trailing garbage after subquery", q: "SELECT (SELECT Id FROM Contacts FROM Account", bad: true},
		{name: "not a select", q: "DELETE FROM Contact", bad: true},
		{name: "unknown character", q: "SELECT Id FROM Contact WHERE Name = \"x\"", bad: true},
		{name: "empty", q: "", bad: true},
		{name: "keyword as field", q: "SELECT FROM FROM Contact", bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseSOQL(tc.q)
			if tc.bad {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseSOQL: %v", err)
			}
			if got.Object != tc.object || got.AllFields != tc.all || got.Aggregate != tc.aggregate {
				t.Errorf("got object=%q all=%v aggregate=%v, want %q %v %v", got.Object, got.AllFields, got.Aggregate, tc.object, tc.all, tc.aggregate)
			}
			if !slices.Equal(got.Fields, tc.fields) && !(len(got.Fields) == 0 && len(tc.fields) == 0) {
				t.Errorf("fields = %q, want %q", got.Fields, tc.fields)
			}
			var subs []string
			for _, s := range got.Subqueries {
				f := ""
				for i, x := range s.Fields {
					if i > 0 {
						f += ","
					}
					f += x
				}
				subs = append(subs, s.Object+":"+f)
			}
			if !slices.Equal(subs, tc.subs) {
				t.Errorf("subqueries = %q, want %q", subs, tc.subs)
			}
		})
	}
}

func TestParseSOSL(t *testing.T) {
	t.Parallel()
	objs, ok := parseSOSL("FIND {Wang OR \\}RETURNING Lead} IN NAME FIELDS RETURNING Account(Name, toLabel(Type) WHERE Name LIKE 'W%' ORDER BY Name LIMIT 5), Contact WITH SNIPPET(target_length=120) LIMIT 20")
	if !ok || len(objs) != 2 || objs[0].Object != "Account" || !slices.Equal(objs[0].Fields, []string{"Name", "Type"}) || objs[1].Object != "Contact" {
		t.Fatalf("parseSOSL = %+v, %v", objs, ok)
	}
	for _, bad := range []string{"", "FIND", "FIND Wang", "FIND {Wang", "FIND {x} RETURNING", "FIND {x} RETURNING Contact(Email"} {
		if objs, ok := parseSOSL(bad); ok {
			t.Errorf("parseSOSL(%q) = %+v, want failure", bad, objs)
		}
	}
}
