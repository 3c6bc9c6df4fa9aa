// Package samplecrm is a sample CRM upstream for crmgw's tests, demo and load
// benchmark: an http.Handler that speaks the Salesforce REST / Bulk API 2.0
// and the Zoho CRM v2-v8 (and bulk read) shapes over deterministic generated
// data (users, accounts, contacts, leads, opportunities, cases with Chinese and
// Western names, mobile numbers, national ids with valid checksums, bank
// accounts, birthdates and revenue figures).
//
// It checks the upstream token it is sent, records every request it receives
// (so tests can see what reached the CRM), answers in the vendors' own error
// shapes, compresses responses when asked, and streams large responses record
// by record. It is a test server: it keeps everything in memory and its SOQL,
// SOSL, COQL and GraphQL support covers the common shapes only.
package samplecrm

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Server. The zero value is usable: 1000 contacts, seed
// 0, and any non-empty token accepted.
type Options struct {
	// Records is the number of contacts to generate (default 1000). Accounts
	// are Records/10, leads Records/2, opportunities and cases Records/5,
	// users 20.
	Records int
	// Seed makes the generated data deterministic: same seed, same data.
	Seed int64
	// SalesforceToken is accepted as "Authorization: Bearer <t>" or
	// "Authorization: OAuth <t>" on /services/... paths. Empty accepts any
	// non-empty token (unless ClientID is set, in which case only issued
	// tokens are accepted).
	SalesforceToken string
	// ZohoToken is accepted as "Authorization: Zoho-oauthtoken <t>" on /crm/...
	// paths. Empty accepts any non-empty token (unless RefreshToken is set).
	ZohoToken string
	// FxiaokeToken is the corpAccessToken the 纷享销客 API accepts and its
	// token endpoint hands out (default DefaultFxiaokeToken); KingdeeSession
	// the 金蝶云星空 session id (default DefaultKingdeeSession).
	FxiaokeToken, KingdeeSession string
	// JiandaoyunKey is the 简道云 API key accepted (default
	// DefaultJiandaoyunKey).
	JiandaoyunKey string
	// NeocrmToken is the 销售易 bearer token accepted (default
	// DefaultNeocrmToken).
	NeocrmToken string
	// ClientID and ClientSecret are the OAuth client the token endpoints
	// (POST /services/oauth2/token, POST /oauth/v2/token) accept.
	ClientID     string
	ClientSecret string
	// RefreshToken is the Zoho (and Salesforce) refresh token accepted by the
	// refresh_token grant.
	RefreshToken string
	// PageSize is the Salesforce query page size (default 2000); the
	// Sforce-Query-Options: batchSize=N header lowers it per request.
	PageSize int
	// ZohoPageSize is the default Zoho per_page (default 200, max 200 like Zoho).
	ZohoPageSize int
	// Delay is a pause between records of every record-streaming response
	// (test-only, to make a slow upstream). The X-Samplecrm-Slow request
	// header (a Go duration, e.g. "10ms") sets it per request.
	Delay time.Duration
	// OnRequest, if set, is called for every request received, before the
	// request is handled (tests record what reached the upstream).
	OnRequest func(r *http.Request)
	// MaxRecorded bounds how many requests Requests keeps (default 10000, the
	// most recent). Negative disables recording.
	MaxRecorded int
	// MaxRecordedBody bounds how many body bytes are kept per recorded
	// request (default 64 KiB).
	MaxRecordedBody int
}

// RecordedRequest is one request as the sample CRM received it.
type RecordedRequest struct {
	Method        string
	Path          string
	RawQuery      string
	Authorization string
	// Header holds every request header, Authorization included.
	Header http.Header
	// Body is the request body as received (possibly compressed), at most
	// Options.MaxRecordedBody bytes.
	Body []byte
	// BodyTruncated says Body was cut at the bound.
	BodyTruncated bool
}

// Server is the sample CRM. It is safe for concurrent use.
type Server struct {
	opts Options

	objects  map[string]*object // lower-case Salesforce object name -> object
	objOrder []*object
	modules  map[string]*zmodule // lower-case Zoho module name -> module
	modOrder []*zmodule

	usage atomic.Int64

	recMu    sync.Mutex
	recorded []RecordedRequest

	tokMu        sync.Mutex
	issuedSF     map[string]bool
	issuedZoho   map[string]bool
	tokenCounter int

	curMu    sync.Mutex
	cursors  map[string]*cursor
	curSeq   int64
	qcacheMu sync.Mutex
	qcache   map[string]*soql

	jobMu   sync.Mutex
	jobs    map[string]*bulkJob
	zjobs   map[string]*zohoJob
	jobSeq  int64
	zjobSeq int64

	bulk1 bulk1Jobs // bulk1.go
}

var _ http.Handler = (*Server)(nil)

