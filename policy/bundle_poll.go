package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Polling a bundle server (docs/policies.md "Bundles"): with policy.bundle.url
// the gateway downloads the bundle as OPA's bundle plugin does, with
// If-None-Match and the server's ETag (304: nothing to do), every
// poll_interval, doubling the wait after a failure up to eight intervals.
// A download is verified (signature and roots) before it replaces the
// stored copy at policy.bundle.path; a bundle that fails is never stored,
// so neither the running revision nor the next start uses it. At start, a
// server that cannot be reached leaves the stored copy in use.

const maxBundleDownload = 64 << 20

type bundlePoller struct {
	cfg    *BundleConfig
	client *http.Client
	logger *zap.Logger

	etag string // of the stored copy; only the poll goroutine uses it after first

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

func newBundlePoller(cfg *BundleConfig, logger *zap.Logger) *bundlePoller {
	return &bundlePoller{
		cfg:    cfg,
		client: &http.Client{Timeout: 30 * time.Second},
		logger: logger,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// fetch downloads the bundle when it changed, verifies it and stores it.
// It reports whether a new bundle was stored.
func (p *bundlePoller) fetch(ctx context.Context) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.URL, nil)
	if err != nil {
		return false, err
	}
	if p.etag != "" {
		req.Header.Set("If-None-Match", p.etag)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("policy: bundle download: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return false, nil
	case http.StatusOK:
	default:
		return false, fmt.Errorf("policy: bundle download: server answered %s", resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.cfg.Path), ".crmgw-bundle-*.tar.gz")
	if err != nil {
		return false, fmt.Errorf("policy: bundle download: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename below, a no-op
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, maxBundleDownload+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("policy: bundle download: %w", err)
	}
	if n > maxBundleDownload {
		return false, fmt.Errorf("policy: bundle download: larger than %d bytes", maxBundleDownload)
	}
	check := *p.cfg
	check.Path = tmp.Name()
	if _, err := readOPABundle(&check, false); err != nil {
		return false, err
	}
	if err := os.Rename(tmp.Name(), p.cfg.Path); err != nil {
		return false, fmt.Errorf("policy: storing the bundle: %w", err)
	}
	p.etag = resp.Header.Get("ETag")
	return true, nil
}

// first fetches once at start; a failure leaves the stored copy in use.
func (p *bundlePoller) first(ctx context.Context) {
	if _, err := p.fetch(ctx); err != nil {
		p.logger.Warn("bundle download failed at start; using the stored copy",
			zap.String("url", p.cfg.URL), zap.String("path", p.cfg.Path), zap.Error(err))
	}
}

// run polls until stop, calling reload after each new bundle.
func (p *bundlePoller) run(reload func(context.Context) error) {
	defer close(p.done)
	interval := p.cfg.PollInterval
	delay := interval
	for {
		t := time.NewTimer(delay)
		select {
		case <-p.stop:
			t.Stop()
			return
		case <-t.C:
		}
		// Each poll outlives no request: it gets its own bounded context.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		changed, err := p.fetch(ctx)
		if err == nil && changed {
			err = reload(ctx)
		}
		cancel()
		if err != nil {
			delay = min(delay*2, 8*interval)
			p.logger.Error("bundle update failed; the running revision stays",
				zap.String("url", p.cfg.URL), zap.Duration("retry_in", delay), zap.Error(err))
			continue
		}
		delay = interval
	}
}

func (p *bundlePoller) close() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

var errBundleURL = errors.New("must be an https:// URL (http:// only with verification)")
