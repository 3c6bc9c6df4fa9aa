package proxy

import (
	"encoding/json"
	"net/http"
)

// Error codes crmgw answers with, in the CRM's own error shape so existing
// clients show the message.
const (
	codeUnauthenticated = "CRMGW_UNAUTHENTICATED"
	codeForbidden       = "CRMGW_FORBIDDEN"
	codeRateLimited     = "CRMGW_RATE_LIMITED"
	codeBadRequest      = "CRMGW_BAD_REQUEST"
	codeTooLarge        = "CRMGW_PAYLOAD_TOO_LARGE"
	codeUnsupportedEnc  = "CRMGW_UNSUPPORTED_MEDIA_TYPE"
	codeNotAcceptable   = "CRMGW_NOT_ACCEPTABLE"
	codeNoRoute         = "CRMGW_NOT_FOUND"
	codeUnavailable     = "CRMGW_UNAVAILABLE"
	codeUpstreamDown    = "CRMGW_UPSTREAM_UNAVAILABLE"
	codeUpstreamTimeout = "CRMGW_UPSTREAM_TIMEOUT"
	codeUpstreamBad     = "CRMGW_UPSTREAM_BAD_RESPONSE"
)

// writeError answers in the error shape of the upstream's CRM: Salesforce
// clients expect a JSON array of {message, errorCode}, Zoho clients an
// object with code/status/message/details. reason is shown to the caller, so
// it never holds a token, an upstream internal or a record value.
func writeError(w http.ResponseWriter, crmType string, status int, code, reason, requestID string) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	b := make([]byte, 0, 160+len(reason))
	switch crmType {
	case "zoho":
		b = append(b, `{"code":`...)
		b = appendJSONString(b, code)
		b = append(b, `,"status":"error","message":`...)
		b = appendJSONString(b, reason)
		b = append(b, `,"details":{"request_id":`...)
		b = appendJSONString(b, requestID)
		b = append(b, "}}"...)
	default:
		b = append(b, `[{"errorCode":`...)
		b = appendJSONString(b, code)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, reason+" (request "+requestID+")")
		b = append(b, "}]"...)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// appendJSONString appends s as a JSON string (strconv.Quote's Go escapes
// such as \x00 are not valid JSON).
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
