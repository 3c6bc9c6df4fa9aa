package masking

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func rewriteProfile(t testing.TB, body string, opts Options, mask map[string]string) (string, Stats) {
	t.Helper()
	rules, err := CompileRules(mask)
	if err != nil {
		t.Fatal(err)
	}
	opts.Vendor, opts.Rules = "generic", rules
	r := NewReader(io.NopCloser(strings.NewReader(body)), opts)
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	if !json.Valid(out) {
		t.Fatalf("output is not JSON: %s", out)
	}
	return string(bytes.TrimSpace(out)), r.Stats()
}

// TestPointerRecordsMaskedCountedCapped: records at a pointer are masked
// by field at any depth, counted, and cut at a record boundary.
func TestPointerRecordsMaskedCountedCapped(t *testing.T) {
	body := `{"errorCode":0,"data":{"dataList":[` +
		`{"_id":"a1","tel":"13812345678","owner__r":{"name":"王芳","tel":"13911112222"}},` +
		`{"_id":"a2","tel":13987654321},` +
		`{"_id":"a3","tel":null}],"total":3}}`
	out, st := rewriteProfile(t, body, Options{Kind: "records", Records: "/data/dataList", Object: "AccountObj", MaxRecords: 2},
		map[string]string{"AccountObj.tel": "partial"})
	want := `{"errorCode":0,"data":{"dataList":[{"_id":"a1","tel":"*******5678","owner__r":{"name":"王芳","tel":"*******2222"}},{"_id":"a2","tel":"*******4321"}],"total":3}}`
	if out != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if st.Records != 2 || !st.Truncated || len(st.Masked) != 1 || st.Masked[0] != "AccountObj.tel" {
		t.Errorf("stats: %+v", st)
	}
}

// TestPointerRowsByColumn: positional rows are masked by the column their
// field has in the request's field list, each occurrence of a repeated
// field; remove becomes null (a removed cell would shift the others); a
// column past the list is redacted; a non-row element (an error object)
// is masked by name.
func TestPointerRowsByColumn(t *testing.T) {
	body := `[["C1","13812345678","甲","13812345678","extra"],{"Result":{"FTel":"13800000000","Message":"x"}}]`
	out, st := rewriteProfile(t, body, Options{Kind: "rows", Columns: []string{"FNumber", "FTel", "FName", "FTel"}, Object: "BD_Customer"},
		map[string]string{"BD_Customer.FTel": "remove", "*.FName": "hash"})
	want := `[["C1",null,"****",null,"****"],{"Result":{"Message":"x"}}]`
	if out != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if st.Records != 2 {
		t.Errorf("records %d", st.Records)
	}
}

// TestPointerNoRulesPassesThrough: without rules the body is unchanged
// (values, order, numbers), records still counted.
func TestPointerNoRulesPassesThrough(t *testing.T) {
	body := `{"data":[{"b":1.50,"a":"x"},{"b":2e3}],"next":"d2"}`
	out, st := rewriteProfile(t, body, Options{Kind: "records", Records: "/data", Capture: []string{"/next"}}, nil)
	if out != body || st.Records != 2 || st.Captured["/next"] != "d2" {
		t.Errorf("got %s %+v", out, st)
	}
}

// TestPointerMalformedStops: a malformed body ends with an error, never
// unmasked data after the bad part.
func TestPointerMalformedStops(t *testing.T) {
	rules, _ := CompileRules(map[string]string{"X.tel": "redact"})
	r := NewReader(io.NopCloser(strings.NewReader(`{"data":[{"tel":"138","tel":"139"}]}`)), Options{Vendor: "generic", Kind: "records", Records: "/data", Object: "X", Rules: rules})
	out, err := io.ReadAll(r)
	if err == nil || strings.Contains(string(out), "139") {
		t.Errorf("duplicate member: err %v out %s", err, out)
	}
}

func BenchmarkPointerRows(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("[")
	for i := 0; i < 2000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`["CUST0001","华东贸易有限公司","13812345678","上海市浦东新区世纪大道100号"]`)
	}
	sb.WriteString("]")
	body := sb.String()
	rules, _ := CompileRules(map[string]string{"BD_Customer.FTel": "partial"})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(io.NopCloser(strings.NewReader(body)), Options{Vendor: "generic", Kind: "rows", Object: "BD_Customer",
			Columns: []string{"FNumber", "FName", "FTel", "FAddress"}, Rules: rules})
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPointerDetectors: content detectors run on profile records and rows
// (strings and numbers no rule masks): a Chinese mobile number inside free
// text or stored as a number is replaced; rule-masked values keep their
// rule; values outside the records are left alone.
func TestPointerDetectors(t *testing.T) {
	body := `{"note":"call 13812345678","data":{"dataList":[{"remark":"联系人 13987654321 下午","tel":13600001111,"name":"王芳"}]}}`
	out, st := rewriteProfile(t, body, Options{Kind: "records", Records: "/data/dataList", Object: "ContactObj", Detectors: []string{"mobile_cn"}}, nil)
	want := `{"note":"call 13812345678","data":{"dataList":[{"remark":"联系人 **** 下午","tel":"****","name":"王芳"}]}}`
	if out != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if strings.Join(st.Masked, ",") != "ContactObj.remark,ContactObj.tel" {
		t.Errorf("masked: %v", st.Masked)
	}
	rows, _ := rewriteProfile(t, `[["C1","13812345678"]]`, Options{Kind: "rows", Columns: []string{"FNumber", "FNote"}, Object: "BD_Customer", Detectors: []string{"mobile_cn"}}, nil)
	if rows != `[["C1","****"]]` {
		t.Errorf("rows: %s", rows)
	}
}

// FuzzPointerRewriter: for any body, the profile rewriter either fails or
// writes valid JSON in which no "tel" member inside the records keeps a
// value, and never more records than the cap.
func FuzzPointerRewriter(f *testing.F) {
	f.Add(`{"data":[{"tel":"138","x":{"tel":1}},{"tel":[1,2]}]}`)
	f.Add(`{"data":{"tel":"1"}}`)
	f.Add(`[[1,2],[3]]`)
	rules, _ := CompileRules(map[string]string{"X.tel": "redact"})
	f.Fuzz(func(t *testing.T, body string) {
		r := NewReader(io.NopCloser(strings.NewReader(body)), Options{Vendor: "generic", Kind: "records", Records: "/data", Object: "X", Rules: rules, MaxRecords: 2})
		out, err := io.ReadAll(r)
		if err != nil || (len(bytes.TrimSpace(out)) == 0 && strings.TrimSpace(body) == "") {
			return // an error, or nothing in and nothing out
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %q from %q", out, body)
		}
		var v any
		_ = json.Unmarshal(out, &v) // numbers out of float64 range leave v nil
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		recs, _ := m["data"].([]any)
		if len(recs) > 2 {
			t.Fatalf("%d records past the cap", len(recs))
		}
		var walk func(any)
		walk = func(x any) {
			switch y := x.(type) {
			case map[string]any:
				for k, e := range y {
					if k == "tel" && e != "****" && e != nil {
						t.Fatalf("tel leaked: %v in %s", e, out)
					}
					walk(e)
				}
			case []any:
				for _, e := range y {
					walk(e)
				}
			}
		}
		walk(m["data"])
	})
}