// New generates the data and returns the server. Generation is deterministic
// for a given Options.Seed and Options.Records.
func New(opts Options) *Server {
	if opts.Records <= 0 {
		opts.Records = 1000
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 2000
	}
	if opts.ZohoPageSize <= 0 || opts.ZohoPageSize > 200 {
		opts.ZohoPageSize = 200
	}
	if opts.MaxRecorded == 0 {
		opts.MaxRecorded = 10000
	}
	if opts.MaxRecordedBody <= 0 {
		opts.MaxRecordedBody = 64 << 10
	}
	s := &Server{
		opts:       opts,
		issuedSF:   map[string]bool{},
		issuedZoho: map[string]bool{},
		cursors:    map[string]*cursor{},
		qcache:     map[string]*soql{},
		jobs:       map[string]*bulkJob{},
		zjobs:      map[string]*zohoJob{},
	}
	s.buildSchema()
	generate(s, opts.Records, opts.Seed)
	s.buildZoho()
	return s
}

// Requests returns a copy of the requests received so far (at most
// Options.MaxRecorded, the most recent), oldest first.
func (s *Server) Requests() []RecordedRequest {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	out := make([]RecordedRequest, len(s.recorded))
	copy(out, s.recorded)
	return out
}

// Reset forgets the recorded requests, query cursors, bulk jobs and the API
// usage counter. Data changes (creates, updates, deletes) and issued tokens
// are kept.
func (s *Server) Reset() {
	s.recMu.Lock()
	s.recorded = nil
	s.recMu.Unlock()
	s.curMu.Lock()
	s.cursors = map[string]*cursor{}
	s.curMu.Unlock()
	s.jobMu.Lock()
	s.jobs = map[string]*bulkJob{}
	s.zjobs = map[string]*zohoJob{}
	s.jobMu.Unlock()
	s.resetBulk1()
	s.usage.Store(0)
}

// ExpireTokens invalidates every access token issued by the token endpoints
// (the static SalesforceToken and ZohoToken stay valid), so tests can check
// that a client fetches a new token after 401 INVALID_SESSION_ID.
func (s *Server) ExpireTokens() {
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	s.issuedSF = map[string]bool{}
	s.issuedZoho = map[string]bool{}
}

type ctxKey int

const internalKey ctxKey = 1

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	internal := r.Context().Value(internalKey) != nil
	if !internal {
		if s.opts.OnRequest != nil {
			s.opts.OnRequest(r)
		}
		s.record(r)
		n := s.usage.Add(1)
		w.Header().Set("Sforce-Limit-Info", "api-usage="+strconv.FormatInt(n, 10)+"/15000")
		cw := newCompressWriter(w, r)
		defer cw.close()
		w = cw
		if err := decodeRequestBody(r); err != nil {
			if strings.HasPrefix(r.URL.Path, "/crm/") {
				zohoError(w, http.StatusBadRequest, "INVALID_DATA", "the request body could not be decoded", nil)
			} else {
				sfError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body could not be decoded: "+err.Error())
			}
			return
		}
	}
	p := r.URL.Path
	switch {
	case p == "/services/oauth2/token":
		s.sfTokenEndpoint(w, r)
	case p == "/oauth/v2/token":
		s.zohoTokenEndpoint(w, r)
	case strings.HasPrefix(p, "/services/async/"):
		s.serveBulk1(w, r) // bulk1.go: its session is in X-SFDC-Session
	case strings.HasPrefix(p, "/services/"):
		if !s.sfAuthorized(r.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", `Token`)
			sfError(w, http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
			return
		}
		if s.forcedFailure(w, r, false) {
			return
		}
		s.serveSalesforce(w, r)
	case strings.HasPrefix(p, "/api/v5/app/entry/data/"):
		s.serveJiandaoyun(w, r) // jiandaoyun.go
	case strings.HasPrefix(p, "/rest/data/v2.0/"):
		s.serveNeocrm(w, r) // neocrm.go
	case strings.HasPrefix(p, "/cgi/"):
		s.serveFxiaoke(w, r) // fxiaoke.go
	case strings.HasPrefix(strings.ToLower(p), "/k3cloud/"):
		s.serveKingdee(w, r) // kingdee.go
	case strings.HasPrefix(p, "/crm/"):
		if !s.zohoAuthorized(r.Header.Get("Authorization")) {
			zohoError(w, http.StatusUnauthorized, "INVALID_TOKEN", "invalid oauth token", nil)
			return
		}
		if s.forcedFailure(w, r, true) {
			return
		}
		s.serveZoho(w, r)
	default:
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (s *Server) record(r *http.Request) {
	if s.opts.MaxRecorded < 0 {
		return
	}
	rec := RecordedRequest{
		Method:        r.Method,
		Path:          r.URL.Path,
		RawQuery:      r.URL.RawQuery,
		Authorization: r.Header.Get("Authorization"),
		Header:        r.Header.Clone(),
	}
	if r.Body != nil && r.Body != http.NoBody {
		buf, err := io.ReadAll(io.LimitReader(r.Body, int64(s.opts.MaxRecordedBody)+1))
		if len(buf) > s.opts.MaxRecordedBody {
			rec.BodyTruncated = true
			rec.Body = bytes.Clone(buf[:s.opts.MaxRecordedBody])
		} else {
			rec.Body = buf
		}
		rest := r.Body
		if err != nil {
			rest = io.NopCloser(errReader{err})
		}
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), rest), r.Body}
	}
	s.recMu.Lock()
	if len(s.recorded) >= s.opts.MaxRecorded {
		n := copy(s.recorded, s.recorded[len(s.recorded)-s.opts.MaxRecorded+1:])
		s.recorded = s.recorded[:n]
	}
	s.recorded = append(s.recorded, rec)
	s.recMu.Unlock()
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type readCloser struct {
	io.Reader
	io.Closer
}

