package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Decision is the policy's answer for one request, parsed from the object
// at policy.decision: {"allow", "reason", "mask", "max_records"}.
type Decision struct {
	// Allow lets the request through (in enforce mode).
	Allow bool `json:"allow"`
	// Reason is shown to the caller on a denial and written to audit.
	Reason string `json:"reason"`
	// Mask maps "Object.Field" ("*" for any object) to a masking strategy.
	Mask map[string]string `json:"mask,omitempty"`
	// MaxRecords caps the records in the response; 0 means no cap.
	MaxRecords int `json:"max_records"`
	// Extra holds the decision's other keys, for features to come.
	Extra map[string]any `json:"extra,omitempty"`
	// Revision is the policy revision that decided (see Engine.Revision).
	Revision string `json:"revision"`
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

// parseDecision reads the decision value as rego returns it (JSON-like Go
// values with json.Number numbers). Any type mismatch is an error: a policy
// that says allow: "yes" must not be read as an allow.
func parseDecision(v any) (Decision, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("%w: got %s, want an object", ErrMalformed, typeName(v))
	}
	var d Decision
	allow, ok := obj["allow"]
	if !ok {
		return Decision{}, fmt.Errorf("%w: no \"allow\" key", ErrMalformed)
	}
	if d.Allow, ok = allow.(bool); !ok {
		return Decision{}, fmt.Errorf("%w: \"allow\" is %s, want a boolean", ErrMalformed, typeName(allow))
	}
	for k, v := range obj {
		switch k {
		case "allow":
		case "reason":
			s, ok := v.(string)
			if !ok {
				return Decision{}, fmt.Errorf("%w: \"reason\" is %s, want a string", ErrMalformed, typeName(v))
			}
			d.Reason = s
		case "mask":
			m, ok := v.(map[string]any)
			if !ok {
				return Decision{}, fmt.Errorf("%w: \"mask\" is %s, want an object", ErrMalformed, typeName(v))
			}
			if len(m) > 0 {
				d.Mask = make(map[string]string, len(m))
			}
			for field, strategy := range m {
				s, ok := strategy.(string)
				if !ok {
					return Decision{}, fmt.Errorf("%w: mask %q is %s, want a strategy name", ErrMalformed, field, typeName(strategy))
				}
				d.Mask[field] = s
			}
		case "max_records":
			n, ok := v.(json.Number)
			if !ok {
				return Decision{}, fmt.Errorf("%w: \"max_records\" is %s, want a number", ErrMalformed, typeName(v))
			}
			i, err := n.Int64()
			if err != nil || i < 0 || i > math.MaxInt32 {
				return Decision{}, fmt.Errorf("%w: \"max_records\" is %s, want a whole number from 0 to %d", ErrMalformed, n, math.MaxInt32)
			}
			d.MaxRecords = int(i)
		default:
			if d.Extra == nil {
				d.Extra = make(map[string]any)
			}
			d.Extra[k] = v
		}
	}
	return d, nil
}

func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		if len(x) > 20 {
			x = x[:20] + "…"
		}
		return fmt.Sprintf("a string (%q)", x)
	case json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("%T", v)
	}
}
