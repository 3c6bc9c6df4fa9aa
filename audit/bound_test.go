package audit

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The ways a caller inflates its own audit event, each bounded.
func TestCallerControlledStringsAreCutWithAMarker(t *testing.T) {
	huge := strings.Repeat("A", 60<<10)
	fields := make([]string, 5000)
	for i := range fields {
		fields[i] = "F" + strings.Repeat("x", 300)
	}
	ev := testEvent(1)
	ev.HTTPRequest.UserAgent = huge
	ev.HTTPRequest.Path = "/services/data/v60.0/" + huge
	ev.Error = huge
	ev.Decision.Reason = huge
	ev.CRM.Object = huge
	ev.CRM.Fields = fields
	ev.Actor.User.Groups = fields
	ev.Subrequests = make([]CRM, 1000)
	line, err := seal(normaliseForTest(ev))
	if err != nil {
		t.Fatal(err)
	}
	if len(line) > 160<<10 {
		t.Errorf("bounded event is %d bytes", len(line))
	}
	if ua := ev.HTTPRequest.UserAgent; len(ua) > maxUserAgent+32 || !strings.HasSuffix(ua, "…[cut 60928 bytes]") {
		t.Errorf("user agent not cut with its marker: ...%q", ua[max(0, len(ua)-40):])
	}
	if !strings.Contains(ev.HTTPRequest.Path, cutMarker) || !strings.Contains(ev.CRM.Object, cutMarker) ||
		!strings.Contains(ev.Error, cutMarker) || !strings.Contains(ev.Decision.Reason, cutMarker) {
		t.Error("path, object, error and reason must carry the cut marker")
	}
	if n := len(ev.CRM.Fields); n != maxList+1 || ev.CRM.Fields[maxList] != "…[cut 4744 more]" {
		t.Errorf("fields: %d, last %q", n, ev.CRM.Fields[len(ev.CRM.Fields)-1])
	}
	if !strings.Contains(ev.CRM.Fields[0], cutMarker) {
		t.Errorf("a long field name is cut too: %q", ev.CRM.Fields[0])
	}
	if fields[0] != "F"+strings.Repeat("x", 300) {
		t.Error("the caller's slice was modified")
	}
	if n := len(ev.Subrequests); n != maxSubs+1 {
		t.Errorf("subrequests: %d", n)
	}
}

func TestCutKeepsUTF8Valid(t *testing.T) {
	s := strings.Repeat("é", 600) // 2 bytes each
	got := capString(s, 511)
	if !strings.HasPrefix(got, strings.Repeat("é", 255)+cutMarker) {
		t.Errorf("cut inside a rune: %q", got[500:520])
	}
	if capString("short", 10) != "short" {
		t.Error("a short value must stay as it is")
	}
}

func normaliseForTest(ev *Event) *Event {
	normalise(ev)
	ev.Chain = Chain{Seq: 1, Prev: GenesisPrev}
	return ev
}

// FuzzCapString: whatever the caller sends, the result stays within its
// bound plus the marker, keeps valid UTF-8 valid, and is unchanged when
// short enough.
func FuzzCapString(f *testing.F) {
	f.Add("jsforce/3.10", 16)
	f.Add(strings.Repeat("é", 300), 511)
	f.Add("\xff\xfe"+strings.Repeat("a", 100), 7)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 1 || max > 4096 {
			return
		}
		got := capString(s, max)
		if len(s) <= max {
			if got != s {
				t.Fatalf("short value changed: %q -> %q", s, got)
			}
			return
		}
		if len(got) > max+len(cutMarker)+32 || !strings.Contains(got, cutMarker) {
			t.Fatalf("cut value %d bytes for bound %d: %q", len(got), max, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("cut made valid UTF-8 invalid: %q", got)
		}
	})
}

// TestAccessPlanIsBoundedWithoutTouchingTheSharedPlan: a query naming
// thousands of fields gives an event of bounded size, and the plan maps
// (shared by every request with the same query text) stay as they were.
func TestAccessPlanIsBoundedWithoutTouchingTheSharedPlan(t *testing.T) {
	roles := map[string][]string{}
	aliases := map[string]string{}
	for i := range 1000 {
		roles["Contact.F"+strconv.Itoa(i)] = []string{"select", "filter"}
		aliases["a"+strconv.Itoa(i)] = "Contact.F" + strconv.Itoa(i)
	}
	ev := &Event{CRM: CRM{FieldRoles: roles, Aliases: aliases, Query: strings.Repeat("x", 100000)}}
	bound(ev)
	if len(ev.CRM.FieldRoles) != maxList+1 || len(ev.CRM.Aliases) != maxList+1 || len(ev.CRM.Query) > maxQuery+64 {
		t.Fatalf("bounded plan: %d roles, %d aliases, query %d bytes", len(ev.CRM.FieldRoles), len(ev.CRM.Aliases), len(ev.CRM.Query))
	}
	if len(roles) != 1000 || len(aliases) != 1000 {
		t.Fatal("the shared plan maps were changed")
	}
}
