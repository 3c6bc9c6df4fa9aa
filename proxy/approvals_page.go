package proxy

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/crmgw/crmgw/approval"
)

// The approval page (docs/approvals.md): server-rendered HTML on the admin
// listener for the manager who got the notification. Login is the
// organisation's IdP through the OIDC authorization code flow with PKCE
// (S256) and a nonce; the ID token is verified by go-oidc (signature,
// issuer, audience = client_id, expiry). The session is an HMAC-signed
// cookie (HttpOnly, SameSite=Lax, Secure when the page is served over
// https, Path=/approvals, 8 hours), with no state on the server, so every
// replica sharing the key accepts it. Every POST form carries a CSRF token
// bound to the session. Pages with customer data are Cache-Control:
// no-store and may not be framed.
//
// Ways around it, and what stops them:
//   - A forged or replayed session cookie: HMAC over the payload and its
//     purpose with a key derived from masking.hmac_key and the client
//     secret; an expiry inside the signed payload.
//   - Cross-site form posts: SameSite=Lax keeps the cookie off cross-site
//     POSTs, and the CSRF token (HMAC of the session id) is required
//     anyway: a POST without it is refused (tested).
//   - A login answer injected into another's browser (login CSRF, code
//     injection): state and nonce and the PKCE verifier live in a signed
//     flow cookie of the browser that started the login, checked at the
//     callback.
//   - Approving one's own request or another group's: the four-eyes rules
//     of approval.Request.MayDecide, as in the admin API.

const (
	sessionCookie = "crmgw_approvals"
	flowCookie    = "crmgw_approvals_flow"
	sessionFor    = 8 * time.Hour
)

type approvalPage struct {
	g   *Gateway
	cfg approval.OIDCConfig
	key []byte
	log *zap.Logger

	mu       sync.Mutex
	provider *oidc.Provider
}

// newApprovalPage returns the page for cfg; the cookie key is derived from
// the masking HMAC key and the client secret.
func newApprovalPage(g *Gateway, cfg *approval.OIDCConfig, hmacKey string) *approvalPage {
	if cfg == nil {
		return nil
	}
	h := sha256.New()
	h.Write([]byte("crmgw approvals page v1\x00"))
	h.Write([]byte(hmacKey))
	h.Write([]byte{0})
	h.Write([]byte(cfg.ClientSecret))
	key := h.Sum(nil)
	if hmacKey == "" && cfg.ClientSecret == "" {
		key = make([]byte, 32) // nothing shared to derive from: this process only
		_, _ = rand.Read(key)
	}
	return &approvalPage{g: g, cfg: *cfg, key: key, log: g.log.Named("approvals-page")}
}

func (p *approvalPage) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /approvals", p.list)
	mux.HandleFunc("GET /approvals/login", p.login)
	mux.HandleFunc("GET /approvals/callback", p.callback)
	mux.HandleFunc("POST /approvals/logout", p.logout)
	mux.HandleFunc("GET /approvals/{id}", p.show)
	mux.HandleFunc("POST /approvals/{id}", p.decide)
}

// oauth returns the OAuth config, discovering the IdP on first use.
func (p *approvalPage) oauth(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider == nil {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		pr, err := oidc.NewProvider(ctx, p.cfg.Issuer)
		if err != nil {
			return nil, nil, err
		}
		p.provider = pr
	}
	redirect := p.cfg.RedirectURL
	if redirect == "" {
		base, _ := p.g.approvalBase.Load().(string)
		redirect = strings.TrimSuffix(base, "/") + "/approvals/callback"
	}
	oc := &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, RedirectURL: redirect,
		Endpoint: p.provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}
	return oc, p.provider.Verifier(&oidc.Config{ClientID: p.cfg.ClientID}), nil
}

// --- signed cookies ----------------------------------------------------------

func (p *approvalPage) sign(purpose string, v any) string {
	b, _ := json.Marshal(v)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + p.mac(purpose, payload)
}

