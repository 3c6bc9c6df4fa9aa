package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fill sets every field of the struct v points to, recursively, from the
// values s, n and f (lists get two elements): a field added to Event is
// set here without this test knowing it, so an encoder that forgets it
// fails the comparison.
func fill(v reflect.Value, s string, n int64, f float64, flag bool) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(n%(1<<34), n%1e9).UTC()))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i), fmt.Sprintf("%s%d", s, i), n+int64(i), f, flag)
		}
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int64:
		v.SetInt(n)
	case reflect.Float64:
		v.SetFloat(f)
	case reflect.Bool:
		v.SetBool(flag)
	case reflect.Slice:
		l := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(l.Index(i), s+"["+fmt.Sprint(i)+"]", n+int64(i), f, !flag)
		}
		v.Set(l)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 2 {
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, s+"{"+fmt.Sprint(i)+"}", n+int64(i), f, flag)
			m.SetMapIndex(reflect.ValueOf(s+"<"+fmt.Sprint(i)+">"), e)
		}
		v.Set(m)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), s, n, f, flag)
	default:
		panic("fill: add a case for " + v.Type().String())
	}
}

// checkEncoding holds appendLine and appendCanonical to the bytes of
// encoding/json and jsontext for ev.
func checkEncoding(t *testing.T, ev *Event) {
	t.Helper()
	unsealed := *ev
	unsealed.Chain.Hash = ""
	want, err := json.Marshal(&unsealed)
	if err != nil {
		t.Fatal(err)
	}
	wantCanon, err := canonicalize(want)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendCanonical(nil, &unsealed); !bytes.Equal(got, wantCanon) {
		t.Fatalf("canonical form differs from jsontext's\n got: %s\nwant: %s", got, wantCanon)
	}
	if got := appendLine(nil, &unsealed); !bytes.Equal(got, want) {
		t.Fatalf("line differs from json.Marshal's\n got: %s\nwant: %s", got, want)
	}
	direct, lib := unsealed, unsealed
	gotLine, err := seal(&direct)
	if err != nil {
		t.Fatal(err)
	}
	wantLine, err := sealLibrary(&lib)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotLine, wantLine) || direct.Chain.Hash != lib.Chain.Hash {
		t.Fatalf("sealed line differs\n got: %s\nwant: %s", gotLine, wantLine)
	}
	// What a SOC's verifier derives from the line is the hash it carries
	// (with a chain it accepts).
	chained := unsealed
	chained.Chain = Chain{Seq: 7, Prev: GenesisPrev}
	line, err := seal(&chained)
	if err != nil {
		t.Fatal(err)
	}
	lc, err := readLineChain(line)
	if err != nil || lc.computed != lc.hash || lc.hash != chained.Chain.Hash {
		t.Fatalf("verification of the sealed line: %+v, %v", lc, err)
	}
}

func TestEventEncodingMatchesTheLibraries(t *testing.T) {
	// Every field set, in ASCII and in the characters each form escapes
	// its own way.
	for i, s := range []string{"a", "<&>\u2028\u2029\"\\/\b\f\n\r\t\x00\x1f\x7f", "é日本\U0001F600", "bad\xff\xfeutf8\xc3"} {
		for _, flag := range []bool{false, true} {
			ev := &Event{}
			fill(reflect.ValueOf(ev).Elem(), s, int64(i*1000+7), 84.2, flag)
			t.Run(fmt.Sprintf("all-fields/%d/%v", i, flag), func(t *testing.T) { checkEncoding(t, ev) })
		}
	}
	// Nothing set: omitempty fields left out, nil lists null.
	t.Run("zero", func(t *testing.T) { checkEncoding(t, &Event{Time: time.Unix(0, 0).UTC()}) })
	// What the writer seals, normalised.
	t.Run("realistic", func(t *testing.T) {
		ev := testEvent(3)
		normalise(ev)
		ev.Chain = Chain{Seq: 4, Prev: GenesisPrev}
		checkEncoding(t, ev)
	})
	// Numbers at the edges of both forms: exponents, negative zero,
	// integers past 2^53 (JCS numbers are doubles).
	for _, f := range []float64{0, math.Copysign(0, -1), 1e-7, 1.5e-6, 1e-6, 123456.789, 1e20, 1e21, 1.7976931348623157e308, -3.25, 5e-324} {
		ev := testEvent(1)
		ev.DurationMS = f
		t.Run(fmt.Sprint("float/", f), func(t *testing.T) { checkEncoding(t, ev) })
	}
	for _, n := range []int64{0, -1, 1 << 53, 1<<53 + 1, -(1<<53 + 1), math.MaxInt64, math.MinInt64} {
		ev := testEvent(1)
		ev.HTTPResponse.Bytes, ev.CRM.Records, ev.Chain.Seq, ev.Decision.MaxRecords = n, n, n, n
		t.Run(fmt.Sprint("int/", n), func(t *testing.T) { checkEncoding(t, ev) })
	}
}

