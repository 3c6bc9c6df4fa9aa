package proxy

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/approval"
	"github.com/crmgw/crmgw/identity/oidctest"
)

// browser is an HTTP client with cookies that follows redirects, as a
// browser would.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

func TestApprovalPage(t *testing.T) {
	e := newEnv(t, envOptions{admin: adminSection, extraYAML: "approvals:\n  oidc: {issuer: {{ISSUER}}, client_id: crmgw-approvals}\n"})
	e.issuer.AddUser(oidctest.User{Sub: "00u-ma", Email: "ma.li@example.com", Password: "pw-ma", Groups: []string{"sales_managers"}})
	e.issuer.AddUser(oidctest.User{Sub: "00u-li", Email: "li.wei@example.com", Password: "pw-li", Groups: []string{"sales_managers"}})
	e.issuer.AddUser(oidctest.User{Sub: "00u-sup", Email: "sup@example.com", Password: "pw-sup", Groups: []string{"support"}})
	li := e.person("00u-li", "li.wei@example.com", []string{"sales"}, []string{"sales_manager"})
	e.adminCall("POST", "/admin/subjects/00u-li/watch", adminTok, `{}`)
	st, _, body := e.startExport(li, exportQuery)
	id := approvalID(t, st, body)

	// Not signed in: sent to the IdP.
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := anon.Get(e.admin + "/approvals/" + id)
	if err != nil || resp.StatusCode != 302 || !strings.HasPrefix(resp.Header.Get("Location"), "/approvals/login") {
		t.Fatalf("anonymous: %v %d %s", err, resp.StatusCode, resp.Header.Get("Location"))
	}
	resp.Body.Close()

	signIn := func(email string) *http.Client {
		e.issuer.SetAutoLogin(email)
		b := browser(t)
		resp, err := b.Get(e.admin + "/approvals")
		if err != nil {
			t.Fatal(err)
		}
		page := string(readAll(t, resp))
		if resp.StatusCode != 200 || !strings.Contains(page, email) {
			t.Fatalf("sign-in as %s: %d %s", email, resp.StatusCode, page)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("page Cache-Control %q", resp.Header.Get("Cache-Control"))
		}
		return b
	}
	csrfOf := func(page string) string {
		i := strings.Index(page, `name="csrf" value="`)
		if i < 0 {
			t.Fatalf("no CSRF field in %s", page)
		}
		rest := page[i+len(`name="csrf" value="`):]
		return rest[:strings.IndexByte(rest, '"')]
	}
	post := func(b *http.Client, form url.Values) (int, string) {
		resp, err := b.PostForm(e.admin+"/approvals/"+id, form)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(readAll(t, resp))
	}

	ma := signIn("ma.li@example.com")
	// The session cookie's flags.
	u, _ := url.Parse(e.admin + "/approvals")
	if len(ma.Jar.Cookies(u)) != 1 {
		t.Fatalf("cookies %v", ma.Jar.Cookies(u))
	}
	resp, _ = ma.Get(e.admin + "/approvals")
	page := string(readAll(t, resp))
	for _, want := range []string{id, "li.wei@example.com", "SELECT Id, Name, Email FROM Contact LIMIT 50", "Contact", "Email", "watched subject"} {
		if !strings.Contains(page, want) {
			t.Errorf("list lacks %q", want)
		}
	}
	csrf := csrfOf(page)
	if st, body := post(ma, url.Values{"decision": {"approve"}}); st != 403 || !strings.Contains(body, "form token") {
		t.Errorf("POST without a CSRF token: %d", st)
	}
	if st, _ := post(ma, url.Values{"decision": {"approve"}, "csrf": {csrf + "x"}}); st != 403 {
		t.Errorf("POST with a wrong CSRF token: %d", st)
	}
	// Another session's token is not this one's.
	li2 := signIn("li.wei@example.com")
	resp, _ = li2.Get(e.admin + "/approvals/" + id)
	liPage := string(readAll(t, resp))
	if st, _ := post(ma, url.Values{"decision": {"approve"}, "csrf": {csrfOf(liPage)}}); st != 403 {
		t.Errorf("POST with another session's CSRF token: %d", st)
	}
	// The subject cannot approve its own request from the page either.
	if st, body := post(li2, url.Values{"decision": {"approve"}, "csrf": {csrfOf(liPage)}}); st != 403 || !strings.Contains(body, "own request") {
		t.Errorf("self-approval on the page: %d", st)
	}
	sup := signIn("sup@example.com")
	resp, _ = sup.Get(e.admin + "/approvals/" + id)
	supPage := string(readAll(t, resp))
	if resp.StatusCode != 404 || strings.Contains(supPage, "LIMIT 50") {
		t.Errorf("wrong group sees the request: %d", resp.StatusCode)
	}
	if st, _ := post(sup, url.Values{"decision": {"approve"}, "csrf": {csrfOf(supPage)}}); st != 404 {
		t.Errorf("wrong group approving: %d", st)
	}
	if st, body := post(ma, url.Values{"decision": {"approve"}, "comment": {"ok <b>bold</b>"}, "csrf": {csrf}}); st != 200 || !strings.Contains(body, "Decision recorded for "+id) {
		t.Fatalf("approve: %d %s", st, body)
	}
	if st, _, body := e.startExport(li, exportQuery); st != 200 {
		t.Fatalf("export after approval on the page: %d %s", st, body)
	}
	if st, _ := e.adminCall("GET", "/admin/approvals/"+id, adminTok, ""); st != 200 {
		t.Fatal(st)
	}
	_, out := e.adminCall("GET", "/admin/approvals/"+id, adminTok, "")
	if get(out, "approval", "approver") != "ma.li@example.com" || get(out, "approval", "comment") != "ok <b>bold</b>" || get(out, "approval", "status") != "used" {
		t.Errorf("after the page's approval: %v", out)
	}
	// A forged session cookie is no session.
	forged := browser(t)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: "crmgw_approvals", Value: "eyJTdWIiOiJ4In0.AAAA", Path: "/approvals"}})
	forged.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ = forged.Get(e.admin + "/approvals")
	if resp.StatusCode != 302 {
		t.Errorf("forged session: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

// The session cookie is HttpOnly, SameSite=Lax, scoped to the page, and
// Secure when the page is served over https.
func TestApprovalPageCookieFlags(t *testing.T) {
	g := &Gateway{log: zap.NewNop()}
	p := newApprovalPage(g, &approval.OIDCConfig{Issuer: "https://idp", ClientID: "c"}, "hmac-key")
	for base, secure := range map[string]bool{"http://127.0.0.1:9090": false, "https://crmgw-admin.example.com": true} {
		g.approvalBase.Store(base)
		rec := httptest.NewRecorder()
		p.setCookie(rec, httptest.NewRequest("GET", "/approvals", nil), sessionCookie, p.sign("session", session{SID: "s", Sub: "x"}), time.Hour)
		c := rec.Header().Get("Set-Cookie")
		for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/approvals"} {
			if !strings.Contains(c, want) {
				t.Errorf("%s: cookie %q lacks %s", base, c, want)
			}
		}
		if strings.Contains(c, "Secure") != secure {
			t.Errorf("%s: cookie %q, Secure want %v", base, c, secure)
		}
	}
	// A payload signed for another purpose (the flow cookie) is not a session.
	var s session
	if p.open("session", p.sign("flow", session{SID: "s", Sub: "x"}), &s) {
		t.Error("a flow cookie opened as a session")
	}
}
