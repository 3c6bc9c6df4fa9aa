package masking

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

func TestCompileRulesRejectsBadRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mask map[string]string
		want string
	}{
		{"unknown strategy names the key", map[string]string{"Contact.Email": "scramble"}, `"Contact.Email"`},
		{"key without a field", map[string]string{"Email": "redact"}, `"Email"`},
		{"empty object", map[string]string{".Email": "redact"}, `".Email"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileRules(tc.mask)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to name %s", err, tc.want)
			}
		})
	}
	r, err := CompileRules(nil)
	if err != nil || !r.Empty() {
		t.Fatalf("nil mask: %v, empty=%v", err, r.Empty())
	}
	var nilRules *Rules
	if !nilRules.Empty() {
		t.Fatal("nil *Rules is not empty")
	}
}

func TestRulesMatchCaseInsensitivelyWithWildcard(t *testing.T) {
	r := mustRules(t, map[string]string{"contact.EMAIL": "redact", "*.ssn__c": "hash", "Lead.Phone": "remove"})
	var scratch []byte
	tests := []struct {
		obj   string
		known bool
		field string
		want  Strategy
	}{
		{"Contact", true, "Email", StrategyRedact},
		{"CONTACT", true, "email", StrategyRedact},
		{"Lead", true, "Email", StrategyNone},
		{"Anything", true, "SSN__c", StrategyHash},
		{"", false, "Phone", StrategyRemove}, // unknown object: strictest rule naming the field
		{"Contact", true, "Phone", StrategyNone},
	}
	for _, tc := range tests {
		got := r.lookup(&scratch, []byte(tc.obj), tc.known, []byte(tc.field))
		if got != tc.want {
			t.Errorf("%s.%s = %v, want %v", tc.obj, tc.field, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { r.lookup(&scratch, []byte("Contact"), true, []byte("Email")) }); n != 0 {
		t.Errorf("lookup allocates %v times", n)
	}
}

// maskOne rewrites {"attributes":{"type":"Contact"},"F": value} with rule Contact.F=strategy.
func maskOne(t *testing.T, strategy, value string) string {
	t.Helper()
	body := `{"attributes":{"type":"Contact"},"A":1,"F":` + value + `,"Z":2}`
	out, st, err := rewrite(t, []byte(body), Options{Vendor: "salesforce", HMACKey: testKey, Rules: mustRules(t, map[string]string{"Contact.F": strategy})})
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if st.Err != nil {
		t.Fatal(st.Err)
	}
	if !json.Valid(out) {
		t.Fatalf("invalid JSON: %s", out)
	}
	var m map[string]any
	json.Unmarshal(out, &m)
	f, ok := m["F"]
	if !ok {
		return "<removed>"
	}
	b, _ := json.Marshal(f)
	return string(b)
}

func TestStrategiesProduceDocumentedOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, strategy, in, want string
	}{
		{"redact a string", "redact", `"wang.fang@customer-corp.cn"`, `"****"`},
		{"partial keeps the last four", "partial", `"13800138000"`, `"*******8000"`},
		{"partial counts Chinese characters, not bytes", "partial", `"北京市朝阳区建国路88号"`, `"********路88号"`},
		{"partial of a short value hides it all", "partial", `"1234"`, `"****"`},
		{"email keeps first letter and domain", "email", `"wang.fang@customer-corp.cn"`, `"w***@customer-corp.cn"`},
		{"email of a Chinese local part", "email", `"王芳@example.cn"`, `"王***@example.cn"`},
		{"email of a non-email redacts", "email", `"not an email"`, `"****"`},
		{"email with two @ redacts", "email", `"a@b@c"`, `"****"`},
		{"email with two @ far apart redacts", "email", `"alice.wong@x.cn@customer-corp.cn"`, `"****"`},
		{"email starting with @ redacts", "email", `"@customer-corp.cn"`, `"****"`},
		{"email ending with @ redacts", "email", `"wang.fang@"`, `"****"`},
		{"partial of five characters", "partial", `"12345"`, `"*2345"`},
		{"partial of a value longer than the star block", "partial", `"` + strings.Repeat("x", 100) + `1234"`, `"` + strings.Repeat("*", 100) + `1234"`},
		{"partial of mixed ASCII and Chinese", "partial", `"abc北京市朝阳"`, `"****京市朝阳"`},
		{"null", "null", `"secret"`, `null`},
		{"remove drops the member", "remove", `"secret"`, `<removed>`},
		{"number redacted becomes a string", "redact", `35000000`, `"****"`},
		{"number partial becomes a string", "partial", `35000000`, `"****0000"`},
		{"number nulled", "null", `35000000`, `null`},
		{"boolean becomes null", "redact", `true`, `null`},
		{"object becomes null, never leaking nested content", "partial", `{"street":"1 Main St","city":"Beijing"}`, `null`},
		{"array becomes null", "email", `["a@b.cn"]`, `null`},
		{"null stays null", "redact", `null`, `null`},
		{"escaped string is masked on its decoded text", "partial", `"\u0031\u0033800138000"`, `"*******8000"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := maskOne(t, tc.strategy, tc.in); got != tc.want {
				t.Errorf("%s(%s) = %s, want %s", tc.strategy, tc.in, got, tc.want)
			}
		})
	}
}

