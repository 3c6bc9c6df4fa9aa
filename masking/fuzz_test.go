package masking

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzSecret only ever sits in masked positions of generated bodies, so it
// must never appear in the output.
const fuzzSecret = "Zq7-secret-VALUE-81x"

// prog turns fuzz bytes into structure choices.
type prog struct {
	b []byte
	i int
}

func (p *prog) next() byte {
	if p.i >= len(p.b) {
		return 0
	}
	p.i++
	return p.b[p.i-1]
}

func (p *prog) ws() string { return [...]string{"", " ", "\n", "\t ", ""}[p.next()%5] }

// secretJSON writes the secret as a JSON string, sometimes with escapes.
func (p *prog) secretJSON() string {
	switch p.next() % 3 {
	case 1:
		return `"Zq7-secret-\u0056ALUE-81x"`
	case 2:
		return `"Zq7\u002dsecret-VALUE-81x"`
	}
	return `"` + fuzzSecret + `"`
}

// filler writes an unmasked member value.
func (p *prog) filler(depth int) string {
	switch p.next() % 8 {
	case 0:
		return `"plain text"`
	case 1:
		return fmt.Sprint(int(p.next()) * 1000)
	case 2:
		return "true"
	case 3:
		return "null"
	case 4:
		return `"esc\"aped\\ \u4e2d"`
	case 5:
		if depth < 3 {
			return `{"Street":` + p.filler(depth+1) + `,"City":"Beijing"}`
		}
	case 6:
		if depth < 3 {
			return `[` + p.filler(depth+1) + `,` + p.filler(depth+1) + `]`
		}
	}
	return `-12.5e3`
}

// sfRecord writes a Contact whose Email is the secret and whose Owner (a
// User) has the secret as Email, with attributes first or last.
func (p *prog) sfRecord(depth int) string {
	var m []string
	m = append(m, `"Email":`+p.ws()+p.secretJSON())
	for range p.next() % 4 {
		m = append(m, fmt.Sprintf(`"F%d":%s`, p.next()%8, p.filler(0)))
	}
	if depth < 2 && p.next()%2 == 0 {
		owner := `{"attributes":{"type":"User"},"Email":` + p.secretJSON() + `}`
		if p.next()%2 == 0 {
			owner = `{"Email":` + p.secretJSON() + `,"Name":"n","attributes":{"type":"User"}}`
		}
		m = append(m, `"Owner":`+owner)
	}
	if depth < 1 && p.next()%3 == 0 {
		m = append(m, `"Contacts":{"totalSize":1,"done":true,"records":[`+p.sfRecord(depth+1)+`]}`)
	}
	attrs := `"attributes":{"type":"Contact","url":"/x"}`
	pos := int(p.next()) % (len(m) + 1)
	m = append(m[:pos], append([]string{attrs}, m[pos:]...)...)
	for i := range m {
		m[i] = p.ws() + m[i] + p.ws()
	}
	return "{" + strings.Join(m, ",") + "}"
}

func (p *prog) body() ([]byte, Options) {
	n := int(p.next() % 5)
	recs := make([]string, n)
	switch p.next() % 5 {
	case 4:
		for i := range recs {
			if p.next()%2 == 0 {
				recs[i] = `{"body":` + p.sfRecord(0) + `,"httpStatusCode":200}`
			} else {
				recs[i] = `{"body":{"totalSize":9,"done":false,"records":[` + p.sfRecord(0) + `,` + p.sfRecord(0) + `],"nextRecordsUrl":"/n"},"httpStatusCode":200}`
			}
		}
		return []byte(`{"compositeResponse":[` + strings.Join(recs, ",") + `]}`), Options{Vendor: "salesforce", Kind: "composite", MaxRecords: int(p.next() % 4)}
	case 0:
		for i := range recs {
			recs[i] = p.sfRecord(0)
		}
		return []byte(fmt.Sprintf(`{"totalSize":%d,"done":false,"nextRecordsUrl":"/next","records":[%s]}`, n, strings.Join(recs, ","))),
			Options{Vendor: "salesforce", MaxRecords: int(p.next() % 4)}
	case 1:
		for i := range recs {
			recs[i] = p.sfRecord(0)
		}
		return []byte(`[` + strings.Join(recs, ",") + `]`), Options{Vendor: "salesforce", MaxRecords: int(p.next() % 4)}
	case 2:
		for i := range recs {
			recs[i] = `{"Email":` + p.secretJSON() + `,"Owner":{"name":"n","email":` + p.secretJSON() + `},"X":` + p.filler(0) + `}`
		}
		return []byte(`{"data":[` + strings.Join(recs, ",") + `],"info":{"more_records":true}}`), Options{Vendor: "zoho", Object: "Contacts", MaxRecords: int(p.next() % 4)}
	default:
		for i := range recs {
			recs[i] = `{"node":{"Id":"1","Email":{"value":` + p.secretJSON() + `},"Owner":{"Email":{"value":` + p.secretJSON() + `}}}}`
		}
		return []byte(`{"data":{"uiapi":{"query":{"Contact":{"edges":[` + strings.Join(recs, ",") + `]}}}}}`), Options{Vendor: "salesforce", Kind: "graphql"}
	}
}

