package proxy

import (
	"net/http"

	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/policy"
)

// inputHeaders are the request headers policies may see. Credentials and
// cookies never enter the policy input (nor, therefore, decision logs).
// Each with the lower-case name it has in the input (written out: a
// strings.ToLower per header and request was an allocation each).
var inputHeaders = [][2]string{
	{"User-Agent", "user-agent"}, {"Content-Type", "content-type"}, {"Accept", "accept"},
	{"Sforce-Call-Options", "sforce-call-options"}, {"Sforce-Query-Options", "sforce-query-options"},
}

// policyInput builds input for the container action; sub-requests reuse it
// with their own action.
func (g *Gateway) policyInput(r *http.Request, x *exchange) *policy.Input {
	s := x.subject
	in := &policy.Input{
		Request: policy.RequestInput{
			ID:         x.id,
			Method:     x.result.Method,
			Path:       x.result.Path,
			RawQuery:   r.URL.RawQuery, // parsed by the engine if the policies read it
			RemoteAddr: x.ipText,
			Time:       x.start.UTC(),
			Headers:    map[string]string{},
		},
		Subject: policy.SubjectInput{
			Kind:     s.Kind,
			ID:       s.ID,
			Issuer:   s.Issuer,
			Email:    s.Email,
			Groups:   s.Groups,
			Roles:    s.Roles,
			MFA:      s.MFA,
			ClientID: s.ClientID,
			Claims:   s.Claims,
			// The issuer may grant privileged roles (docs/identity.md).
			IssuerPrimary: s.IssuerPrimary,
			Watch:         x.watch,
		},
		Upstream: policy.UpstreamInput{Name: x.up.name, Type: x.up.typ},
		Action:   actionInput(&x.result.Action),
		Usage: policy.UsageInput{
			Records:  x.usage.Records,
			Requests: x.usage.Requests,
		},
	}
	for _, h := range inputHeaders {
		if v := r.Header.Get(h[0]); v != "" {
			in.Request.Headers[h[1]] = v
		}
	}
	return in
}

func actionInput(a *crm.Action) policy.ActionInput {
	out := policy.ActionInput{
		Operation: string(a.Operation),
		Category:  string(a.Category),
		Object:    a.Object,
		Fields:    a.Fields,
		AllFields: a.AllFields,
		RecordID:  a.RecordID,
		Query:     a.Query,

		IncludeDeleted: a.IncludeDeleted,
		Aggregate:      a.Aggregate,
		Mode:           a.Mode,

		Objects:    a.Objects,
		FieldRoles: a.FieldRoles,
		Aliases:    a.Aliases,
	}
	if a.Parent != nil {
		p := actionInput(a.Parent)
		out.Parent = &p
	}
	return out
}