func (p *approvalPage) mac(purpose, payload string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (p *approvalPage) open(purpose, value string, v any) bool {
	payload, sig, ok := strings.Cut(value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(p.mac(purpose, payload))) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	return err == nil && json.Unmarshal(b, v) == nil
}

func (p *approvalPage) secure(r *http.Request) bool {
	base, _ := p.g.approvalBase.Load().(string)
	return r.TLS != nil || strings.HasPrefix(base, "https://") || strings.HasPrefix(p.cfg.RedirectURL, "https://")
}

func (p *approvalPage) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/approvals", HttpOnly: true,
		Secure: p.secure(r), SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge.Seconds())})
}

type flowState struct {
	State, Nonce, Verifier, Next string
	Exp                          int64
}

type session struct {
	SID, Sub, Iss, Email, Name string
	Groups, Roles              []string
	Exp                        int64
}

func (s *session) approver() approval.Approver {
	key := s.Sub
	if s.Iss != "" {
		key = s.Iss + "|" + s.Sub
	}
	return approval.Approver{Subject: key, ID: s.Sub, Email: s.Email, Groups: s.Groups, Roles: s.Roles}
}

func (p *approvalPage) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	var s session
	if err != nil || !p.open("session", c.Value, &s) || time.Now().Unix() > s.Exp || s.Sub == "" {
		return nil
	}
	return &s
}

func (p *approvalPage) csrf(s *session) string { return p.mac("csrf", s.SID) }

// --- login ------------------------------------------------------------------

func (p *approvalPage) login(w http.ResponseWriter, r *http.Request) {
	oc, _, err := p.oauth(r.Context())
	if err != nil {
		p.log.Warn("identity provider unreachable", zap.Error(err))
		p.render(w, http.StatusBadGateway, pageData{Error: "the identity provider cannot be reached; try again shortly"})
		return
	}
	next := r.URL.Query().Get("next")
	if !strings.HasPrefix(next, "/approvals") || strings.HasPrefix(next, "//") {
		next = "/approvals"
	}
	fs := flowState{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(), Next: next,
		Exp: time.Now().Add(10 * time.Minute).Unix()}
	p.setCookie(w, r, flowCookie, p.sign("flow", fs), 10*time.Minute)
	http.Redirect(w, r, oc.AuthCodeURL(fs.State, oauth2.S256ChallengeOption(fs.Verifier), oidc.Nonce(fs.Nonce)), http.StatusFound)
}

func (p *approvalPage) callback(w http.ResponseWriter, r *http.Request) {
	var fs flowState
	c, err := r.Cookie(flowCookie)
	if err != nil || !p.open("flow", c.Value, &fs) || time.Now().Unix() > fs.Exp ||
		subtle.ConstantTimeCompare([]byte(fs.State), []byte(r.URL.Query().Get("state"))) != 1 {
		p.render(w, http.StatusBadRequest, pageData{Error: "this sign-in was not started here or has expired; sign in again"})
		return
	}
	p.setCookie(w, r, flowCookie, "", -time.Second)
	oc, verifier, err := p.oauth(r.Context())
	if err != nil {
		p.render(w, http.StatusBadGateway, pageData{Error: "the identity provider cannot be reached"})
		return
	}
	tok, err := oc.Exchange(r.Context(), r.URL.Query().Get("code"), oauth2.VerifierOption(fs.Verifier))
	if err != nil {
		p.log.Info("approval page: code exchange failed", zap.Error(err))
		p.render(w, http.StatusUnauthorized, pageData{Error: "sign-in failed"})
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(r.Context(), raw)
	if err != nil || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(fs.Nonce)) != 1 {
		p.log.Info("approval page: ID token refused", zap.Error(err))
		p.render(w, http.StatusUnauthorized, pageData{Error: "sign-in failed: the ID token was not valid"})
		return
	}
	var claims map[string]any
	_ = idt.Claims(&claims)
	s := session{SID: randomToken(), Sub: idt.Subject, Iss: idt.Issuer, Exp: time.Now().Add(sessionFor).Unix(),
		Groups: claimList(claims[p.cfg.GroupsClaim]), Roles: claimList(claims[p.cfg.RolesClaim])}
	s.Email, _ = claims["email"].(string)
	s.Name, _ = claims["name"].(string)
	p.setCookie(w, r, sessionCookie, p.sign("session", s), sessionFor)
	http.Redirect(w, r, fs.Next, http.StatusSeeOther)
}

