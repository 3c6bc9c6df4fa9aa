package audit

import "fmt"

// eventLines returns the line each entry of batch is written as: the
// chained native line, or with ocsf its OCSF form (docs/audit.md "OCSF").
// A spooled line that is not an event cannot be converted: it is left out
// and counted in bad, and the caller reports it as refused for good.
func eventLines(batch []*entry, ocsf bool) (lines [][]byte, bad int) {
	lines = make([][]byte, 0, len(batch))
	for _, e := range batch {
		if !ocsf {
			lines = append(lines, e.line)
			continue
		}
		l, err := ocsfLine(e)
		if err != nil {
			bad++
			continue
		}
		lines = append(lines, l)
	}
	return lines, bad
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
