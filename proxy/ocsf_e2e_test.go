package proxy

import (
	"crypto/sha256"
	"encoding/json"
	"sync"
	"testing"

	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/internal/ocsftest"
)

// ocsfChecked remembers the lines already converted and validated: the
// tests poll the audit file and read the same lines many times.
var ocsfChecked sync.Map // [32]byte -> struct{}

// checkOCSF converts one native audit line to OCSF 1.8.0 API Activity, as
// a sink with format: ocsf sends it, and validates it against the OCSF
// definitions: every event an end-to-end test writes is checked this way
// (readAuditLines) (docs/audit.md "OCSF").
func checkOCSF(t testing.TB, line []byte) {
	t.Helper()
	sum := sha256.Sum256(line)
	if _, ok := ocsfChecked.Load(sum); ok {
		return
	}
	var ev audit.Event
	if err := json.Unmarshal(line, &ev); err != nil {
		t.Fatalf("audit line is not an event: %v\n%s", err, line)
	}
	o, err := audit.MarshalOCSF(&ev)
	if err != nil {
		t.Fatalf("audit event cannot be converted to OCSF: %v\n%s", err, line)
	}
	s, err := ocsftest.Default()
	if err != nil {
		t.Fatalf("loading the OCSF definitions: %v", err)
	}
	if err := s.Validate(o); err != nil {
		t.Fatalf("the audit event converted to OCSF is not valid: %v\nnative: %s\nocsf: %s", err, line, o)
	}
	ocsfChecked.Store(sum, struct{}{})
}
