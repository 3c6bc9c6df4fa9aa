// Package queryparams removes parameters from a raw query string by name,
// for the credentials a caller may put in a URL (the proxy's
// access_token/authtoken, a profile CRM's own credential parameters).
package queryparams

import (
	"net/url"
	"strings"
)

// Remove drops every parameter whose name, percent-decoded, equals one of
// names case-insensitively, and keeps the others exactly as sent.
func Remove(raw string, names []string) string {
	parts := strings.Split(raw, "&")
	kept := parts[:0]
	for _, kv := range parts {
		k, _, _ := strings.Cut(kv, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		drop := false
		for _, n := range names {
			if strings.EqualFold(k, n) {
				drop = true
			}
		}
		if !drop {
			kept = append(kept, kv)
		}
	}
	return strings.Join(kept, "&")
}
