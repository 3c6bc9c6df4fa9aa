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
		if cfg.Format == "splunk_hec" || cfg.Format == FormatSplunkHECOCSF {
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
// events) or splunk_hec (newline-separated HEC event objects), of native
// events or, with ocsf and splunk_hec_ocsf, of their OCSF form.
type webhookSink struct {
	p       *httpPoster
	maxBody int
	hec     bool
	hecHost []byte // the JSON string of the host name
	ocsf    bool
	// hecMeta is the HEC envelope's source and sourcetype.
	hecMeta string
}

func newWebhookSink(cfg SinkConfig) (*webhookSink, error) {
	ctype := "application/json"
	p, err := newHTTPPoster(cfg, ctype)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	hecHost, _ := json.Marshal(host)
	ws := &webhookSink{p: p, maxBody: int(cfg.MaxBody), hecHost: hecHost,
		hec:     cfg.Format == "splunk_hec" || cfg.Format == FormatSplunkHECOCSF,
		ocsf:    cfg.Format == FormatOCSF || cfg.Format == FormatSplunkHECOCSF,
		hecMeta: `,"source":"crmgw","sourcetype":"crmgw:audit","event":`}
	if ws.ocsf {
		ws.hecMeta = `,"source":"crmgw","sourcetype":"crmgw:audit:ocsf","event":`
	}
	return ws, nil
}

// deliver sends the batch in POSTs of at most max_body bytes. A POST the
// receiver refuses for good (400, 413, 422) is split in halves and each
// half sent again, down to single events, so one bad or oversized event
// never takes its neighbours with it; an event refused alone (or larger
// than max_body) is sent as a stub that keeps its chain position. Only a
// stub that is refused too is dropped, and counted one by one.
func (s *webhookSink) deliver(ctx context.Context, batch []*entry) error {
	bad := 0
	if s.ocsf {
		batch, bad = ocsfEntries(batch)
	}
	dropped, err := s.send(ctx, batch)
	dropped += bad
	if err != nil {
		return err
	}
	if dropped > 0 {
		return &permanentError{err: fmt.Errorf("POST to %s: %d events refused even as stubs", redactURL(s.p.url), dropped), events: dropped}
	}
	return nil
}

// send posts batch in parts that fit max_body, returning how many events
// were refused for good; a transient failure is returned as an error (the
// whole batch is retried: at least once).
func (s *webhookSink) send(ctx context.Context, batch []*entry) (int, error) {
	dropped := 0
	for len(batch) > 0 {
		n, size := 0, 2
		for n < len(batch) {
			l := s.encodedLen(batch[n]) + 1
			if n > 0 && s.maxBody > 0 && size+l > s.maxBody {
				break
			}
			size += l
			n++
		}
		part := batch[:n]
		batch = batch[n:]
		if len(part) == 1 && s.maxBody > 0 && size > s.maxBody {
			d, err := s.sendStub(ctx, part[0])
			if err != nil {
				return dropped, err
			}
			dropped += d
			continue
		}
		err := s.p.post(ctx, s.body(part))
		var perm *permanentError
		switch {
		case err == nil:
		case !errors.As(err, &perm):
			return dropped, err
		case len(part) == 1:
			d, err := s.sendStub(ctx, part[0])
			if err != nil {
				return dropped, err
			}
			dropped += d
		default:
			half := len(part) / 2
			for _, p := range [][]*entry{part[:half], part[half:]} {
				d, err := s.send(ctx, p)
				if err != nil {
					return dropped, err
				}
				dropped += d
			}
		}
	}
	return dropped, nil
}

// sendStub sends the stub of an event the receiver will not take whole.
func (s *webhookSink) sendStub(ctx context.Context, e *entry) (int, error) {
	stub, err := stubOf(e)
	if err == nil && s.ocsf {
		stub.line, err = MarshalOCSF(stub.ev)
	}
	if err == nil {
		err = s.p.post(ctx, s.body([]*entry{stub}))
	}
	var perm *permanentError
	if err != nil && errors.As(err, &perm) {
		return 1, nil
	}
	return 0, err
}

func (s *webhookSink) encodedLen(e *entry) int {
	if s.hec {
		return len(e.line) + len(s.hecHost) + len(s.hecMeta) + 32
	}
	return len(e.line)
}

func (s *webhookSink) body(batch []*entry) []byte {
	var buf bytes.Buffer
	if s.hec {
		for _, e := range batch {
			buf.WriteString(`{"time":`)
			buf.WriteString(hecTime(e))
			buf.WriteString(`,"host":`)
			buf.Write(s.hecHost)
			buf.WriteString(s.hecMeta)
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
	return buf.Bytes()
}

// stubOf is what a receiver gets instead of an event it cannot take: who,
// what, the outcome and the chain position, with "oversize" saying why
// the rest is missing and where it is. Its chain.hash is the full event's
// (it does not verify on the stub; the local log holds the event that
// does).
func stubOf(e *entry) (*entry, error) {
	ev, err := e.event()
	if err != nil {
		return nil, err
	}
	stub := Event{
		Time: ev.Time, ClassUID: ev.ClassUID, RequestID: ev.RequestID,
		Activity: ev.Activity, Severity: ev.Severity, Status: ev.Status,
		Actor:       Actor{User: User{UID: ev.Actor.User.UID, Email: ev.Actor.User.Email, Groups: []string{}}, ClientID: ev.Actor.ClientID, MFA: ev.Actor.MFA, Kind: ev.Actor.Kind},
		SrcEndpoint: ev.SrcEndpoint, HTTPResponse: ev.HTTPResponse,
		HTTPRequest: HTTPRequest{Method: ev.HTTPRequest.Method, Path: capString(ev.HTTPRequest.Path, 256), UserAgent: capString(ev.HTTPRequest.UserAgent, 64)},
		CRM: CRM{Upstream: ev.CRM.Upstream, Type: ev.CRM.Type, Operation: ev.CRM.Operation, Category: ev.CRM.Category,
			Object: capString(ev.CRM.Object, 128), Fields: []string{}, Records: ev.CRM.Records, Truncated: ev.CRM.Truncated},
		Decision:   Decision{Allow: ev.Decision.Allow, Enforced: ev.Decision.Enforced, Reason: capString(ev.Decision.Reason, 256), Masked: []string{}, PolicyRevision: ev.Decision.PolicyRevision},
		DurationMS: ev.DurationMS,
		Error:      fmt.Sprintf("oversize: the event (%d bytes) was refused by this sink; the full event is in the local audit log at chain.seq %d", len(e.line), ev.Chain.Seq),
		Chain:      ev.Chain,
	}
	line, err := json.Marshal(&stub)
	if err != nil {
		return nil, err
	}
	return &entry{line: line, ev: &stub}, nil
}

// ocsfEntries returns the batch as entries whose lines are OCSF, leaving
// out (and counting) spooled lines that are not events.
func ocsfEntries(batch []*entry) ([]*entry, int) {
	out := make([]*entry, 0, len(batch))
	for _, e := range batch {
		l, err := ocsfLine(e)
		if err != nil {
			continue
		}
		out = append(out, &entry{line: l, ev: e.ev})
	}
	return out, len(batch) - len(out)
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
