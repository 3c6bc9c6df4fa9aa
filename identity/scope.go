package identity

import "slices"

// scope keeps the roles or groups an issuer may assert (docs/identity.md,
// "Issuer scoping"). Without an allow-list the primary issuer may assert
// any and every other issuer none, so a partner IdP cannot make its users
// managers by writing "roles": ["sales_manager"] into their tokens. "*" in
// the list allows any.
func (is *issuer) scope(claimed, allowed []string) []string {
	switch {
	case allowed == nil && is.primary, slices.Contains(allowed, "*"):
		return claimed
	case len(allowed) == 0:
		return []string{}
	}
	out := make([]string, 0, len(claimed))
	for _, v := range claimed {
		if slices.Contains(allowed, v) {
			out = append(out, v)
		}
	}
	return out
}
