package masking

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// bulk1XML is a Bulk API 1.0 query result in Salesforce's XML shape: a
// Contact with its Account (a relationship record with its own type) and
// a null field.
const bulk1XML = `<?xml version="1.0" encoding="UTF-8"?>
<queryResult xmlns="http://www.force.com/2009/06/asyncapi/dataload" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<records xsi:type="sObject"><type>Contact</type><Id>003D000000QV9n2IAD</Id><Email>wang.fang@customer-corp.cn</Email><MobilePhone>13800138000</MobilePhone><Birthdate xsi:nil="true"/><Account xsi:type="sObject"><type>Account</type><Id xsi:nil="true"/><Name>Customer &amp; Corp</Name><Email>ap@customer-corp.cn</Email></Account></records>
<records xsi:type="sObject"><type>Contact</type><Id>003D000000QV9n3IAD</Id><Email>zhao.lei@customer-corp.cn</Email><MobilePhone>+86 139 0013 9000</MobilePhone><Birthdate>1990-01-02</Birthdate><Account xsi:nil="true"/></records>
<records xsi:type="sObject"><type>Contact</type><Id>003D000000QV9n4IAD</Id><Email>c@x.cn</Email><MobilePhone>13900000000</MobilePhone><Birthdate xsi:nil="true"/><Account xsi:nil="true"/></records>
</queryResult>`

type xmlRec struct {
	Type        string `xml:"type"`
	Id          string
	Email       string
	MobilePhone *string
	Birthdate   *struct {
		Nil string `xml:"http://www.w3.org/2001/XMLSchema-instance nil,attr"`
		V   string `xml:",chardata"`
	}
	Account *struct {
		Type  string `xml:"type"`
		Name  string
		Email string
	}
}

func rewriteXML(t *testing.T, body string, opts Options) ([]byte, Stats, error) {
	t.Helper()
	opts.Format = "xml"
	r := NewReader(io.NopCloser(iotest.OneByteReader(strings.NewReader(body))), opts)
	out, err := io.ReadAll(r)
	r.Close()
	return out, r.Stats(), err
}

func TestXMLRecordsMaskedByTheirType(t *testing.T) {
	rules, err := CompileRules(map[string]string{"Contact.Email": "email", "Contact.MobilePhone": "remove",
		"Contact.Birthdate": "null", "Account.Name": "redact"})
	if err != nil {
		t.Fatal(err)
	}
	out, st, err := rewriteXML(t, bulk1XML, Options{Kind: "records", Object: "Contact", Rules: rules})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got struct {
		Records []xmlRec `xml:"records"`
	}
	if err := xml.Unmarshal(out, &got); err != nil || len(got.Records) != 3 {
		t.Fatalf("output is not the query result: %v\n%s", err, out)
	}
	r0, r1 := got.Records[0], got.Records[1]
	if r0.Email != "w***@customer-corp.cn" || r0.MobilePhone != nil || r0.Id != "003D000000QV9n2IAD" {
		t.Errorf("first contact: %+v", r0)
	}
	if r0.Account == nil || r0.Account.Name != "****" || r0.Account.Email != "ap@customer-corp.cn" {
		t.Errorf("the account (its own type, Account.Email unmasked): %+v", r0.Account)
	}
	if r1.Birthdate == nil || r1.Birthdate.Nil != "true" || r1.Birthdate.V != "" {
		t.Errorf("null strategy: %+v", r1.Birthdate)
	}
	if strings.Contains(string(out), "13800138000") || strings.Contains(string(out), "1990-01-02") || strings.Contains(string(out), "Customer &amp; Corp") {
		t.Errorf("a masked value left:\n%s", out)
	}
	if st.Records != 3 || st.Truncated {
		t.Errorf("stats %+v", st)
	}
	want := "Account.Name Contact.Birthdate Contact.Email Contact.MobilePhone"
	if strings.Join(st.Masked, " ") != want {
		t.Errorf("masked %v, want %s", st.Masked, want)
	}
	// Everything not masked is the upstream's bytes.
	plain, _, err := rewriteXML(t, bulk1XML, Options{Kind: "records", Object: "Contact"})
	if err != nil || string(plain) != bulk1XML {
		t.Errorf("without rules the body changed (%v):\n%s", err, plain)
	}
}

func TestXMLCapCutsAtARecord(t *testing.T) {
	for _, tc := range []struct{ max, want int }{{2, 2}, {-1, 0}, {3, 3}} {
		out, st, err := rewriteXML(t, bulk1XML, Options{Kind: "records", Object: "Contact", MaxRecords: tc.max})
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Records []xmlRec `xml:"records"`
		}
		if err := xml.Unmarshal(out, &got); err != nil || len(got.Records) != tc.want || st.Records != tc.want {
			t.Errorf("cap %d: %d records (stats %d), %v\n%s", tc.max, len(got.Records), st.Records, err, out)
		}
		if st.Truncated != (tc.want < 3) {
			t.Errorf("cap %d: truncated %v", tc.max, st.Truncated)
		}
	}
}

func TestXMLUnknownTypeIsMaskedStrictly(t *testing.T) {
	// A relationship record without <type> masks a field any rule names.
	body := `<queryResult><records><type>Contact</type><Owner><Email>li.wei@seller.example</Email></Owner></records></queryResult>`
	rules, _ := CompileRules(map[string]string{"User.Email": "redact"})
	out, st, err := rewriteXML(t, body, Options{Kind: "records", Object: "Contact", Rules: rules})
	if err != nil || strings.Contains(string(out), "li.wei") || len(st.Masked) != 1 || st.Masked[0] != "*.Email" {
		t.Errorf("%v %v\n%s", err, st.Masked, out)
	}
	// Detectors read values no rule names.
	out, _, err = rewriteXML(t, body, Options{Kind: "records", Object: "Contact", Detectors: []string{"email"}})
	if err != nil || strings.Contains(string(out), "li.wei") {
		t.Errorf("detector: %v\n%s", err, out)
	}
}

