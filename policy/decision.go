package policy

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Decision is the policy's answer for one request, parsed from the object
// at policy.decision: {"allow", "reason", "mask", "max_records"}.
type Decision struct {
	// Allow lets the request through (in enforce mode).
	Allow bool `json:"allow"`
	// Reason is shown to the caller on a denial and written to audit.
	Reason string `json:"reason"`
	// Mask maps "Object.Field" ("*" for any object) to a masking strategy.
	// A cached decision shares its Mask (and Extra) with every request it
	// answers: copy before changing them.
	Mask map[string]string `json:"mask,omitempty"`
	// MaxRecords caps the records in the response; 0 means no cap.
	MaxRecords int `json:"max_records"`
	// AllowFilter lists masked fields ("Object.Field", "*" for any
	// object) the request may nevertheless filter, sort, group, aggregate
	// or search on. Without it, a masked field in any role but select is
	// refused (docs/policies.md, "Masks imply no inference"). Shared by a
	// cached decision like Mask.
	AllowFilter []string `json:"allow_filter,omitempty"`
	// Approval, when set on an allowed decision, makes the request wait
	// for a second person's approval (docs/approvals.md): without a valid
	// grant the gateway answers APPROVAL_REQUIRED. It never widens a
	// denial. Shared by a cached decision like Mask.
	Approval *Approval `json:"approval,omitempty"`
	// Extra holds the decision's other keys, for features to come.
	Extra map[string]any `json:"extra,omitempty"`
	// Revision is the policy revision that decided (see Engine.Revision).
	Revision string `json:"revision"`
}

// Approval is the decision's "approval" object: who must approve, how long
// the grant lasts, and why.
type Approval struct {
	// Approvers are "group:<name>" or "role:<name>"; at least one.
	Approvers []string `json:"approvers"`
	// TTL is the grant's validity once approved; 0 means the gateway's
	// default (approvals.default_ttl).
	TTL time.Duration `json:"ttl"`
	// Reason is shown to the caller and the approver.
	Reason string `json:"reason"`
}

// Errors that make a decision a denial. Decide wraps them with detail; the
// Decision's Reason stays generic, since it is shown to the caller.
var (
	// ErrUndefined: the decision reference has no value for this input.
	ErrUndefined = errors.New("policy: decision is undefined")
	// ErrTimeout: evaluation did not finish within policy.timeout.
	ErrTimeout = errors.New("policy: evaluation timed out")
	// ErrEval: evaluation failed (conflicting rule values, a builtin error
	// in strict mode, cancellation).
	ErrEval = errors.New("policy: evaluation failed")
	// ErrMultiple: the decision query produced several results.
	ErrMultiple = errors.New("policy: decision has several results")
	// ErrMalformed: the decision is not the contract's shape (allow not a
	// boolean, mask not an object of strings, ...).
	ErrMalformed = errors.New("policy: decision is malformed")
)

// Reasons given to callers when the policy could not decide.
const (
	reasonUndefined = "denied: the policy gave no decision"
	reasonTimeout   = "denied: the policy decision timed out"
	reasonEval      = "denied: the policy could not be evaluated"
	reasonMultiple  = "denied: the policy gave several decisions"
	reasonMalformed = "denied: the policy decision is malformed"
	reasonNoInput   = "denied: no policy input"
)

func deny(reason, revision string) Decision {
	return Decision{Allow: false, Reason: reason, Revision: revision}
}

// Result keys, interned: the decision is read on every request.
var (
	keyAllow       = ast.StringTerm("allow")
	keyReason      = ast.StringTerm("reason")
	keyMask        = ast.StringTerm("mask")
	keyMaxRecords  = ast.StringTerm("max_records")
	keyAllowFilter = ast.StringTerm("allow_filter")
	keyApproval    = ast.StringTerm("approval")
	keyApprovers   = ast.StringTerm("approvers")
	keyTTL         = ast.StringTerm("ttl")
)

