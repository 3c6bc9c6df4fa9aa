package proxy

import (
	"fmt"
	"testing"
)

func TestStripParamsRemovesCredentialParameters(t *testing.T) {
	cases := map[string]string{
		"q=SELECT+Id+FROM+Contact":              "q=SELECT+Id+FROM+Contact",
		"authtoken=abc&q=1":                     "q=1",
		"q=1&ACCESS_TOKEN=abc":                  "q=1",
		"q=1&%61uthtoken=abc":                   "q=1",
		"fields=Email&oauth_token=x&per_page=2": "fields=Email&per_page=2",
		"q=SELECT+authtoken+FROM+X__c":          "q=SELECT+authtoken+FROM+X__c",
		"":                                      "",
	}
	for in, want := range cases {
		if got := stripParams(in, callerCredentialParams); got != want {
			t.Errorf("stripParams(%q) = %q, want %q", in, got, want)
		}
	}
}

// mediaType answers the same from its memory as from the parse, also for
// malformed values, and stops remembering at its bound.
func TestMediaTypeIsRemembered(t *testing.T) {
	cases := map[string]string{
		"application/json;charset=UTF-8":  "application/json",
		"Application/JSON; charset=utf-8": "application/json",
		"text/csv":                        "text/csv",
		"application/json; charset":       "an unknown content type", // malformed parameter
		"":                                "an unknown content type",
		"/":                               "an unknown content type",
	}
	for round := range 3 {
		for ct, want := range cases {
			if got := mediaType(ct); got != want {
				t.Errorf("round %d: mediaType(%q) = %q, want %q", round, ct, got, want)
			}
		}
	}
	for i := range 2 * maxMediaTypes {
		ct := fmt.Sprintf("application/x-kind-%d+json", i)
		if got := mediaType(ct); got != ct {
			t.Fatalf("mediaType(%q) = %q", ct, got)
		}
	}
	if n := len(*mediaTypes.Load()); n > maxMediaTypes {
		t.Errorf("%d media types remembered, bound %d", n, maxMediaTypes)
	}
	if got := mediaType("application/x-kind-100+json"); got != "application/x-kind-100+json" {
		t.Errorf("past the bound: %q", got)
	}
}
