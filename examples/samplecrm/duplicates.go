package samplecrm

import (
	"net/http"
	"strings"
)

// duplicateRule answers a create the way a Salesforce duplicate rule that
// blocks does (400 DUPLICATES_DETECTED with the matching records in the
// error body) when the test-only X-Samplecrm-Duplicate-Rule: block header
// is set and the new record's Email is an existing record's. It reports
// whether it answered.
func (s *Server) duplicateRule(w http.ResponseWriter, r *http.Request, base string, o *object, vals map[string]string) bool {
	if r.Header.Get("X-Samplecrm-Duplicate-Rule") != "block" {
		return false
	}
	ef := o.field("Email")
	email := vals["Email"]
	if ef == nil || email == "" {
		return false
	}
	t := o.snapshot()
	match := int32(-1)
	for i, row := range t.rows {
		if !row.deleted && strings.EqualFold(row.v[ef.col], email) {
			match = int32(i)
			break
		}
	}
	if match < 0 {
		return false
	}
	q, err := projFor(o, "")
	if err != nil {
		return false
	}
	e := &sfEnc{base: base}
	e.b = append(e.b, `[{"duplicateResult":{"allowSave":false,"duplicateRule":"Standard_`+o.name+`_Duplicate_Rule","duplicateRuleEntityType":"`+o.name+
		`","errorMessage":"You're creating a duplicate record. We recommend you use an existing record instead.","matchResults":[{"entityType":"`+o.name+
		`","errorMessage":null,"matchEngine":"FuzzyMatchEngine","matchRecords":[{"additionalInformation":[],"fieldDiffs":[],"matchConfidence":100.0,"record":`...)
	e.record(q.proj, t, match)
	e.b = append(e.b, `}],"rule":"Standard_`+o.name+`_Match_Rule_v1_1","size":1,"success":true}]},"errorCode":"DUPLICATES_DETECTED","message":"Use one of these records?"}]`...)
	writeJSON(w, http.StatusBadRequest, e.b)
	return true
}