// parseDecision reads the decision value as OPA produced it, without the
// conversion to Go maps rego would make. Any type mismatch is an error: a
// policy that says allow: "yes" must not be read as an allow.
func parseDecision(v ast.Value) (Decision, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return Decision{}, fmt.Errorf("%w: got %s, want an object", ErrMalformed, typeName(v))
	}
	var d Decision
	allow := obj.Get(keyAllow)
	if allow == nil {
		return Decision{}, fmt.Errorf("%w: no \"allow\" key", ErrMalformed)
	}
	b, ok := allow.Value.(ast.Boolean)
	if !ok {
		return Decision{}, fmt.Errorf("%w: \"allow\" is %s, want a boolean", ErrMalformed, typeName(allow.Value))
	}
	d.Allow = bool(b)
	var err error
	obj.Foreach(func(k, v *ast.Term) {
		if err != nil {
			return
		}
		switch {
		case k.Equal(keyAllow):
		case k.Equal(keyReason):
			s, ok := v.Value.(ast.String)
			if !ok {
				err = fmt.Errorf("%w: \"reason\" is %s, want a string", ErrMalformed, typeName(v.Value))
				return
			}
			d.Reason = string(s)
		case k.Equal(keyMask):
			m, ok := v.Value.(ast.Object)
			if !ok {
				err = fmt.Errorf("%w: \"mask\" is %s, want an object", ErrMalformed, typeName(v.Value))
				return
			}
			if m.Len() > 0 {
				d.Mask = make(map[string]string, m.Len())
			}
			m.Foreach(func(field, strategy *ast.Term) {
				if err != nil {
					return
				}
				f, ok := field.Value.(ast.String)
				if !ok {
					err = fmt.Errorf("%w: mask key %s is %s, want a field name", ErrMalformed, field, typeName(field.Value))
					return
				}
				s, ok := strategy.Value.(ast.String)
				if !ok {
					err = fmt.Errorf("%w: mask %q is %s, want a strategy name", ErrMalformed, string(f), typeName(strategy.Value))
					return
				}
				d.Mask[string(f)] = string(s)
			})
		case k.Equal(keyMaxRecords):
			n, ok := v.Value.(ast.Number)
			if !ok {
				err = fmt.Errorf("%w: \"max_records\" is %s, want a number", ErrMalformed, typeName(v.Value))
				return
			}
			i, ok := n.Int64()
			if !ok || i < 0 || i > math.MaxInt32 {
				err = fmt.Errorf("%w: \"max_records\" is %s, want a whole number from 0 to %d", ErrMalformed, n, math.MaxInt32)
				return
			}
			d.MaxRecords = int(i)
		case k.Equal(keyAllowFilter):
			d.AllowFilter, err = parseFieldList(v.Value)
		case k.Equal(keyApproval):
			d.Approval, err = parseApproval(v.Value)
		default:
			key, jerr := ast.JSON(k.Value)
			val, verr := ast.JSON(v.Value)
			if jerr != nil || verr != nil {
				err = fmt.Errorf("%w: key %s cannot be represented in JSON", ErrMalformed, k)
				return
			}
			ks, ok := key.(string)
			if !ok {
				err = fmt.Errorf("%w: key %s is not a string", ErrMalformed, k)
				return
			}
			if d.Extra == nil {
				d.Extra = make(map[string]any)
			}
			d.Extra[ks] = val
		}
	})
	if err != nil {
		return Decision{}, err
	}
	return d, nil
}