func TestHashIsStableForJoinsAndKeyed(t *testing.T) {
	t.Parallel()
	body := []byte(`[{"attributes":{"type":"Contact"},"Email":"a@b.cn"},{"attributes":{"type":"Lead"},"Email":"a@b.cn"}]`)
	rules := mustRules(t, map[string]string{"*.Email": "hash"})
	hashes := func(key []byte) []string {
		out, _, _ := rewrite(t, body, Options{Vendor: "salesforce", Rules: rules, HMACKey: key})
		var recs []map[string]any
		if err := json.Unmarshal(out, &recs); err != nil {
			t.Fatal(err)
		}
		return []string{recs[0]["Email"].(string), recs[1]["Email"].(string)}
	}
	a, b := hashes(testKey), hashes([]byte("another key of thirty-two bytes!"))
	if a[0] != a[1] {
		t.Errorf("same value hashed differently: %v", a)
	}
	if !strings.HasPrefix(a[0], "hmac:") || len(a[0]) != len("hmac:")+32 {
		t.Errorf("hash format %q", a[0])
	}
	if a[0] == b[0] {
		t.Error("hash does not depend on the key")
	}
	if again := hashes(testKey); again[0] != a[0] {
		t.Error("hash not stable across readers")
	}
	if nokey := hashes(nil); nokey[0] != "****" {
		t.Errorf("hash without a key = %q, want redaction", nokey[0])
	}
}

func TestRemoveKeepsJSONValidInEveryPosition(t *testing.T) {
	t.Parallel()
	rules := mustRules(t, map[string]string{"Contact.Email": "remove"})
	for _, body := range []string{
		`{"attributes":{"type":"Contact"},"Email":"x@y.cn"}`,
		`{"Email":"x@y.cn","attributes":{"type":"Contact"}}`,
		`{"attributes":{"type":"Contact"},"Email":"x@y.cn","Name":"n"}`,
		`{"attributes":{"type":"Contact"},"Name":"n","Email":{"nested":"x@y.cn"},"Other":1}`,
		`{"attributes":{"type":"Contact"},"Email":"x@y.cn","Email":"x@y.cn"}`,
	} {
		out, _, err := rewrite(t, []byte(body), Options{Vendor: "salesforce", Rules: rules})
		if err != io.EOF && err != nil || !json.Valid(out) || bytes.Contains(out, []byte("x@y.cn")) {
			t.Errorf("%s -> %s (%v)", body, out, err)
		}
	}
}

