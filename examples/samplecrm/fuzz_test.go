package samplecrm

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

var (
	fuzzOnce   sync.Once
	fuzzServer *Server
)

// FuzzQueryLanguages feeds arbitrary text to the SOQL, SOSL, GraphQL, COQL
// and Zoho criteria readers through the HTTP handler: every answer must be a
// well-formed success or a 4xx in the vendor's shape, never a panic or 5xx.
func FuzzQueryLanguages(f *testing.F) {
	for _, s := range []string{
		"SELECT Id, Name, Account.Owner.Email FROM Contact WHERE Email LIKE 'w%' ORDER BY Name DESC NULLS LAST LIMIT 5 OFFSET 1",
		"SELECT Name, (SELECT LastName FROM Contacts WHERE Email != null LIMIT 1) FROM Account",
		"SELECT COUNT() FROM Lead", "SELECT FIELDS(ALL) FROM Case LIMIT 2",
		"FIND {wang} RETURNING Contact(Id, Email WHERE Email != null LIMIT 2), Lead",
		`query { uiapi { query { Contact(first: 2, where: {Email: {like: "w%"}}) { edges { node { Id Name { value } Account { Name { value } } } } } } } }`,
		"select Last_Name, Account_Name.Account_Name from Contacts where Last_Name is not null and (Email like '%cn' or Mobile = '1') order by Last_Name desc limit 2, 3",
		"(Last_Name:equals:Wang)and(Email:starts_with:w)",
		"SELECT Id FROM Contact WHERE Id IN ('003D000000QV9n2IAD') AND NOT (Name = 'x')",
		"'", "(", "SELECT", "{", "FIND {", "query {", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		fuzzOnce.Do(func() { fuzzServer = New(Options{Records: 40, Seed: 3, MaxRecorded: -1}) })
		s := fuzzServer
		gq, _ := jsonString(text)
		reqs := []*http.Request{
			httptest.NewRequest("GET", "/services/data/v60.0/query?q="+url.QueryEscape(text), nil),
			httptest.NewRequest("GET", "/services/data/v60.0/search?q="+url.QueryEscape(text), nil),
			httptest.NewRequest("POST", "/services/data/v60.0/graphql", strings.NewReader(`{"query":`+gq+`}`)),
			httptest.NewRequest("POST", "/services/data/v60.0/jobs/query", strings.NewReader(`{"operation":"query","query":`+gq+`}`)),
			httptest.NewRequest("POST", "/crm/v6/coql", strings.NewReader(`{"select_query":`+gq+`}`)),
			httptest.NewRequest("GET", "/crm/v6/Contacts/search?criteria="+url.QueryEscape(text), nil),
			httptest.NewRequest("GET", "/services/data/v60.0/sobjects/Contact/003D000000QV9n2IAD?fields="+url.QueryEscape(text), nil),
		}
		for _, r := range reqs {
			if strings.HasPrefix(r.URL.Path, "/crm/") {
				r.Header.Set("Authorization", "Zoho-oauthtoken x")
			} else {
				r.Header.Set("Authorization", "Bearer x")
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("%s %s: status %d: %s", r.Method, r.URL, w.Code, w.Body)
			}
		}
	})
}

func jsonString(s string) (string, error) {
	return string(appendString(nil, s)), nil
}

func TestConcurrentReadsAndWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Records: 100})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				switch (g + i) % 4 {
				case 0:
					e.sf("PATCH", "/services/data/v60.0/sobjects/Contact/003D000000QV9n3IAD", []byte(`{"Title":"T`+itoa(i)+`"}`))
				case 1:
					e.sf("POST", "/services/data/v60.0/sobjects/Account", []byte(`{"Name":"Co `+itoa(i)+`"}`))
				case 2:
					if r := e.sf("GET", "/services/data/v60.0/query?q="+q("SELECT Id, Title, Account.Name, (SELECT Id FROM Cases) FROM Contact"), nil); r.status != 200 {
						t.Errorf("query: %d", r.status)
					}
				case 3:
					e.zoho("GET", "/crm/v6/Accounts?per_page=200", nil)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(e.crm.objects["account"].snapshot().rows); n != 10+20 {
		t.Errorf("%d accounts after 20 creates, want 30", n)
	}
}

func TestLike(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s, pat string
		want   bool
	}{
		{"wang.fang@x.cn", "wang%", true}, {"wang.fang@x.cn", "%x.cn", true}, {"wang", "w_ng", true},
		{"wang", "w_g", false}, {"", "%", true}, {"", "", true}, {"a", "", false}, {"王芳", "王_", true},
		{"abcabc", "%bc%c", true}, {"abc", "a%%%c", true}, {"abd", "a%c", false},
		{strings.Repeat("a", 200), strings.Repeat("%a", 50) + "b", false},
	} {
		if got := like(tc.s, tc.pat); got != tc.want {
			t.Errorf("like(%q, %q) = %v", tc.s, tc.pat, got)
		}
	}
}
