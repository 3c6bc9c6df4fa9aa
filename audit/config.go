package audit

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/crmgw/crmgw/internal/confkey"
)

// Config is the `audit:` section: where events go and what happens when a
// destination is down.
type Config struct {
	// Sinks receive every chained event. None configured: one stdout sink.
	Sinks []SinkConfig `yaml:"sinks"`
	// SpoolDir holds one on-disk queue per sink for events a sink could not
	// take yet. Default: "spool" next to the first file sink, else
	// $TMPDIR/crmgw-audit-spool.
	SpoolDir string `yaml:"spool_dir"`
	// SpoolMaxBytes bounds each sink's spool. Default 1GiB.
	SpoolMaxBytes confkey.ByteSize `yaml:"spool_max_bytes"`
	// OnFull says what happens when a spool is full: block_exports
	// (default: AcceptingExports turns false so the proxy refuses export and
	// bulk requests; other events keep spooling up to twice the limit) or
	// drop (new events for that sink are dropped, counted and logged).
	OnFull string `yaml:"on_full"`
	// QueueSize bounds the in-memory queue between Record and the writer
	// goroutine and each sink's queue. Default 10000.
	QueueSize int `yaml:"queue_size"`
	// QueryText says how an event records a request's query or search
	// text (crm.query): text (default) keeps it as sent; hash keeps its
	// keyed hash under masking.hmac_key ("hmac-sha256:<hex>"), for queries
	// whose literals are personal data (WHERE Email = '...').
	QueryText string `yaml:"query_text"`
	// Fsync is the durability of the local audit log (the first file sink,
	// where start records are written before a request is forwarded):
	// always (fsync after every write), batch (fsync before a waiting start
	// record is acknowledged: one fsync per group commit) or interval (write
	// at once, fsync every fsync_interval: survives a killed process, not a
	// lost node). Empty: the file sink's own fsync key (default interval).
	Fsync string `yaml:"fsync"`
}

// Values of Config.QueryText.
const (
	QueryTextKeep = "text"
	QueryTextHash = "hash"
)

// Values of SinkConfig.Format that choose the event's shape: json is the
// native event (the default of file, stdout and syslog sinks), ocsf OCSF
// 1.8.0 API Activity; splunk_hec_ocsf is a webhook's Splunk HEC envelope
// around OCSF events.
const (
	FormatJSON          = "json"
	FormatOCSF          = "ocsf"
	FormatSplunkHECOCSF = "splunk_hec_ocsf"
)

// Values of Config.OnFull.
const (
	OnFullBlockExports = "block_exports"
	OnFullDrop         = "drop"
)