// decodeRequestBody undoes Content-Encoding: gzip/deflate on the request body,
// which Salesforce accepts.
func decodeRequestBody(r *http.Request) error {
	ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if ce == "" || ce == "identity" || r.Body == nil {
		return nil
	}
	var rd io.Reader
	var err error
	switch ce {
	case "gzip":
		rd, err = gzip.NewReader(r.Body)
	case "deflate":
		rd, err = zlib.NewReader(r.Body)
	default:
		return errUnsupportedEncoding
	}
	if err != nil {
		return err
	}
	r.Body = readCloser{io.LimitReader(rd, 256<<20), r.Body}
	r.Header.Del("Content-Encoding")
	r.ContentLength = -1
	return nil
}

type stringError string

func (e stringError) Error() string { return string(e) }

const errUnsupportedEncoding = stringError("unsupported Content-Encoding")

// sfAuthorized checks a Salesforce Authorization header.
func (s *Server) sfAuthorized(h string) bool {
	tok, ok := cutScheme(h, "Bearer")
	if !ok {
		tok, ok = cutScheme(h, "OAuth")
	}
	if !ok || tok == "" {
		return false
	}
	if s.opts.SalesforceToken != "" && tok == s.opts.SalesforceToken {
		return true
	}
	s.tokMu.Lock()
	issued := s.issuedSF[tok]
	s.tokMu.Unlock()
	if issued {
		return true
	}
	return s.opts.SalesforceToken == "" && s.opts.ClientID == ""
}

// zohoAuthorized checks a Zoho Authorization header.
func (s *Server) zohoAuthorized(h string) bool {
	tok, ok := cutScheme(h, "Zoho-oauthtoken")
	if !ok || tok == "" {
		return false
	}
	if s.opts.ZohoToken != "" && tok == s.opts.ZohoToken {
		return true
	}
	s.tokMu.Lock()
	issued := s.issuedZoho[tok]
	s.tokMu.Unlock()
	if issued {
		return true
	}
	return s.opts.ZohoToken == "" && s.opts.RefreshToken == ""
}

func cutScheme(h, scheme string) (string, bool) {
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || h[len(scheme)] != ' ' {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme)+1:]), true
}

// sfError writes a Salesforce error array.
func sfError(w http.ResponseWriter, status int, code, msg string) {
	b := make([]byte, 0, 64+len(msg))
	b = append(b, `[{"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"errorCode":`...)
	b = appendString(b, code)
	b = append(b, "}]"...)
	writeJSON(w, status, b)
}

// sfFieldError writes a Salesforce error array with a fields list.
func sfFieldError(w http.ResponseWriter, status int, code, msg string, fields []string) {
	b := append([]byte(nil), `[{"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"errorCode":`...)
	b = appendString(b, code)
	b = append(b, `,"fields":[`...)
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f)
	}
	b = append(b, "]}]"...)
	writeJSON(w, status, b)
}

