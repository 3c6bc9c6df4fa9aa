package masking

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func readCSV(b []byte) ([][]string, error) {
	r := csv.NewReader(bytes.NewReader(b))
	return r.ReadAll()
}

// sfRecord is a realistic Contact with a nested Account and its Owner.
func sfRecord(i int) string {
	return fmt.Sprintf(`{"attributes":{"type":"Contact","url":"/services/data/v60.0/sobjects/Contact/003D%014dAAA"},`+
		`"Id":"003D%014dAAA","Name":"Contact Number %d","FirstName":"Contact","LastName":"Number %d",`+
		`"Email":"contact.%d@customer-corp.cn","MobilePhone":"138%08d","Phone":"+86 10 5555 %04d",`+
		`"Title":"Procurement Manager","Birthdate":"1988-04-12","LeadSource":"Web","Description":"Met at the Shanghai trade fair, prefers WeChat.",`+
		`"Account":{"attributes":{"type":"Account","url":"/services/data/v60.0/sobjects/Account/001D%014dAAA"},`+
		`"Name":"Customer Corp %d","AnnualRevenue":%d,"Industry":"Manufacturing",`+
		`"Owner":{"attributes":{"type":"User","url":"/services/data/v60.0/sobjects/User/005D%014dAAA"},"Name":"Li Wei","Email":"owner.%d@seller.example"}}}`,
		i, i, i, i, i, i, i%10000, i, i, 1000000+i, i%50, i%50)
}

// sfQuery builds a Salesforce query response with n records.
func sfQuery(n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"totalSize":%d,"done":true,"records":[`, n)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(sfRecord(i))
	}
	b.WriteString("]}")
	return b.Bytes()
}

// genReader streams a Salesforce query body of about size bytes without
// holding it: records are generated as they are read.
type genReader struct {
	size, produced int64
	i              int
	buf            []byte
	off            int
	state          int // 0 prefix, 1 records, 2 suffix, 3 done
}

func newGenReader(size int64) *genReader { return &genReader{size: size} }

// genRecords are cycled by genReader so generating costs a copy, not a Sprintf.
var genRecords = func() []string {
	r := make([]string, 1024)
	for i := range r {
		r[i] = sfRecord(i)
	}
	return r
}()

func (g *genReader) Read(p []byte) (int, error) {
	for g.off >= len(g.buf) {
		g.off = 0
		switch g.state {
		case 0:
			g.buf = append(g.buf[:0], `{"totalSize":999999999,"done":true,"records":[`...)
			g.state = 1
		case 1:
			g.buf = g.buf[:0]
			if g.i > 0 {
				g.buf = append(g.buf, ',')
			}
			g.buf = append(g.buf, genRecords[g.i%len(genRecords)]...)
			g.i++
			if g.produced+int64(len(g.buf)) >= g.size {
				g.state = 2
			}
		case 2:
			g.buf = append(g.buf[:0], "]}"...)
			g.state = 3
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, g.buf[g.off:])
	g.off += n
	g.produced += int64(n)
	return n, nil
}

// csvBody builds a Bulk API 2.0 result with n rows.
func csvBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`"Id","Name","Email","MobilePhone","Account.Owner.Email"` + "\n")
	for i := range n {
		fmt.Fprintf(&b, `"003D%014dAAA","Contact %d","contact.%d@customer-corp.cn","138%08d","owner.%d@seller.example"`+"\n", i, i, i, i, i%50)
	}
	return b.Bytes()
}

var benchMask = map[string]string{
	"Contact.Email":         "email",
	"Contact.MobilePhone":   "partial",
	"Contact.Birthdate":     "redact",
	"User.Email":            "redact",
	"Account.AnnualRevenue": "null",
}

// pathsDiffer rewrites in whole (the fast paths, which take what the buffer
// holds) and one byte at a time (the general path, token by token) and
// says how the two differ: "" when both fail, or both succeed with the same
// output (compacted; an empty body stays empty) and the same stats.
func pathsDiffer(t testing.TB, in []byte, opts Options) string {
	t.Helper()
	fast, fst, ferr := rewrite(t, in, opts)
	r := NewReader(io.NopCloser(iotest.OneByteReader(bytes.NewReader(in))), opts)
	slow, serr := io.ReadAll(r)
	r.Close()
	sst := r.Stats()
	if ferr == io.EOF {
		ferr = nil
	}
	if (ferr == nil) != (serr == nil) {
		return fmt.Sprintf("errors differ: %v / %v", ferr, serr)
	}
	if ferr != nil {
		return ""
	}
	var a, b bytes.Buffer
	ca, cb := json.Compact(&a, fast), json.Compact(&b, slow)
	if (ca == nil) != (cb == nil) || ca == nil && a.String() != b.String() || ca != nil && !bytes.Equal(fast, slow) {
		return fmt.Sprintf("outputs differ:\n%s\n%s", fast, slow)
	}
	if fst.Records != sst.Records || fst.Truncated != sst.Truncated || strings.Join(fst.Masked, ",") != strings.Join(sst.Masked, ",") ||
		len(fst.Captured) != len(sst.Captured) {
		return fmt.Sprintf("stats differ: %+v / %+v", fst, sst)
	}
	return ""
}