// SinkConfig is one destination, for audit events or for alerts. Which
// keys apply depends on Type.
type SinkConfig struct {
	// Type: file | stdout | webhook | syslog for audit sinks;
	// webhook | slack | alertmanager | syslog for alert sinks.
	Type string `yaml:"type"`
	// Name labels metrics and names the spool directory. Default
	// "<type>-<index>".
	Name string `yaml:"name"`
	// Path is the file sink's current file (JSON lines).
	Path string `yaml:"path"`
	// URL is the webhook / slack / alertmanager endpoint (alertmanager: the
	// base URL, /api/v2/alerts is appended unless present).
	URL string `yaml:"url"`
	// Address is the syslog destination: udp://host:514, tcp://host:601,
	// tls://host:6514.
	Address string `yaml:"address"`
	// Format: webhook generic (JSON array, default) | splunk_hec |
	// ocsf (a JSON array of OCSF events) | splunk_hec_ocsf (HEC, OCSF
	// events); syslog json (default) | cef | ocsf; file and stdout json
	// (default: the native event) | ocsf. ocsf sends each event as OCSF
	// 1.8.0 API Activity (docs/audit.md "OCSF"); alert sinks take no ocsf.
	Format string `yaml:"format"`
	// Token authenticates to a webhook: "Authorization: Splunk <token>" for
	// splunk_hec, "Authorization: Bearer <token>" otherwise. Never logged.
	Token string `yaml:"token"`
	// TokenFile names a file holding the token instead (a mounted secret);
	// the config loader reads it into Token (docs/deploy.md "Secrets").
	TokenFile string `yaml:"token_file"`
	// MaxSize rotates the file sink when the current file would exceed it.
	// 0: no size rotation.
	MaxSize confkey.ByteSize `yaml:"max_size"`
	// RotateEvery rotates the file sink by age. 0: no time rotation.
	RotateEvery time.Duration `yaml:"rotate_every"`
	// Fsync is the file sink's durability: always (after every batch),
	// interval (default, every FsyncInterval) or never (leave it to the OS).
	Fsync string `yaml:"fsync"`
	// FsyncInterval is the interval of fsync: interval. Default 1s.
	FsyncInterval time.Duration `yaml:"fsync_interval"`
	// BatchSize is the most events per delivery (webhook POST, file write).
	// Default 100 for webhooks, 256 otherwise.
	BatchSize int `yaml:"batch_size"`
	// MaxBody bounds one webhook POST. A batch that would exceed it is sent
	// in several POSTs; an event that alone exceeds it is replaced by a
	// stub that keeps its chain position (the full event is in the local
	// log). Default 512KiB, under the usual 1 MB receiver limit.
	MaxBody confkey.ByteSize `yaml:"max_body"`
	// FlushInterval is how long a partial batch may wait. Default 1s for
	// webhooks, 0 (write at once) otherwise.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Timeout bounds one delivery (HTTP request, syslog write). Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// RetryInitial and RetryMax bound the exponential backoff between
	// retries of a failed delivery. Defaults 200ms and 30s.
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// Facility is the syslog facility name (default local0).
	Facility string `yaml:"facility"`
	// TLS configures https webhooks and tls:// syslog.
	TLS *TLSConfig `yaml:"tls"`
}

// TLSConfig is the client TLS configuration of a sink.
type TLSConfig struct {
	// CAFile holds PEM CAs to trust instead of the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate (mutual TLS).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables certificate checks (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// AlertsConfig is the `alerts:` section.
type AlertsConfig struct {
	// Rules is the Rego query evaluated for each audit event. Default
	// data.crmgw.alerts.alerts.
	Rules string `yaml:"rules"`
	// Sinks receive every alert. None: rules are not evaluated.
	Sinks []SinkConfig `yaml:"sinks"`
	// DedupWindow suppresses repeats of a rule for the same subject.
	// Default 10m.
	DedupWindow time.Duration `yaml:"dedup_window"`
	// QueueSize bounds the events waiting for rule evaluation and the
	// alerts waiting for each sink. Default 1000.
	QueueSize int `yaml:"queue_size"`
}

// SetDefaults fills unset keys.
func (c *Config) SetDefaults() {
	if len(c.Sinks) == 0 {
		c.Sinks = []SinkConfig{{Type: "stdout"}}
	}
	if c.QueueSize == 0 {
		c.QueueSize = 10000
	}
	if c.SpoolMaxBytes == 0 {
		c.SpoolMaxBytes = 1 << 30
	}
	if c.OnFull == "" {
		c.OnFull = OnFullBlockExports
	}
	if c.QueryText == "" {
		c.QueryText = QueryTextKeep
	}
	if c.SpoolDir == "" {
		c.SpoolDir = filepath.Join(os.TempDir(), "crmgw-audit-spool")
		for _, s := range c.Sinks {
			if s.Type == "file" && s.Path != "" {
				c.SpoolDir = filepath.Join(filepath.Dir(s.Path), "spool")
				break
			}
		}
	}
	for i := range c.Sinks {
		c.Sinks[i].setDefaults(i)
	}
}

func (s *SinkConfig) setDefaults(i int) {
	if s.Name == "" {
		s.Name = fmt.Sprintf("%s-%d", s.Type, i)
	}
	if s.Fsync == "" {
		s.Fsync = "interval"
	}
	if s.FsyncInterval == 0 {
		s.FsyncInterval = time.Second
	}
	web := s.Type == "webhook" || s.Type == "slack" || s.Type == "alertmanager"
	if s.BatchSize == 0 {
		s.BatchSize = 256
		if web {
			s.BatchSize = 100
		}
	}
	if s.MaxBody == 0 && s.Type == "webhook" {
		s.MaxBody = 512 << 10
	}
	if s.FlushInterval == 0 && s.Type == "webhook" {
		s.FlushInterval = time.Second
	}
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Second
	}
	if s.RetryInitial == 0 {
		s.RetryInitial = 200 * time.Millisecond
	}
	if s.RetryMax == 0 {
		s.RetryMax = 30 * time.Second
	}
	if s.Facility == "" {
		s.Facility = "local0"
	}
	if s.Format == "" {
		switch s.Type {
		case "webhook":
			s.Format = "generic"
		case "syslog":
			s.Format = "json"
		}
	}
}

