package proxy

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/internal/bodyshape"
	"github.com/crmgw/crmgw/masking"
	"github.com/crmgw/crmgw/ratelimit"
)

// Export cursors: max_records bounds a whole export, not one page
// (docs/ratelimit.md, "Caps across pages"). Each export that continues over
// several requests is named by a root that every one of its pages shares,
// and its records are counted per subject in the rate-limit store (so every
// replica sees them):
//
//   - a Salesforce REST query: the locator's cursor ("01gD0000002HU6KIAW"
//     of nextRecordsUrl ".../query/01gD0000002HU6KIAW-2000"); the batch
//     offset after the dash is the caller's to choose, the cursor is not;
//     the first page, which opens the cursor, is counted when its
//     response names it;
//   - a bulk query job (Salesforce Bulk 2.0 result pages by
//     Sforce-Locator, Zoho bulk read results): the job id; every download
//     counts, a repeated one too;
//   - a Salesforce GraphQL query paging with after: (its cursor is
//     opaque and the rest of the query the caller's to vary): the object;
//     the first page is counted when its pageInfo says hasNextPage;
//   - a Zoho record list followed by page_token or page=N: the module
//     (page tokens change on every page, and any other parameter is the
//     caller's to vary, so nothing finer is safe); the first page is
//     counted when its response offers a next page.
//
// Caller tricks and what holds: changing the locator's offset (same
// cursor); asking for pages in parallel (atomic reservation); restarting
// the listing from its first page (the count goes on for the TTL, a first
// page is never refused but later pages are); another replica (shared
// store).

const (
	// queryCursorTTL: Salesforce keeps a query cursor 15 minutes after its
	// last use, Zoho page tokens a day at most; an hour after the last page
	// is counted, the count may go (the crm package forgets page tokens
	// after an hour too, so a later page is unknown and refused).
	queryCursorTTL = time.Hour
	// jobCursorTTL: Salesforce keeps bulk query results 7 days.
	jobCursorTTL = 7 * 24 * time.Hour
)

// exportCursor is the cursor a request continues, capped by the decision's
// max_records; ok is false when the request continues none, or the
// decision sets no cap.
func exportCursor(x *exchange) (ratelimit.Cursor, bool) {
	if !x.enforced || x.decision.MaxRecords <= 0 {
		return ratelimit.Cursor{}, false
	}
	id, ttl := continuedCursor(x)
	if id == "" {
		return ratelimit.Cursor{}, false
	}
	return ratelimit.Cursor{ID: x.up.name + "|" + id, Limit: int64(x.decision.MaxRecords), TTL: ttl}, true
}

func continuedCursor(x *exchange) (string, time.Duration) {
	a := &x.result.Action
	switch {
	case a.Operation == crm.OpBulkResult && a.RecordID != "":
		return "job:" + a.RecordID, jobCursorTTL
	case a.Operation == crm.OpQuery && x.up.typ == "salesforce" && a.Mode == "next_page" && x.result.Response.Kind != bodyshape.GraphQL:
		p := x.result.Path
		return "sfq:" + locatorCursor(p[strings.LastIndexByte(p, '/')+1:]), queryCursorTTL
	case a.Operation == crm.OpList && x.up.typ == "zoho" && zohoContinues(a, x.result.RawQuery):
		return "zl:" + strings.ToLower(a.Object), queryCursorTTL
	case a.Operation == crm.OpQuery && x.result.Response.Kind == bodyshape.GraphQL && hasAfterArg(a.Query):
		return "gql:" + strings.ToLower(a.Object), queryCursorTTL
	}
	return "", 0
}

