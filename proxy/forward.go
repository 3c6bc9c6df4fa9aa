package proxy

import (
	"context"
	"errors"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/identity"
	"github.com/crmgw/crmgw/internal/bodyshape"
	"github.com/crmgw/crmgw/internal/queryparams"
	"github.com/crmgw/crmgw/masking"
)

// callerCredentialHeaders are every header a CRM accepts a credential in.
// The caller's credential is for crmgw only and never reaches the CRM.
var callerCredentialHeaders = []string{
	"Authorization", "Proxy-Authorization", "X-Sfdc-Session", "Cookie",
	"X-Http-Method-Override", "X-Method-Override", "X-Http-Method",
}

// callerCredentialParams are query parameters that carry credentials
// (Zoho's legacy authtoken=, OAuth's access_token=).
var callerCredentialParams = []string{"authtoken", "access_token", "oauth_token"}

// newReverseProxy builds the httputil.ReverseProxy of one upstream. It uses
// Rewrite, not Director: hop-by-hop headers are removed before Rewrite runs,
// so nothing can strip what Rewrite sets (golang/go#50580).
func (g *Gateway) newReverseProxy(u *upstream, transport http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			x := exchangeFrom(pr.In.Context())
			target := u.currentTarget()
			out := pr.Out
			out.URL.Scheme = target.Scheme
			out.URL.Host = target.Host
			out.Host = ""
			// Forward exactly the path that was classified.
			p := strings.TrimSuffix(target.EscapedPath(), "/") + x.result.Path
			out.URL.RawPath = p
			if dec, err := url.PathUnescape(p); err == nil {
				out.URL.Path = dec
			}
			if out.URL.RawPath == out.URL.EscapedPath() {
				out.URL.RawPath = ""
			}
			out.URL.RawQuery = stripParams(x.result.RawQuery, callerCredentialParams)
			if x.result.Method != "" {
				out.Method = x.result.Method
			}
			for _, h := range callerCredentialHeaders {
				out.Header.Del(h)
			}
			stripConnectionHeaders(out.Header) // tunnel.go
			stripCallerForwarding(out.Header)
			out.Trailer = nil // a caller's trailers could carry what its headers may not
			// Let the transport negotiate gzip and decode it, so the
			// masking stage always reads the plain body.
			out.Header.Del("Accept-Encoding")
			if u.noGzip {
				out.Header.Set("Accept-Encoding", "identity")
			}
			out.Header.Del("Te")
			// The four headers' values in one allocation (Header.Set makes
			// one each); each slice is capped, so none can grow into the next.
			vals := [...]string{x.ipText, pr.In.Host, "http", x.id}
			if pr.In.TLS != nil {
				vals[2] = "https"
			}
			fwd := vals[:]
			out.Header["X-Forwarded-For"] = fwd[0:1:1]
			out.Header["X-Forwarded-Host"] = fwd[1:2:2]
			out.Header["X-Forwarded-Proto"] = fwd[2:3:3]
			out.Header["X-Request-Id"] = fwd[3:4:4]
		},
		Transport:      transport,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.upstreamError,
		BufferPool:     bufferPool{},
		ErrorLog:       zap.NewStdLog(g.log.Named("reverseproxy")),
	}
}

func stripParams(raw string, names []string) string {
	if raw == "" {
		return raw
	}
	hit := strings.Contains(raw, "%") // an encoded name must be decoded to be seen
	lower := strings.ToLower(raw)
	for _, n := range names {
		if strings.Contains(lower, n) {
			hit = true
			break
		}
	}
	if !hit {
		return raw
	}
	return queryparams.Remove(raw, names)
}