func (p *approvalPage) logout(w http.ResponseWriter, r *http.Request) {
	s := p.session(r)
	if s == nil || !p.csrfOK(r, s) {
		p.render(w, http.StatusForbidden, pageData{Error: "missing or invalid form token"})
		return
	}
	p.setCookie(w, r, sessionCookie, "", -time.Second)
	http.Redirect(w, r, "/approvals", http.StatusSeeOther)
}

func claimList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// --- pages ------------------------------------------------------------------

type card struct {
	R      *approval.Request
	Recent []*approval.Request
}

type pageData struct {
	Who, CSRF, Error, Notice string
	Cards                    []card
	Single                   bool
}

// requireSession sends a browser without a session to the login.
func (p *approvalPage) requireSession(w http.ResponseWriter, r *http.Request) *session {
	s := p.session(r)
	if s == nil {
		http.Redirect(w, r, "/approvals/login?next="+url.QueryEscape(r.URL.Path), http.StatusFound)
	}
	return s
}

func (p *approvalPage) cardFor(ctx context.Context, req *approval.Request) card {
	recent, _ := p.g.approvals.Recent(ctx, req.Subject, 6)
	c := card{R: req}
	for _, o := range recent {
		if o.ID != req.ID && len(c.Recent) < 5 {
			c.Recent = append(c.Recent, o)
		}
	}
	return c
}

func (p *approvalPage) list(w http.ResponseWriter, r *http.Request) {
	s := p.requireSession(w, r)
	if s == nil {
		return
	}
	a := s.approver()
	reqs, err := p.g.approvals.List(r.Context(), approval.Filter{Status: approval.StatusPending, For: &a})
	d := pageData{Who: a.Name(), CSRF: p.csrf(s)}
	if err != nil {
		d.Error = "the approval store cannot be reached"
	}
	if done := r.URL.Query().Get("done"); done != "" {
		d.Notice = "Decision recorded for " + done + "."
	}
	for _, req := range reqs {
		d.Cards = append(d.Cards, p.cardFor(r.Context(), req))
	}
	p.render(w, http.StatusOK, d)
}

func (p *approvalPage) show(w http.ResponseWriter, r *http.Request) {
	s := p.requireSession(w, r)
	if s == nil {
		return
	}
	a := s.approver()
	req, err := p.g.approvals.Get(r.Context(), r.PathValue("id"))
	if err != nil || (req.MayDecide(a) != nil && req.Subject != a.Subject) {
		p.render(w, http.StatusNotFound, pageData{Who: a.Name(), CSRF: p.csrf(s), Error: "no such request, or not one you may decide"})
		return
	}
	p.render(w, http.StatusOK, pageData{Who: a.Name(), CSRF: p.csrf(s), Cards: []card{p.cardFor(r.Context(), req)}, Single: true})
}

func (p *approvalPage) csrfOK(r *http.Request, s *session) bool {
	got := r.PostFormValue("csrf")
	return got != "" && hmac.Equal([]byte(got), []byte(p.csrf(s)))
}

func (p *approvalPage) decide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	s := p.session(r)
	if s == nil {
		p.render(w, http.StatusUnauthorized, pageData{Error: "your session has ended; sign in again"})
		return
	}
	d := pageData{Who: s.approver().Name(), CSRF: p.csrf(s)}
	if !p.csrfOK(r, s) {
		d.Error = "missing or invalid form token: reload the page and try again"
		p.render(w, http.StatusForbidden, d)
		return
	}
	verb := r.PostFormValue("decision")
	if verb != "approve" && verb != "deny" {
		d.Error = "choose approve or deny"
		p.render(w, http.StatusBadRequest, d)
		return
	}
	id := r.PathValue("id")
	_, err := p.g.approvals.Decide(r.Context(), id, s.approver(), verb == "approve", r.PostFormValue("comment"))
	if err != nil {
		status := http.StatusForbidden
		switch {
		case errors.Is(err, approval.ErrSelfApprove):
			d.Error = "you cannot decide your own request (four eyes)"
		case errors.Is(err, approval.ErrNotApprover), errors.Is(err, approval.ErrNotFound):
			status, d.Error = http.StatusNotFound, "no such request, or not one you may decide"
		case errors.Is(err, approval.ErrNotPending), errors.Is(err, approval.ErrExpired):
			status, d.Error = http.StatusConflict, "this request was already decided or has expired"
		default:
			status, d.Error = http.StatusServiceUnavailable, "the approval store cannot be reached"
		}
		p.render(w, status, d)
		return
	}
	http.Redirect(w, r, "/approvals?done="+url.QueryEscape(id), http.StatusSeeOther)
}