// zohoError writes a Zoho error object; details are string key/values.
func zohoError(w http.ResponseWriter, status int, code, msg string, details map[string]string) {
	b := append([]byte(nil), `{"code":`...)
	b = appendString(b, code)
	b = append(b, `,"details":{`...)
	first := true
	for _, k := range sortedKeys(details) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, details[k])
	}
	b = append(b, `},"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"status":"error"}`...)
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// forcedFailure answers with the status asked for in the test-only
// X-Samplecrm-Status header (400-599), in the CRM's error shape.
func (s *Server) forcedFailure(w http.ResponseWriter, r *http.Request, zoho bool) bool {
	v := r.Header.Get("X-Samplecrm-Status")
	if v == "" {
		return false
	}
	code, err := strconv.Atoi(v)
	if err != nil || code < 400 || code > 599 {
		return false
	}
	sfCode, zCode, msg := "UNKNOWN_EXCEPTION", "INTERNAL_ERROR", "An unexpected error occurred (forced by X-Samplecrm-Status)"
	switch code {
	case http.StatusTooManyRequests, http.StatusForbidden:
		sfCode, zCode, msg = "REQUEST_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS", "TotalRequests Limit exceeded (forced by X-Samplecrm-Status)"
		w.Header().Set("Retry-After", "60")
	case http.StatusServiceUnavailable:
		sfCode, zCode, msg = "SERVER_UNAVAILABLE", "SERVICE_UNAVAILABLE", "Server temporarily unavailable (forced by X-Samplecrm-Status)"
	}
	if zoho {
		zohoError(w, code, zCode, msg, nil)
	} else {
		sfError(w, code, sfCode, msg)
	}
	return true
}

// abortAfter reads the test-only X-Samplecrm-Abort-After header.
func abortAfter(r *http.Request) int {
	n, err := strconv.Atoi(r.Header.Get("X-Samplecrm-Abort-After"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// delay returns the pause between records for this request.
func (s *Server) delay(r *http.Request) time.Duration {
	if v := r.Header.Get("X-Samplecrm-Slow"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 && d <= 24*time.Hour {
			return d
		}
	}
	return s.opts.Delay
}

// pacer flushes and sleeps between records when a delay is asked for.
type pacer struct {
	ctx        context.Context
	d          time.Duration
	flush      func() error
	abortAfter int // X-Samplecrm-Abort-After: records before the connection is cut
	n          int
}

// next is called after each record; it reports false when the client went
// away and writing should stop.
func (p *pacer) next() bool {
	if p.abortAfter > 0 {
		p.n++
		if p.n >= p.abortAfter {
			// Test knob: cut the response mid-stream like a dying upstream.
			if p.flush != nil {
				_ = p.flush()
			}
			panic(http.ErrAbortHandler)
		}
	}
	if p.d <= 0 {
		return true
	}
	if p.flush != nil {
		if err := p.flush(); err != nil {
			return false
		}
	}
	t := time.NewTimer(p.d)
	defer t.Stop()
	select {
	case <-p.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// compressWriter compresses the response body when the client asked for it,
// as Salesforce does (gzip preferred, then deflate).
type compressWriter struct {
	http.ResponseWriter
	enc         string
	zw          io.WriteCloser
	gz          *gzip.Writer
	wroteHeader bool
}

var gzipPool = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

func newCompressWriter(w http.ResponseWriter, r *http.Request) *compressWriter {
	cw := &compressWriter{ResponseWriter: w}
	ae := strings.ToLower(r.Header.Get("Accept-Encoding"))
	switch {
	case acceptsEncoding(ae, "gzip"):
		cw.enc = "gzip"
	case acceptsEncoding(ae, "deflate"):
		cw.enc = "deflate"
	}
	return cw
}

// acceptsEncoding reports whether the Accept-Encoding value lists enc with a
// non-zero q.
func acceptsEncoding(ae, enc string) bool {
	for part := range strings.SplitSeq(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(name) != enc {
			continue
		}
		params = strings.ReplaceAll(params, " ", "")
		if q, ok := strings.CutPrefix(params, "q="); ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
				return false
			}
		}
		return true
	}
	return false
}

func (c *compressWriter) WriteHeader(code int) {
	if c.wroteHeader {
		return
	}
	c.wroteHeader = true
	h := c.Header()
	if c.enc != "" && code != http.StatusNoContent && code != http.StatusNotModified && code >= 200 {
		h.Set("Content-Encoding", c.enc)
		h.Add("Vary", "Accept-Encoding")
		h.Del("Content-Length")
		if c.enc == "gzip" {
			c.gz = gzipPool.Get().(*gzip.Writer)
			c.gz.Reset(c.ResponseWriter)
			c.zw = c.gz
		} else {
			c.zw = zlib.NewWriter(c.ResponseWriter)
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *compressWriter) Write(p []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if c.zw != nil {
		return c.zw.Write(p)
	}
	return c.ResponseWriter.Write(p)
}

// Flush pushes compressed bytes and the HTTP buffer to the client.
func (c *compressWriter) Flush() {
	_ = c.FlushError()
}

// FlushError is Flush reporting errors (http.ResponseController uses it).
func (c *compressWriter) FlushError() error {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if f, ok := c.zw.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(c.ResponseWriter).Flush()
}

func (c *compressWriter) close() {
	if c.zw != nil {
		_ = c.zw.Close()
		if c.gz != nil {
			c.gz.Reset(io.Discard)
			gzipPool.Put(c.gz)
		}
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *compressWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

var _ http.Flusher = (*compressWriter)(nil)

// baseURL is the server's own URL as the client reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
