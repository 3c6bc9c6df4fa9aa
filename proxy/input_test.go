package proxy

import (
	"net/http"
	"strings"
	"testing"
)

func TestInputHeaderNamesAreLowerCase(t *testing.T) {
	for _, h := range inputHeaders {
		if h[1] != strings.ToLower(h[0]) || http.CanonicalHeaderKey(h[0]) != h[0] {
			t.Errorf("input header %q as %q", h[0], h[1])
		}
	}
}
