package audit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// buildTLS turns a sink's TLSConfig into a crypto/tls configuration.
func buildTLS(c *TLSConfig, serverName string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if c == nil {
		return tc, nil
	}
	if c.ServerName != "" {
		tc.ServerName = c.ServerName
	}
	tc.InsecureSkipVerify = c.InsecureSkipVerify
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("audit: tls ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("audit: tls ca_file %s: no PEM certificates", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("audit: tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// httpPoster POSTs bodies to one URL and classifies the answer.
type httpPoster struct {
	url    string
	auth   string // Authorization header value; a secret, never logged
	ctype  string
	client *http.Client
}

func newHTTPPoster(cfg SinkConfig, ctype string) (*httpPoster, error) {
	tc, err := buildTLS(cfg.TLS, "")
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	p := &httpPoster{url: cfg.URL, ctype: ctype, client: &http.Client{Transport: tr, Timeout: cfg.Timeout}}
	if cfg.Token != "" {
		if cfg.Format == "splunk_hec" {
			p.auth = "Splunk " + cfg.Token
		} else {
			p.auth = "Bearer " + cfg.Token
		}
	}
	return p, nil
}

// post sends body. 2xx is success; 400, 413 and 422 are permanent (the
// payload itself is refused); anything else is retried.
func (p *httpPoster) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return &permanentError{err: fmt.Errorf("building request: %w", err)}
	}
	req.Header.Set("Content-Type", p.ctype)
	req.Header.Set("User-Agent", "crmgw-audit")
	if p.auth != "" {
		req.Header.Set("Authorization", p.auth)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		// The URL may hold a secret (Slack): report the failure without it.
		return fmt.Errorf("POST to %s failed: %w", redactURL(p.url), unwrapURLError(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == 400 || resp.StatusCode == 413 || resp.StatusCode == 422:
		return &permanentError{err: fmt.Errorf("POST to %s: HTTP %d", redactURL(p.url), resp.StatusCode)}
	}
	return fmt.Errorf("POST to %s: HTTP %d", redactURL(p.url), resp.StatusCode)
}

// redactURL keeps scheme and host: paths of incoming webhooks are secrets.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "(url)"
	}
	host, _, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	return scheme + "://" + host
}

// unwrapURLError drops *url.Error's copy of the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// webhookSink POSTs batches of events: format generic (a JSON array of
// events) or splunk_hec (newline-separated HEC event objects).
type webhookSink struct {
	p       *httpPoster
	hec     bool
	hecHost []byte // the JSON string of the host name
}

func newWebhookSink(cfg SinkConfig) (*webhookSink, error) {
	ctype := "application/json"
	p, err := newHTTPPoster(cfg, ctype)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	hecHost, _ := json.Marshal(host)
	return &webhookSink{p: p, hec: cfg.Format == "splunk_hec", hecHost: hecHost}, nil
}

func (s *webhookSink) deliver(ctx context.Context, batch []*entry) error {
	var buf bytes.Buffer
	if s.hec {
		for _, e := range batch {
			buf.WriteString(`{"time":`)
			buf.WriteString(hecTime(e))
			buf.WriteString(`,"host":`)
			buf.Write(s.hecHost)
			buf.WriteString(`,"source":"crmgw","sourcetype":"crmgw:audit","event":`)
			buf.Write(e.line)
			buf.WriteString("}\n")
		}
	} else {
		buf.WriteByte('[')
		for i, e := range batch {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(e.line)
		}
		buf.WriteByte(']')
	}
	return s.p.post(ctx, buf.Bytes())
}

// hecTime is the event time as Splunk wants it: epoch seconds with
// milliseconds.
func hecTime(e *entry) string {
	var t struct {
		Time time.Time `json:"time"`
	}
	if e.ev != nil {
		t.Time = e.ev.Time
	} else if err := json.Unmarshal(e.line, &t); err != nil {
		t.Time = time.Now()
	}
	return strconv.FormatFloat(float64(t.Time.UnixMilli())/1000, 'f', 3, 64)
}

func (s *webhookSink) close() error {
	s.p.client.CloseIdleConnections()
	return nil
}

var _ sink = (*webhookSink)(nil)