func (p *approvalPage) render(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if err := pageTmpl.Execute(w, d); err != nil {
		p.log.Debug("approval page render", zap.Error(err))
	}
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"join": func(s []string) string { return strings.Join(s, ", ") },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>crmgw approvals</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}.card{border:1px solid #999;padding:1em;margin:1em 0}
code{background:#eee;padding:0 .2em}.error{color:#a00}.notice{color:#060}table{border-collapse:collapse}td,th{padding:.2em .6em;text-align:left}</style>
</head><body>
<h1>crmgw export approvals</h1>
{{if .Who}}<form method="post" action="/approvals/logout"><p>Signed in as <b id="who">{{.Who}}</b>
<input type="hidden" name="csrf" value="{{.CSRF}}"><button>Sign out</button></p></form>{{end}}
{{if .Error}}<p class="error" id="error">{{.Error}}</p>{{end}}
{{if .Notice}}<p class="notice" id="notice">{{.Notice}}</p>{{end}}
{{if and .Who (not .Cards) (not .Error)}}<p id="empty">No request is waiting for you.</p>{{end}}
{{range .Cards}}{{$r := .R}}
<div class="card" id="{{$r.ID}}">
<h2>{{$r.ID}}: {{$r.Action.Operation}} of {{$r.Action.Object}} — {{$r.Status}}</h2>
<table>
<tr><th>Who</th><td class="who">{{if $r.SubjectEmail}}{{$r.SubjectEmail}}{{else}}{{$r.Subject}}{{end}}</td></tr>
<tr><th>CRM</th><td>{{$r.Upstream}}</td></tr>
<tr><th>Object</th><td>{{$r.Action.Object}}</td></tr>
<tr><th>Fields</th><td>{{if $r.Action.AllFields}}all fields{{else}}{{join $r.Action.Fields}}{{end}}</td></tr>
<tr><th>Query</th><td><code class="query">{{$r.Action.Query}}</code></td></tr>
<tr><th>Access plan</th><td>{{$r.Plan}}</td></tr>
<tr><th>Estimated volume</th><td>{{if $r.Estimated}}up to {{$r.Estimated}} records{{else}}not known before it runs{{end}}</td></tr>
<tr><th>Why approval</th><td>{{$r.Reason}}</td></tr>
<tr><th>Approvers</th><td>{{join $r.Approvers}}</td></tr>
<tr><th>Asked</th><td>{{when $r.Created}} (waits until {{when $r.PendingUntil}}); grant valid {{$r.TTL}} once approved</td></tr>
<tr><th>Recent usage</th><td>{{range $k, $v := $r.Usage}}{{$k}}: {{$v}}; {{end}}</td></tr>
</table>
{{if .Recent}}<h3>Recent requests of this subject</h3><table>
{{range .Recent}}<tr><td>{{when .Created}}</td><td>{{.Action.Operation}} of {{.Action.Object}}</td><td>{{.Status}}</td><td>{{.Approver}}</td><td>{{if .Records}}{{.Records}} records{{end}}</td></tr>{{end}}
</table>{{end}}
{{if eq (print $r.Status) "pending"}}
<form method="post" action="/approvals/{{$r.ID}}">
<input type="hidden" name="csrf" value="{{$.CSRF}}">
<label>Comment <input name="comment" class="comment" size="60" maxlength="2000"></label>
<button name="decision" value="approve" class="approve">Approve</button>
<button name="decision" value="deny" class="deny">Deny</button>
</form>{{end}}
</div>{{end}}
</body></html>`))
