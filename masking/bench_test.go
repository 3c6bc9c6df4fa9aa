package masking

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmgw/crmgw/examples/samplecrm"
	"github.com/crmgw/crmgw/internal/bodyshape"
)

// naiveRewrite is the approach the streaming rewriter replaces: decode the
// whole body into maps, mask by attributes.type, encode again.
func naiveRewrite(body []byte, rules map[string]string) ([]byte, error) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			typ := ""
			if a, ok := x["attributes"].(map[string]any); ok {
				typ, _ = a["type"].(string)
			}
			for k, val := range x {
				if s, ok := rules[typ+"."+k]; ok && val != nil {
					switch s {
					case "null":
						x[k] = nil
					case "remove":
						delete(x, k)
					default:
						x[k] = "****"
					}
					continue
				}
				walk(val)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return json.Marshal(v)
}

// cpuTime is the process's user+system CPU time. The benchmarks report
// MB per CPU-second next to wall-clock MB/s because the build machine is
// shared (load far above its 2 cores), which inflates wall-clock time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perCPU reports MB/cpu-s for n bytes per op; call it after the loop.
func perCPU(b *testing.B, start time.Duration, n int64) {
	if d := cpuTime() - start; d > 0 {
		b.ReportMetric(float64(n)*float64(b.N)/1e6/d.Seconds(), "MB/cpu-s")
	}
}

