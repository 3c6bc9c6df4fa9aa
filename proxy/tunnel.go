package proxy

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"strings"
)

// The gateway speaks request/response HTTP to the CRM and nothing else
// (docs/hardening.md, "No tunnels"): a protocol switch would hand the
// caller a raw connection to the CRM, authenticated with the gateway's
// credential, past masking, policy and audit.

// tunnelRequest says why r asks for a tunnel or a protocol switch, or ""
// when it does not. Such requests are refused before anything is
// forwarded: CONNECT (also HTTP/2's extended CONNECT for WebSocket), an
// Upgrade header (WebSocket, h2c, anything), a Connection header naming
// upgrade, and h2c's HTTP2-Settings.
func tunnelRequest(r *http.Request) string {
	h := r.Header
	switch {
	case r.Method == http.MethodConnect:
		return "CONNECT is not supported by the gateway"
	case len(h["Upgrade"]) > 0, len(h["Http2-Settings"]) > 0,
		hasToken(h["Connection"], "upgrade"),
		hasToken(h["Connection"], "http2-settings"):
		return "protocol upgrades (WebSocket, h2c) are not supported by the gateway"
	case len(h[":protocol"]) > 0:
		return "protocol upgrades (WebSocket, h2c) are not supported by the gateway"
	}
	return ""
}

// refuseTunnel answers a tunnel or upgrade request; false when r is none.
func (g *Gateway) refuseTunnel(rw http.ResponseWriter, r *http.Request, x *exchange, crmType string) bool {
	why := tunnelRequest(r)
	if why == "" {
		return false
	}
	// The connection is not reused: its peer asked for another protocol
	// and may already be sending it.
	rw.Header().Set("Connection", "close")
	g.reject(rw, x, crmType, http.StatusBadRequest, outcomeRejected, codeBadRequest, why)
	return true
}

// connectionHeaders are the headers that concern the connection between
// the caller and the gateway, never the CRM: hop-by-hop headers
// (RFC 9110 §7.6.1), the upgrade machinery, and Expect, which the gateway
// answers itself (net/http sends 100 Continue when the body is read).
var connectionHeaders = []string{
	"Connection", "Upgrade", "Http2-Settings", "Te", "Trailer", "Keep-Alive",
	"Transfer-Encoding", "Proxy-Connection", "Expect",
}

// callerForwardingHeaders are headers in which a caller (or a proxy in
// front of the gateway) names a client address, host, scheme, port or
// original URL. The CRM gets the gateway's own X-Forwarded-For, -Host and
// -Proto (set in Rewrite), never what the caller wrote: a CRM that logs
// or trusts them would otherwise see a forged source. Any other
// X-Forwarded-* is dropped as well.
var callerForwardingHeaders = []string{
	"Forwarded", "X-Real-Ip", "X-Client-Ip", "True-Client-Ip", "Client-Ip",
	"X-Cluster-Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip",
	"X-Original-Forwarded-For", "X-Forwarded", "X-Original-Host", "X-Host",
	"X-Original-Url", "X-Rewrite-Url", "X-Proxyuser-Ip",
}

// stripConnectionHeaders removes what only concerns the caller's
// connection: the headers above and every Proxy-* header.
func stripConnectionHeaders(h http.Header) {
	for _, k := range connectionHeaders {
		delete(h, k)
	}
	for k := range h {
		if strings.HasPrefix(k, "Proxy-") {
			delete(h, k)
		}
	}
}

// stripCallerForwarding removes every header in which the caller names its
// own address, host or URL (callerForwardingHeaders, every X-Forwarded-*);
// Rewrite then sets the gateway's own.
func stripCallerForwarding(h http.Header) {
	for _, k := range callerForwardingHeaders {
		delete(h, k)
	}
	for k := range h {
		if strings.HasPrefix(k, "X-Forwarded-") {
			delete(h, k)
		}
	}
}

// untraced hides the request's httptrace.ClientTrace from the transport.
// httputil.ReverseProxy installs one to relay every 1xx answer of the CRM
// to the caller, copying its headers (Set-Cookie included) and then
// clearing the caller's response header map, X-Request-Id and the
// RateLimit headers with it. The gateway relays no 1xx from the CRM.
type untraced struct{ context.Context }

func (c untraced) Value(key any) any {
	v := c.Context.Value(key)
	if _, ok := v.(*httptrace.ClientTrace); ok {
		return nil
	}
	return v
}

// hasToken reports whether a comma-separated header (every value of it)
// holds token, in any case.
func hasToken(vals []string, token string) bool {
	for _, v := range vals {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
