package proxy

import (
	"strconv"
	"unicode/utf8"
)

// maxEventString bounds every caller-controlled string the proxy copies
// into an audit event (user agent, path, reason): a caller could otherwise
// make each event as large as its request headers (docs/hardening.md,
// "Bounded audit events").
//
// A request whose caller was not authenticated (refused before or by
// authentication, or without a route) gets a quarter of that: it is the
// cheapest request to send in bulk, and its user agent and path say little.
const (
	maxEventString     = 1 << 10
	maxAnonEventString = maxEventString / 4
)

// eventStringCap is the cap for the strings of x's event.
func eventStringCap(x *exchange) int {
	if x.subject == nil {
		return maxAnonEventString
	}
	return maxEventString
}

// capString returns s, or its first n bytes (cut at a character boundary)
// followed by a marker that says it was cut and how long it was.
func capString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "...[truncated, " + strconv.Itoa(len(s)) + " bytes]"
}
