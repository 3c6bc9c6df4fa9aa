package main

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// demoApprovalStory follows step 7 of the demo: li.wei goes on the watch
// list, her export answers APPROVAL_REQUIRED with the page's URL, the
// manager signs in at the demo IdP's form and approves, the export goes
// through once and the next needs a new approval.
func demoApprovalStory(t *testing.T, addr, admin, dir, jwt string) {
	t.Helper()
	out, errOut, err := runCLI(t, nil, "subjects", "watch", "li.wei@example.com", "--flag", "departing",
		"--admin", "http://"+admin, "--token-file", filepath.Join(dir, "admin.token"))
	if err != nil || !strings.Contains(out, "watch=[departing]") {
		t.Fatalf("watch: %v %s %s", err, out, errOut)
	}
	export := func() (int, string) {
		req, _ := http.NewRequest("POST", "http://"+addr+"/services/data/v60.0/jobs/query",
			strings.NewReader(`{"operation":"query","query":"SELECT Id, Name, Email FROM Contact LIMIT 500"}`))
		req.Header.Set("Authorization", "Bearer "+jwt)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := export()
	m := regexp.MustCompile(`at (http://[^ ]+/approvals/(apr_[0-9a-z]+))`).FindStringSubmatch(body)
	if code != 403 || !strings.Contains(body, "APPROVAL_REQUIRED") || m == nil {
		t.Fatalf("watched export: %d %s", code, body)
	}
	pageURL, id := m[1], m[2]

	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := b.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	login, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(login), "Sign in") {
		t.Fatalf("the page did not send the manager to the IdP: %s", login)
	}
	form := url.Values{"username": {demoManager}, "password": {demoManagerPW}}
	for _, h := range regexp.MustCompile(`type="hidden" name="([a-z_]+)" value="([^"]*)"`).FindAllStringSubmatch(string(login), -1) {
		form.Set(h[1], html.UnescapeString(h[2]))
	}
	resp, err = b.PostForm(resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cm := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(page))
	if resp.StatusCode != 200 || !strings.Contains(string(page), id) || cm == nil {
		t.Fatalf("approval page after sign-in: %d %s", resp.StatusCode, page)
	}
	resp, err = b.PostForm(pageURL, url.Values{"csrf": {cm[1]}, "decision": {"approve"}, "comment": {"handover"}})
	if err != nil {
		t.Fatal(err)
	}
	done, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(done), "Decision recorded for "+id) {
		t.Fatalf("approve: %d %s", resp.StatusCode, done)
	}
	if code, body := export(); code != 200 {
		t.Fatalf("export after approval: %d %s", code, body)
	}
	if code, body := export(); code != 403 || strings.Contains(body, id) {
		t.Fatalf("second export: %d %s", code, body)
	}
}