// truncationBodies are multi-record bodies of every shape, 5 records each.
func truncationBodies() []struct {
	name string
	opts Options
	body []byte
	list func(any) int // how many records the decoded output holds
} {
	jsonPath := func(path ...any) func(any) int {
		return func(v any) int {
			for _, p := range path {
				switch k := p.(type) {
				case string:
					v = v.(map[string]any)[k]
				case int:
					v = v.([]any)[k]
				}
			}
			return len(v.([]any))
		}
	}
	var gql, rep, ui, lv, zoho, search, coll bytes.Buffer
	gql.WriteString(`{"data":{"uiapi":{"query":{"Contact":{"edges":[`)
	rep.WriteString(`{"reportMetadata":{"detailColumns":["EMAIL"]},"factMap":{"T!T":{"rows":[`)
	ui.WriteString(`{"records":[`)
	lv.WriteString(`{"records":[`)
	zoho.WriteString(`{"data":[`)
	search.WriteString(`{"searchRecords":[`)
	coll.WriteString(`[`)
	for i := range 5 {
		sep := ""
		if i > 0 {
			sep = ","
		}
		fmt.Fprintf(&gql, `%s{"node":{"Email":{"value":"c%d@x.cn"}}}`, sep, i)
		fmt.Fprintf(&rep, `%s{"dataCells":[{"label":"c%d@x.cn","value":"c%d@x.cn"}]}`, sep, i, i)
		fmt.Fprintf(&ui, `%s{"apiName":"Contact","fields":{"Email":{"value":"c%d@x.cn"}}}`, sep, i)
		fmt.Fprintf(&lv, `%s{"columns":[{"fieldNameOrPath":"Email","value":"c%d@x.cn"}]}`, sep, i)
		fmt.Fprintf(&zoho, `%s{"Email":"c%d@x.cn","id":"%d"}`, sep, i, i)
		fmt.Fprintf(&search, `%s{"attributes":{"type":"Contact"},"Email":"c%d@x.cn"}`, sep, i)
		fmt.Fprintf(&coll, `%s{"attributes":{"type":"Contact"},"Email":"c%d@x.cn"}`, sep, i)
	}
	gql.WriteString(`],"pageInfo":{"hasNextPage":true}}}}}}`)
	rep.WriteString(`]}}}`)
	ui.WriteString(`],"count":5}`)
	lv.WriteString(`],"done":true,"size":5}`)
	zoho.WriteString(`],"info":{"more_records":true,"next_page_token":"tok"}}`)
	search.WriteString(`]}`)
	coll.WriteString(`]`)
	sf := func(kind bodyshape.Kind) Options { return Options{Vendor: "salesforce", Kind: kind} }
	return []struct {
		name string
		opts Options
		body []byte
		list func(any) int
	}{
		{"salesforce query", sf("records"), sfQuery(5), jsonPath("records")},
		{"salesforce collection", sf("records"), coll.Bytes(), jsonPath()},
		{"salesforce search", sf("search"), search.Bytes(), jsonPath("searchRecords")},
		{"graphql edges", sf("graphql"), gql.Bytes(), jsonPath("data", "uiapi", "query", "Contact", "edges")},
		{"report rows", sf("report"), rep.Bytes(), jsonPath("factMap", "T!T", "rows")},
		{"ui api list", sf("uiapi"), ui.Bytes(), jsonPath("records")},
		{"list view", Options{Vendor: "salesforce", Kind: "listview", Object: "Contact"}, lv.Bytes(), jsonPath("records")},
		{"zoho data", Options{Vendor: "zoho", Object: "Contacts"}, zoho.Bytes(), jsonPath("data")},
	}
}

func TestMaxRecordsCutsEveryShapeAtARecordBoundary(t *testing.T) {
	t.Parallel()
	rules := mustRules(t, map[string]string{"Contact.Email": "redact", "Contacts.Email": "redact", "Report.EMAIL": "redact"})
	for _, tc := range truncationBodies() {
		// -1: no record may leave (an export cursor used up).
		for _, max := range []int{-1, 0, 1, 2, 5, 6} {
			t.Run(fmt.Sprintf("%s max %d", tc.name, max), func(t *testing.T) {
				opts := tc.opts
				opts.Rules, opts.MaxRecords = rules, max
				out, st, err := rewrite(t, tc.body, opts)
				if err != io.EOF && err != nil {
					t.Fatal(err)
				}
				var v any
				if err := json.Unmarshal(out, &v); err != nil {
					t.Fatalf("output not valid JSON: %v\n%s", err, out)
				}
				want := 5
				if max != 0 && max < 5 {
					want = maxInt(max, 0)
				}
				if got := tc.list(v); got != want || st.Records != want {
					t.Errorf("records in output %d, counted %d, want %d\n%s", got, st.Records, want, out)
				}
				if max < 0 && (bytes.Contains(out, []byte(`"done":false`)) || bytes.Contains(out, []byte("nextRecordsUrl"))) {
					t.Errorf("a page cut to no record still points at more: %s", out)
				}
				if st.Truncated != (max != 0 && max < 5) {
					t.Errorf("Truncated = %v", st.Truncated)
				}
				if bytes.Contains(out, []byte("@x.cn")) {
					t.Errorf("unmasked email in %s", out)
				}
			})
		}
	}
}

func TestMaxRecordsCutsCSV(t *testing.T) {
	t.Parallel()
	for _, max := range []int{-1, 0, 1, 3, 10, 11} {
		out, st, err := rewrite(t, csvBody(10), Options{Format: "csv", Object: "Contact", MaxRecords: max})
		if err != io.EOF && err != nil {
			t.Fatal(err)
		}
		rows, err := readCSV(out)
		if err != nil {
			t.Fatal(err)
		}
		want := 10
		if max != 0 && max < 10 {
			want = maxInt(max, 0)
		}
		if len(rows)-1 != want || st.Records != want || st.Truncated != (max != 0 && max < 10) {
			t.Errorf("max %d: rows %d counted %d truncated %v", max, len(rows)-1, st.Records, st.Truncated)
		}
	}
}

