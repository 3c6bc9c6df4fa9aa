// Package proxy is crmgw's request path: it routes a request to its CRM
// upstream, identifies the caller, classifies the CRM action, applies rate
// limits and the policy decision, swaps the caller's credential for the
// gateway's own, and streams the response back through the masking stage,
// writing one audit event per request when the response has finished.
//
// The stages (identity, crm, policy, masking, ratelimit, audit) are
// libraries; this package composes them and owns nothing but the wiring,
// the listeners and the HTTP details.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/approval"
	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/identity"
	"github.com/crmgw/crmgw/internal/bodyshape"
	"github.com/crmgw/crmgw/masking"
	"github.com/crmgw/crmgw/policy"
	"github.com/crmgw/crmgw/ratelimit"
)

// Gateway is the proxy handler. Build it with New (or NewServer, which also
// builds the stages from configuration).
type Gateway struct {
	log       *zap.Logger
	auth      Authenticator
	decider   Decider
	limiter   Limiter // may be nil: no limits
	auditor   Auditor // may be nil: no audit (tests only)
	upstreams []*upstream
	metrics   *metrics

	maxBody    int64
	hmacKey    []byte
	detectors  []string
	spoolDir   string
	spoolLimit int64

	// hashQueries: audit events record a query's keyed hash, not its text.
	hashQueries bool
	// subjectsFailOpen: ratelimit.on_store_error is allow, so an outage of
	// the store of freezes and watch flags does not stop traffic (freeze.go).
	subjectsFailOpen bool

	ruleCache ruleCache   // compiled decision masks (rules.go)
	reloads   reloadState // policy reload outcomes (readiness.go)
	tracing   *tracing    // nil: tracing off (tracing.go)

	authLogOnce sync.Once // authLog: sampled logger of failed authentications (authfail.go)
	authLog     *zap.Logger

	admin          atomic.Pointer[adminAuth] // the admin token (admin_auth.go); a reload swaps it
	protectMetrics bool
	allowedCIDRs   allowList         // identity.allowed_cidrs, to tell which allow-list refused (authfail.go)
	approvals      *approval.Manager // nil: no approvals, freezes or watch list (approval.go)
	approvalBase   atomic.Value      // string: approvals.url_base
	page           *approvalPage     // nil without approvals.oidc (approvals_page.go)

	// holdNs, when set, is the hold of masked bodies in nanoseconds
	// instead of holdFor (recorder.go): tests set it to take the timer
	// out of what they assert.
	holdNs atomic.Int64
}

var _ http.Handler = (*Gateway)(nil)

// Outcomes of a request, as audit and metrics name them.
const (
	outcomeAllowed         = "allowed"
	outcomeDenied          = "denied"
	outcomeRateLimited     = "rate_limited"
	outcomeUnauthenticated = "unauthenticated"
	outcomeRejected        = "rejected"
	outcomeFailed          = "failed"
)

