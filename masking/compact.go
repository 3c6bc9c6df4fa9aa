package masking

// backoff spares the rewriter the scanner's CompactObject walk where it
// keeps being refused: in a body whose records share a shape, a related
// record that holds a masked field (Account.Owner.Email) would be walked
// to that field in every record and then read again by the general path
// (a sixth more time for such a body). After each refusal in a row the
// next 1, 3, 7, ... 63 chances are passed over; a success starts again.
type backoff struct{ miss, skip uint8 }

// try reports whether to call CompactObject this time.
func (b *backoff) try() bool {
	if b.skip > 0 {
		b.skip--
		return false
	}
	return true
}

// done records CompactObject's answer (end > 0: taken).
func (b *backoff) done(end int) {
	if end > 0 {
		b.miss = 0
		return
	}
	if b.miss < 6 {
		b.miss++
	}
	b.skip = 1<<b.miss - 1
}

// compactRelated consumes the object that is the value of the member
// name of a record, just read by the scanner, when CompactObject takes it
// (and its backoff lets it try), and returns the offset of its end in the
// buffer; 0, and nothing consumed, otherwise.
func (w *jsonRewriter) compactRelated(name []byte) int {
	bo := w.relatedBackoff(name)
	if !bo.try() {
		return 0
	}
	sc := w.sc
	end := sc.CompactObject(sc.Pos(), &w.recFlag)
	if bo.done(end); end > 0 {
		sc.Advance(end)
	}
	return end
}

// relatedBackoff is the backoff for related records under member name
// name (a few slots by a hash of it: records repeat the same names).
func (w *jsonRewriter) relatedBackoff(name []byte) *backoff {
	h := uint(len(name))
	if len(name) > 0 {
		h = h*7 + uint(name[0])*31 + uint(name[len(name)-1])
	}
	return &w.relBack[h&(uint(len(w.relBack))-1)]
}