func TestSlowAndChunkedUpstreamGiveTheSameOutput(t *testing.T) {
	t.Parallel()
	body := sfQuery(50)
	opts := Options{Vendor: "salesforce", Rules: mustRules(t, benchMask), HMACKey: testKey, MaxRecords: 40}
	want, _, _ := rewrite(t, body, opts)
	readers := map[string]func(io.Reader) io.Reader{
		"one byte":   iotest.OneByteReader,
		"half":       iotest.HalfReader,
		"data + err": iotest.DataErrReader,
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			r := NewReader(io.NopCloser(wrap(bytes.NewReader(body))), opts)
			got, err := io.ReadAll(iotest.OneByteReader(r))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("output differs:\n%s\n%s", got, want)
			}
			if st := r.Stats(); st.Records != 40 || !st.Truncated {
				t.Errorf("stats %+v", st)
			}
		})
	}
	csvWant, _, _ := rewrite(t, csvBody(100), Options{Format: "csv", Object: "Contact", Rules: mustRules(t, benchMask)})
	r := NewReader(io.NopCloser(iotest.OneByteReader(bytes.NewReader(csvBody(100)))), Options{Format: "csv", Object: "Contact", Rules: mustRules(t, benchMask)})
	got, err := io.ReadAll(iotest.HalfReader(r))
	if err != nil || !bytes.Equal(got, csvWant) {
		t.Fatalf("csv chunked: %v", err)
	}
}

func TestMalformedBodiesAreCutOffWithoutLeaking(t *testing.T) {
	t.Parallel()
	const secret = "secret.person@customer-corp.cn"
	rec := `{"attributes":{"type":"Contact"},"Email":"` + secret + `","Name":"N"}`
	tests := []struct {
		name, format, body string
	}{
		{"truncated inside a masked string", "json", `{"totalSize":2,"done":true,"records":[{"attributes":{"type":"Contact"},"Email":"secret.person@custo`},
		{"truncated after a record", "json", `{"totalSize":2,"done":true,"records":[` + rec + `,{"attributes":{"type":"Contact"}`},
		{"trailing garbage", "json", `{"totalSize":1,"done":true,"records":[` + rec + `]} garbage`},
		{"second top-level value", "json", `[` + rec + `] [` + rec + `]`},
		{"invalid UTF-8 in a value", "json", `[` + rec + `,{"attributes":{"type":"Contact"},"Name":"` + "\xff\xfe" + `"}]`},
		{"missing colon", "json", `[{"attributes":{"type":"Contact"},"Email" "` + secret + `"}]`},
		{"ragged CSV row", "csv", "Id,Email\n1," + secret + "\n2," + secret + ",extra\n"},
		{"bare quote in CSV", "csv", "Id,Email\n1,\"" + secret + "\n"},
	}
	rules := mustRules(t, map[string]string{"Contact.Email": "partial"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, st, err := rewrite(t, []byte(tc.body), Options{Format: bodyshape.Format(tc.format), Object: "Contact", Vendor: "salesforce", Rules: rules})
			if !errors.Is(err, ErrMalformed) || !errors.Is(st.Err, ErrMalformed) {
				t.Fatalf("err = %v, Stats.Err = %v, want ErrMalformed", err, st.Err)
			}
			if bytes.Contains(out, []byte(secret)) || bytes.Contains(out, []byte("secret.person")) {
				t.Fatalf("emitted unmasked value: %s", out)
			}
		})
	}
}

func TestEmptyBodyIsEmpty(t *testing.T) {
	t.Parallel()
	out, st, err := rewrite(t, nil, Options{Vendor: "salesforce"})
	if err != io.EOF && err != nil || len(out) != 0 || st.Err != nil {
		t.Fatalf("out=%q err=%v st=%+v", out, err, st.Err)
	}
}

func TestUnknownFormatAndDetectorFailAtFirstRead(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{Format: "xml"}, {Detectors: []string{"passport"}}} {
		_, st, err := rewrite(t, []byte(`{}`), o)
		if err == nil || st.Err == nil {
			t.Errorf("%+v: err = %v", o, err)
		}
	}
}

