package proxy

import (
	"net/http"
	"strings"

	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/internal/bodyshape"
	"github.com/crmgw/crmgw/masking"
)

// maskPlan is the masking plan of a request (docs/masking.md, "Masking by
// plan"): which field each response key carries. It is given when a
// response may carry keys that are not field names — aliases, aggregate
// rows, functions (any parenthesis in the query: FORMAT(x) bd, MAX(x),
// child subqueries), GraphQL — and nil otherwise, so plain queries keep
// the rewriter's fast path.
//
// A caller who hides a field under another key (an alias, an aggregate, a
// GraphQL alias of the field, node, edges or connection) gets it masked as
// its source field; a key the plan cannot attribute in an aggregate row or
// a record of the request's object gets the object's strictest rule.
func maskPlan(a *crm.Action, subs []crm.Action, shape *crm.ResponseShape) *masking.Plan {
	if len(a.Aliases) == 0 && !a.Aggregate && shape.Kind != bodyshape.GraphQL && !strings.Contains(a.Query, "(") && !hasFunctionRole(a) {
		return nil
	}
	return &masking.Plan{Object: a.Object, Fields: a.Fields, AllFields: a.AllFields, Aliases: a.Aliases, Objects: planObjects(subs)}
}

// planObjects are the sub-requests' objects and select lists (a
// multi-object GraphQL query or search).
func planObjects(subs []crm.Action) []masking.PlanObject {
	if len(subs) == 0 {
		return nil
	}
	out := make([]masking.PlanObject, 0, len(subs))
	for i := range subs {
		out = append(out, masking.PlanObject{Object: subs[i].Object, Fields: subs[i].Fields, AllFields: subs[i].AllFields})
	}
	return out
}

func hasFunctionRole(a *crm.Action) bool {
	for _, roles := range a.FieldRoles {
		for _, r := range roles {
			if r == crm.RoleAggregate || r == crm.RoleGroup {
				return true
			}
		}
	}
	return false
}

// maskErrorBody puts the masking stage on a non-2xx JSON answer: CRM errors
// can carry records (Salesforce DUPLICATES_DETECTED lists the matching
// records, Zoho DUPLICATE_DATA the duplicate), masked by the request's
// rules like any record, never capped. Other error bodies (an HTML page of
// a load balancer) pass as they are. It returns false when it did not
// take the body.
func (g *Gateway) maskErrorBody(resp *http.Response, x *exchange) (bool, error) {
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified || resp.Request.Method == http.MethodHead {
		return false, nil
	}
	h := resp.Header
	if !contentTypeMatches(h.Get("Content-Type"), bodyshape.JSON) {
		return false, nil
	}
	body, err := masking.DecodeBody(h.Get("Content-Encoding"), resp.Body)
	if err != nil {
		return true, &upstreamResponseError{"upstream response encoding cannot be inspected"}
	}
	rules, err := g.ruleCache.rules(x.decision.Mask)
	if err != nil {
		return true, &upstreamResponseError{"policy returned an invalid mask: " + err.Error()}
	}
	if !x.enforced {
		rules = nil
	}
	shape := x.result.Response
	m := &x.mr
	m.Init(body, masking.Options{
		Format:    bodyshape.JSON,
		Vendor:    shape.Vendor,
		Kind:      bodyshape.Error,
		Object:    shape.Object,
		Rules:     rules,
		HMACKey:   g.hmacKey,
		Detectors: g.detectors,
		Plan:      maskPlan(&x.result.Action, x.result.Subrequests, &shape),
	})
	x.masker = m
	resp.Body = m
	resp.ContentLength = -1
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Del("Content-Md5")
	h.Del("Etag")
	return true, nil
}
