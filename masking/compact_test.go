package masking

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// relatedBody is a Salesforce query whose records hold related records
// (Account, its Owner) written compactly, as Salesforce writes them.
func relatedBody(n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"totalSize":%d,"done":true,"records":[`, n)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"attributes":{"type":"Contact","url":"/c/%d"},"Id":"003%d","Name":"C %d",`+
			`"Account":{"attributes":{"type":"Account","url":"/a/%d"},"Name":"Acme %d","Industry":"secret-industry-%d",`+
			`"Owner":{"attributes":{"type":"User","url":"/u/%d"},"Alias":"o%d","Email":"secret-owner-%d@x.cn"}},`+
			`"MailingAddress":{"city":"Beijing","street":"1 Main St."}}`, i, i, i, i, i, i, i, i, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// TestRelatedRecordsMaskedInside: a related record that holds a field a
// rule names, however deep, is not copied unread: its field is masked and
// noted under its own object, while the subtrees no rule may name
// (MailingAddress) are copied as they are.
func TestRelatedRecordsMaskedInside(t *testing.T) {
	t.Parallel()
	body := relatedBody(5)
	opts := Options{Vendor: "salesforce", Rules: mustRules(t, map[string]string{"User.Email": "redact", "Account.Industry": "null"})}
	out, st, err := rewrite(t, body, opts)
	if err != nil && err.Error() != "EOF" {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("secret-")) {
		t.Fatalf("a masked field leaked:\n%s", out)
	}
	if got := strings.Join(st.Masked, ","); got != "Account.Industry,User.Email" {
		t.Errorf("masked %q, want Account.Industry,User.Email", got)
	}
	if !bytes.Contains(out, []byte(`"MailingAddress":{"city":"Beijing","street":"1 Main St."}`)) ||
		!bytes.Contains(out, []byte(`"Alias":"o4"`)) || st.Records != 5 {
		t.Errorf("records %d, output:\n%s", st.Records, out)
	}
	if d := pathsDiffer(t, body, opts); d != "" {
		t.Error(d)
	}
}

// TestWholeRecordsWithoutRules: with no rules the records are copied
// whole, counted, and cut at the cap as the general path cuts them.
func TestWholeRecordsWithoutRules(t *testing.T) {
	t.Parallel()
	body := relatedBody(50)
	for _, max := range []int{0, 1, 7, 50, 51} {
		opts := Options{Vendor: "salesforce", MaxRecords: max}
		out, st, err := rewrite(t, body, opts)
		if err != nil && err.Error() != "EOF" {
			t.Fatal(err)
		}
		want := 50
		if max > 0 && max < 50 {
			want = max
		}
		if st.Records != want || st.Truncated != (want < 50) {
			t.Errorf("max %d: %d records, truncated %v", max, st.Records, st.Truncated)
		}
		if max == 0 && !bytes.Equal(out, body) {
			t.Errorf("no rules, no cap: output is not the input")
		}
		if d := pathsDiffer(t, body, opts); d != "" {
			t.Errorf("max %d: %s", max, d)
		}
	}
}

// TestBackoff: after refusals in a row the chances passed over grow
// (1, 3, 7, ... 63); one success and every chance is taken again.
func TestBackoff(t *testing.T) {
	var b backoff
	var tried []int
	for i := range 200 {
		if b.try() {
			tried = append(tried, i)
			b.done(0)
		}
	}
	if got, want := fmt.Sprint(tried), "[0 2 6 14 30 62 126 190]"; got != want {
		t.Fatalf("tried at %s, want %s", got, want)
	}
	for b.skip > 0 {
		b.try()
	}
	b.try()
	b.done(1)
	for i := range 5 {
		if !b.try() {
			t.Fatalf("after a success, chance %d passed over", i)
		}
		b.done(1)
	}
}

// TestCompactDecidesLikeTheGeneralPath: related records and whole records
// that CompactObject takes or refuses come out as the general path writes
// them (one byte at a time, where no fast path runs), with and without
// rules, under caps.
func TestCompactDecidesLikeTheGeneralPath(t *testing.T) {
	t.Parallel()
	rules := mustRules(t, map[string]string{"*.Email": "redact", "Account.Name": "null", "User.Phone": "partial"})
	for _, rel := range []string{
		`{"attributes":{"type":"Account","Email":"in attributes"},"Site":"x"}`,
		`{"Site":"x","attributes":{"type":"Account"}}`,
		`{"ATTRIBUTES":{"type":"Account"},"Site":"x"}`,
		`{"attributes":{"type":"User"},"Alias":"a","Phone":"+86 10 1234 5678"}`,
		`{"attributes":{"type":"Account"},"Name":"named by a rule"}`,
		`{"attributes":{"type":"Account"},"Owner":{"attributes":{"type":"User"},"Email":"deep"}}`,
		`{"attributes":{"type":"Account"},"Owner":{"attributes":{"type":"User"},"Alias":"a"}}`,
		`{"attributes":{"type":"Account"},"Tags":["a"]}`,
		`{"attributes":{"type":"Account"},"Em\u0061il":"escaped name"}`,
		`{"attributes":{"type":"Account"},"Site":"Zürich \"HQ\""}`,
		`{"attributes":{"type":"Account"},"Site": "spaced"}`,
		`{"attributes":"not an object","Site":"x"}`,
		`{"attributes":{"type":{"nested":1}},"Site":"x"}`,
		`{}`,
		`null`,
	} {
		var b strings.Builder
		b.WriteString(`{"totalSize":4,"done":true,"records":[`)
		for i := range 4 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"attributes":{"type":"Contact","url":"/c/%d"},"Id":"%d","Rel":%s,"Last":"l"}`, i, i, rel)
		}
		b.WriteString(`]}`)
		for _, o := range []Options{
			{Vendor: "salesforce", Rules: rules}, {Vendor: "salesforce", Rules: rules, MaxRecords: 2},
			{Vendor: "salesforce"}, {Vendor: "salesforce", MaxRecords: 3},
		} {
			if d := pathsDiffer(t, []byte(b.String()), o); d != "" {
				t.Errorf("%s (rules %v, max %d): %s", rel, o.Rules != nil, o.MaxRecords, d)
			}
		}
	}
}