// modifyResponse puts the masking stage on the response body. Everything
// that can fail is decided here, before the first byte goes to the caller.
func (g *Gateway) modifyResponse(resp *http.Response) error {
	x := exchangeFrom(resp.Request.Context())
	g.awaitStart(x) // begin.go: no status line before its start record
	x.upstreamStatus = resp.StatusCode
	if resp.StatusCode < 200 {
		// A 101 (the only 1xx that gets here): the CRM wants to switch
		// protocols although the gateway never asks it to (tunnel.go).
		return &upstreamResponseError{"upstream tried to switch protocols"}
	}
	h := resp.Header
	// Upstream session cookies are the CRM's, not the caller's.
	h.Del("Set-Cookie")

	shape := x.result.Response
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, err := g.maskErrorBody(resp, x) // errorbody: maskplan.go
		return err
	}
	switch shape.Format {
	case bodyshape.JSON, bodyshape.CSV, bodyshape.ZipCSV, bodyshape.XML:
	default:
		return nil
	}
	if resp.StatusCode == http.StatusNoContent || resp.Request.Method == http.MethodHead {
		return nil
	}
	if !contentTypeMatches(h.Get("Content-Type"), shape.Format) {
		return &upstreamResponseError{"upstream answered " + mediaType(h.Get("Content-Type")) + " where " + string(shape.Format) + " was expected"}
	}
	body, err := masking.DecodeBody(h.Get("Content-Encoding"), resp.Body)
	if err != nil {
		return &upstreamResponseError{"upstream response encoding cannot be inspected"}
	}
	rules, err := g.ruleCache.rules(x.decision.Mask)
	if err != nil {
		return &upstreamResponseError{"policy returned an invalid mask: " + err.Error()}
	}
	if !x.enforced {
		rules = nil
	}
	m := &x.mr // held by value in the exchange: no allocation per body
	m.Init(body, masking.Options{
		Format:     shape.Format,
		Vendor:     shape.Vendor,
		Kind:       shape.Kind,
		Object:     shape.Object,
		Rules:      rules,
		Plan:       maskPlan(&x.result.Action, x.result.Subrequests, &shape),
		MaxRecords: x.maxRecords,
		HMACKey:    g.hmacKey,
		Detectors:  g.detectors,
		Capture:    captures(x), // cursorcap.go
		Records:    shape.Records,
		Rows:       shape.Rows,
		Columns:    shape.Columns,
		SpoolDir:   g.spoolDir,
		SpoolLimit: g.spoolLimit,
	})
	x.masker = m
	g.traceMask(resp.Request.Context(), x)
	resp.Body = m
	resp.ContentLength = -1
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Del("Content-Md5")
	h.Del("Etag")
	if x.maxRecords != 0 && shape.Format == bodyshape.CSV {
		// A capped bulk result is the last page the caller gets (a
		// negative cap: the export's total is used up, no record leaves).
		if n, err := strconv.Atoi(h.Get("Sforce-Numberofrecords")); x.maxRecords < 0 || err == nil && n > x.maxRecords {
			h.Set("Sforce-NumberOfRecords", strconv.Itoa(max(x.maxRecords, 0)))
			h.Set("Sforce-Locator", "null")
		}
	}
	return nil
}

type upstreamResponseError struct{ msg string }

func (e *upstreamResponseError) Error() string { return e.msg }

func mediaType(ct string) string {
	if m := mediaTypes.Load(); m != nil {
		if mt, ok := (*m)[ct]; ok {
			return mt
		}
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt == "" {
		mt = "an unknown content type"
	}
	rememberMediaType(ct, mt)
	return mt
}

// mediaTypes remembers mediaType's answers (a pure function of the header)
// for the few Content-Type values a CRM sends: mime.ParseMediaType makes a
// parameter map and a lower-case copy for every response. Copied on
// write, bounded, and never changed once published.
var mediaTypes atomic.Pointer[map[string]string]

const maxMediaTypes = 64

func rememberMediaType(ct, mt string) {
	for {
		old := mediaTypes.Load()
		var m map[string]string
		if old == nil {
			m = make(map[string]string, 1)
		} else {
			if len(*old) >= maxMediaTypes {
				return // the CRM sends more kinds than expected: parse them each time
			}
			m = make(map[string]string, len(*old)+1)
			maps.Copy(m, *old)
		}
		m[strings.Clone(ct)] = mt
		if mediaTypes.CompareAndSwap(old, &m) {
			return
		}
	}
}

func contentTypeMatches(ct string, format bodyshape.Format) bool {
	mt := mediaType(ct)
	switch format {
	case bodyshape.JSON:
		return mt == "application/json" || strings.HasSuffix(mt, "+json")
	case bodyshape.CSV:
		return mt == "text/csv" || mt == "application/csv"
	case bodyshape.ZipCSV:
		return mt == "application/zip" || mt == "application/x-zip-compressed" || mt == "application/octet-stream"
	case bodyshape.XML:
		return mt == "application/xml" || mt == "text/xml"
	}
	return false
}

// upstreamError answers transport failures in the CRM's shape without
// echoing upstream internals.
func (g *Gateway) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	x := exchangeFrom(r.Context())
	g.awaitStart(x) // begin.go: no status line before its start record
	x.outcome = outcomeFailed
	x.err = err
	var ure *upstreamResponseError
	var ce *credentialError
	var ne net.Error
	switch {
	case errors.As(err, &ure):
		x.errCode, x.reason = codeUpstreamBad, ure.msg
		writeErrorFor(w, x.up, http.StatusBadGateway, codeUpstreamBad, ure.msg, x.id)
	case errors.As(err, &ce):
		x.errCode, x.reason = codeUpstreamDown, "the gateway could not obtain its CRM credential"
		writeErrorFor(w, x.up, http.StatusBadGateway, codeUpstreamDown, x.reason, x.id)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		x.errCode, x.reason = codeUpstreamTimeout, "the CRM did not answer in time"
		writeErrorFor(w, x.up, http.StatusGatewayTimeout, codeUpstreamTimeout, x.reason, x.id)
	case errors.Is(err, context.Canceled):
		x.errCode, x.reason = "", "client went away"
		w.WriteHeader(499)
	default:
		x.errCode, x.reason = codeUpstreamDown, "the CRM could not be reached"
		writeErrorFor(w, x.up, http.StatusBadGateway, codeUpstreamDown, x.reason, x.id)
	}
}