// Validate reports every problem of the section at once.
func (c *Config) Validate() error {
	var errs []error
	if c.OnFull != OnFullBlockExports && c.OnFull != OnFullDrop {
		errs = append(errs, confkey.Errorf("on_full", "must be block_exports or drop, got %q", c.OnFull))
	}
	if c.QueryText != QueryTextKeep && c.QueryText != QueryTextHash {
		errs = append(errs, confkey.Errorf("query_text", "must be text or hash, got %q", c.QueryText))
	}
	switch c.Fsync {
	case "", "always", "batch", "interval", "never":
	default:
		errs = append(errs, confkey.Errorf("fsync", "must be always, batch or interval, got %q", c.Fsync))
	}
	if c.QueueSize < 1 {
		errs = append(errs, confkey.Errorf("queue_size", "must be at least 1, got %d", c.QueueSize))
	}
	if c.SpoolMaxBytes < 1<<16 {
		errs = append(errs, confkey.Errorf("spool_max_bytes", "must be at least 64KiB, got %d", c.SpoolMaxBytes))
	}
	if c.SpoolDir == "" {
		errs = append(errs, confkey.Errorf("spool_dir", "must be set"))
	}
	names := map[string]bool{}
	localLog := true
	for i, s := range c.Sinks {
		key := fmt.Sprintf("sinks[%d]", i)
		errs = append(errs, s.validate(key, []string{"file", "stdout", "webhook", "syslog"}, true))
		switch {
		case s.Type == "file" && localLog && s.Format == FormatOCSF:
			errs = append(errs, confkey.Errorf(key+".format", "the first file sink is the local audit log, which keeps the native event "+
				"that crmgw audit verify checks: add a second file sink with format: ocsf"))
		case s.Type == "file" || s.Type == "stdout":
			if s.Format != "" && s.Format != FormatJSON && s.Format != FormatOCSF {
				errs = append(errs, confkey.Errorf(key+".format", "must be json or ocsf, got %q", s.Format))
			}
		}
		if s.Type == "file" {
			localLog = false
		}
		if names[s.Name] {
			errs = append(errs, confkey.Errorf(key+".name", "duplicate sink name %q", s.Name))
		}
		names[s.Name] = true
	}
	return errors.Join(errs...)
}

// SetDefaults fills unset keys.
func (c *AlertsConfig) SetDefaults() {
	if c.Rules == "" {
		c.Rules = "data.crmgw.alerts.alerts"
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = 10 * time.Minute
	}
	if c.QueueSize == 0 {
		c.QueueSize = 1000
	}
	for i := range c.Sinks {
		c.Sinks[i].setDefaults(i)
	}
}

// Validate reports every problem of the section at once.
func (c *AlertsConfig) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Rules) == "" {
		errs = append(errs, confkey.Errorf("rules", "must be a Rego query such as data.crmgw.alerts.alerts"))
	}
	if c.DedupWindow < 0 {
		errs = append(errs, confkey.Errorf("dedup_window", "must not be negative, got %s", c.DedupWindow))
	}
	if c.QueueSize < 1 {
		errs = append(errs, confkey.Errorf("queue_size", "must be at least 1, got %d", c.QueueSize))
	}
	for i, s := range c.Sinks {
		errs = append(errs, s.validate(fmt.Sprintf("sinks[%d]", i), []string{"webhook", "slack", "alertmanager", "syslog"}, false))
	}
	return errors.Join(errs...)
}

