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
// {"exceptionCode", "exceptionMessage"} in JSON (bulk1JSON says which).
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

// bulk1JSON reports whether a Bulk 1.0 refusal is written in JSON: for a
// JSON body, and for a request whose Content-Type or Accept is JSON unless
// its body is XML. A client of a JSON job sends Content-Type:
// application/json on every request, polls included; jsforce sends XML.
// Anything else gets XML, the API's default.
func bulk1JSON(body []byte, h http.Header) bool {
	if jsonBody(body) {
		return true
	}
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '<' {
		return false
	}
	return isJSONMedia(h.Get("Content-Type")) || isJSONMedia(h.Get("Accept"))
}

// isJSONMedia reports whether a Content-Type or Accept value names JSON.
func isJSONMedia(v string) bool {
	return v != "" && strings.Contains(strings.ToLower(v), "json")
}

// jsonBody reports whether a request body is a JSON object.
func jsonBody(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}