// credentialError wraps a failure to obtain the upstream token.
type credentialError struct{ err error }

func (e *credentialError) Error() string { return "upstream credential: " + e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

// credTransport injects the gateway's CRM credential and, when the CRM says
// the session is invalid (401), refreshes it once and retries idempotent
// requests once. The credential is injected here rather than in Rewrite so
// the retry carries the fresh token.
type credTransport struct {
	creds identity.Credentials
	base  http.RoundTripper
}

func (t *credTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The last step before the wire: no connection header and no 1xx
	// relay, whatever ran before (tunnel.go).
	stripConnectionHeaders(req.Header)
	req = req.WithContext(untraced{req.Context()})
	callerAuth := ""
	if x := exchangeFrom(req.Context()); x != nil {
		callerAuth = x.callerAuth
	}
	// The first attempt sets the credential on the request in place: its
	// senders make a request for this round trip alone (ReverseProxy's
	// copy of the caller's, httputil.ProxyRequest.Out, with a cloned
	// header; crm.LookupJob's and crm.DescribeObject's own), and nothing
	// else reads it meanwhile. A retry gets a copy of its own, since the transport may
	// still be reading the first attempt.
	if err := t.creds.Apply(req.Context(), req, callerAuth); err != nil {
		return nil, &credentialError{err}
	}
	setBulk1Session(req)
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return withoutTrailers(resp), err
	}
	t.creds.Invalidate(tokenOf(req.Header.Get("Authorization")))
	if !idempotent(req.Method) || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	r2 := withHeaderCopy(req)
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		b, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r2.Body = b
	}
	if err := t.creds.Apply(req.Context(), r2, callerAuth); err != nil {
		return nil, &credentialError{err}
	}
	setBulk1Session(r2)
	resp, err = t.base.RoundTrip(r2)
	return withoutTrailers(resp), err
}

// withoutTrailers returns a copy of resp that has no trailers, so none of
// the CRM's reaches the caller (they arrive after the masked body). A
// copy, because the transport fills the trailers into the Response it
// made when the body ends, whatever the field held before.
func withoutTrailers(resp *http.Response) *http.Response {
	if resp == nil {
		return nil
	}
	c := *resp
	c.Trailer = nil
	return &c
}

// setBulk1Session gives Salesforce's Bulk API 1.0 (/services/async/) the
// gateway's token in X-SFDC-Session, the header that API reads it from.
func setBulk1Session(req *http.Request) {
	if !strings.Contains(req.URL.Path, "/services/async/") {
		return
	}
	if tok := tokenOf(req.Header.Get("Authorization")); tok != "" {
		req.Header["X-Sfdc-Session"] = []string{tok}
	}
}

func withHeaderCopy(req *http.Request) *http.Request {
	r := *req
	r.Header = req.Header.Clone()
	return &r
}

func tokenOf(authz string) string {
	if _, tok, ok := strings.Cut(authz, " "); ok {
		return tok
	}
	return authz
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// bufferPool shares the copy buffers of every upstream's ReverseProxy.
// Each Read is one write to the client and one chunk of its response, two
// write system calls whatever its size (net/http's 4 KiB connection buffer
// takes the chunk header and the first bytes): 128 KiB, twice the masking
// stage's output chunk (masking.Reader fills the buffer while it has input
// in hand), sends a 100 KB query answer (200 records) in one chunk
// instead of two, at the cost of 64 KiB more per response in flight.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

func (bufferPool) Get() []byte  { return *(copyBuffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }

var _ httputil.BufferPool = bufferPool{}