var fuzzRules = map[string]string{"Contact.Email": "partial", "User.Email": "email", "Contacts.Email": "hash", "users.email": "redact"}

func FuzzJSONRewriter(f *testing.F) {
	for _, name := range []string{"fixtures/salesforce/query_contacts.json", "fixtures/salesforce/composite_response.json",
		"fixtures/salesforce/graphql_response.json", "fixtures/salesforce/report_details.json", "fixtures/zoho/records_contacts.json"} {
		f.Add(fixture(f, name), byte(0))
	}
	f.Add([]byte{3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, byte(1))
	f.Add([]byte(`{"a":[1,{"b":null}]}`), byte(2))
	rules := mustRules(f, fuzzRules)
	f.Fuzz(func(t *testing.T, data []byte, sel byte) {
		// 1. Arbitrary bytes: no panic; valid JSON in, valid JSON out.
		kinds := []Options{{Vendor: "salesforce"}, {Vendor: "salesforce", Kind: "graphql"}, {Vendor: "salesforce", Kind: "report"},
			{Vendor: "salesforce", Kind: "uiapi"}, {Vendor: "salesforce", Kind: "listview"}, {Vendor: "zoho", Object: "Contacts"},
			{Vendor: "salesforce", Plan: fuzzPlan}, {Vendor: "salesforce", Kind: "graphql", Plan: fuzzPlan},
			{Vendor: "salesforce", Kind: "error", Plan: fuzzPlan}}
		opts := kinds[int(sel)%len(kinds)]
		opts.Rules, opts.MaxRecords, opts.HMACKey = rules, int(sel>>4), testKey
		opts.Detectors = []string{"email", "bank_card"}
		out, st, err := rewrite(t, data, opts)
		valid := json.Valid(data) && utf8.Valid(data)
		if valid {
			if err != io.EOF && err != nil {
				t.Fatalf("valid input rejected: %v\n%s", err, data)
			}
			if !json.Valid(out) {
				t.Fatalf("valid input, invalid output:\n%s\n->\n%s", data, out)
			}
		} else if len(bytes.TrimSpace(data)) > 0 && st.Err == nil {
			t.Fatalf("invalid input accepted:\n%q\n->\n%s", data, out)
		}

		// 2. Generated bodies with the secret in masked positions.
		p := &prog{b: data}
		body, gopts := p.body()
		gopts.Rules, gopts.HMACKey = rules, testKey
		out, st, err = rewrite(t, body, gopts)
		if err != io.EOF && err != nil {
			t.Fatalf("generated body rejected: %v\n%s", err, body)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output:\n%s\n->\n%s", body, out)
		}
		if bytes.Contains(out, []byte(fuzzSecret)) || bytes.Contains(out, []byte("secret-VALUE")) {
			t.Fatalf("secret leaked:\n%s\n->\n%s", body, out)
		}
		if gopts.MaxRecords > 0 && st.Records > gopts.MaxRecords {
			t.Fatalf("records %d above cap %d", st.Records, gopts.MaxRecords)
		}

		// 3. The fast paths (whole members, runs of fields, attributes
		// copied whole: taken when the buffer holds the input) decide as
		// the general path (one byte at a time), without detectors, which
		// keep record fields off the fast path.
		for _, in := range [][]byte{data, body} {
			o := opts
			if bytes.Equal(in, body) {
				o = gopts
			}
			o.Detectors = nil
			if d := pathsDiffer(t, in, o); d != "" {
				t.Fatalf("fast and general paths: %s\n%s", d, in)
			}
			// Without rules, whole records are copied unread (CompactObject).
			o.Rules = nil
			if d := pathsDiffer(t, in, o); d != "" {
				t.Fatalf("fast and general paths, no rules: %s\n%s", d, in)
			}
		}
	})
}

func FuzzCSVRewriter(f *testing.F) {
	f.Add(fixture(f, "fixtures/salesforce/bulk2_query_results.csv"), byte(0))
	f.Add(fixture(f, "zoho_bulk_read.csv"), byte(1))
	f.Add([]byte("a,b\n\"x\"\"y\",\"multi\nline\"\n"), byte(2))
	f.Add([]byte("a,b\n1\n"), byte(3))
	rules := mustRules(f, map[string]string{"Contact.Email": "partial", "User.Email": "remove", "Contact.b": "null"})
	f.Fuzz(func(t *testing.T, data []byte, sel byte) {
		// 1. Arbitrary bytes: no panic; whatever encoding/csv accepts we
		// accept, with the same rows, and the output parses.
		opts := Options{Format: "csv", Object: "Contact", Rules: rules, MaxRecords: int(sel % 8), HMACKey: testKey}
		out, st, err := rewrite(t, data, opts)
		ref := csv.NewReader(bytes.NewReader(data))
		want, refErr := ref.ReadAll()
		if refErr == nil {
			if err != io.EOF && err != nil {
				t.Fatalf("encoding/csv accepts, rewriter fails: %v\n%q", err, data)
			}
			got, perr := readCSV(out)
			if perr != nil {
				t.Fatalf("output does not parse: %v\n%q\n->\n%q", perr, data, out)
			}
			rows := len(want)
			if opts.MaxRecords > 0 && rows-1 > opts.MaxRecords {
				rows = opts.MaxRecords + 1
			}
			if len(got) != rows || (rows > 0 && st.Records != rows-1) {
				t.Fatalf("rows %d (counted %d), want %d\n%q\n->\n%q", len(got), st.Records, rows, data, out)
			}
			// Without rules the output must read back as exactly the input's records.
			plain, _, _ := rewrite(t, data, Options{Format: "csv", Detectors: nil})
			back, perr := readCSV(plain)
			if perr != nil || fmt.Sprintf("%q", back) != fmt.Sprintf("%q", want) {
				t.Fatalf("pass-through changed the records: %v\n%q\n->\n%q", perr, want, back)
			}
		} else if st.Err == nil && !st.Truncated { // a cap stops reading before the bad row
			t.Fatalf("encoding/csv rejects (%v), rewriter accepts\n%q", refErr, data)
		}

		// 2. Generated CSV: the Email column holds the secret in every row.
		var b strings.Builder
		b.WriteString("Id,Email,Note\n")
		p := &prog{b: data}
		for i := range int(p.next() % 6) {
			sec := fuzzSecret
			if p.next()%2 == 0 {
				sec = `"` + fuzzSecret + `"`
			}
			note := strings.NewReplacer(`"`, `""`).Replace(string(p.b[min(p.i, len(p.b)):min(p.i+int(p.next()%16), len(p.b))]))
			if !utf8.ValidString(note) || strings.ContainsAny(note, "\r") {
				note = "n"
			}
			fmt.Fprintf(&b, "%d,%s,\"%s\"\n", i, sec, note)
		}
		out, _, err = rewrite(t, []byte(b.String()), Options{Format: "csv", Object: "Contact", Rules: rules})
		if err != io.EOF && err != nil {
			t.Fatalf("generated CSV rejected: %v\n%s", err, b.String())
		}
		if bytes.Contains(out, []byte(fuzzSecret)) {
			t.Fatalf("secret leaked:\n%s", out)
		}
	})
}