// Events the direct encoders do not take go the library way, errors and
// all: a NaN duration is refused, a time outside UTC still seals.
func TestSealFallsBackToTheLibraries(t *testing.T) {
	ev := testEvent(1)
	ev.DurationMS = math.NaN()
	if _, err := seal(ev); err == nil {
		t.Fatal("a NaN duration sealed")
	}
	ev = testEvent(1)
	ev.Chain = Chain{Seq: 1, Prev: GenesisPrev}
	ev.Time = ev.Time.In(time.FixedZone("CST", 8*3600))
	line, err := seal(ev)
	if err != nil || !strings.Contains(string(line), `"time":"2026-11-23T17:14:04.412+08:00"`) {
		t.Fatalf("zoned time: %s, %v", line, err)
	}
	if lc, err := readLineChain(line); err != nil || lc.computed != lc.hash {
		t.Fatalf("zoned time line does not verify: %+v %v", lc, err)
	}
	ev.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := seal(ev); err == nil {
		t.Fatal("year 10000 sealed")
	}
}

func FuzzEventEncoding(f *testing.F) {
	f.Add("01JREQ", "li.wei@example.com", "<script>&\u2028", "bad\xff", int64(4096), 84.2, true)
	f.Add("", "", "", "", int64(0), 0.0, false)
	f.Add("\x00\x1f\"\\", "\U0001F600", "\xed\xa0\x80", "\u00e9", int64(-1), 1e-9, true)
	f.Fuzz(func(t *testing.T, a, b, c, d string, n int64, dur float64, flag bool) {
		if math.IsNaN(dur) || math.IsInf(dur, 0) {
			return
		}
		ev := testEvent(int(n & 0xff))
		ev.RequestID, ev.Actor.User.Email, ev.Decision.Reason, ev.HTTPRequest.Path = a, b, c, d
		ev.Actor.User.Groups = []string{a, c}
		ev.Actor.User.Roles = []string{d}
		ev.Actor.Issuer, ev.Error, ev.Status = c, d, a
		ev.CRM.Fields = []string{b, d}
		ev.CRM.Objects = []string{c}
		ev.CRM.FieldRoles = map[string][]string{a: {b}, a + "x": {c, d}}
		if utf8.ValidString(a) && utf8.ValidString(b) {
			// Keys JCS and encoding/json order differently (UTF-16 code
			// units against bytes). Invalid UTF-8 in keys only where no two
			// keys can read back alike (each bad byte becomes U+FFFD).
			ev.CRM.FieldRoles[b+"\U0001F600"] = nil
			ev.CRM.FieldRoles[b+"\uFFFF"] = []string{a}
		}
		ev.CRM.Aliases = map[string]string{d: a, d + "y": c}
		ev.CRM.Query = b
		ev.CRM.Records, ev.HTTPResponse.Bytes, ev.Decision.MaxRecords = n, n, n
		ev.DurationMS = dur
		ev.Decision.Allow, ev.CRM.Truncated = flag, !flag
		if flag {
			ev.Subrequests = []CRM{ev.CRM, {Object: c, Fields: nil}}
		}
		ev.Chain = Chain{Seq: n, Prev: GenesisPrev}
		checkEncoding(t, ev)
	})
}
