package audit

import (
	"sort"
	"strconv"
	"unicode/utf8"
)

// Bounds on what a caller controls in an event. An unauthenticated caller
// chooses its user agent and path freely (a 60 KB User-Agent on every 401
// would otherwise write 60 KB of audit per request and blind the SOC with
// volume); the classifier copies object and field names out of the request.
// A value over its bound is cut at a UTF-8 boundary and ends with
// cutMarker and the number of bytes removed, so the SOC sees both that it
// was cut and by how much (docs/audit.md "Bounded events").
const (
	maxUserAgent = 512
	maxPath      = 2048
	maxText      = 1024 // error, decision reason
	maxName      = 256  // object, field, group, role, email, client id
	maxList      = 256  // fields, groups, roles, masked
	maxSubs      = 100  // composite parts
	maxSubFields = 32   // fields of each composite part
	maxQuery     = 8192 // the query text of crm.query
)

// cutMarker ends a value that was cut.
const cutMarker = "…[cut "

// capString returns s, or its first max bytes (at a rune boundary) followed
// by the cut marker.
func capString(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + cutMarker + strconv.Itoa(len(s)-n) + " bytes]"
}

// capList bounds a list and each of its items; a list that was too long
// ends with an item saying how many were left out.
func capList(l []string, max, each int) []string {
	out := l
	if len(l) > max {
		out = make([]string, max+1)
		copy(out, l[:max])
		out[max] = cutMarker + strconv.Itoa(len(l)-max) + " more]"
	}
	for i, s := range out {
		if len(s) > each {
			if &out[0] == &l[0] {
				out = append([]string(nil), out...) // the caller's slice stays as it was
			}
			out[i] = capString(s, each)
		}
	}
	return out
}

func capCRM(c *CRM) {
	c.Object = capString(c.Object, maxName)
	c.Operation = capString(c.Operation, maxName)
	c.Category = capString(c.Category, maxName)
	c.Host = capString(c.Host, maxName)
	if len(c.Fields) > 0 {
		c.Fields = capList(c.Fields, maxList, maxName)
	}
	if len(c.Objects) > 0 {
		c.Objects = capList(c.Objects, maxList, maxName)
	}
	c.FieldRoles = capRoles(c.FieldRoles)
	c.Aliases = capAliases(c.Aliases)
	c.Query = capString(c.Query, maxQuery)
}

// capRoles bounds the access plan's field roles. The map may be shared by
// every request with the same query text (the classifier caches plans), so
// it is copied, never changed, when something must be cut.
func capRoles(m map[string][]string) map[string][]string {
	if len(m) == 0 || !rolesOverBound(m) {
		return m
	}
	out := make(map[string][]string, min(len(m), maxList))
	for _, k := range sortedKeys(m) {
		if len(out) == maxList {
			out[cutMarker+strconv.Itoa(len(m)-maxList)+" more]"] = nil
			break
		}
		out[capString(k, maxName)] = capList(m[k], 8, maxName)
	}
	return out
}

func rolesOverBound(m map[string][]string) bool {
	if len(m) > maxList {
		return true
	}
	for k, v := range m {
		if len(k) > maxName || len(v) > 8 {
			return true
		}
	}
	return false
}

// capAliases bounds the access plan's aliases, copying as capRoles does.
func capAliases(m map[string]string) map[string]string {
	over := len(m) > maxList
	for k, v := range m {
		over = over || len(k) > maxName || len(v) > maxName
	}
	if !over {
		return m
	}
	out := make(map[string]string, min(len(m), maxList))
	for _, k := range sortedKeys(m) {
		if len(out) == maxList {
			out[cutMarker+strconv.Itoa(len(m)-maxList)+" more]"] = ""
			break
		}
		out[capString(k, maxName)] = capString(m[k], maxName)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// bound applies the bounds to every caller-controlled string of ev.
func bound(ev *Event) {
	ev.RequestID = capString(ev.RequestID, maxName)
	ev.HTTPRequest.Path = capString(ev.HTTPRequest.Path, maxPath)
	ev.HTTPRequest.UserAgent = capString(ev.HTTPRequest.UserAgent, maxUserAgent)
	ev.HTTPRequest.Method = capString(ev.HTTPRequest.Method, 32)
	ev.SrcEndpoint.IP = capString(ev.SrcEndpoint.IP, 64)
	ev.Error = capString(ev.Error, maxText)
	ev.Decision.Reason = capString(ev.Decision.Reason, maxText)
	ev.Actor.User.UID = capString(ev.Actor.User.UID, maxName)
	ev.Actor.User.Email = capString(ev.Actor.User.Email, maxName)
	ev.Actor.ClientID = capString(ev.Actor.ClientID, maxName)
	ev.Actor.Issuer = capString(ev.Actor.Issuer, maxName)
	if len(ev.Actor.User.Groups) > 0 {
		ev.Actor.User.Groups = capList(ev.Actor.User.Groups, maxList, maxName)
	}
	if len(ev.Actor.User.Roles) > 0 {
		ev.Actor.User.Roles = capList(ev.Actor.User.Roles, maxList, maxName)
	}
	if len(ev.Decision.Masked) > 0 {
		ev.Decision.Masked = capList(ev.Decision.Masked, maxList, maxName)
	}
	capCRM(&ev.CRM)
	if n := len(ev.Subrequests); n > maxSubs {
		subs := append([]CRM(nil), ev.Subrequests[:maxSubs]...)
		ev.Subrequests = append(subs, CRM{Operation: cutMarker + strconv.Itoa(n-maxSubs) + " more]", Fields: []string{}})
	}
	for i := range ev.Subrequests {
		c := &ev.Subrequests[i]
		capCRM(c)
		if len(c.Fields) > maxSubFields {
			c.Fields = capList(c.Fields, maxSubFields, maxName)
		}
	}
}
