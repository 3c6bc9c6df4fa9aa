package proxy

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// holdFor bounds how long the start of a masked body is held back before
// it goes to the caller; holdMax bounds how much of it (one copy buffer).
//
// A masked body cannot keep the CRM's Content-Length, so without the hold
// it leaves as a chunked response in the pieces the CRM's answer arrived
// in: two write system calls per piece and one for the last chunk's end.
// Held until it ends, a body of up to holdMax goes out whole with its
// length, in the two writes net/http makes for a header and a large body,
// instead of two per piece. A body that is larger, or whose CRM pauses,
// streams in pieces once holdMax or holdFor is reached: the caller's first
// byte is late by holdFor at most, its last byte not at all.
const (
	holdFor = 2 * time.Millisecond
	holdMax = 128 << 10
)

// responseRecorder remembers the status and counts the bytes written, for
// audit and metrics, and holds the start of a masked body (holdFor).
// Unwrap lets http.ResponseController reach Flush.
type responseRecorder struct {
	http.ResponseWriter
	x      *exchange
	status int
	bytes  int64
	last   int // length of the last Write

	holdFor time.Duration // how long a masked body may be held (holdFor)

	// guarded is set once a masked body's header is written: from then on
	// mu orders the writes, since the hold's timer may release it from its
	// own goroutine. hold is the held start of the body (nil once sent).
	guarded bool
	mu      sync.Mutex
	hold    *[]byte
	timer   *time.Timer
	// discarded: the held body failed and was replaced by an error; the
	// audit event counts no records (hold_failure.go).
	discarded bool
}

func (w *responseRecorder) WriteHeader(code int) {
	if code < 200 {
		// No 1xx from the CRM reaches the caller (tunnel.go); the 100
		// Continue net/http sends when the body is read does not pass here.
		return
	}
	if w.guarded {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.hold != nil {
			return // the held header is sent with the body
		}
	} else if w.x != nil && w.x.masker != nil && w.status == 0 && w.Header().Get("Trailer") == "" {
		// Under mu: the timer may fire before AfterFunc has returned (a
		// short hold, a slow machine), and expire reads what is set here.
		w.mu.Lock()
		defer w.mu.Unlock()
		w.status = code
		w.guarded = true
		w.hold = copyBuffers.Get().(*[]byte)
		*w.hold = (*w.hold)[:0]
		w.timer = time.AfterFunc(w.holdFor, w.expire)
		return
	}
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Header is locked once guarded: the hold's timer may be sending the
// header from its goroutine.
func (w *responseRecorder) Header() http.Header {
	if w.guarded {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	return w.ResponseWriter.Header()
}

func (w *responseRecorder) Write(b []byte) (int, error) {
	if !w.guarded {
		return w.write(b)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hold != nil {
		if len(*w.hold)+len(b) <= cap(*w.hold) {
			*w.hold = append(*w.hold, b...)
			return len(b), nil
		}
		if err := w.release(); err != nil {
			return 0, err
		}
	}
	return w.write(b)
}

func (w *responseRecorder) write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	w.last = n
	return n, err
}

// release sends the held header and bytes and ends the hold; mu is held.
func (w *responseRecorder) release() error {
	h := w.hold
	w.hold = nil
	w.timer.Stop()
	w.ResponseWriter.WriteHeader(w.status)
	var err error
	if len(*h) > 0 {
		_, err = w.write(*h) // net/http has copied or sent it on return
	}
	*h = (*h)[:cap(*h)]
	copyBuffers.Put(h)
	return err
}

// expire runs on the timer's goroutine: the body did not end in holdFor,
// so what is held goes out now and the rest streams. Once the masking
// stage has ended, endHold follows on the handler's goroutine, which may
// be touching the header map already (ReverseProxy copies trailers into
// it after the body): the timer leaves the response alone then.
func (w *responseRecorder) expire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hold == nil || w.x.masker.Ended() {
		return
	}
	if w.release() == nil {
		w.flush()
	}
}

// endHold sends a body still held when the proxy is done with it: whole,
// with its length, when it ended cleanly. A body that failed while still
// wholly held (nothing of it sent) is replaced by a 502 in the CRM's shape
// (failHeld); endHold then reports true: the caller has a complete answer.
func (w *responseRecorder) endHold(clean bool) bool {
	if !w.guarded {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hold == nil {
		return false
	}
	if !clean {
		w.failHeld()
		return true
	}
	w.ResponseWriter.Header().Set("Content-Length", strconv.Itoa(len(*w.hold)))
	w.release()
	return false
}

// onWire is the write size from which net/http has put a write's bytes on
// the connection before Write returns: its buffers before the connection
// hold 2 KiB and 4 KiB, and a write larger than both goes to the socket
// but for the 2-byte line end of its chunk, which the client does not need
// to read the chunk's data.
const onWire = 16 << 10

func (w *responseRecorder) Flush() {
	if w.guarded {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.hold != nil {
			return // the end of the body, holdMax or holdFor sends it
		}
	}
	// ReverseProxy flushes after every write of a body without a length.
	// While the masking stage still has input in hand, the next write
	// follows at once: skip the flush (and its system call) until the
	// stage says it is waiting on the upstream. Nor is a flush needed
	// after a large write: its data went out during it, and the flush
	// would be a system call for the chunk's line end alone. The next
	// write, or the end of the response, sends it.
	if w.x != nil && w.x.masker != nil && (!w.x.masker.Idle() || w.last >= onWire) {
		return
	}
	w.flush()
}

func (w *responseRecorder) flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
