package samplecrm

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// discardWriter is a ResponseWriter that throws the body away, so the
// benchmarks measure the server, not a recorder's buffer.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func benchServe(b *testing.B, s *Server, method, target string, hdr map[string]string) {
	b.Helper()
	b.ReportAllocs()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := &discardWriter{h: http.Header{}}
	var bytes int64
	cw := &countWriter{discardWriter: w}
	s.ServeHTTP(cw, req)
	bytes = cw.n
	b.SetBytes(bytes)
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		s.ServeHTTP(w, req)
	}
}

type countWriter struct {
	*discardWriter
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func BenchmarkQuery200Contacts(b *testing.B) {
	s := New(Options{Records: 1000, Seed: 1, SalesforceToken: "t", MaxRecorded: -1})
	target := "/services/data/v60.0/query?q=" + url.QueryEscape("SELECT Id, Name, Email, MobilePhone, Birthdate, Account.Name, Account.Owner.Email FROM Contact LIMIT 200")
	b.Run("identity", func(b *testing.B) {
		benchServe(b, s, "GET", target, map[string]string{"Authorization": "Bearer t"})
	})
	b.Run("gzip", func(b *testing.B) {
		benchServe(b, s, "GET", target, map[string]string{"Authorization": "Bearer t", "Accept-Encoding": "gzip"})
	})
	b.Run("recorded", func(b *testing.B) {
		rs := New(Options{Records: 1000, Seed: 1, SalesforceToken: "t", MaxRecorded: 100})
		benchServe(b, rs, "GET", target, map[string]string{"Authorization": "Bearer t"})
	})
}

func BenchmarkBulkResults10000(b *testing.B) {
	s := New(Options{Records: 10000, Seed: 1, SalesforceToken: "t", MaxRecorded: -1})
	w := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/services/data/v60.0/jobs/query", stringsReader(`{"operation":"query","query":"SELECT Id, Name, Email, MobilePhone, Account.Owner.Email FROM Contact"}`))
	req.Header.Set("Authorization", "Bearer t")
	s.ServeHTTP(w, req)
	var id string
	for k := range s.jobs {
		id = k
	}
	benchServe(b, s, "GET", "/services/data/v60.0/jobs/query/"+id+"/results", map[string]string{"Authorization": "Bearer t"})
}

func BenchmarkZohoList200(b *testing.B) {
	s := New(Options{Records: 1000, Seed: 1, ZohoToken: "t", MaxRecorded: -1})
	benchServe(b, s, "GET", "/crm/v6/Contacts?fields=Email,Mobile,Last_Name,Owner,Account_Name&per_page=200", map[string]string{"Authorization": "Zoho-oauthtoken t"})
}

func BenchmarkNew(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				New(Options{Records: n, Seed: 1})
			}
		})
	}
}

func stringsReader(s string) io.Reader { return &sr{s: s} }

type sr struct{ s string }

func (r *sr) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p, r.s)
	r.s = r.s[n:]
	return n, nil
}
