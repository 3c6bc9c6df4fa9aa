package identity

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// An instance_url (Salesforce) or api_domain (Zoho) in a token response
// decides where crmgw sends its CRM token and the callers' traffic; whoever
// controls the token endpoint's answer (or a proxy in front of it) could
// point it at a collector. So with use_instance_url it is used only when it
// is https, has no path, query or user info, and its host matches one of
// allowed_instance_hosts (docs/identity.md, "Instance hosts"). Plain http
// is accepted only for a loopback address (tests and the demo), and only
// when a pattern naming it is configured: the defaults name none.

// DefaultInstanceHosts are the allowed_instance_hosts of an upstream type
// when none are configured: the CRM vendor's API domains. A generic
// upstream has none: every instance URL is refused until some are listed.
func DefaultInstanceHosts(upstreamType string) []string {
	switch upstreamType {
	case "salesforce":
		return []string{"*.my.salesforce.com", "*.salesforce.com", "*.force.com"}
	case "zoho":
		return []string{"*.zohoapis.com", "*.zohoapis.eu", "*.zohoapis.in", "*.zohoapis.com.au",
			"*.zohoapis.com.cn", "*.zohoapis.jp", "*.zohoapis.ca", "*.zohoapis.sa"}
	}
	return nil
}

// hostPattern is one allowed_instance_hosts entry.
type hostPattern struct {
	suffix bool   // "*.example.com": any name ending in ".example.com"
	host   string // lower case, without "*." or brackets
	port   string // "" (the scheme's default port), "*" or digits
}

func parseHostPattern(p string) (hostPattern, error) {
	var hp hostPattern
	if p == "" {
		return hp, errors.New("empty host pattern")
	}
	host := p
	if strings.HasPrefix(p, "[") {
		end := strings.IndexByte(p, ']')
		if end < 0 {
			return hp, fmt.Errorf("host pattern %q: missing ]", p)
		}
		host = p[1:end]
		rest := p[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return hp, fmt.Errorf("host pattern %q: junk after ]", p)
			}
			hp.port = rest[1:]
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return hp, fmt.Errorf("host pattern %q: not an IPv6 address in brackets", p)
		}
	} else if i := strings.LastIndexByte(p, ':'); i >= 0 {
		host, hp.port = p[:i], p[i+1:]
	}
	if hp.port != "" && hp.port != "*" {
		n, err := strconv.Atoi(hp.port)
		if err != nil || n < 1 || n > 65535 {
			return hp, fmt.Errorf("host pattern %q: port must be 1-65535 or *", p)
		}
	}
	host = strings.ToLower(host)
	if strings.HasPrefix(host, "*.") {
		hp.suffix = true
		host = host[2:]
		if !strings.Contains(host, ".") {
			return hp, fmt.Errorf("host pattern %q: a wildcard needs at least two labels after it (e.g. *.example.com)", p)
		}
	}
	if _, err := netip.ParseAddr(host); err == nil {
		if hp.suffix {
			return hp, fmt.Errorf("host pattern %q: no wildcard on an address", p)
		}
	} else if !validHostname(host) {
		return hp, fmt.Errorf("host pattern %q: %q is not a host name (patterns are host, *.domain, optionally :port or :*)", p, host)
	}
	hp.host = host
	return hp, nil
}

func validateHostPattern(p string) error {
	_, err := parseHostPattern(p)
	return err
}

func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// instanceHostPatterns parses configured patterns (validated before), or the
// upstream type's defaults. The result is non-nil: an empty list refuses all.
func instanceHostPatterns(configured []string, upstreamType string) []hostPattern {
	src := configured
	if len(src) == 0 {
		src = DefaultInstanceHosts(upstreamType)
	}
	out := make([]hostPattern, 0, len(src))
	for _, p := range src {
		if hp, err := parseHostPattern(p); err == nil {
			out = append(out, hp)
		}
	}
	return out
}

func (hp hostPattern) matches(hostname, port, defaultPort string) bool {
	if hp.suffix {
		if len(hostname) <= len(hp.host)+1 || !strings.HasSuffix(hostname, "."+hp.host) {
			return false
		}
	} else if hostname != hp.host {
		return false
	}
	switch hp.port {
	case "*":
		return true
	case "":
		return port == "" || port == defaultPort
	}
	return port == hp.port
}

// checkInstanceURL returns the instance URL to use, or why it is refused.
func checkInstanceURL(raw string, patterns []hostPattern) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("instance URL is not a URL")
	}
	switch {
	case u.Opaque != "" || u.Host == "":
		return nil, errors.New("instance URL is not absolute")
	case u.User != nil:
		return nil, errors.New("instance URL carries user info")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, errors.New("instance URL has a query or fragment")
	case u.Path != "" && u.Path != "/":
		return nil, errors.New("instance URL has a path")
	case strings.ContainsAny(u.Host, "%\\") || strings.HasSuffix(u.Hostname(), "."):
		return nil, errors.New("instance URL host is not in canonical form")
	}
	for _, c := range []byte(u.Host) {
		if c >= 0x80 {
			// Compared as written, not as the transport would encode it.
			return nil, errors.New("instance URL host is not ASCII")
		}
	}
	hostname, port := strings.ToLower(u.Hostname()), u.Port()
	var defaultPort string
	switch u.Scheme {
	case "https":
		defaultPort = "443"
	case "http":
		// Only for loopback (tests, the demo), and only when a configured
		// pattern names it.
		if a, err := netip.ParseAddr(hostname); err != nil || !a.IsLoopback() {
			return nil, fmt.Errorf("instance URL is plain http to %s (https is required)", shortHost(u.Host))
		}
		defaultPort = "80"
	default:
		return nil, fmt.Errorf("instance URL scheme %q is not https", u.Scheme)
	}
	for _, hp := range patterns {
		if hp.matches(hostname, port, defaultPort) {
			return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
		}
	}
	return nil, fmt.Errorf("instance URL host %s matches no allowed_instance_hosts pattern", shortHost(u.Host))
}

// shortHost bounds a host from a token answer before it goes into an error.
func shortHost(h string) string {
	if len(h) > 100 {
		return h[:100] + "…"
	}
	return h
}

// checkInstance sets t.instance from t.instanceURL, or refuses the token:
// a token whose instance is refused is not used at all, and nothing is sent
// to that instance. An answer without an instance URL keeps the upstream's
// configured url.
func (c *oauthCredentials) checkInstance(t *upstreamToken) error {
	if t.instanceURL == "" {
		return nil
	}
	u, err := checkInstanceURL(t.instanceURL, c.instanceHosts)
	if err != nil {
		shown := t.instanceURL
		if len(shown) > 200 {
			shown = shown[:200] + "…"
		}
		c.logger.Warn("token response names an instance that is not allowed; the token is not used",
			zap.String("instance_url", shown), zap.String("reason", err.Error()))
		return c.tokenError(0, "", err.Error())
	}
	t.instance = u
	return nil
}