// webhookFormats are the webhook formats an audit sink (audit) or an
// alert sink takes.
func webhookFormats(audit bool) []string {
	if audit {
		return []string{"generic", "splunk_hec", FormatOCSF, FormatSplunkHECOCSF}
	}
	return []string{"generic", "splunk_hec"}
}

// validate checks one sink; audit is true for an audit sink (which takes
// format: ocsf), false for an alert sink.
func (s *SinkConfig) validate(key string, types []string, audit bool) error {
	var errs []error
	bad := func(k, format string, args ...any) {
		errs = append(errs, confkey.Errorf(key+"."+k, format, args...))
	}
	known := false
	for _, t := range types {
		known = known || s.Type == t
	}
	if !known {
		bad("type", "must be one of %s, got %q", strings.Join(types, ", "), s.Type)
	}
	switch s.Type {
	case "file":
		if s.Path == "" {
			bad("path", "a file sink needs a path")
		}
		if s.Fsync != "always" && s.Fsync != "batch" && s.Fsync != "interval" && s.Fsync != "never" {
			bad("fsync", "must be always, batch, interval or never, got %q", s.Fsync)
		}
		if s.MaxSize < 0 {
			bad("max_size", "must not be negative")
		}
		if s.RotateEvery < 0 {
			bad("rotate_every", "must not be negative")
		}
	case "webhook", "slack", "alertmanager":
		u, err := url.Parse(s.URL)
		if s.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// The URL may carry a secret (Slack webhook path): never echo it.
			bad("url", "must be an http:// or https:// URL")
		}
		if s.Type == "webhook" && !slices.Contains(webhookFormats(audit), s.Format) {
			bad("format", "must be one of %s, got %q", strings.Join(webhookFormats(audit), ", "), s.Format)
		}
		if s.Type == "webhook" && s.MaxBody < 4<<10 {
			bad("max_body", "must be at least 4KiB, got %d", s.MaxBody)
		}
		if (s.Format == "splunk_hec" || s.Format == FormatSplunkHECOCSF) && s.Token == "" {
			bad("token", "%s needs the HEC token", s.Format)
		}
	case "syslog":
		if _, _, err := parseSyslogAddress(s.Address); err != nil {
			bad("address", "%v", err)
		}
		if s.Format != FormatJSON && s.Format != "cef" && !(audit && s.Format == FormatOCSF) {
			if audit {
				bad("format", "must be json, cef or ocsf, got %q", s.Format)
			} else {
				bad("format", "must be json or cef, got %q", s.Format)
			}
		}
		if _, ok := syslogFacilities[s.Facility]; !ok {
			bad("facility", "unknown syslog facility %q", s.Facility)
		}
	}
	if s.BatchSize < 1 {
		bad("batch_size", "must be at least 1, got %d", s.BatchSize)
	}
	if s.FlushInterval < 0 {
		bad("flush_interval", "must not be negative")
	}
	if s.RetryInitial <= 0 || s.RetryMax < s.RetryInitial {
		bad("retry_max", "must be at least retry_initial (%s), got %s", s.RetryInitial, s.RetryMax)
	}
	if s.TLS != nil && (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file go together")
	}
	return errors.Join(errs...)
}

// parseSyslogAddress splits udp://host:514 into network and host:port.
func parseSyslogAddress(a string) (network, hostport string, err error) {
	scheme, rest, ok := strings.Cut(a, "://")
	if !ok {
		return "", "", fmt.Errorf("must look like udp://host:514, tcp://host:601 or tls://host:6514, got %q", a)
	}
	switch scheme {
	case "udp", "tcp", "tls":
	default:
		return "", "", fmt.Errorf("scheme must be udp, tcp or tls, got %q", scheme)
	}
	if _, _, err := net.SplitHostPort(rest); err != nil {
		return "", "", fmt.Errorf("bad host:port %q", rest)
	}
	return scheme, rest, nil
}
