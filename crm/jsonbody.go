package crm

import (
	"bytes"
	"slices"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Request bodies are decoded with go-json-experiment/json, which rejects
// duplicate member names and invalid UTF-8 and matches member names
// case-sensitively: a body the CRM could read differently (two
// "compositeRequest" members, one of them hidden) is unknown, not guessed.

// decodeJSON decodes body into v; false when it is not exactly one valid
// JSON value of the right shape.
func decodeJSON(body []byte, v any) bool {
	if len(bytes.TrimSpace(body)) == 0 {
		return false
	}
	return json.Unmarshal(body, v) == nil
}

// bodyKeys returns the member names of a JSON object body (sorted, without
// "attributes"). An empty body has no fields; anything but a JSON object is
// not ok.
func bodyKeys(body []byte) ([]string, bool) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, true
	}
	var m map[string]jsontext.Value
	if !decodeJSON(body, &m) || m == nil {
		return nil, false
	}
	return objectKeys(m), true
}

func objectKeys(m map[string]jsontext.Value) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k != "attributes" && k != "" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// foldCollision reports a member whose name differs only in case from one
// the classifier reads: a lenient server might take it instead.
func foldCollision(m map[string]jsontext.Value, names ...string) bool {
	for k := range m {
		for _, n := range names {
			if k != n && strings.EqualFold(k, n) {
				return true
			}
		}
	}
	return false
}

// strictObject decodes a JSON object body into v and also checks it for
// case-folded look-alikes of names.
func strictObject(body []byte, v any, names ...string) bool {
	var m map[string]jsontext.Value
	if !decodeJSON(body, &m) || m == nil || foldCollision(m, names...) {
		return false
	}
	return json.Unmarshal(body, v) == nil
}

// addUnique appends the strings of add not yet in list.
func addUnique(list []string, add ...string) []string {
	for _, a := range add {
		if a != "" && !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

func sortStrings(s []string) { slices.Sort(s) }
