package crm

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

func TestMalformedJSONBodyIsRejectedNotUnknown(t *testing.T) {
	sf, _ := NewClassifier("salesforce", Options{})
	zoho, _ := NewClassifier("zoho", Options{})
	json := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		name     string
		c        *Classifier
		path     string
		header   http.Header
		body     string
		rejected bool
	}{
		{"composite cut off", sf, "/services/data/v60.0/composite", json, `{"compositeRequest":[{"method":"GET","url":"/services/data/v60.0/sobjects/Account/001`, true},
		{"composite batch with a trailing comma", sf, "/services/data/v60.0/composite/batch", json, `{"batchRequests":[{"method":"GET","url":"v60.0/sobjects/Account/001"},]}`, true},
		{"JSON by its first byte, no Content-Type", sf, "/services/data/v60.0/composite", nil, `{"compositeRequest":[`, true},
		{"GraphQL cut off", sf, "/services/data/v60.0/graphql", json, `{"query": "query {`, true},
		{"report POST cut off", sf, "/services/data/v60.0/analytics/reports/00OD0000001cxIEMAY", json, `{"reportMetadata":`, true},
		{"zoho bulk read cut off", zoho, "/crm/bulk/v6/read", json, `{"query":{"module":{"api_name":"Contacts"`, true},
		// A valid body of a shape the classifier does not know stays
		// unknown (the policy refuses it); a non-JSON body is not judged.
		{"valid JSON of an unknown shape", sf, "/services/data/v60.0/composite", json, `{"compositeRequest":"no"}`, false},
		{"form body", sf, "/services/data/v60.0/composite", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, `a={`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.c.Classify(context.Background(), Request{Method: "POST", Path: tc.path, Header: tc.header, Body: []byte(tc.body)})
			if got := errors.Is(err, ErrRejected); got != tc.rejected {
				t.Errorf("rejected = %v (%v, operation %q), want %v", got, err, res.Action.Operation, tc.rejected)
			}
		})
	}
}
