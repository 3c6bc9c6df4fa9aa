package crm

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// describeFixture answers like the describe resource: a custom lookup
// Broker__r -> Broker__c, a custom child relationship Invoices__r ->
// Invoice__c, a polymorphic Owner, and canonical field spellings.
func describeFixture(calls *atomic.Int32) func(context.Context, string) (ObjectMetadata, error) {
	return func(_ context.Context, obj string) (ObjectMetadata, error) {
		calls.Add(1)
		switch obj {
		case "Contact":
			return ObjectMetadata{
				Lookups:  map[string][]string{"Broker__r": {"Broker__c"}, "Account": {"Account"}, "Owner": {"User"}},
				Children: map[string]string{"Invoices__r": "Invoice__c"},
				Fields:   []string{"Id", "Secret_Code__c", "Broker__c", "AccountId"},
			}, nil
		case "Account":
			return ObjectMetadata{Lookups: map[string][]string{"Owner": {"Group", "User"}}, Children: map[string]string{"Contacts": "Contact"}}, nil
		}
		return ObjectMetadata{}, errors.New("no such object")
	}
}

func TestPlanUsesDescribeMetadata(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	now := time.Unix(0, 0)
	c := newTestClassifier(t, "salesforce", Options{Describe: describeFixture(&calls), DescribeTTL: time.Hour, Now: func() time.Time { return now }})
	pc := planCase{name: "custom relationships resolve through describe",
		soql:    "SELECT secret_code__C, Broker__r.Phone__c, Account.Owner.Name, (SELECT Amount__c FROM Invoices__r) FROM Contact",
		objects: []string{"Contact", "Broker__c", "Account", "User", "Invoice__c"},
		roles: map[string]string{"Contact.Secret_Code__c": "select", "Broker__c.Phone__c": "select", "Contact.Broker__c": "select",
			"User.Name": "select", "Invoice__c.Amount__c": "select"}}
	for _, b := range planMismatches(c, pc) {
		t.Error(b)
	}
	first := calls.Load()
	// Cached: another query over the same objects asks nothing.
	pc2 := planCase{soql: "SELECT Broker__r.Name FROM Contact WHERE Account.Owner.Name = 'x'",
		objects: []string{"Contact", "Broker__c", "Account", "User"}, roles: map[string]string{"Broker__c.Name": "select", "User.Name": "filter"}}
	for _, b := range planMismatches(c, pc2) {
		t.Error(b)
	}
	if calls.Load() != first {
		t.Errorf("describe called %d more times for cached objects", calls.Load()-first)
	}
}

func TestDescribeFailureFallsBackToBuiltinTable(t *testing.T) {
	t.Parallel()
	c := newTestClassifier(t, "salesforce", Options{Describe: func(context.Context, string) (ObjectMetadata, error) {
		return ObjectMetadata{}, errors.New("CRM down")
	}})
	pc := planCase{soql: "SELECT Account.Owner.Email, Broker__r.Phone__c FROM Contact",
		objects: []string{"Contact", "Account", "User", "unknown"}, roles: map[string]string{"User.Email": "select", "unknown.Phone__c": "select"}}
	for _, b := range planMismatches(c, pc) {
		t.Error(b)
	}
}

// A query naming many objects makes a bounded number of describe calls.
func TestDescribeCallsPerRequestAreBounded(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	c := newTestClassifier(t, "salesforce", Options{Describe: func(context.Context, string) (ObjectMetadata, error) {
		calls.Add(1)
		return ObjectMetadata{}, nil
	}})
	var subs []string
	for i := range 20 {
		subs = append(subs, "Id IN (SELECT Id FROM Obj"+string(rune('A'+i))+"__c)")
	}
	q := "SELECT Id FROM Contact WHERE " + strings.Join(subs, " AND ")
	res, err := c.Classify(context.Background(), Request{Method: "GET", Path: "/services/data/v60.0/query", RawQuery: "q=" + url.QueryEscape(q), Header: http.Header{}, Subject: "s"})
	if err != nil || res.Action.Operation != OpQuery || len(res.Action.Objects) != 21 {
		t.Fatalf("classify: %v %+v", err, res.Action)
	}
	if n := calls.Load(); n > maxDescribeFetches {
		t.Errorf("%d describe calls for one request, want at most %d", n, maxDescribeFetches)
	}
}
