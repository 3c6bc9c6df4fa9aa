package masking

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

var testKey = []byte("0123456789abcdef0123456789abcdef")

// rewrite runs body through a Reader and returns the output and stats.
func rewrite(t testing.TB, body []byte, opts Options) ([]byte, Stats, error) {
	t.Helper()
	r := NewReader(io.NopCloser(bytes.NewReader(body)), opts)
	out, err := io.ReadAll(r)
	if cerr := r.Close(); cerr != nil {
		t.Fatalf("Close: %v", cerr)
	}
	return out, r.Stats(), err
}

func mustRules(t testing.TB, m map[string]string) *Rules {
	t.Helper()
	r, err := CompileRules(m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type goldenCase struct {
	name    string
	fixture string
	opts    Options
	mask    map[string]string
	// secrets must not appear in the output; keeps must.
	secrets, keeps []string
	records        int
	truncated      bool
}

var contactMask = map[string]string{
	"Contact.Email":         "email",
	"Contact.MobilePhone":   "partial",
	"User.Email":            "redact",
	"Account.AnnualRevenue": "redact",
	"*.National_ID__c":      "hash",
	"Contact.Birthdate":     "null",
	"Lead.Email":            "remove",
}

func goldenCases() []goldenCase {
	sf := func(kind bodyshape.Kind) Options { return Options{Vendor: "salesforce", Kind: kind, HMACKey: testKey} }
	return []goldenCase{
		{name: "query masks each record by its own type, nested User by User rules", fixture: "fixtures/salesforce/query_contacts.json",
			opts: sf("records"), mask: contactMask,
			secrets: []string{"wang.fang@customer-corp.cn", "li.wei@seller.example", "13800138000", "35000000", "1988-04-12"},
			keeps:   []string{"w***@customer-corp.cn", "*******8000", "nextRecordsUrl", "Customer Corp"}, records: 2},
		{name: "query capped at one record rewrites totalSize done and drops nextRecordsUrl", fixture: "fixtures/salesforce/query_contacts.json",
			opts: Options{Vendor: "salesforce", MaxRecords: 1, Capture: []string{"/nextRecordsUrl", "/records/0/Id"}}, mask: contactMask,
			secrets: []string{"nextRecordsUrl", "Zhao Lei"}, keeps: []string{`"totalSize":1`, `"done":true`}, records: 1, truncated: true},
		{name: "child subquery records are masked by their type and not counted", fixture: "fixtures/salesforce/query_accounts_subquery.json",
			opts: sf(""), mask: map[string]string{"Contact.Email": "redact"},
			secrets: []string{"wang.fang@customer-corp.cn", "zhao.lei@customer-corp.cn"}, keeps: []string{"Customer Corp"}, records: 1},
		{name: "subquery cap applies to top-level records only", fixture: "fixtures/salesforce/query_accounts_subquery.json",
			opts: Options{Vendor: "salesforce", MaxRecords: 1}, mask: map[string]string{"Contact.Email": "redact"},
			keeps: []string{"Customer Corp", "Wang", "Zhao"}, records: 1},
		{name: "sobject retrieve masks the single record with every strategy", fixture: "fixtures/salesforce/sobject_contact.json",
			opts: sf(""), mask: contactMask,
			secrets: []string{"wang.fang@customer-corp.cn", "13800138000", "11010519491231002X"}, keeps: []string{"hmac:"}, records: 1},
		{name: "collection array counts records and keeps null slots", fixture: "fixtures/salesforce/sobject_collection_get.json",
			opts: sf(""), mask: contactMask, secrets: []string{"wang.fang@customer-corp.cn"}, keeps: []string{"null"}, records: 1},
		{name: "composite bodies are masked by their records' types", fixture: "fixtures/salesforce/composite_response.json",
			opts: sf("composite"), mask: contactMask,
			secrets: []string{"wang.fang@customer-corp.cn", "zhao.lei@customer-corp.cn"}, keeps: []string{"refUpdate"}, records: 3},
		{name: "composite batch results are masked and Lead Email removed", fixture: "fixtures/salesforce/composite_batch_response.json",
			opts: sf("composite"), mask: contactMask,
			secrets: []string{"wang.fang@customer-corp.cn", "13800138000", "sun.li@prospect.cn"}, keeps: []string{"Sun Li"}, records: 2},
		{name: "search results mix types", fixture: "fixtures/salesforce/search_response.json",
			opts: sf("search"), mask: contactMask,
			secrets: []string{"wang.fang@customer-corp.cn", "sun.li@prospect.cn"}, keeps: []string{"00QD000000AbcdEIAR"}, records: 2},
		{name: "search capped at one record", fixture: "fixtures/salesforce/search_response.json",
			opts: Options{Vendor: "salesforce", MaxRecords: 1}, mask: contactMask,
			secrets: []string{"00QD000000AbcdEIAR"}, records: 1, truncated: true},
		{name: "graphql masks values of the queried object and unknown references strictly", fixture: "fixtures/salesforce/graphql_response.json",
			opts: sf("graphql"), mask: map[string]string{"Contact.Email": "redact", "Account.Name": "partial"},
			secrets: []string{"wang.fang@customer-corp.cn", "Customer Corp"}, keeps: []string{"Wang Fang", "*********Corp"}, records: 2},
		{name: "graphql capped at one edge", fixture: "fixtures/salesforce/graphql_response.json",
			opts: Options{Vendor: "salesforce", Kind: "graphql", MaxRecords: 1}, mask: map[string]string{"Contact.Email": "redact"},
			secrets: []string{"Zhao Lei"}, records: 1, truncated: true},
		{name: "report cells are masked by column", fixture: "fixtures/salesforce/report_details.json",
			opts: sf("report"), mask: map[string]string{"Contact.Email": "email", "*.PHONE1": "partial"},
			secrets: []string{"wang.fang@customer-corp.cn", "13800138000"}, keeps: []string{"w***@customer-corp.cn", "*******8000", "Customer Corp"}, records: 1},
		{name: "report capped at one row keeps its only row", fixture: "fixtures/salesforce/report_details.json",
			opts: Options{Vendor: "salesforce", Kind: "report", MaxRecords: 1}, mask: map[string]string{"Contact.Email": "email"},
			secrets: []string{"wang.fang@customer-corp.cn"}, records: 1},
		{name: "ui api record masks fields by apiName, nested Account by Account rules", fixture: "uiapi_record.json",
			opts: sf("uiapi"), mask: map[string]string{"Contact.Email": "redact", "Account.Phone": "partial", "Contact.Name": "remove"},
			secrets: []string{"wang.fang@customer-corp.cn", "010-5555 0101", "Wang Fang"}, keeps: []string{"Customer Corp", "*********0101"}, records: 1},
		{name: "ui api fields before apiName use the strictest rule", fixture: "uiapi_fields_first.json",
			opts: sf("uiapi"), mask: map[string]string{"Lead.Email": "redact"},
			secrets: []string{"wang.fang@customer-corp.cn"}, keeps: []string{"Wang Fang"}, records: 1},
		{name: "list view columns are masked by fieldNameOrPath", fixture: "listview_results.json",
			opts: Options{Vendor: "salesforce", Kind: "listview", Object: "Contact"}, mask: map[string]string{"Contact.Email": "redact", "Contact.MobilePhone": "partial", "User.Email": "redact"},
			secrets: []string{"wang.fang@customer-corp.cn", "13800138000", "li.wei@seller.example"}, keeps: []string{"Wang Fang"}, records: 2},
		{name: "fields before attributes use the strictest rule", fixture: "query_attributes_last.json",
			opts: sf(""), mask: map[string]string{"User.Email": "redact", "Lead.Name": "null"},
			secrets: []string{"wang.fang@customer-corp.cn", "li.wei@seller.example", "Wang Fang"}, keeps: []string{"zhao.lei@customer-corp.cn", "Zhao Lei"}, records: 2},
		{name: "zoho records mask by module, Owner lookup by users", fixture: "fixtures/zoho/records_contacts.json",
			opts: Options{Vendor: "zoho", Object: "Contacts", Capture: []string{"/info/next_page_token"}}, mask: map[string]string{"Contacts.Email": "email", "Contacts.Mobile": "partial", "users.email": "redact"},
			secrets: []string{"wang.fang@customer-corp.cn", "13800138000", "li.wei@seller.example"}, keeps: []string{"Li Wei", "c8582e7f3a1b"}, records: 2},
		{name: "zoho capped at one record clears more_records and the page token", fixture: "fixtures/zoho/records_contacts.json",
			opts: Options{Vendor: "zoho", Object: "Contacts", MaxRecords: 1}, mask: map[string]string{"Contacts.Email": "redact"},
			secrets: []string{"c8582e7f3a1b", "Zhao"}, keeps: []string{`"more_records":false`}, records: 1, truncated: true},
		{name: "zoho coql dotted lookup keys match the field path", fixture: "fixtures/zoho/coql_response.json",
			opts: Options{Vendor: "zoho", Object: "Contacts", HMACKey: testKey}, mask: map[string]string{"Contacts.Account_Name": "redact", "Contacts.Mobile": "hash"},
			secrets: []string{"Customer Corp", "13800138000"}, keeps: []string{"Wang", "hmac:"}, records: 1},
		{name: "zoho graphql masks values by module and the Owner lookup strictly", fixture: "zoho_graphql_response.json",
			opts: Options{Vendor: "zoho", Kind: "graphql"}, mask: map[string]string{"Contacts.Email": "redact", "Contacts.Mobile": "partial", "users.email": "redact"},
			secrets: []string{"wang.fang@customer-corp.cn", "13800138000", "li.wei@seller.example"}, keeps: []string{"Li Wei", "554023000000527001"}, records: 2},
		{name: "zoho composite sub-request records use the strictest rule", fixture: "zoho_composite_response.json",
			opts: Options{Vendor: "zoho", Kind: "composite", MaxRecords: 2}, mask: map[string]string{"Contacts.Email": "email", "users.email": "redact"},
			secrets: []string{"wang.fang@customer-corp.cn", "sun.li@prospect.cn", "li.wei@seller.example", "zhou.min"}, keeps: []string{"Prospect Ltd"}, records: 2, truncated: true},
		{name: "detectors mask spans inside free text", fixture: "notes_freetext.json",
			opts:    Options{Vendor: "salesforce", Detectors: []string{"email", "mobile_cn", "e164", "cn_id", "bank_card"}},
			secrets: []string{"13800138000", "+86 139 0013 9000", "wang.fang@customer-corp.cn", "11010519491231002X", "4111111111111111", "4111 1111 1111 1111", "13900139000"},
			keeps:   []string{"12345678901234", "客户 王芳 电话****", "00TD000000abcdeIAA"}, records: 1},
		{name: "bulk 2.0 csv masks columns and relationship paths", fixture: "fixtures/salesforce/bulk2_query_results.csv",
			opts: Options{Format: "csv", Vendor: "salesforce", Object: "Contact", HMACKey: testKey}, mask: map[string]string{"Contact.Email": "email", "Contact.MobilePhone": "hash", "User.Email": "remove"},
			secrets: []string{"wang.fang@customer-corp.cn", "13800138000", "li.wei@seller.example", "Account.Owner.Email"}, keeps: []string{`"Chen, Jing ""JJ"""`, "hmac:"}, records: 3},
		{name: "bulk 2.0 csv capped at two rows", fixture: "fixtures/salesforce/bulk2_query_results.csv",
			opts: Options{Format: "csv", Vendor: "salesforce", Object: "Contact", MaxRecords: 2}, mask: map[string]string{"Contact.Email": "null"},
			secrets: []string{"Chen", "wang.fang@customer-corp.cn"}, records: 2, truncated: true},
		{name: "error bodies pass through", fixture: "fixtures/salesforce/error_insufficient_access.json",
			opts: sf(""), mask: contactMask, keeps: []string{"INSUFFICIENT_ACCESS_OR_READONLY"}},
	}
}

func goldenName(name string) string {
	return strings.NewReplacer(" ", "_", ",", "", "'", "").Replace(name)
}

func TestGoldenShapes(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			if tc.mask != nil {
				opts.Rules = mustRules(t, tc.mask)
			}
			out, st, err := rewrite(t, fixture(t, tc.fixture), opts)
			if err != io.EOF && err != nil {
				t.Fatalf("rewrite: %v", err)
			}
			if st.Err != nil {
				t.Fatalf("Stats.Err = %v", st.Err)
			}
			assertValid(t, opts.Format, out)
			for _, s := range tc.secrets {
				if bytes.Contains(out, []byte(s)) {
					t.Errorf("output contains %q:\n%s", s, out)
				}
			}
			for _, s := range tc.keeps {
				if !bytes.Contains(out, []byte(s)) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			if st.Records != tc.records || st.Truncated != tc.truncated {
				t.Errorf("records=%d truncated=%v, want %d %v", st.Records, st.Truncated, tc.records, tc.truncated)
			}
			if st.BytesOut != int64(len(out)) {
				t.Errorf("BytesOut = %d, want %d", st.BytesOut, len(out))
			}
			checkGolden(t, goldenName(tc.name), out, st)
		})
	}
}

func assertValid(t testing.TB, format bodyshape.Format, out []byte) {
	t.Helper()
	switch format {
	case "", "json":
		if len(out) > 0 && !json.Valid(out) {
			t.Fatalf("output is not valid JSON:\n%s", out)
		}
	case "csv":
		if _, err := readCSV(out); err != nil {
			t.Fatalf("output is not valid CSV: %v\n%s", err, out)
		}
	}
}

func checkGolden(t *testing.T, name string, out []byte, st Stats) {
	t.Helper()
	var got bytes.Buffer
	got.WriteString("-- body --\n")
	if json.Valid(out) {
		var ind bytes.Buffer
		json.Indent(&ind, out, "", "  ")
		got.Write(ind.Bytes())
	} else {
		got.Write(out)
	}
	got.WriteString("\n-- stats --\n")
	sj, _ := json.MarshalIndent(struct {
		Records   int
		Truncated bool
		Masked    []string
		Captured  map[string]string
	}{st.Records, st.Truncated, st.Masked, st.Captured}, "", "  ")
	got.Write(sj)
	got.WriteString("\n")
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("missing golden file (run go test -update): %v", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("golden mismatch %s:\n--- got\n%s\n--- want\n%s", path, got.Bytes(), want)
	}
}