// hasAfterArg reports whether a GraphQL query pages on (an after: argument
// outside string literals).
func hasAfterArg(q string) bool {
	inStr := false
	for i := 0; i < len(q); i++ {
		switch c := q[i]; {
		case c == '\\' && inStr:
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && (c == 'a' || c == 'A') && (i == 0 || !isNameByte(q[i-1])) && len(q) >= i+5 && strings.EqualFold(q[i:i+5], "after"):
			j := i + 5
			for j < len(q) && (q[j] == ' ' || q[j] == '\t' || q[j] == '\n' || q[j] == '\r' || q[j] == ',') {
				j++
			}
			if j < len(q) && q[j] == ':' {
				return true
			}
		}
	}
	return false
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// graphQLNextPage is the JSON pointer of a Salesforce GraphQL
// connection's hasNextPage, captured from a first page to count it into
// the cursor it opens.
func graphQLNextPage(object string) string {
	return "/data/uiapi/query/" + object + "/pageInfo/hasNextPage"
}

// captures are the pointers the masking stage captures: the classifier's,
// and a GraphQL first page's hasNextPage when a cap applies.
func captures(x *exchange) []string {
	a := &x.result.Action
	if !x.enforced || x.decision.MaxRecords <= 0 || x.result.Response.Kind != bodyshape.GraphQL || x.up.typ != "salesforce" ||
		a.Operation != crm.OpQuery || a.Object == "" || a.Object == "*" || hasAfterArg(a.Query) {
		return x.result.Capture
	}
	return append(x.result.Capture[:len(x.result.Capture):len(x.result.Capture)], graphQLNextPage(a.Object))
}

// openedCursor is the cursor a first page's response opened, to count its
// records into; ok is false when there is none or no cap applies.
func openedCursor(x *exchange, st *masking.Stats) (ratelimit.Cursor, bool) {
	if !x.enforced || x.decision.MaxRecords <= 0 || x.up == nil {
		return ratelimit.Cursor{}, false
	}
	if id, _ := continuedCursor(x); id != "" {
		return ratelimit.Cursor{}, false // its page reserved from the cursor already
	}
	a := &x.result.Action
	var id string
	switch {
	case a.Operation == crm.OpQuery && x.up.typ == "salesforce" && x.result.Response.Kind != bodyshape.GraphQL:
		next := st.Captured["/nextRecordsUrl"]
		if next == "" || next == "null" {
			return ratelimit.Cursor{}, false
		}
		id = "sfq:" + locatorCursor(next[strings.LastIndexByte(next, '/')+1:])
	case a.Operation == crm.OpList && x.up.typ == "zoho":
		if tok := st.Captured["/info/next_page_token"]; tok == "" || tok == "null" {
			return ratelimit.Cursor{}, false
		}
		id = "zl:" + strings.ToLower(a.Object)
	case a.Operation == crm.OpQuery && x.result.Response.Kind == bodyshape.GraphQL && x.up.typ == "salesforce":
		if st.Captured[graphQLNextPage(a.Object)] != "true" {
			return ratelimit.Cursor{}, false
		}
		id = "gql:" + strings.ToLower(a.Object)
	default:
		return ratelimit.Cursor{}, false
	}
	return ratelimit.Cursor{ID: x.up.name + "|" + id, Limit: int64(x.decision.MaxRecords), TTL: queryCursorTTL}, true
}

// locatorCursor is the query cursor of a Salesforce locator
// ("01gD0000002HU6KIAW" of "01gD0000002HU6KIAW-2000").
func locatorCursor(loc string) string {
	if i := strings.LastIndexByte(loc, '-'); i > 0 {
		return loc[:i]
	}
	return loc
}

// zohoContinues reports whether a Zoho record list request is a later
// page: a page_token, or page= above 1 (Zoho serves the first 2000 records
// by page number).
func zohoContinues(a *crm.Action, rawQuery string) bool {
	if a.Mode == "next_page" {
		return true
	}
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return true // the classifier let it through; count it, never skip it
	}
	for k, vs := range vals {
		if !strings.EqualFold(k, "page") {
			continue
		}
		for _, v := range vs {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n > 1 {
				return true
			}
		}
	}
	return false
}