func TestDecodeBody(t *testing.T) {
	t.Parallel()
	plain := []byte(`{"records":[]}`)
	var gz, zl, raw bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(plain)
	gw.Close()
	zw := zlib.NewWriter(&zl)
	zw.Write(plain)
	zw.Close()
	fw, _ := flate.NewWriter(&raw, flate.BestSpeed)
	fw.Write(plain)
	fw.Close()
	var gzgz bytes.Buffer
	gw2 := gzip.NewWriter(&gzgz)
	gw2.Write(gz.Bytes())
	gw2.Close()
	tests := []struct {
		name, enc string
		body      []byte
		wantErr   error
	}{
		{"no encoding", "", plain, nil},
		{"identity", "identity", plain, nil},
		{"gzip", "gzip", gz.Bytes(), nil},
		{"x-gzip uppercase", "X-GZIP", gz.Bytes(), nil},
		{"deflate as zlib", "deflate", zl.Bytes(), nil},
		{"deflate raw", "deflate", raw.Bytes(), nil},
		{"stacked gzip", "gzip, gzip", gzgz.Bytes(), nil},
		{"brotli refused", "br", plain, ErrUnsupportedEncoding},
		{"zstd refused", "zstd", plain, ErrUnsupportedEncoding},
		{"stacked unknown refused", "gzip, br", plain, ErrUnsupportedEncoding},
		{"corrupt gzip", "gzip", []byte("not gzip at all"), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := DecodeBody(tc.enc, io.NopCloser(bytes.NewReader(tc.body)))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
	// A gzip body cut short is malformed when read.
	rc, err := DecodeBody("gzip", io.NopCloser(bytes.NewReader(gz.Bytes()[:gz.Len()-6])))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated gzip: %v", err)
	}
}

func TestEncodeBodyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, enc := range []string{"", "identity", "gzip", "deflate"} {
		var buf bytes.Buffer
		w, err := EncodeBody(&buf, enc)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("hello masked world"))
		w.Close()
		rc, err := DecodeBody(enc, io.NopCloser(&buf))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		if string(got) != "hello masked world" {
			t.Errorf("%s: %q", enc, got)
		}
	}
	if _, err := EncodeBody(io.Discard, "br"); !errors.Is(err, ErrUnsupportedEncoding) {
		t.Errorf("br: %v", err)
	}
}

func TestGzipBodyIsDecodedMaskedAndReencoded(t *testing.T) {
	t.Parallel()
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(fixture(t, "fixtures/salesforce/query_contacts.json"))
	gw.Close()
	dec, err := DecodeBody("gzip", io.NopCloser(&gz))
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(dec, Options{Vendor: "salesforce", Rules: mustRules(t, contactMask)})
	var out bytes.Buffer
	enc, _ := EncodeBody(&out, "gzip")
	if _, err := io.Copy(enc, r); err != nil {
		t.Fatal(err)
	}
	enc.Close()
	r.Close()
	back, _ := DecodeBody("gzip", io.NopCloser(&out))
	plain, _ := io.ReadAll(back)
	if !json.Valid(plain) || bytes.Contains(plain, []byte("li.wei@seller.example")) {
		t.Fatalf("bad output %s", plain)
	}
}

func makeZip(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range files {
		w, _ := zw.Create(name)
		w.Write(b)
	}
	zw.Close()
	return buf.Bytes()
}

func TestZipCSVRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	body := makeZip(t, map[string][]byte{"554023000000568002.csv": fixture(t, "zoho_bulk_read.csv")})
	opts := Options{Format: "zip_csv", Vendor: "zoho", Object: "Contacts", SpoolDir: dir,
		Rules: mustRules(t, map[string]string{"Contacts.Email": "email", "Contacts.Mobile": "partial"})}
	out, st, err := rewrite(t, body, opts)
	if err != io.EOF && err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != "554023000000568002.csv" {
		t.Fatalf("entries %v", zr.File)
	}
	f, _ := zr.File[0].Open()
	csvOut, _ := io.ReadAll(f)
	want := "Id,Last_Name,Email,Mobile,Owner\n554023000000527001,Wang,w***@customer-corp.cn,*******8000,554023000000235011\n554023000000527002,Zhao,,*************9000,554023000000235011\n"
	if string(csvOut) != want {
		t.Fatalf("csv:\n%s\nwant:\n%s", csvOut, want)
	}
	if st.Records != 2 || strings.Join(st.Masked, ",") != "Contacts.Email,Contacts.Mobile" {
		t.Errorf("stats %+v", st)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool file left behind: %v", ents)
	}
}

func TestZipCapSpansFilesAndRefusesWhatItCannotMask(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	two := makeZip(t, map[string][]byte{"a.csv": csvBody(3), "b.csv": csvBody(3)})
	out, st, _ := rewrite(t, two, Options{Format: "zip_csv", SpoolDir: dir, MaxRecords: 4})
	if _, err := zip.NewReader(bytes.NewReader(out), int64(len(out))); err != nil || st.Records != 4 || !st.Truncated {
		t.Fatalf("cap across files: %v %+v", err, st)
	}
	_, st, err := rewrite(t, makeZip(t, map[string][]byte{"a.xml": []byte("<x/>")}), Options{Format: "zip_csv", SpoolDir: dir})
	if !errors.Is(err, ErrUnsupportedFormat) || st.Err == nil {
		t.Errorf("xml entry: %v", err)
	}
	_, _, err = rewrite(t, two, Options{Format: "zip_csv", SpoolDir: dir, SpoolLimit: 100})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("spool limit: %v", err)
	}
	_, _, err = rewrite(t, []byte("PK not a zip"), Options{Format: "zip_csv", SpoolDir: dir})
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage zip: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool files left behind: %v", ents)
	}
}

func TestDetectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		det, in, want string
	}{
		{"email", "mail wang.fang@customer-corp.cn.", "mail ****."},
		{"email", "no@tld", "no@tld"},
		{"mobile_cn", "tel 13800138000;", "tel ****;"},
		{"mobile_cn", "12800138000", "12800138000"},
		{"mobile_cn", "138001380001", "138001380001"},
		{"e164", "call +86 139 0013 9000 now", "call **** now"},
		{"e164", "+1234567", "+1234567"},
		{"cn_id", "id 11010519491231002X.", "id ****."},
		{"cn_id", "id 11010519491231002Y", "id 11010519491231002Y"},
		{"cn_id", "110105194912310021", "110105194912310021"},
		{"bank_card", "4111111111111111", "****"},
		{"bank_card", "4111111111111112", "4111111111111112"},
		{"bank_card", "card 6222-0212-3456-7890-127 ok", "card 6222-0212-3456-7890-127 ok"},
		{"bank_card", "card 4111 1111 1111 1111 ok", "card **** ok"},
	}
	for _, tc := range tests {
		set, err := parseDetectors([]string{tc.det})
		if err != nil {
			t.Fatal(err)
		}
		spans := detect(nil, []byte(tc.in), set)
		if got := string(appendDetected(nil, []byte(tc.in), spans)); got != tc.want {
			t.Errorf("%s(%q) = %q, want %q", tc.det, tc.in, got, tc.want)
		}
	}
}

func TestDetectorsSkipIdsAndRunOnlyWhenEnabled(t *testing.T) {
	t.Parallel()
	body := []byte(`{"data":[{"id":"4111111111111111","Account_Id":"4111111111111111","Note":"4111111111111111"}]}`)
	out, _, _ := rewrite(t, body, Options{Vendor: "zoho", Detectors: []string{"bank_card"}})
	if !bytes.Contains(out, []byte(`"id":"4111111111111111","Account_Id":"4111111111111111","Note":"****"`)) {
		t.Errorf("got %s", out)
	}
	out, _, _ = rewrite(t, body, Options{Vendor: "zoho"})
	if !bytes.Equal(out, bytes.ReplaceAll(body, []byte(" "), nil)) {
		t.Errorf("detectors ran without being enabled: %s", out)
	}
}

func TestCloseBeforeEOFReleasesAndKeepsStats(t *testing.T) {
	t.Parallel()
	r := NewReader(io.NopCloser(newGenReader(10<<20)), Options{Vendor: "salesforce", Rules: mustRules(t, benchMask)})
	buf := make([]byte, 4096)
	// Output is handed over as soon as it is ready, so read a few records'
	// worth before closing.
	for total := 0; total < 64<<10; {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(buf); err == nil {
		t.Fatal("Read after Close succeeded")
	}
	if st := r.Stats(); st.Records == 0 || len(st.Masked) == 0 {
		t.Errorf("stats after Close: %+v", st)
	}
}

// TestHugeBodyStreamsInBoundedMemory rewrites a generated 100 MB query
// body and asserts the heap never holds more than a small multiple of one chunk.
func TestHugeBodyStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB body")
	}
	const size = 100 << 20
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	r := NewReader(io.NopCloser(newGenReader(size)), Options{Vendor: "salesforce", Rules: mustRules(t, benchMask), MaxRecords: 0})
	buf := make([]byte, 32<<10)
	var peak uint64
	var total int64
	for i := 0; ; i++ {
		n, err := r.Read(buf)
		total += int64(n)
		if i%512 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	st := r.Stats()
	if st.BytesIn < size || st.Records < 100000 || st.Err != nil {
		t.Fatalf("stats %+v", st)
	}
	if grown := int64(peak) - int64(base); grown > 16<<20 {
		t.Errorf("heap grew by %d MiB while streaming %d MiB", grown>>20, total>>20)
	}
	t.Logf("in %d MiB, out %d MiB, records %d, heap growth %d KiB", st.BytesIn>>20, total>>20, st.Records, (int64(peak)-int64(base))>>10)
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	c := Config{HMACKey: "short", Detectors: []string{"email", "passport", "iban"}, SpoolLimit: -1}
	err := c.Validate()
	for _, want := range []string{"hmac_key", "detectors[1]", "detectors[2]", "spool_limit"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
	ok := Config{HMACKey: string(testKey)}
	ok.SetDefaults()
	if err := ok.Validate(); err != nil || ok.SpoolLimit != DefaultSpoolLimit {
		t.Errorf("valid config: %v %d", err, ok.SpoolLimit)
	}
}

func TestCompositeSingleRecordBodiesBeyondTheCapBecomeNull(t *testing.T) {
	t.Parallel()
	rec := func(i int, attrsFirst bool) string {
		if attrsFirst {
			return fmt.Sprintf(`{"attributes":{"type":"Contact"},"Id":"%d","Email":"c%d@x.cn"}`, i, i)
		}
		return fmt.Sprintf(`{"Id":"%d","Email":"c%d@x.cn","attributes":{"type":"Contact"}}`, i, i)
	}
	body := `{"compositeResponse":[` +
		`{"body":{"totalSize":2,"done":true,"records":[` + rec(1, true) + `,` + rec(2, true) + `]},"httpStatusCode":200,"referenceId":"q"},` +
		`{"body":` + rec(3, true) + `,"httpStatusCode":200,"referenceId":"a"},` +
		`{"body":` + rec(4, false) + `,"httpStatusCode":200,"referenceId":"b"},` +
		`{"body":null,"httpStatusCode":204,"referenceId":"c"}]}`
	rules := mustRules(t, map[string]string{"Contact.Email": "redact"})
	for _, tc := range []struct {
		max, records int
		nulls        int
	}{{0, 4, 1}, {1, 1, 3}, {2, 2, 3}, {3, 3, 2}, {4, 4, 1}} {
		for _, oneByte := range []bool{true, false} {
			// One byte at a time, held output is exercised across reads; the
			// whole body at once, the members loop's fast paths read it.
			var src io.Reader = strings.NewReader(body)
			if oneByte {
				src = iotest.OneByteReader(src)
			}
			r := NewReader(io.NopCloser(src), Options{Vendor: "salesforce", Kind: "composite", Rules: rules, MaxRecords: tc.max})
			out, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			st := r.Stats()
			var v struct {
				CompositeResponse []struct {
					Body json.RawMessage `json:"body"`
				} `json:"compositeResponse"`
			}
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("max %d: invalid JSON %v\n%s", tc.max, err, out)
			}
			nulls := 0
			for _, c := range v.CompositeResponse {
				if string(c.Body) == "null" {
					nulls++
				}
			}
			if st.Records != tc.records || nulls != tc.nulls || st.Truncated != (tc.max > 0 && tc.max < 4) {
				t.Errorf("max %d: records %d nulls %d truncated %v; want %d %d\n%s", tc.max, st.Records, nulls, st.Truncated, tc.records, tc.nulls, out)
			}
			if bytes.Contains(out, []byte("@x.cn")) {
				t.Errorf("unmasked: %s", out)
			}
		}
	}
}

