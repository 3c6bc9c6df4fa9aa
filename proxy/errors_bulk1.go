package proxy

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strings"
)

// isBulk1 reports whether a classified Salesforce request is one of Bulk
// API 1.0 (/services/async/...), whose clients read errors in that API's
// own shape.
func isBulk1(x *exchange, crmType string) bool {
	return crmType == "salesforce" && strings.Contains(x.result.DecodedPath, "/services/async/")
}

// writeBulk1Error answers in Bulk API 1.0's error shape, so its clients
// (jsforce's bulk, simple-salesforce's bulk, the Data Loader) show the
// gateway's code and message: <error><exceptionCode>… in XML, or
// {"exceptionCode", "exceptionMessage"} for a request with a JSON body
// (a request without a body, such as a status poll, gets XML).
func writeBulk1Error(w http.ResponseWriter, asJSON bool, status int, code, reason, requestID string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	msg := reason + " (request " + requestID + ")"
	var b []byte
	if asJSON {
		h.Set("Content-Type", "application/json;charset=UTF-8")
		b = append(b, `{"exceptionCode":`...)
		b = appendJSONString(b, code)
		b = append(b, `,"exceptionMessage":`...)
		b = appendJSONString(b, msg)
		b = append(b, '}')
	} else {
		h.Set("Content-Type", "application/xml;charset=UTF-8")
		var buf bytes.Buffer
		buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?><error xmlns="http://www.force.com/2009/06/asyncapi/dataload"><exceptionCode>`)
		_ = xml.EscapeText(&buf, []byte(code))
		buf.WriteString(`</exceptionCode><exceptionMessage>`)
		_ = xml.EscapeText(&buf, []byte(msg))
		buf.WriteString(`</exceptionMessage></error>`)
		b = buf.Bytes()
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// jsonBody reports whether a request body is a JSON object.
func jsonBody(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}
