package proxy

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/masking"
	"github.com/crmgw/crmgw/ratelimit"
)

// Record quotas and export caps that hold under concurrency
// (docs/ratelimit.md, "Reservations"): once the policy has decided, the
// request reserves what it may deliver — the room left in every quota that
// applies and in its export cursor's total, bounded by the decision's
// max_records — and the response is cut at that reservation. When the
// response has finished, the records that actually left are settled and
// the rest is given back.
//
// How a caller would get around it, and what stops it:
//   - N requests at once, each seeing the whole quota left: the room is
//     reserved atomically in the store before forwarding; grants add up
//     to at most the quota (TestConcurrentExportsStayWithinTheQuota);
//   - following nextRecordsUrl / Sforce-Locator / page tokens past
//     max_records: every page reserves from the export's total
//     (cursorcap.go, TestCapHoldsAcrossPages);
//   - pages requested in parallel: the same atomic reservation;
//   - another replica: the counters are in the shared store;
//   - the gateway dying mid-response: the reservation stays counted.

// reserveRecords reserves the records the request may deliver. It returns
// false when it answered the request (quota used up, or the store is down
// and on_store_error is deny).
func (g *Gateway) reserveRecords(rw http.ResponseWriter, r *http.Request, x *exchange) bool {
	if g.limiter == nil || x.rlReq.Subject == "" {
		return true
	}
	want := pageSize(x, r) // 0: not known
	if x.enforced && x.decision.MaxRecords > 0 && (want == 0 || int64(x.decision.MaxRecords) < want) {
		want = int64(x.decision.MaxRecords)
	}
	var cur *ratelimit.Cursor
	if c, ok := exportCursor(x); ok {
		cur = new(ratelimit.Cursor) // only here: &c would put c on the heap for every request
		*cur = c
	}
	res, err := g.limiter.Reserve(r.Context(), x.rlReq, want, cur)
	if res.Granted >= 0 {
		x.reserved = res
		x.reservation = &x.reserved
	}
	switch {
	case res.Granted < 0: // no quota applies (or the store is down and on_store_error is allow): Record after
		if err != nil {
			g.log.Debug("record reservation failed; allowed by on_store_error", zap.String("request_id", x.id), zap.Error(err))
		}
	case res.Granted == 0 && res.Limit == cursorLimit:
		// The export has delivered all max_records allows: its page is
		// answered with no record, and says it is the last.
		x.maxRecords = -1
	case res.Granted == 0:
		x.err = err
		reason := "record quota " + res.Limit + " exhausted"
		if res.Limit == "" {
			reason = "rate limit store unavailable"
		}
		if res.RetryAfter > 0 {
			rw.Header().Set("Retry-After", retryAfterSeconds(res.RetryAfter))
		}
		g.reject(rw, x, x.up.typ, http.StatusTooManyRequests, outcomeRateLimited, codeRateLimited, reason)
		return false
	default:
		if x.maxRecords <= 0 || res.Granted < int64(x.maxRecords) {
			x.maxRecords = int(res.Granted)
		}
	}
	return true
}

// pageSize is the most records the CRM returns for the request, as the
// CRM's public API bounds a page (0: not known): a Salesforce query page
// holds at most its batchSize (Sforce-Query-Options, 200..2000, default
// 2000); a Bulk 2.0 result page at most its maxRecords; a Zoho list page
// at most per_page (default 200). A CRM that answers more is cut at the
// reservation all the same: this only keeps a request from holding quota
// it cannot use.
func pageSize(x *exchange, r *http.Request) int64 {
	a := &x.result.Action
	switch {
	case x.up.typ == "salesforce" && a.Operation == crm.OpQuery:
		n := int64(2000)
		for rest, more := r.Header.Get("Sforce-Query-Options"), true; more; {
			var opt string
			opt, rest, more = strings.Cut(rest, ",")
			if v, ok := strings.CutPrefix(strings.TrimSpace(opt), "batchSize="); ok {
				if b, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && b >= 200 && b < n {
					n = b
				}
			}
		}
		return n
	case x.up.typ == "salesforce" && a.Operation == crm.OpBulkResult:
		return positiveParam(x.result.RawQuery, "maxRecords")
	case x.up.typ == "zoho" && a.Operation == crm.OpList:
		if n := positiveParam(x.result.RawQuery, "per_page"); n > 0 {
			return n
		}
		return 200
	}
	return 0
}

// positiveParam is the query parameter name as a positive number; 0 when
// it is absent, repeated or not a positive number.
func positiveParam(rawQuery, name string) int64 {
	vals, err := url.ParseQuery(rawQuery)
	if err != nil || len(vals[name]) != 1 {
		return 0
	}
	n, err := strconv.ParseInt(vals[name][0], 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// cursorLimit is the Reservation.Limit of an export cursor's total.
const cursorLimit = "max_records"

func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// settleRecords counts the records that left: it settles the reservation
// (giving back what was not delivered, whatever the outcome) or, when
// nothing was reserved, records them as before; and counts a first query
// page into the export cursor its response opened.
func (g *Gateway) settleRecords(r *http.Request, x *exchange, st *masking.Stats) {
	if g.limiter == nil || x.rlReq.Subject == "" {
		return
	}
	if x.reservation == nil && x.outcome != outcomeAllowed {
		return
	}
	// Accounting must outlive the request: the caller may have gone, the
	// records have left all the same. A shared store gets a second at most
	// (the memory store needs no bound).
	ctx, cancel := context.WithoutCancel(r.Context()), context.CancelFunc(func() {})
	if l, ok := g.limiter.(interface{ InMemory() bool }); !ok || !l.InMemory() {
		ctx, cancel = context.WithTimeout(ctx, time.Second)
	}
	defer cancel()
	n := int64(st.Records)
	var err error
	if x.reservation != nil {
		err = g.limiter.Settle(ctx, x.reservation, n)
	} else {
		err = g.limiter.Record(ctx, x.rlReq, n)
	}
	if err != nil {
		g.log.Debug("quota accounting failed", zap.String("request_id", x.id), zap.Error(err))
	}
	if x.outcome == outcomeAllowed {
		if c, ok := openedCursor(x, st); ok {
			if err := g.limiter.CountCursor(ctx, x.rlReq.Subject, c, n); err != nil {
				g.log.Debug("export cursor accounting failed", zap.String("request_id", x.id), zap.Error(err))
			}
		}
	}
}
