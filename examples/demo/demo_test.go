package main

import (
	"bytes"
	"context"
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
		{"zoho read, masked", func(s string) bool {
			return strings.Contains(s, `"data"`) && strings.Contains(s, `"Mobile":"****"`)
		}},
		{"fxiaoke read, masked", func(s string) bool {
			return strings.Contains(s, `"errorCode":0`) && strings.Contains(s, "王芳") && !strings.Contains(s, "13800002222")
		}},
		{"fxiaoke delete refused", func(s string) bool {
			return strings.Contains(s, "CRMGW_FORBIDDEN") && strings.Contains(s, `"errorCode": 403`)
		}},
		{"audit verifies", func(s string) bool {
			return strings.HasPrefix(strings.TrimSpace(s), "1\n") && strings.Contains(s, "ok: ") && strings.Contains(s, "chain intact")
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
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("demo exit: %v", err)
	}
	if _, err := os.Stat(r.dir); !os.IsNotExist(err) {
		t.Errorf("the demo left %s behind (%v)", r.dir, err)
	}
}