// benchRewrite rewrites body once per op as the proxy does: the Reader is
// held by value in per-request state (Init), so allocs/op counts the
// package's own allocations per body.
func benchRewrite(b *testing.B, body []byte, opts Options) {
	buf := make([]byte, 32<<10)
	var src bytesBody
	var r Reader
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	start := cpuTime()
	defer func() { perCPU(b, start, int64(len(body))) }()
	for b.Loop() {
		src.Reset(body)
		r = Reader{}
		r.Init(&src, opts)
		if _, err := io.CopyBuffer(io.Discard, &r, buf); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

// bytesBody is a reusable body: a bytes.Reader that closes.
type bytesBody struct{ bytes.Reader }

func (*bytesBody) Close() error { return nil }

func BenchmarkJSONRewrite200Records(b *testing.B) {
	body := sfQuery(200)
	benchRewrite(b, body, Options{Vendor: "salesforce", Rules: mustRules(b, benchMask), HMACKey: testKey})
}

func BenchmarkJSONRewrite200RecordsDetectors(b *testing.B) {
	body := sfQuery(200)
	benchRewrite(b, body, Options{Vendor: "salesforce", Rules: mustRules(b, benchMask), Detectors: DetectorNames()})
}

func BenchmarkNaive200Records(b *testing.B) {
	body := sfQuery(200)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	start := cpuTime()
	defer func() { perCPU(b, start, int64(len(body))) }()
	for b.Loop() {
		if _, err := naiveRewrite(body, benchMask); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONRewrite100MBStreamed(b *testing.B) {
	const size = 100 << 20
	rules := mustRules(b, benchMask)
	buf := make([]byte, 32<<10)
	b.SetBytes(size)
	b.ReportAllocs()
	start := cpuTime()
	defer func() { perCPU(b, start, size) }()
	for b.Loop() {
		r := NewReader(io.NopCloser(newGenReader(size)), Options{Vendor: "salesforce", Rules: rules})
		if _, err := io.CopyBuffer(io.Discard, r, buf); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

// BenchmarkNaive100MB decodes the same generated 100 MB body whole (it has
// to: the naive approach cannot stream).
func BenchmarkNaive100MB(b *testing.B) {
	const size = 100 << 20
	body, _ := io.ReadAll(newGenReader(size))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	start := cpuTime()
	defer func() { perCPU(b, start, int64(len(body))) }()
	for b.Loop() {
		if _, err := naiveRewrite(body, benchMask); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGeneratorOnly measures the generator feeding the 100 MB benchmark.
func BenchmarkGeneratorOnly100MB(b *testing.B) {
	buf := make([]byte, 32<<10)
	b.SetBytes(100 << 20)
	start := cpuTime()
	defer func() { perCPU(b, start, 100<<20) }()
	for b.Loop() {
		io.CopyBuffer(io.Discard, newGenReader(100<<20), buf)
	}
}

func BenchmarkCSVRewrite(b *testing.B) {
	body := csvBody(20000)
	benchRewrite(b, body, Options{Format: "csv", Object: "Contact", Rules: mustRules(b, benchMask)})
}

func BenchmarkCSVPassThrough(b *testing.B) {
	body := csvBody(20000)
	benchRewrite(b, body, Options{Format: "csv", Object: "Contact"})
}

func BenchmarkRulesLookup(b *testing.B) {
	r := mustRules(b, benchMask)
	var scratch []byte
	obj, field := []byte("Contact"), []byte("Email")
	b.ReportAllocs()
	for b.Loop() {
		r.lookup(&scratch, obj, true, field)
	}
}

// BenchmarkJSONRewriteLoadbenchBody rewrites the body make bench-load sends
// through the gateway (the sample CRM's answer to its 200-record query)
// with the default policies' mask for its caller (role sales_rep).
func BenchmarkJSONRewriteLoadbenchBody(b *testing.B) {
	rules := mustRules(b, map[string]string{
		"*.National_ID__c": "redact", "*.National_ID": "redact", "*.Bank_Account__c": "redact", "*.Bank_Account": "redact",
		"*.Birthdate": "redact", "*.Date_of_Birth": "redact", "*.MobilePhone": "partial", "*.Mobile": "partial",
	})
	benchRewrite(b, loadbenchBody(b), Options{Vendor: "salesforce", Rules: rules})
}

// BenchmarkJSONRewriteLoadbenchBodyPieces is the loadbench body arriving in
// pieces, as an answer does over a socket (over loopback, the gateway's
// reads of the sample CRM's answer average about 10 KB): what reading in
// pieces costs the rewriter (tokens cut at a piece's end, the index
// rebuilt after each fill).
func BenchmarkJSONRewriteLoadbenchBodyPieces(b *testing.B) {
	rules := mustRules(b, map[string]string{
		"*.National_ID__c": "redact", "*.National_ID": "redact", "*.Bank_Account__c": "redact", "*.Bank_Account": "redact",
		"*.Birthdate": "redact", "*.Date_of_Birth": "redact", "*.MobilePhone": "partial", "*.Mobile": "partial",
	})
	body := loadbenchBody(b)
	for _, piece := range []int{32 << 10, 10 << 10, 4 << 10} {
		b.Run(strconv.Itoa(piece>>10)+"KiB", func(b *testing.B) {
			buf := make([]byte, 128<<10) // the proxy's copy buffer
			var r Reader
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				src := &pieceBody{b: body, piece: piece}
				r = Reader{}
				r.Init(src, Options{Vendor: "salesforce", Rules: rules})
				if _, err := io.CopyBuffer(io.Discard, &r, buf); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}

// pieceBody hands out a body at most piece bytes per Read.
type pieceBody struct {
	b     []byte
	piece int
}

func (p *pieceBody) Read(q []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(q[:min(len(q), p.piece)], p.b)
	p.b = p.b[n:]
	return n, nil
}

func (*pieceBody) Close() error { return nil }

// BenchmarkJSONRewriteLoadbenchBodyNoRules is the same body for a caller
// whose policy masks nothing (make bench-load's crmgw-plain): the records
// are only counted.
func BenchmarkJSONRewriteLoadbenchBodyNoRules(b *testing.B) {
	benchRewrite(b, loadbenchBody(b), Options{Vendor: "salesforce"})
}

// loadbenchBody is the sample CRM's answer to make bench-load's query.
func loadbenchBody(b *testing.B) []byte {
	crm := samplecrm.New(samplecrm.Options{Records: 5000, Seed: 1}) // as make bench-load
	q := url.QueryEscape("SELECT Id, Name, Email, MobilePhone, Phone, Birthdate, Account.Name, Account.Owner.Email FROM Contact LIMIT 200")
	req := httptest.NewRequest("GET", "/services/data/v60.0/query?q="+q, nil)
	req.Header.Set("Authorization", "Bearer token")
	rec := httptest.NewRecorder()
	crm.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("sample CRM: %d %s", rec.Code, rec.Body.Bytes())
	}
	return rec.Body.Bytes()
}

// BenchmarkJSONRewrite200RecordsChinese is the 200-record query with its
// text in Chinese (names, titles, descriptions, addresses), as a CRM of
// Chinese customers holds it: strings of multi-byte characters.
func BenchmarkJSONRewrite200RecordsChinese(b *testing.B) {
	body := bytes.NewBufferString(`{"totalSize":200,"done":true,"records":[`)
	for i := range 200 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(body, `{"attributes":{"type":"Contact","url":"/services/data/v60.0/sobjects/Contact/003D%014dAAA"},`+
			`"Id":"003D%014dAAA","Name":"王芳%d","LastName":"王","Title":"采购经理","MailingStreet":"北京市朝阳区建国路%d号",`+
			`"Email":"wang.fang%d@customer-corp.cn","MobilePhone":"138%08d","Description":"在上海交易会上认识，喜欢用微信联系。",`+
			`"Account":{"attributes":{"type":"Account","url":"/services/data/v60.0/sobjects/Account/001D%014dAAA"},"Name":"客户公司%d","Industry":"制造业"}}`,
			i, i, i, i, i, i, i, i)
	}
	body.WriteString("]}")
	benchRewrite(b, body.Bytes(), Options{Vendor: "salesforce", Rules: mustRules(b, benchMask), HMACKey: testKey})
}

// BenchmarkJSONRewriteGraphQL200Records: a GraphQL body takes no fast
// path, so every container goes through open and its shape's edges
// (shape.go): this measures that walk.
func BenchmarkJSONRewriteGraphQL200Records(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"data":{"uiapi":{"query":{"Contact":{"edges":[`)
	for i := range 200 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"node":{"Id":"003%012d","Name":{"value":"Contact %d"},"Email":{"value":"c%d@example.com"},`+
			`"Phone":{"value":"+1 415 555 %04d"},"Account":{"Name":{"value":"Account %d"}}},"cursor":"c%d"}`, i, i, i, i, i%50, i)
	}
	sb.WriteString(`],"totalCount":200,"pageInfo":{"hasNextPage":false}}}}},"errors":[]}`)
	benchRewrite(b, []byte(sb.String()), Options{Vendor: "salesforce", Kind: bodyshape.GraphQL, Rules: mustRules(b, benchMask), HMACKey: testKey})
}
