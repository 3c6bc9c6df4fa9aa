package audit

import "fmt"

// entryLine is the line an entry is written as: the chained native line,
// or with ocsf its OCSF form (docs/audit.md "OCSF"). A spooled line that
// is not an event cannot be converted: ok is false, and the caller counts
// it and reports it as refused for good (unconvertible). The native line
// is the entry's own: nothing is copied on the local log's path.
func entryLine(e *entry, ocsf bool) (line []byte, ok bool) {
	if !ocsf {
		return e.line, true
	}
	l, err := ocsfLine(e)
	return l, err == nil
}

// ocsfLine is the entry's event as one OCSF JSON object.
func ocsfLine(e *entry) ([]byte, error) {
	ev, err := e.event()
	if err != nil {
		return nil, fmt.Errorf("spooled line is not an event: %w", err)
	}
	return MarshalOCSF(ev)
}

// unconvertible is the error of a delivery that left out bad events.
func unconvertible(bad int) error {
	if bad == 0 {
		return nil
	}
	return &permanentError{err: fmt.Errorf("%d spooled lines are not events and cannot be sent as OCSF", bad), events: bad}
}