// exchange is the state of one request as it moves through the stages.
type exchange struct {
	id      string
	start   time.Time
	up      *upstream
	subject *identity.Subject
	ip      netip.Addr
	// subjKey and ipText: subjectKey(subject) and ip.String(), made once
	// per request for every stage that needs them.
	subjKey, ipText string
	result          crm.Result

	decision   policy.Decision
	decided    bool
	enforced   bool
	maxRecords int

	callerAuth string
	body       []byte
	// header is the request's header, for an answer that depends on what
	// the request asked for (a Bulk 1.0 refusal's shape: errors_bulk1.go).
	header http.Header
	trace  traceState // tracing.go

	rlReq ratelimit.Request
	usage ratelimit.Usage

	reservation *ratelimit.Reservation // quota.go: &reserved when records were reserved
	started     audit.Started          // begin.go: a start record not waited for yet
	reserved    ratelimit.Reservation

	masker         *masking.Reader // &mr once the body is being rewritten
	mr             masking.Reader
	upstreamStatus int

	// Approvals, freeze and watch list (approval.go, freeze.go).
	watch    []string
	frozen   bool
	grant    *approval.Request // the grant the request goes through under
	approval *audit.Approval   // the approval asked for

	outcome string
	errCode string
	reason  string
	err     error // internal detail, logged, never shown
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

// ServeHTTP runs one request through the stages.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{id: requestID(r), start: time.Now(), header: r.Header}
	w.Header().Set("X-Request-Id", x.id)
	r = g.startTrace(r, x)
	defer g.trackInFlight()() // runs after complete, below
	rw := &responseRecorder{ResponseWriter: w, x: x, holdFor: holdFor}
	if ns := g.holdNs.Load(); ns > 0 {
		rw.holdFor = time.Duration(ns)
	}
	defer func() {
		// A failure after the first byte can only abort the connection
		// (ReverseProxy panics with http.ErrAbortHandler); the event is
		// still written, then the panic goes on to net/http.
		p := recover()
		if p != nil && (x.outcome == "" || x.outcome == outcomeAllowed) {
			x.outcome = outcomeFailed
			if x.err == nil {
				x.err = errAborted
			}
		}
		answered := rw.endHold(p == nil && x.masker != nil && x.masker.Complete())
		g.complete(rw, r, x)
		if p != nil && !(answered && p == http.ErrAbortHandler) {
			panic(p)
		}
	}()

	up := g.route(r)
	x.ip = g.auth.ClientIP(r)
	x.ipText = x.ip.String()
	crmType := ""
	if up != nil {
		crmType = up.typ
	}
	// Before authentication: limits by address (preauth.go), no tunnels
	// (tunnel.go).
	if !g.preAuthorize(rw, r, x, crmType) {
		return
	}
	if up == nil {
		g.reject(rw, x, "", http.StatusNotFound, outcomeRejected, codeNoRoute, "no CRM upstream is configured for this host and path")
		return
	}
	x.up = up
	if g.refuseTunnel(rw, r, x, up.typ) {
		return
	}

	// Who is calling?
	subj, err := g.auth.Authenticate(r)
	if err != nil {
		g.authFailure(rw, r, x, up.typ, err)
		return
	}
	x.subject = subj
	x.subjKey = subjectKey(subj)
	x.callerAuth = r.Header.Get("Authorization")
	if !g.checkSubject(rw, r, x) {
		return
	}

	// What does the request do? The body is read (bounded) because SOQL,
	// composite sub-requests and bulk jobs hide in it.
	if !g.readBody(rw, r, x) {
		return
	}
	path := r.URL.EscapedPath()
	if up.prefix != "" {
		path = strings.TrimPrefix(path, up.prefix)
		if path == "" {
			path = "/"
		}
	}
	cctx, endClassify := g.stageSpan(r.Context(), "classify")
	res, err := up.classifier.Classify(cctx, crm.Request{
		Method:   r.Method,
		Path:     path,
		RawQuery: r.URL.RawQuery,
		Header:   r.Header,
		Body:     x.body,
		Subject:  x.subjKey,
	})
	endClassify()
	if err != nil {
		x.err = err
		reason := "request cannot be classified safely"
		if errors.Is(err, crm.ErrRejected) {
			reason = strings.TrimPrefix(err.Error(), crm.ErrRejected.Error()+": ")
		}
		g.reject(rw, x, up.typ, http.StatusBadRequest, outcomeRejected, codeBadRequest, reason)
		return
	}
	x.result = res
	if res.NotFound {
		g.notFound(rw, x, up.typ)
		return
	}
	if res.Body != nil {
		x.body = res.Body // the profile removed the caller's credential members
	}

	// Rate limits and quotas, before anything reaches the CRM.
	if g.limiter != nil {
		x.rlReq = ratelimit.Request{
			Subject:   x.subjKey,
			Client:    subj.ClientID,
			IP:        x.ipText,
			Upstream:  up.name,
			Operation: string(res.Action.Operation),
			Category:  string(res.Action.Category),
		}
		lr, err := g.limiter.Allow(r.Context(), x.rlReq)
		if err != nil && lr.StoreError == nil {
			lr.StoreError = err
		}
		x.usage = lr.Usage
		lr.Headers.Apply(rw.Header())
		if !lr.Allowed {
			x.err = lr.StoreError
			reason := "rate limit " + lr.Limit + " exceeded"
			if lr.StoreError != nil && lr.Limit == "" {
				reason = "rate limit store unavailable"
			}
			g.reject(rw, x, up.typ, http.StatusTooManyRequests, outcomeRateLimited, codeRateLimited, reason)
			return
		}
		switch {
		case lr.RemainingRecords == 0:
			g.reject(rw, x, up.typ, http.StatusTooManyRequests, outcomeRateLimited, codeRateLimited, "record quota exhausted")
			return
		case lr.RemainingRecords > 0:
			x.maxRecords = int(lr.RemainingRecords) // the policy's cap may lower it
		}
	}

	// The policy decides each action (and each sub-request) on its own.
	if !g.decide(rw, r, x) {
		return
	}

	if res.Response.Format == bodyshape.Unsupported {
		g.reject(rw, x, up.typ, http.StatusNotAcceptable, outcomeRejected, codeNotAcceptable,
			"the requested response format cannot be inspected by the gateway; ask for JSON or CSV")
		return
	}
	if isExport(res.Action.Category) && g.auditor != nil && !g.auditor.AcceptingExports() {
		g.reject(rw, x, up.typ, http.StatusServiceUnavailable, outcomeRejected, codeUnavailable,
			"exports are paused until the audit trail can be written")
		return
	}

	if !g.reserveRecords(rw, r, x) {
		return
	}
	if !g.begin(rw, r, x) {
		return
	}
	x.outcome = outcomeAllowed
	g.forward(rw, r, x)
}

