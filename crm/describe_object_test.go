package crm

import (
	"context"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"

	"github.com/crmgw/crmgw/examples/samplecrm"
)

// DescribeObject reads the sample CRM's real describe answer over HTTP.
func TestDescribeObjectReadsTheCRMsMetadata(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(samplecrm.New(samplecrm.Options{Records: 5, Seed: 1, SalesforceToken: lookupSFToken}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	rt := credTransport{"Bearer " + lookupSFToken}
	ctx := context.Background()
	md, err := DescribeObject(ctx, base, rt, "Account")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(md.Lookups["Owner"], []string{"User"}) || md.Children["Opportunities"] != "Opportunity" ||
		md.Children["Contacts"] != "Contact" || !slices.Contains(md.Fields, "Bank_Account__c") {
		t.Errorf("describe Account = %+v", md)
	}
	if _, err := DescribeObject(ctx, base, rt, "NoSuchThing"); err == nil {
		t.Error("describe of an object the CRM does not have: no error")
	}
	if _, err := DescribeObject(ctx, base, credTransport{"Bearer wrong"}, "Account"); err == nil {
		t.Error("describe with a refused credential: no error")
	}
	for _, bad := range []string{"", "Account/../x", "Account?x=1", "Acc%2F"} {
		if _, err := DescribeObject(ctx, base, rt, bad); err == nil {
			t.Errorf("describe %q: no error", bad)
		}
	}
}