// parseFieldList reads allow_filter: an array or set of "Object.Field"
// strings ("*" for any object). Anything else is malformed: a policy that
// meant to allow a filter on one field must not open another by a typo.
func parseFieldList(v ast.Value) ([]string, error) {
	var terms []*ast.Term
	switch x := v.(type) {
	case *ast.Array:
		x.Foreach(func(t *ast.Term) { terms = append(terms, t) })
	case ast.Set:
		x.Foreach(func(t *ast.Term) { terms = append(terms, t) })
	default:
		return nil, fmt.Errorf("%w: \"allow_filter\" is %s, want an array of \"Object.Field\" names", ErrMalformed, typeName(v))
	}
	if len(terms) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(terms))
	for _, t := range terms {
		s, ok := t.Value.(ast.String)
		if !ok {
			return nil, fmt.Errorf("%w: allow_filter entry %s is %s, want \"Object.Field\"", ErrMalformed, t, typeName(t.Value))
		}
		obj, field, ok := strings.Cut(string(s), ".")
		if !ok || obj == "" || field == "" || strings.Contains(field, ".") {
			return nil, fmt.Errorf("%w: allow_filter entry %q is not \"Object.Field\"", ErrMalformed, string(s))
		}
		out = append(out, string(s))
	}
	return out, nil
}

// parseApproval reads {"approvers": ["group:x", "role:y"], "ttl": "4h",
// "reason": "..."}; null means no approval. Anything else is malformed: a
// policy asking for an approval nobody can give must not pass as an allow.
func parseApproval(v ast.Value) (*Approval, error) {
	if _, ok := v.(ast.Null); ok {
		return nil, nil
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("%w: \"approval\" is %s, want an object", ErrMalformed, typeName(v))
	}
	a := &Approval{}
	var err error
	obj.Foreach(func(k, v *ast.Term) {
		if err != nil {
			return
		}
		switch {
		case k.Equal(keyApprovers):
			arr, ok := v.Value.(*ast.Array)
			if !ok {
				err = fmt.Errorf("%w: approval \"approvers\" is %s, want an array", ErrMalformed, typeName(v.Value))
				return
			}
			arr.Foreach(func(t *ast.Term) {
				s, ok := t.Value.(ast.String)
				kind, name, cut := strings.Cut(string(s), ":")
				if err == nil && (!ok || !cut || name == "" || (kind != "group" && kind != "role")) {
					err = fmt.Errorf("%w: approver %s, want \"group:<name>\" or \"role:<name>\"", ErrMalformed, t)
				}
				a.Approvers = append(a.Approvers, string(s))
			})
		case k.Equal(keyTTL):
			s, ok := v.Value.(ast.String)
			if !ok {
				err = fmt.Errorf("%w: approval \"ttl\" is %s, want a duration such as \"4h\"", ErrMalformed, typeName(v.Value))
				return
			}
			d, perr := time.ParseDuration(string(s))
			if perr != nil || d <= 0 {
				err = fmt.Errorf("%w: approval \"ttl\" %q is not a positive duration", ErrMalformed, string(s))
				return
			}
			a.TTL = d
		case k.Equal(keyReason):
			s, ok := v.Value.(ast.String)
			if !ok {
				err = fmt.Errorf("%w: approval \"reason\" is %s, want a string", ErrMalformed, typeName(v.Value))
				return
			}
			a.Reason = string(s)
		default:
			err = fmt.Errorf("%w: approval has an unknown key %s", ErrMalformed, k)
		}
	})
	if err != nil {
		return nil, err
	}
	if len(a.Approvers) == 0 {
		return nil, fmt.Errorf("%w: approval names no approvers", ErrMalformed)
	}
	return a, nil
}

func typeName(v ast.Value) string {
	switch x := v.(type) {
	case ast.Null:
		return "null"
	case ast.Boolean:
		return "a boolean"
	case ast.String:
		s := string(x)
		if len(s) > 20 {
			s = s[:20] + "…"
		}
		return fmt.Sprintf("a string (%q)", s)
	case ast.Number:
		return "a number"
	case *ast.Array:
		return "an array"
	case ast.Object:
		return "an object"
	case ast.Set:
		return "a set"
	default:
		return ast.ValueName(v)
	}
}
