package crm

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzNormalizePath checks that path normalisation never panics and that a
// canonical path has no empty or dot segments, decodes to the decoded
// form, and is a fixed point.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/services/data/v60.0/query", "//a//b", "/a/./b/../c", "/a%2Fb", "/a%252Fb", "/%2e%2e/x", "/a/..", "/caf%C3%A9", "/a%20b/@{x}", "/a;b", "/a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		canon, decoded, err := normalizePath(in)
		if err != nil {
			return
		}
		for _, bad := range []string{"//", "/./", "/../"} {
			if strings.Contains(canon, bad) || strings.Contains(decoded, bad) && bad != "//" {
				t.Fatalf("normalizePath(%q) = %q contains %q", in, canon, bad)
			}
		}
		if !strings.HasPrefix(canon, "/") || strings.HasSuffix(canon, "/.") || strings.HasSuffix(canon, "/..") {
			t.Fatalf("normalizePath(%q) = %q", in, canon)
		}
		if d, err := url.PathUnescape(canon); err != nil || d != decoded {
			t.Fatalf("normalizePath(%q) = %q which decodes to %q (%v), want %q", in, canon, d, err, decoded)
		}
		again, decAgain, err := normalizePath(canon)
		if err != nil || again != canon || decAgain != decoded {
			t.Fatalf("not idempotent: %q -> %q -> %q, %q (%v)", in, canon, again, decAgain, err)
		}
	})
}

// FuzzParseSOQL checks that the SOQL/COQL parser never panics and that
// what it returns names a non-empty object and non-empty fields.
func FuzzParseSOQL(f *testing.F) {
	for _, s := range []string{
		"SELECT Id, Email, Account.Owner.Email FROM Contact",
		"SELECT FIELDS(ALL) FROM Contact LIMIT 200",
		"SELECT Name, (SELECT LastName FROM Contacts) FROM Account",
		"SELECT COUNT(Id) cnt, Email e FROM Contact GROUP BY Email",
		"SELECT TYPEOF What WHEN Account THEN Phone ELSE Name END FROM Event",
		`SELECT Id FROM Contact WHERE Name = 'O\'Brien' AND CreatedDate > 2024-01-01T00:00:00Z`,
		"select Last_Name, Account_Name.Account_Name from Contacts where Last_Name is not null limit 200",
		"SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)",
	} {
		f.Add(s)
	}
	c, err := NewClassifier("salesforce", Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		sq, err := parseSOQL(q)
		if err != nil {
			return
		}
		checkSOQL(t, q, sq)
		if _, err := parseSOQLPlan(q); err != nil {
			return
		}
		if _, ok := c.soqlAction(context.Background(), q); !ok {
			t.Fatalf("soqlAction(%q) failed where parseSOQL and parseSOQLPlan succeeded", q)
		}
	})
}

func checkSOQL(t *testing.T, q string, sq soqlQuery) {
	t.Helper()
	if sq.Object == "" {
		t.Fatalf("parseSOQL(%q): empty object", q)
	}
	for _, f := range sq.Fields {
		if f == "" {
			t.Fatalf("parseSOQL(%q): empty field in %q", q, sq.Fields)
		}
	}
	for _, s := range sq.Subqueries {
		checkSOQL(t, q, s)
	}
}

// FuzzClassifyBody feeds arbitrary bodies to the body-reading endpoints:
// classification never panics, and a classified sub-request always has its
// container as parent.
func FuzzClassifyBody(f *testing.F) {
	f.Add("/services/data/v60.0/composite", []byte(`{"compositeRequest":[{"method":"GET","url":"/services/data/v60.0/query?q=SELECT+Id+FROM+Contact","referenceId":"a"}]}`))
	f.Add("/services/data/v60.0/composite/batch", []byte(`{"batchRequests":[{"method":"GET","url":"v60.0/sobjects/Contact/003D000000QV9n2IAD"}]}`))
	f.Add("/services/data/v60.0/graphql", []byte(`{"query":"query { uiapi { query { Contact { edges { node { Id } } } } } }"}`))
	f.Add("/services/data/v60.0/composite/tree/Account", []byte(`{"records":[{"attributes":{"type":"Account"},"Name":"x"}]}`))
	f.Add("/services/data/v60.0/jobs/query", []byte(`{"operation":"query","query":"SELECT Id FROM Contact"}`))
	c, err := NewClassifier("salesforce", Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		res, err := c.Classify(context.Background(), Request{Method: http.MethodPost, Path: path, Header: http.Header{}, Body: body, Subject: "s"})
		if err != nil {
			return
		}
		for _, s := range res.Subrequests {
			if s.Parent == nil {
				t.Fatalf("sub-request without parent: %+v", s)
			}
		}
		if res.Action.Operation == "" || res.Action.Category == "" {
			t.Fatalf("empty operation or category: %+v", res.Action)
		}
	})
}
