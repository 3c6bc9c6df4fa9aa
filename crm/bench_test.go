package crm

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"testing"
)

func benchClassify(b *testing.B, vendor string, req Request) {
	c := newTestClassifier(b, vendor, Options{})
	ctx := context.Background()
	if res, err := c.Classify(ctx, req); err != nil || res.Action.Operation == OpUnknown {
		b.Fatalf("setup: %v %+v", err, res.Action)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Classify(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func benchHeader() http.Header {
	return http.Header{
		"Accept":          {"application/json"},
		"User-Agent":      {"jsforce/3.10"},
		"Accept-Encoding": {"gzip"},
		"Authorization":   {"Bearer x"},
	}
}

func BenchmarkClassifySOQLQuery(b *testing.B) {
	benchClassify(b, "salesforce", Request{Method: "GET", Path: "/services/data/v60.0/query",
		RawQuery: "q=SELECT+Id,+Email,+Account.Owner.Email+FROM+Contact+WHERE+LastName+=+'Wang'+LIMIT+200",
		Header:   benchHeader(), Subject: "iss|alice"})
}

// BenchmarkClassifySOQLQueryFirstSight classifies a query the classifier
// has not seen (the SOQL text differs per op): unescaping and parsing,
// which a repeated query skips (BenchmarkClassifySOQLQuery).
func BenchmarkClassifySOQLQueryFirstSight(b *testing.B) {
	c := newTestClassifier(b, "salesforce", Options{})
	ctx := context.Background()
	reqs := make([]Request, 4096)
	for i := range reqs {
		reqs[i] = Request{Method: "GET", Path: "/services/data/v60.0/query",
			RawQuery: "q=SELECT+Id,+Email,+Account.Owner.Email+FROM+Contact+WHERE+LastName+=+'Wang" + strconv.Itoa(i) + "'+LIMIT+200",
			Header:   benchHeader(), Subject: "iss|alice"}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := c.Classify(ctx, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
		if i++; i%len(reqs) == 0 {
			c.soql = soqlCache{} // every op a first sight
		}
	}
}

func BenchmarkClassifySObjectGet(b *testing.B) {
	benchClassify(b, "salesforce", Request{Method: "GET", Path: "/services/data/v60.0/sobjects/Contact/003D000000QV9n2IAD",
		RawQuery: "fields=Email,MobilePhone", Header: benchHeader(), Subject: "iss|alice"})
}

func BenchmarkClassifyComposite(b *testing.B) {
	body, err := os.ReadFile("testdata/salesforce/composite_request.json")
	if err != nil {
		b.Fatal(err)
	}
	benchClassify(b, "salesforce", Request{Method: "POST", Path: "/services/data/v60.0/composite",
		Header: benchHeader(), Body: body, Subject: "iss|alice"})
}

func BenchmarkClassifyZohoList(b *testing.B) {
	benchClassify(b, "zoho", Request{Method: "GET", Path: "/crm/v8/Contacts",
		RawQuery: "fields=Last_Name,Email&per_page=200", Header: benchHeader(), Subject: "iss|alice"})
}
