package config

import (
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
)

// Warnings are settings that work but leave the gateway open to an
// attacker inside the network (docs/hardening.md): `crmgw validate` prints
// them with file:line and still exits 0; `crmgw serve` logs them.
func (c *Config) Warnings() []*Problem { return c.warnings }

// Widest trusted_proxies entries that do not warn: a /16 of IPv4 already
// holds 65,536 addresses, each of which could claim any X-Forwarded-For.
const (
	widestTrustedV4 = 16
	widestTrustedV6 = 48
)

func (c *Config) collectWarnings(file string, lines map[string]int) []*Problem {
	var out []*Problem
	warn := func(key, msg string) {
		out = append(out, &Problem{File: file, Line: lineOf(lines, key), Key: key, Msg: msg})
	}
	for i, s := range c.Identity.TrustedProxies {
		p, ok := parseTrusted(s)
		if !ok {
			continue // validation reports it
		}
		bits, widest, fam := p.Bits(), widestTrustedV6, "IPv6"
		if p.Addr().Is4() {
			widest, fam = widestTrustedV4, "IPv4"
		}
		if bits < widest {
			warn("identity.trusted_proxies["+strconv.Itoa(i)+"]",
				s+" is wider than a /"+strconv.Itoa(widest)+" ("+fam+"): every address in it may claim any client address in X-Forwarded-For "+
					"(limits by address, allowed_cidrs, src_endpoint.ip); list the load balancer or ingress addresses only")
		}
	}
	a := c.Admin
	if host, _, err := net.SplitHostPort(a.Listen); err == nil && !isLoopbackHost(host) && a.Token == "" && a.TokenFile == "" {
		warn("admin.listen", a.Listen+" is reachable from other hosts and admin.token is not set: "+
			"the admin API answers loopback callers only; set admin.token (or admin.token_file) to reach it from elsewhere")
	}
	r := c.Ratelimit.Redis
	if c.Ratelimit.Store == "redis" && r.URL != "" {
		if u, err := url.Parse(r.URL); err == nil && u.Host != "" {
			_, hasPass := u.User.Password()
			if !isLoopbackHost(u.Hostname()) && !hasPass && r.Password == "" {
				warn("ratelimit.redis.url", "Redis on another host without a password: anyone who reaches it can reset limits and quotas; set ratelimit.redis.password")
			}
			if !isLoopbackHost(u.Hostname()) && u.Scheme != "rediss" && !r.TLS.Enabled {
				warn("ratelimit.redis.url", "Redis on another host without TLS: use rediss:// or ratelimit.redis.tls")
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// parseTrusted reads a trusted_proxies entry: a CIDR or a single address,
// IPv4-mapped IPv6 taken as IPv4.
func parseTrusted(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			bits = 0
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return p, true
}

// isLoopbackHost reports whether a listen or URL host is this machine
// only: localhost or a loopback address. An empty host is every interface.
func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}