func TestXMLJobCapture(t *testing.T) {
	body := `<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">
 <id>750D000000001SRIAY</id><operation>query</operation><object>Contact</object><contentType>CSV</contentType></jobInfo>`
	out, st, err := rewriteXML(t, body, Options{Kind: "job", Capture: []string{"/id", "/object", "/contentType"},
		Rules: mustRules(t, map[string]string{"*.Id": "redact"})})
	if err != nil || string(out) != body {
		t.Fatalf("job answer changed (%v):\n%s", err, out)
	}
	if st.Captured["/id"] != "750D000000001SRIAY" || st.Captured["/object"] != "Contact" || st.Captured["/contentType"] != "CSV" || st.Records != 0 {
		t.Errorf("captured %v, records %d", st.Captured, st.Records)
	}
}

func TestXMLBadBodiesAreRefused(t *testing.T) {
	for name, body := range map[string]string{
		"empty":           ``,
		"not closed":      `<queryResult><records><Email>a@b.cn</Email>`,
		"mismatched tags": `<queryResult><records><Email>a@b.cn</Name></records></queryResult>`,
		"doctype":         `<!DOCTYPE x [<!ENTITY e "boom">]><queryResult></queryResult>`,
		"two roots":       `<queryResult></queryResult><queryResult></queryResult>`,
		"text in record":  `<queryResult><records>wang.fang@customer-corp.cn</records></queryResult>`,
		"mixed content":   `<queryResult><records><Email>a@b.cn<x/></Email></records></queryResult>`,
		"latin1":          `<?xml version="1.0" encoding="ISO-8859-1"?><queryResult></queryResult>`,
		"value as a type": `<queryResult><records><Email><type>a@b.cn</type></Email></records></queryResult>`,
	} {
		rules := mustRules(t, map[string]string{"Contact.Email": "redact"})
		out, _, err := rewriteXML(t, body, Options{Kind: "records", Object: "Contact", Rules: rules})
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
		if bytes.Contains(out, []byte("a@b.cn")) || bytes.Contains(out, []byte("wang.fang")) {
			t.Errorf("%s: a value left unmasked: %s", name, out)
		}
	}
}

// bulk1XMLBody is n records of the Bulk 1.0 XML query result shape.
func bulk1XMLBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><queryResult xmlns="http://www.force.com/2009/06/asyncapi/dataload" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`)
	for i := range n {
		fmt.Fprintf(&b, `<records xsi:type="sObject"><type>Contact</type><Id>003D%014dAAA</Id><Name>Contact Number %d</Name>`+
			`<Email>contact.%d@customer-corp.cn</Email><MobilePhone>138%08d</MobilePhone><Birthdate xsi:nil="true"/>`+
			`<Account xsi:type="sObject"><type>Account</type><Id xsi:nil="true"/><Name>Customer Corp %d</Name></Account></records>`, i, i, i, i, i)
	}
	b.WriteString(`</queryResult>`)
	return b.Bytes()
}

func BenchmarkXMLRewrite2000Records(b *testing.B) {
	body := bulk1XMLBody(2000)
	rules := mustRules(b, map[string]string{"Contact.Email": "email", "Contact.MobilePhone": "partial", "Account.Name": "redact"})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(io.NopCloser(bytes.NewReader(body)), Options{Format: "xml", Kind: "records", Object: "Contact", Rules: rules})
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

// FuzzXMLRewriter: whatever the upstream sends, a body that rewrites
// without error is well-formed XML whose <Email> fields (at any depth
// inside a record) hold no text but the mask (and record types, which
// must be object names), and a body that fails leaves only masked output.
func FuzzXMLRewriter(f *testing.F) {
	f.Add([]byte(bulk1XML))
	f.Add(bulk1XMLBody(3))
	f.Add([]byte(`<queryResult><records><Email><![CDATA[a@b.cn]]></Email></records></queryResult>`))
	f.Add([]byte(`<queryResult><records><Account><Email>a@b.cn</Email></Account></records></queryResult>`))
	rules, err := CompileRules(map[string]string{"*.Email": "redact"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := NewReader(io.NopCloser(bytes.NewReader(body)), Options{Format: "xml", Kind: "records", Object: "Contact", Rules: rules, MaxRecords: 2})
		out, err := io.ReadAll(r)
		r.Close()
		d := xml.NewDecoder(bytes.NewReader(out))
		inEmail, depth, inType := 0, 0, false
		for {
			tok, derr := d.Token()
			if derr == io.EOF {
				break
			}
			if derr != nil {
				if err == nil {
					t.Fatalf("output is not XML (%v):\n%q\nfrom %q", derr, out, body)
				}
				break // a failed body's output stops mid-way
			}
			switch tk := tok.(type) {
			case xml.StartElement:
				if depth++; tk.Name.Local == "Email" && depth > 2 { // a field, not the root or a record
					inEmail++
				}
				inType = tk.Name.Local == "type"
			case xml.EndElement:
				if tk.Name.Local == "Email" && depth > 2 {
					inEmail--
				}
				inType = false
				depth--
			case xml.CharData:
				// A record's <type> passes, checked to be an object name.
				if inEmail > 0 && !inType && len(bytes.TrimSpace(tk)) > 0 && string(tk) != "****" {
					t.Fatalf("an email left unmasked: %q in\n%q\nfrom %q", tk, out, body)
				}
			}
		}
	})
}
