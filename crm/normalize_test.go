package crm

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, canon, decoded string
		rejected           bool
	}{
		{in: "/services/data/v60.0/query", canon: "/services/data/v60.0/query", decoded: "/services/data/v60.0/query"},
		{in: "", canon: "/", decoded: "/"},
		{in: "/", canon: "/", decoded: "/"},
		{in: "//a///b/", canon: "/a/b/", decoded: "/a/b/"},
		{in: "/a/./b/.", canon: "/a/b/", decoded: "/a/b/"},
		{in: "/a/b/../c", canon: "/a/c", decoded: "/a/c"},
		{in: "/a/b/..", canon: "/a/", decoded: "/a/"},
		{in: "/a%2Fb", canon: "/a/b", decoded: "/a/b"},
		{in: "/a/%2e%2E/b", canon: "/b", decoded: "/b"},
		{in: "/a/%2e/b", canon: "/a/b", decoded: "/a/b"},
		{in: "/.well-known/x", canon: "/.well-known/x", decoded: "/.well-known/x"},
		{in: "/a/..b/c", canon: "/a/..b/c", decoded: "/a/..b/c"},
		{in: "/caf%C3%A9/%41", canon: "/caf%C3%A9/A", decoded: "/café/A"},
		{in: "/a%20b/@{ref.Id}", canon: "/a%20b/@%7Bref.Id%7D", decoded: "/a b/@{ref.Id}"},
		{in: "/a%3Fb", canon: "/a%3Fb", decoded: "/a?b"},
		{in: "/a%25", canon: "/a%25", decoded: "/a%"},
		{in: "/a%2541", canon: "/a%2541", decoded: "/a%41"},
		{in: "/..", rejected: true},
		{in: "/a/../..", rejected: true},
		{in: "/%2e%2e/a", rejected: true},
		{in: "/a%252Fb", rejected: true},
		{in: "/a%252e%252e", rejected: true},
		{in: "/a%255C", rejected: true},
		{in: "/a%2525", rejected: true},
		{in: "/a%2", rejected: true},
		{in: "/a%g0", rejected: true},
		{in: "/a\\b", rejected: true},
		{in: "/a%5Cb", rejected: true},
		{in: "/a;b", rejected: true},
		{in: "/a%3bb", rejected: true},
		{in: "/a\x00b", rejected: true},
		{in: "/a%0Ab", rejected: true},
		{in: "/a\x7fb", rejected: true},
		{in: "a/b", rejected: true},
	}
	for _, tc := range cases {
		canon, decoded, err := normalizePath(tc.in)
		if tc.rejected {
			if !errors.Is(err, ErrRejected) {
				t.Errorf("normalizePath(%q) = %q, %v; want rejection", tc.in, canon, err)
			}
			continue
		}
		if err != nil || canon != tc.canon || decoded != tc.decoded {
			t.Errorf("normalizePath(%q) = %q, %q, %v; want %q, %q", tc.in, canon, decoded, err, tc.canon, tc.decoded)
		}
	}
}

func TestEffectiveMethod(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, vendor, method, query string
		wantMethod, wantQuery       string
		rejected                    bool
	}{
		{name: "plain", vendor: "salesforce", method: "GET", query: "q=x", wantMethod: "GET", wantQuery: "q=x"},
		{name: "honoured and removed", vendor: "salesforce", method: "POST", query: "a=1&_HttpMethod=PATCH&b=2", wantMethod: "PATCH", wantQuery: "a=1&b=2"},
		{name: "encoded name", vendor: "salesforce", method: "POST", query: "%5FHttpMethod=delete", wantMethod: "DELETE", wantQuery: ""},
		{name: "twice", vendor: "salesforce", method: "POST", query: "_HttpMethod=GET&_HttpMethod=DELETE", rejected: true},
		{name: "bogus value", vendor: "salesforce", method: "POST", query: "_HttpMethod=TRACE", rejected: true},
		{name: "on PATCH", vendor: "salesforce", method: "PATCH", query: "_HttpMethod=DELETE", rejected: true},
		{name: "zoho", vendor: "zoho", method: "POST", query: "_HttpMethod=DELETE", rejected: true},
		{name: "_method", vendor: "salesforce", method: "POST", query: "_METHOD=DELETE", rejected: true},
		{name: "bad escape in query", vendor: "salesforce", method: "POST", query: "%zz_=1", rejected: true},
	}
	for _, tc := range cases {
		m, q, err := effectiveMethod(tc.vendor, Request{Method: tc.method, RawQuery: tc.query})
		if tc.rejected {
			if !errors.Is(err, ErrRejected) {
				t.Errorf("%s: got %q %q %v, want rejection", tc.name, m, q, err)
			}
			continue
		}
		if err != nil || m != tc.wantMethod || q != tc.wantQuery {
			t.Errorf("%s: got %q %q %v, want %q %q", tc.name, m, q, err, tc.wantMethod, tc.wantQuery)
		}
	}
	for _, h := range []string{"X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method"} {
		_, _, err := effectiveMethod("salesforce", Request{Method: "POST", Header: map[string][]string{h: {"DELETE"}}})
		if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "override") {
			t.Errorf("header %s: err = %v", h, err)
		}
	}
}
