package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Reservations: quotas and export caps that hold under concurrency
// (docs/ratelimit.md, "Reservations").
//
// Allow only checks a quota; counting after the response would let N
// concurrent requests each see the whole remaining quota and together
// deliver N times it. So a request that may return records reserves, in one
// atomic store step, what it may deliver — the smallest of the room left in
// every quota that applies, in its export cursor's total, and its own cap —
// is cut at that reservation, and Settle gives back what it did not use.
// A process that dies between Reserve and Settle leaves its reservation
// counted until the quota window (or the cursor's TTL) lets it go: the
// failure costs the caller quota, it never frees records.

// noCap is what a reservation asks for when nothing bounds the request but
// the quotas themselves: large, and exact in Lua's doubles.
const noCap = int64(1) << 50

// Cursor is an export that continues over several requests: a Salesforce
// query locator, a Bulk 2.0 query job's result pages, a Zoho page-token
// chain or bulk read job. Its records are counted together, per subject.
type Cursor struct {
	// ID names the cursor (its root, the same on every page), e.g.
	// "sfq:01gD0000002HU6KIAW" or "sfjob:750R0000000zlh9IAA".
	ID string
	// Limit is the most records all pages together may deliver (the
	// decision's max_records); <= 0: the cursor is not capped.
	Limit int64
	// TTL is how long the count is kept after its last change: as long as
	// the CRM keeps the cursor.
	TTL time.Duration
}

// Reservation is what Reserve took; hand it to Settle when the response has
// finished. A nil *Reservation is "nothing reserved".
type Reservation struct {
	// Granted is how many records the request may deliver: the response
	// must be cut there. -1: no quota and no cursor applied (not capped
	// here); 0: refused (a quota or the cursor is used up).
	Granted int64
	// Limit names the quota that refused ("" when granted; "max_records"
	// when the cursor's total is reached).
	Limit string
	// RetryAfter is when the refusing quota has room again (0 for the
	// cursor, which does not refill).
	RetryAfter time.Duration

	req   Request
	parts []reservedPart
}

// reservedPart is what one quota or cursor counter holds for the request.
type reservedPart struct {
	key            string
	cursor         bool  // plain counter (cursor), else sliding-window quota
	window, bucket int64 // µs; for a cursor, window is the TTL
	granted, idx   int64
}

// Reserve reserves, atomically across every quota that applies to req (and
// cur, when it is capped), up to want records (want <= 0: the request's
// size is not known), never more than the configured reserve_max when it
// is set, else up to the whole room left. One store round trip; none when
// neither a quota nor a cursor applies.
//
// On a store failure the error is returned and the Reservation follows
// on_store_error: Granted 0 (deny) or -1 (allow, not capped).
func (l *Limiter) Reserve(ctx context.Context, req Request, want int64, cur *Cursor) (Reservation, error) {
	rs := l.rules.Load()
	res := Reservation{Granted: -1, req: req}
	if rs.reserveMax > 0 && (want <= 0 || want > rs.reserveMax) {
		want = rs.reserveMax
	}
	if want <= 0 {
		want = noCap
	}
	b := l.batches.Get().(*batch)
	defer l.batches.Put(b)
	b.reset()
	type src struct {
		quota int // index in rs.quotas; -1: the cursor
	}
	var srcs []src
	for i := range rs.quotas {
		c := &rs.quotas[i]
		if !c.sel.match(&req) {
			continue
		}
		b.buf = l.appendKey(b.buf, "q", c.keyName, c.key, &req)
		b.addKeyed(op{kind: opReserve, p1: c.window, p2: c.bucket, p3: c.records, p4: want})
		srcs = append(srcs, src{i})
	}
	if cur != nil && cur.Limit > 0 && cur.ID != "" {
		b.buf = l.appendCursorKey(b.buf, req.Subject, cur.ID)
		b.addKeyed(op{kind: opCapReserve, p1: max(cur.TTL.Microseconds(), 1000), p3: cur.Limit, p4: want})
		srcs = append(srcs, src{-1})
	}
	if len(b.ops) == 0 {
		return res, nil
	}
	err := l.runBatch(ctx, b)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("ratelimit: reserving records: %w", ctx.Err())
		} else {
			err = fmt.Errorf("ratelimit: %s store: reserving records: %w", l.storeName, err)
			l.storeFailed("reserve", err)
		}
		if l.failAllow && ctx.Err() == nil {
			return res, err
		}
		res.Granted = 0
		return res, err
	}
	l.storeOK()
	b.sealKeys()
	granted := int64(-1)
	retry := int64(-1)
	for j, s := range srcs {
		o, r := &b.ops[j], &b.results[j]
		res.parts = append(res.parts, reservedPart{key: o.key, cursor: s.quota < 0, window: o.p1, bucket: o.p2, granted: r[2], idx: r[3]})
		if granted < 0 || r[2] < granted {
			granted = r[2]
		}
		if r[0] >= o.p3 { // this one refused
			name, after := "max_records", int64(0)
			if s.quota >= 0 {
				name, after = rs.quotas[s.quota].name, r[1]
				rs.quotas[s.quota].refused.Inc()
			}
			if after > retry {
				retry, res.Limit = after, name
			}
		}
	}
	res.Granted = max(granted, 0)
	if res.Granted == 0 {
		if res.Limit == "" {
			res.Limit = "max_records"
		}
		res.RetryAfter = time.Duration(max(retry, 0)) * time.Microsecond
		// Nothing is kept from a refused reservation (with Redis Cluster
		// another slot may have taken its part).
		if err := l.settleParts(ctx, &res, 0, false); err != nil {
			return res, err
		}
		res.parts = nil
	}
	return res, nil
}

