package crm

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func soqlRequest(q string) Request {
	return Request{Method: "GET", Path: "/services/data/v60.0/query", RawQuery: "q=" + url.QueryEscape(q), Subject: "iss|alice"}
}

// A query sent again is classified from the cache exactly as the first
// time, and what one request does with its copy does not reach another's.
func TestRepeatedQueriesShareAReadOnlyAction(t *testing.T) {
	c := newTestClassifier(t, "salesforce", Options{})
	ctx := context.Background()
	req := soqlRequest("SELECT Id, Email, Account.Owner.Email, (SELECT Subject FROM Tasks) FROM Contact WHERE Name = 'a+b%' LIMIT 5")
	first, err := c.Classify(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Id", "Email", "Account.Owner.Email", "Tasks.Subject"}
	if !slices.Equal(first.Action.Fields, want) || first.Action.Object != "Contact" || first.Action.Operation != OpQuery {
		t.Fatalf("first: %+v", first.Action)
	}
	if !strings.Contains(first.Action.Query, "'a+b%'") {
		t.Errorf("query text %q: the literal was not unescaped as sent", first.Action.Query)
	}
	first.Action.Fields = append(first.Action.Fields, "Injected")
	first.Action.Fields[0] = "Changed"

	second, err := c.Classify(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(second.Action.Fields, want) || second.Action.Query != strings.TrimPrefix(mustUnescape(t, req.RawQuery), "q=") {
		t.Errorf("second: fields %v, query %q; want %v and the first's text", second.Action.Fields, second.Action.Query, want)
	}
}

func mustUnescape(t *testing.T, s string) string {
	t.Helper()
	u, err := url.QueryUnescape(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Long queries are classified without being kept, a flood of distinct
// ones does not grow the cache past its bound, and a bad escape is refused
// whether or not the text was seen.
func TestQueryCacheIsBounded(t *testing.T) {
	c := newTestClassifier(t, "salesforce", Options{})
	ctx := context.Background()
	long := "SELECT Id, " + strings.Repeat("Name, ", soqlCacheKeyMax/6) + "Email FROM Lead"
	res, err := c.Classify(ctx, soqlRequest(long))
	if err != nil || res.Action.Object != "Lead" || res.Action.Operation != OpQuery || len(res.Action.Fields) != 3 {
		t.Fatalf("long query: %v %+v", err, res.Action)
	}
	if len(c.soql.m) != 0 {
		t.Errorf("a %d-byte query was kept", len(long))
	}
	for i := range soqlCacheSize + 10 {
		res, err := c.Classify(ctx, soqlRequest(fmt.Sprintf("SELECT Id FROM Account WHERE Name = 'n%d'", i)))
		if err != nil || res.Action.Object != "Account" {
			t.Fatalf("query %d: %v %+v", i, err, res.Action)
		}
	}
	if n := len(c.soql.m); n > soqlCacheSize {
		t.Errorf("cache holds %d queries, bound %d", n, soqlCacheSize)
	}
	bad := Request{Method: "GET", Path: "/services/data/v60.0/query", RawQuery: "q=SELECT+Id+FROM+Account%zz"}
	for range 2 {
		if res, _ := c.Classify(ctx, bad); res.Action.Operation != OpUnknown {
			t.Errorf("a bad escape was classified as %v", res.Action.Operation)
		}
	}
}
