package crm

import (
	"bytes"
	"encoding/json"
	"mime"
)

// malformedJSON reports whether a request that could not be classified
// carries a body that says it is JSON (by Content-Type, or by starting
// like a JSON object or array) but is not valid JSON. Such a request is
// answered 400 rather than refused as unclassifiable (403): the caller's
// mistake is named, and the CRM would refuse it anyway. A valid JSON body
// of an unexpected shape stays unknown (docs/classification.md).
func malformedJSON(req Request) bool {
	if len(req.Body) == 0 {
		return false
	}
	ct := req.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	jsonType := mt == "application/json" || (len(mt) > 5 && mt[len(mt)-5:] == "+json")
	trimmed := bytes.TrimLeft(req.Body, " \t\r\n")
	looksJSON := len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')
	if !jsonType && !(ct == "" && looksJSON) {
		return false
	}
	return !json.Valid(req.Body)
}