// appendCursorKey is the store key of a subject's cursor: in the
// subject's hash slot, so it runs in the same script as the subject's
// quotas.
func (l *Limiter) appendCursorKey(dst []byte, subject, id string) []byte {
	dst = append(dst, l.prefix...)
	dst = append(dst, "{s:"...)
	dst = append(dst, subject...)
	dst = append(dst, "}:cur:"...)
	dst = strconv.AppendInt(dst, int64(len(id)), 10)
	dst = append(dst, ':')
	return append(dst, id...)
}

// Settle ends a reservation: delivered records are counted in the subject's
// usage, and what was reserved but not delivered is given back to every
// quota and the cursor. A nil or empty reservation only counts usage (as
// Record does, without the quotas: a request that reserved nothing matched
// none). Settle must be called once per Reserve whatever happened to the
// request (0 delivered when it never reached the CRM).
func (l *Limiter) Settle(ctx context.Context, r *Reservation, delivered int64) error {
	if r == nil {
		return nil
	}
	err := l.settleParts(ctx, r, delivered, true)
	r.parts = nil
	return err
}

func (l *Limiter) settleParts(ctx context.Context, r *Reservation, delivered int64, usage bool) error {
	b := l.batches.Get().(*batch)
	defer l.batches.Put(b)
	b.reset()
	if usage && delivered > 0 {
		for w, uw := range usageWindows {
			b.buf = l.appendUsageKey(b.buf, &r.req, "rec", w)
			b.addKeyed(op{kind: opCount, p1: uw.window.Microseconds(), p2: uw.bucket.Microseconds(), p3: delivered})
		}
	}
	for _, p := range r.parts {
		delta := delivered - p.granted // < 0: give back; > 0: an overrun is counted too
		if p.granted == 0 || delta == 0 {
			continue
		}
		b.buf = append(b.buf, p.key...)
		if p.cursor {
			b.addKeyed(op{kind: opCapAdd, p1: p.window, p3: delta})
		} else {
			b.addKeyed(op{kind: opRefund, p1: p.window, p2: p.bucket, p3: delta, p4: p.idx})
		}
	}
	if len(b.ops) == 0 {
		return nil
	}
	if err := l.runBatch(ctx, b); err != nil {
		return l.storeError(ctx, "settle", fmt.Sprintf("settling %d records", delivered), err)
	}
	l.storeOK()
	return nil
}

// CountCursor adds records to a cursor's total that were delivered before
// the cursor was known: the first page of a Salesforce query, whose
// response names the locator the next pages use.
func (l *Limiter) CountCursor(ctx context.Context, subject string, cur Cursor, records int64) error {
	if records <= 0 || cur.ID == "" {
		return nil
	}
	b := l.batches.Get().(*batch)
	defer l.batches.Put(b)
	b.reset()
	b.buf = l.appendCursorKey(b.buf, subject, cur.ID)
	b.addKeyed(op{kind: opCapAdd, p1: max(cur.TTL.Microseconds(), 1000), p3: records})
	if err := l.runBatch(ctx, b); err != nil {
		return l.storeError(ctx, "cursor", "counting cursor records", err)
	}
	l.storeOK()
	return nil
}