// readBody reads the request body (bounded) and decodes a compressed one,
// so the classifier sees what the CRM will see. It returns false when it
// answered the request.
func (g *Gateway) readBody(rw http.ResponseWriter, r *http.Request, x *exchange) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.maxBody+1))
	if err != nil {
		x.err = err
		g.reject(rw, x, x.up.typ, http.StatusBadRequest, outcomeRejected, codeBadRequest, "request body could not be read")
		return false
	}
	if int64(len(body)) > g.maxBody {
		g.reject(rw, x, x.up.typ, http.StatusRequestEntityTooLarge, outcomeRejected, codeTooLarge, "request body is larger than server.max_request_body")
		return false
	}
	if ce := strings.TrimSpace(strings.ToLower(r.Header.Get("Content-Encoding"))); ce != "" && ce != "identity" {
		// SOQL can arrive inside gzip: decode it, classify the plain body
		// and forward the plain body (without Content-Encoding). The same
		// decoder as for responses: gzip, and deflate with or without its
		// zlib wrapper; anything else is refused.
		zr, err := masking.DecodeBody(ce, io.NopCloser(bytes.NewReader(body)))
		if errors.Is(err, masking.ErrUnsupportedEncoding) {
			g.reject(rw, x, x.up.typ, http.StatusUnsupportedMediaType, outcomeRejected, codeUnsupportedEnc, "request Content-Encoding "+ce+" is not supported")
			return false
		}
		if err != nil {
			g.reject(rw, x, x.up.typ, http.StatusBadRequest, outcomeRejected, codeBadRequest, "request body is not valid "+ce)
			return false
		}
		plain, err := io.ReadAll(io.LimitReader(zr, g.maxBody+1))
		if err != nil {
			g.reject(rw, x, x.up.typ, http.StatusBadRequest, outcomeRejected, codeBadRequest, "compressed request body could not be decoded")
			return false
		}
		if int64(len(plain)) > g.maxBody {
			g.reject(rw, x, x.up.typ, http.StatusRequestEntityTooLarge, outcomeRejected, codeTooLarge, "decoded request body is larger than server.max_request_body")
			return false
		}
		body = plain
		r.Header.Del("Content-Encoding")
	}
	x.body = body
	return true
}

// forward sends the classified request upstream and streams the answer.
func (g *Gateway) forward(rw http.ResponseWriter, r *http.Request, x *exchange) {
	ctx := context.WithValue(r.Context(), exchangeKey{}, x)
	out := r.WithContext(ctx)
	if len(x.body) > 0 {
		out.Body = io.NopCloser(bytes.NewReader(x.body))
		out.ContentLength = int64(len(x.body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(x.body)), nil }
	} else {
		out.Body = http.NoBody
		out.ContentLength = 0
	}
	x.up.proxy.ServeHTTP(rw, out)
}

// reject answers the request without forwarding it.
func (g *Gateway) reject(rw http.ResponseWriter, x *exchange, crmType string, status int, outcome, code, reason string) {
	x.outcome = outcome
	x.errCode = code
	x.reason = reason
	if status == http.StatusTooManyRequests && rw.Header().Get("Retry-After") == "" {
		rw.Header().Set("Retry-After", "1")
	}
	if x.up != nil && x.up.profile != nil {
		writeProfileError(rw, x.up.profile, status, code, reason, x.id) // profile.go
		return
	}
	if isBulk1(x, crmType) {
		writeBulk1Error(rw, bulk1JSON(x.body, x.header), status, code, reason, x.id) // errors_bulk1.go
		return
	}
	writeError(rw, crmType, status, code, reason, x.id)
}

// route picks the upstream: the longest matching path prefix among those
// whose host matches (or have no host), else the default upstream.
func (g *Gateway) route(r *http.Request) *upstream {
	host := r.Host
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	path := r.URL.EscapedPath()
	var best *upstream
	for _, u := range g.upstreams {
		if u.host != "" && !strings.EqualFold(u.host, host) {
			continue
		}
		if u.prefix != "" && path != u.prefix && !strings.HasPrefix(path, u.prefix+"/") {
			continue
		}
		if best == nil || u.specificity() > best.specificity() {
			best = u
		}
	}
	return best
}

func subjectKey(s *identity.Subject) string {
	if s.Issuer == "" {
		return s.ID
	}
	return s.Issuer + "|" + s.ID
}

func isExport(c crm.Category) bool { return c == crm.CatExport || c == crm.CatBulk }

var errAborted = errors.New("response aborted after headers were sent")

// upstream is one configured CRM.
type upstream struct {
	name, typ  string
	target     *url.URL
	prefix     string
	host       string
	creds      identity.Credentials
	useInst    bool
	noGzip     bool // ask the CRM for identity encoding
	classifier *crm.Classifier
	proxy      *httputil.ReverseProxy
	profile    *profileUpstream // generic upstreams: the CRM profile (profile.go)

	instMu   sync.Mutex
	instURL  string
	instTarg *url.URL
}

func (u *upstream) specificity() int {
	s := len(u.prefix)
	if u.host != "" {
		s += 1 << 16
	}
	return s
}

// currentTarget is the configured URL, or the instance URL the CRM's token
// endpoint returned when use_instance_url is set.
func (u *upstream) currentTarget() *url.URL {
	if !u.useInst {
		return u.target
	}
	inst := u.creds.InstanceURL()
	if inst == "" {
		return u.target
	}
	u.instMu.Lock()
	defer u.instMu.Unlock()
	if inst != u.instURL {
		p, err := url.Parse(inst)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return u.target
		}
		u.instURL, u.instTarg = inst, p
	}
	return u.instTarg
}