func TestAggregateResultFieldsUseTheStrictestRule(t *testing.T) {
	t.Parallel()
	body := `{"totalSize":1,"done":true,"records":[{"attributes":{"type":"AggregateResult"},"Email":"a@b.cn","expr0":3}]}`
	out, st, _ := rewrite(t, []byte(body), Options{Vendor: "salesforce", Rules: mustRules(t, map[string]string{"Contact.Email": "redact"})})
	if bytes.Contains(out, []byte("a@b.cn")) || !bytes.Contains(out, []byte(`"expr0":3`)) || st.Records != 1 {
		t.Fatalf("got %s %+v", out, st)
	}
}

// The masked-name lists of finished Readers may be shared: a list handed
// out stays what it was while later bodies mask other fields, and a Reader
// held by value (Init) reports like one from NewReader.
func TestMaskedListsStayPutAcrossBodies(t *testing.T) {
	body := sfQuery(3)
	finish := func(r *Reader) Stats {
		t.Helper()
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		r.Close()
		return r.Stats()
	}
	emailOnly := mustRules(t, map[string]string{"Contact.Email": "redact"})
	both := mustRules(t, map[string]string{"Contact.Email": "redact", "User.Email": "hash"})
	first := finish(NewReader(io.NopCloser(bytes.NewReader(body)), Options{Vendor: "salesforce", Rules: emailOnly}))
	var byValue Reader
	byValue.Init(io.NopCloser(bytes.NewReader(body)), Options{Vendor: "salesforce", Rules: both, HMACKey: testKey})
	second := finish(&byValue)
	third := finish(NewReader(io.NopCloser(bytes.NewReader(body)), Options{Vendor: "salesforce", Rules: emailOnly}))
	none := finish(NewReader(io.NopCloser(bytes.NewReader(body)), Options{Vendor: "salesforce"}))

	if want := []string{"Contact.Email"}; !slices.Equal(first.Masked, want) || !slices.Equal(third.Masked, want) {
		t.Errorf("email-only bodies masked %v and %v, want %v each", first.Masked, third.Masked, want)
	}
	if want := []string{"Contact.Email", "User.Email"}; !slices.Equal(second.Masked, want) {
		t.Errorf("second body masked %v, want %v", second.Masked, want)
	}
	if second.Records != 3 || first.Records != 3 {
		t.Errorf("records %d and %d, want 3 each", first.Records, second.Records)
	}
	if none.Masked != nil {
		t.Errorf("a body without rules masked %v, want nil", none.Masked)
	}
}

