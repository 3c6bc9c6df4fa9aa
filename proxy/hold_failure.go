package proxy

import "net/http"

// bodyHeaders describe the upstream's body: they go with it when a body
// that failed inside the hold is replaced by an error.
var bodyHeaders = []string{"Content-Length", "Content-Encoding", "Content-Type", "Content-Disposition",
	"Content-Range", "Etag", "Last-Modified", "Trailer", "Sforce-Locator", "Sforce-Numberofrecords"}

// failHeld answers 502 in the CRM's error shape instead of a masked body
// that failed (malformed, cut off by the CRM, not inspectable) while it
// was still held: nothing of it has reached the caller yet, so the caller
// gets a clear answer rather than a 200 with a broken body. The audit
// event then says what was sent: this error, no records. mu is held.
func (w *responseRecorder) failHeld() {
	h := w.hold
	w.hold = nil
	w.timer.Stop()
	*h = (*h)[:cap(*h)]
	copyBuffers.Put(h)
	hdr := w.ResponseWriter.Header()
	for _, k := range bodyHeaders {
		hdr.Del(k)
	}
	w.discarded = true
	w.status = http.StatusBadGateway
	crmType := ""
	if w.x.up != nil {
		crmType = w.x.up.typ
	}
	w.x.errCode = codeUpstreamBad
	w.x.reason = "the CRM's response could not be inspected; nothing of it was sent"
	cw := &countingWriter{ResponseWriter: w.ResponseWriter}
	writeError(cw, crmType, http.StatusBadGateway, codeUpstreamBad, w.x.reason, w.x.id)
	w.bytes = cw.n
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}
