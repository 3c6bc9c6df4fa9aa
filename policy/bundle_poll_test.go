package policy

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	opabundle "github.com/open-policy-agent/opa/v1/bundle"
)

// bundleServer serves one bundle with an ETag, answering 304 to a
// matching If-None-Match, and counts what it answered.
type bundleServer struct {
	mu       sync.Mutex
	body     []byte
	etag     string
	status   int // when non-zero, answered instead of the bundle
	got, not int // 200s and 304s sent
}

func (s *bundleServer) set(t *testing.T, b opabundle.Bundle, etag string) {
	t.Helper()
	var buf bytes.Buffer
	if err := opabundle.NewWriter(&buf).UseModulePath(true).Write(b); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body, s.etag, s.status = buf.Bytes(), etag, 0
	s.mu.Unlock()
}

func (s *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != 0 {
		w.WriteHeader(s.status)
		return
	}
	if r.Header.Get("If-None-Match") == s.etag {
		s.not++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.got++
	w.Header().Set("ETag", s.etag)
	w.Write(s.body)
}

func (s *bundleServer) counts() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got, s.not
}

func TestBundleServerPolling(t *testing.T) {
	dir := t.TempDir()
	ops := newSigner(t, dir, "ops")
	srv := &bundleServer{}
	srv.set(t, makeBundle(t, authzModule("v1"), &ops), `"r1"`)
	hs := httptest.NewServer(srv)
	defer hs.Close()

	no := false
	e, err := New(context.Background(), Config{Decision: DefaultDecision, Watch: &no, Bundle: &BundleConfig{
		Path: filepath.Join(dir, "stored.tar.gz"), URL: hs.URL + "/bundles/crmgw.tar.gz",
		PollInterval: 20 * time.Millisecond,
		Verification: &BundleVerification{PublicKeyFile: ops.publicFile, KeyID: "ops"},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := decideReason(t, e); got != "bundle v1" {
		t.Fatalf("reason %q", got)
	}
	// Unchanged: the server is asked with If-None-Match and answers 304.
	waitFor(t, "a 304", func() bool { _, n := srv.counts(); return n >= 2 })
	if got, _ := srv.counts(); got != 1 {
		t.Errorf("the unchanged bundle was downloaded %d times", got)
	}

	// A tampered bundle on the server is refused: the running revision
	// stays, and so does the stored copy for the next start.
	signedV1 := makeBundle(t, authzModule("v1"), &ops)
	bad := makeBundle(t, authzModule("v2"), nil)
	bad.Signatures = signedV1.Signatures
	srv.set(t, bad, `"r2-tampered"`)
	waitFor(t, "the tampered download", func() bool { g, _ := srv.counts(); return g >= 3 })
	if got := decideReason(t, e); got != "bundle v1" {
		t.Errorf("after a tampered bundle: reason %q", got)
	}
	e2, err := bundleEngine(t, filepath.Join(dir, "stored.tar.gz"), ops.publicFile)
	if err != nil {
		t.Fatalf("the stored copy does not load: %v", err)
	}
	if got := decideReason(t, e2); got != "bundle v1" {
		t.Errorf("stored copy: reason %q", got)
	}
	e2.Close()

	// A server error keeps the revision; then a signed update is taken.
	srv.mu.Lock()
	srv.status = http.StatusInternalServerError
	srv.mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	srv.set(t, makeBundle(t, authzModule("v2"), &ops), `"r3"`)
	waitFor(t, "the signed update", func() bool {
		d, _ := e.Decide(context.Background(), &Input{})
		return d.Reason == "bundle v2"
	})
}

func TestBundleURLNeedsHTTPSOrVerification(t *testing.T) {
	b := &BundleConfig{Path: "b.tar.gz", URL: "http://bundles.example.com/b.tar.gz"}
	b.SetDefaults()
	if err := b.Validate(); err == nil || !strings.Contains(err.Error(), "url: must be an https:// URL") {
		t.Errorf("plain http without verification: %v", err)
	}
	b.Verification = &BundleVerification{PublicKeyFile: "k.pem"}
	b.SetDefaults()
	if err := b.Validate(); err != nil {
		t.Errorf("http with verification: %v", err)
	}
	if b.PollInterval != time.Minute {
		t.Errorf("poll_interval default %s", b.PollInterval)
	}
}