func TestListInternKeepsDistinctListsApart(t *testing.T) {
	l := listIntern{seed: maphash.MakeSeed(), m: make(map[uint64][]string)}
	in := []string{"a", "b"}
	got := l.intern(in)
	in[0] = "changed" // the caller's scratch is reused after intern
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("interned list %v changed with its source", got)
	}
	if joined := l.intern([]string{"ab"}); !slices.Equal(joined, []string{"ab"}) {
		t.Errorf("{ab} interned as %v", joined)
	}
	if again := l.intern([]string{"a", "b"}); &again[0] != &got[0] {
		t.Error("an equal list was not shared")
	}
	if l.intern(nil) != nil || l.intern([]string{}) != nil {
		t.Error("an empty list is not nil")
	}
}

// TestReadFillsTheCallersBufferWithoutWaitingOnTheSource: a Read with a
// buffer larger than the output chunk gets more than a chunk while the
// source has input in hand (a proxy then writes fewer, larger chunks), and
// never waits on the source for more once it has output: a slow upstream's
// first records reach the caller as they arrive.
func TestReadFillsTheCallersBufferWithoutWaitingOnTheSource(t *testing.T) {
	t.Parallel()
	body := sfQuery(600) // ~420 KB
	opts := Options{Vendor: "salesforce", Rules: mustRules(t, benchMask), HMACKey: testKey}
	want, _, _ := rewrite(t, body, opts)

	r := NewReader(io.NopCloser(bytes.NewReader(body)), opts)
	buf := make([]byte, 3*chunk)
	n, err := r.Read(buf)
	if err != nil || n != len(buf) {
		t.Fatalf("first Read of %d bytes (%d chunks) with the whole body at hand: %d, %v; want the buffer full", len(buf), len(buf)/chunk, n, err)
	}
	if !bytes.Equal(buf[:n], want[:n]) {
		t.Fatal("first Read differs from the whole output's start")
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(append(buf[:n:n], rest...), want) {
		t.Fatalf("output differs (%v)", err)
	}

	// The source sends a part larger than two chunks that ends after a
	// whole record, then holds the rest until the caller has seen that
	// record (or 10 s passed: the Reader waited on the source).
	cut := bytes.Index(body, fmt.Appendf(nil, `{"attributes":{"type":"Contact","url":"/services/data/v60.0/sobjects/Contact/003D%014dAAA"}`, 450))
	if cut < 2*chunk {
		t.Fatalf("cut at %d: want a first part above two chunks", cut)
	}
	last := fmt.Appendf(nil, `"003D%014dAAA"`, 449) // the first part's last record
	pr, pw := io.Pipe()
	seen := make(chan struct{})
	var restSent atomic.Bool
	go func() {
		_, _ = pw.Write(body[:cut])
		select {
		case <-seen:
		case <-time.After(10 * time.Second):
		}
		restSent.Store(true)
		_, _ = pw.Write(body[cut:])
		_ = pw.Close()
	}()
	r = NewReader(pr, opts)
	defer r.Close()
	var got []byte
	for !bytes.Contains(got, last) {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatalf("Read: %v after %d bytes", err, len(got))
		}
		got = append(got, buf[:n]...)
	}
	if restSent.Load() {
		t.Fatal("the first part's records came out only after the source sent the rest: Read waited on the source")
	}
	close(seen)
	rest, err = io.ReadAll(r)
	if err != nil || !bytes.Equal(append(got, rest...), want) {
		t.Fatalf("streamed output differs (%v)", err)
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// TestNoRecordMayLeave: an export whose cap is used up gets its page with
// no record, and the page says it is the last (a client stops paging).
func TestNoRecordMayLeave(t *testing.T) {
	t.Parallel()
	body := `{"totalSize":6000,"done":false,"nextRecordsUrl":"/services/data/v60.0/query/01gD0000002HU6KIAW-4000","records":[` +
		sfRecord(1) + `,` + sfRecord(2) + `]}`
	out, st, err := rewrite(t, []byte(body), Options{Vendor: "salesforce", MaxRecords: -1})
	if err != io.EOF && err != nil {
		t.Fatal(err)
	}
	var v struct {
		TotalSize      int
		Done           bool
		NextRecordsURL *string `json:"nextRecordsUrl"`
		Records        []any
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(v.Records) != 0 || !v.Done || v.NextRecordsURL != nil || v.TotalSize != 0 || st.Records != 0 || !st.Truncated {
		t.Errorf("page %s, stats %+v: want no record, done, no next page, truncated", out, st)
	}
}
