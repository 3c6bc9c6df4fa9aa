package main

import (
	"bytes"
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is the demo's stdout, read while the demo writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var stepHeader = regexp.MustCompile(`^# (\d+)\. `)

// printedSteps returns the command line under each "# N." header.
func printedSteps(out string) []string {
	var cmds []string
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if stepHeader.MatchString(l) && i+1 < len(lines) {
			cmds = append(cmds, lines[i+1])
		}
	}
	return cmds
}

// TestEveryPrintedLineWorks runs the demo as a newcomer would and runs each
// printed line exactly as printed, in bash, from the repository root.
func TestEveryPrintedLineWorks(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "sed", "wc", "grep"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the demo's lines need %s: %v", tool, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	readyc := make(chan running, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- runDemo(ctx, options{listen: "127.0.0.1:0", http: "127.0.0.1:0", admin: "127.0.0.1:0", records: 2500}, out,
			func(r running) { readyc <- r })
	}()
	var r running
	select {
	case r = <-readyc:
	case err := <-errc:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("demo did not start")
	}
	cmds := printedSteps(out.String())
	want := []struct {
		name  string
		check func(string) bool
	}{
		{"manager sees phones", func(s string) bool {
			return strings.Contains(s, `"MobilePhone":"+`) && !strings.Contains(s, "****")
		}},
		{"intern sees ****", func(s string) bool {
			return strings.Contains(s, `"MobilePhone":"****"`) && strings.Contains(s, `"Email":"****"`)
		}},
		{"delete refused", func(s string) bool { return strings.Contains(s, "CRMGW_FORBIDDEN") }},
		{"401 without a credential", func(s string) bool { return strings.TrimSpace(s) == "401" }},
		{"export cut at the cap", func(s string) bool { return strings.TrimSpace(s) == "2001" }},
		{"HR's watch list", func(s string) bool { return strings.Contains(s, "departing") }},
		{"a departing salesperson's export waits for approval", func(s string) bool {
			return strings.Contains(s, "APPROVAL_REQUIRED") && strings.Contains(s, "/approvals/apr_")
		}},
		{"zoho read, masked", func(s string) bool {
			return strings.Contains(s, `"data"`) && strings.Contains(s, `"Mobile":"****"`)
		}},
		{"fxiaoke read, masked", func(s string) bool {
			return strings.Contains(s, `"errorCode":0`) && strings.Contains(s, "王芳") && !strings.Contains(s, "13800002222")
		}},
		{"fxiaoke delete refused", func(s string) bool {
			return strings.Contains(s, "CRMGW_FORBIDDEN") && strings.Contains(s, `"errorCode": 403`)
		}},
		{"audit verifies, approval steps included", func(s string) bool {
			return strings.HasPrefix(strings.TrimSpace(s), "1\n") && strings.Contains(s, `"activity":"approval_requested"`) &&
				strings.Contains(s, `"activity":"approval_approved"`) && strings.Contains(s, `"activity":"approval_used"`) &&
				strings.Contains(s, "ok: ") && strings.Contains(s, "chain intact")
		}},
	}
	if len(cmds) != len(want) {
		t.Fatalf("printed %d steps, want %d:\n%s", len(cmds), len(want), out.String())
	}
	for i, c := range cmds {
		if i == len(cmds)-1 {
			time.Sleep(200 * time.Millisecond) // the audit writer is asynchronous
		}
		cmd := exec.Command("bash", "-c", c)
		cmd.Dir = "../.."
		cmd.Env = os.Environ()
		b, err := cmd.CombinedOutput()
		if err != nil || !want[i].check(string(b)) {
			t.Errorf("step %d (%s): %v\n$ %s\n%.1500s", i+1, want[i].name, err, c, b)
		}
		if strings.Contains(want[i].name, "waits for approval") {
			// The manager follows the printed URL, signs in at the IdP's
			// form and approves; the same line then goes through once.
			approveOnThePage(t, string(b))
			for round, wantOK := range []bool{true, false} {
				cmd := exec.Command("bash", "-c", c)
				out, _ := cmd.CombinedOutput()
				if ok := strings.Contains(string(out), `"state":"`); ok != wantOK {
					t.Errorf("export after approval, run %d: %.600s", round+1, out)
				}
			}
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("demo exit: %v", err)
	}
	if _, err := os.Stat(r.dir); !os.IsNotExist(err) {
		t.Errorf("the demo left %s behind (%v)", r.dir, err)
	}
}

// approveOnThePage signs in as the demo's sales manager at the approval URL
// the refusal names and approves it with a comment.
func approveOnThePage(t *testing.T, refusal string) {
	t.Helper()
	m := regexp.MustCompile(`at (http://[^ ]+/approvals/(apr_[0-9a-z]+))`).FindStringSubmatch(refusal)
	if m == nil {
		t.Fatalf("no approval URL in %q", refusal)
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
	form := url.Values{"username": {approverEmail}, "password": {approverPW}}
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
		t.Fatalf("approval page after sign-in: %d %.800s", resp.StatusCode, page)
	}
	resp, err = b.PostForm(pageURL, url.Values{"csrf": {cm[1]}, "decision": {"approve"}, "comment": {"handover to the new account owner"}})
	if err != nil {
		t.Fatal(err)
	}
	done, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(done), "Decision recorded for "+id) {
		t.Fatalf("approve: %d %.800s", resp.StatusCode, done)
	}
}
