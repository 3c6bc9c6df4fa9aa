package proxy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crmgw/crmgw/identity/oidctest"
)

// chromiumPath finds headless Chromium. Without it the browser test is
// skipped, or fails when CI=true (CI installs it).
func chromiumPath(t *testing.T) string {
	for _, p := range []string{os.Getenv("CRMGW_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is required when CI=true (apt-get install -y chromium)")
	}
	t.Skip("chromium not installed")
	return ""
}

// artifactDir is where the screenshots are kept: CRMGW_TEST_ARTIFACTS, or
// proxy/testdata/artifacts (ignored by git).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("CRMGW_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The approval flow in a real browser: the manager opens the URL the
// caller was given, signs in at the test IdP's login form, sees the
// request and approves it with a comment; the caller's retry goes through
// once, and the next export needs a new approval.
func TestApprovalInABrowser(t *testing.T) {
	chrome := chromiumPath(t)
	e := newEnv(t, envOptions{admin: adminSection, extraYAML: "approvals:\n  oidc: {issuer: {{ISSUER}}, client_id: crmgw-approvals}\n"})
	e.issuer.AddUser(oidctest.User{Sub: "00u-ma", Email: "ma.li@example.com", Name: "Ma Li", Password: "manager-pw", Groups: []string{"sales_managers"}})
	li := e.person("00u-li", "li.wei@example.com", []string{"sales"}, []string{"sales_manager"})
	e.adminCall("POST", "/admin/subjects/li.wei@example.com/watch", adminTok, `{"flag":"departing"}`)
	st, _, body := e.startExport(li, exportQuery)
	id := approvalID(t, st, body)
	pageURL := e.admin + "/approvals/" + id
	if !strings.Contains(body, pageURL) {
		t.Fatalf("the answer does not name the page %s: %s", pageURL, body)
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1200, 1000),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("browser, %s: %v", name, err)
		}
	}
	step("open the approval URL and sign in", chromedp.Do(ctx,
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "ma.li@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "manager-pw"),
		chromedp.Click(chromedp.CSS(`#signin`)),
		chromedp.WaitVisible(chromedp.CSS(`div.card`)),
	))
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#who`)))
	step("who", err)
	query, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`code.query`)))
	step("query", err)
	step("comment", chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`input.comment`), "handover export approved in the browser")))
	before, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	step("screenshot", err)
	step("approve", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button.approve`)),
		chromedp.WaitVisible(chromedp.CSS(`#notice`)),
	))
	notice, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#notice`)))
	step("notice", err)
	after, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	step("screenshot", err)
	dir := artifactDir(t)
	for name, shot := range map[string][]byte{"approval-page.png": before, "approval-done.png": after} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(p)
		t.Logf("screenshot: %s", abs)
	}
	if who != "ma.li@example.com" || query != exportQuery || !strings.Contains(notice, id) {
		t.Fatalf("signed in as %q, query %q, notice %q", who, query, notice)
	}
	// The caller's retry goes through once; the next needs a new approval.
	if st, job, body := e.startExport(li, exportQuery); st != 200 || job == "" {
		t.Fatalf("retry after approval: %d %s", st, body)
	}
	st, _, body = e.startExport(li, exportQuery)
	if next := approvalID(t, st, body); next == id {
		t.Fatal("the grant was used twice")
	}
	_, out := e.adminCall("GET", "/admin/approvals/"+id, adminTok, "")
	if get(out, "approval", "comment") != "handover export approved in the browser" || get(out, "approval", "approver") != "ma.li@example.com" {
		t.Errorf("approval after the browser: %v", out)
	}
}
