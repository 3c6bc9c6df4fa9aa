package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/crm"
)

// auditPlan writes what the request read into its audit event's crm part:
// the access plan's objects, fields by role and aliases, and the query
// text, or its keyed hash when audit.query_text is hash (docs/audit.md).
// The plan is shared, not copied: the event is written after the request
// and nothing changes the plan in between.
func (g *Gateway) auditPlan(c *audit.CRM, a *crm.Action) {
	c.Objects = a.Objects
	c.FieldRoles = a.FieldRoles
	c.Aliases = a.Aliases
	c.Query = g.auditQuery(a.Query)
}

// auditQuery is the query text as the audit event records it.
func (g *Gateway) auditQuery(q string) string {
	if q == "" || !g.hashQueries {
		return q
	}
	m := hmac.New(sha256.New, g.hmacKey)
	m.Write([]byte(q))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}
