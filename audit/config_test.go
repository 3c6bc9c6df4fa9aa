package audit

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crmgw/crmgw/internal/confkey"
	"github.com/open-policy-agent/opa/v1/format"
	"github.com/open-policy-agent/opa/v1/tester"
	"gopkg.in/yaml.v3"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.SetDefaults()
	if len(c.Sinks) != 1 || c.Sinks[0].Type != "stdout" || c.OnFull != OnFullBlockExports ||
		c.QueueSize != 10000 || c.SpoolMaxBytes != 1<<30 || c.SpoolDir == "" {
		t.Errorf("defaults = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	f := Config{Sinks: []SinkConfig{{Type: "file", Path: "/var/log/crmgw/audit.jsonl"}}}
	f.SetDefaults()
	if f.SpoolDir != "/var/log/crmgw/spool" || f.Sinks[0].Fsync != "interval" || f.Sinks[0].FsyncInterval != time.Second || f.Sinks[0].Name != "file-0" {
		t.Errorf("file defaults = %+v", f)
	}
	var al AlertsConfig
	al.SetDefaults()
	if al.Rules != "data.crmgw.alerts.alerts" || al.DedupWindow != 10*time.Minute {
		t.Errorf("alert defaults = %+v", al)
	}
}

func TestConfigFromYAML(t *testing.T) {
	src := `
sinks:
  - {type: file, path: /var/log/crmgw/audit.jsonl, max_size: 100MiB, rotate_every: 24h, fsync: always}
  - {type: webhook, url: "https://splunk.example.com:8088/services/collector/event", format: splunk_hec, token: abc, batch_size: 50, flush_interval: 2s}
  - {type: syslog, address: "tls://siem.example.com:6514", format: cef, tls: {ca_file: /etc/ssl/siem.pem}}
spool_dir: /var/lib/crmgw/spool
spool_max_bytes: 2GiB
on_full: drop
queue_size: 500
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Sinks[0].MaxSize != 100<<20 || c.Sinks[0].RotateEvery != 24*time.Hour || c.Sinks[1].FlushInterval != 2*time.Second ||
		c.SpoolMaxBytes != 2<<30 || c.Sinks[2].TLS.CAFile != "/etc/ssl/siem.pem" {
		t.Errorf("decoded = %+v", c)
	}
}

func TestConfigValidateReportsEveryProblemWithItsKey(t *testing.T) {
	c := Config{
		Sinks: []SinkConfig{
			{Type: "file"},
			{Type: "webhook", URL: "ftp://x", Format: "splunk_hec"},
			{Type: "syslog", Address: "host:514", Format: "xml"},
			{Type: "kafka"},
			{Type: "stdout", Name: "file-0"},
		},
		OnFull:        "panic",
		QueryText:     "plain",
		SpoolMaxBytes: 10,
	}
	c.SetDefaults()
	c.Sinks[0].Fsync = "sometimes"
	err := c.Validate()
	keys := map[string]bool{}
	for _, e := range confkey.Flatten(err) {
		ke, ok := e.(*confkey.Error)
		if !ok {
			t.Fatalf("%v is not a confkey.Error", e)
		}
		keys[ke.Key] = true
	}
	for _, k := range []string{"on_full", "query_text", "spool_max_bytes", "sinks[0].path", "sinks[0].fsync", "sinks[1].url",
		"sinks[1].token", "sinks[2].address", "sinks[2].format", "sinks[3].type", "sinks[4].name"} {
		if !keys[k] {
			t.Errorf("no problem reported for %s (got %v)", k, keys)
		}
	}
	if strings.Contains(err.Error(), "ftp://x") {
		t.Error("a URL (it may hold a secret) was echoed")
	}

	al := AlertsConfig{Sinks: []SinkConfig{{Type: "file"}, {Type: "slack"}}, DedupWindow: -time.Second}
	al.SetDefaults()
	al.Rules = " "
	keys = map[string]bool{}
	for _, e := range confkey.Flatten(al.Validate()) {
		keys[e.(*confkey.Error).Key] = true
	}
	for _, k := range []string{"rules", "dedup_window", "sinks[0].type", "sinks[1].url"} {
		if !keys[k] {
			t.Errorf("alerts: no problem reported for %s (got %v)", k, keys)
		}
	}
}

func TestTokenNeverInValidationErrors(t *testing.T) {
	c := Config{Sinks: []SinkConfig{{Type: "webhook", URL: "nope", Token: "super-secret-token"}}}
	c.SetDefaults()
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "super-secret-token") {
		t.Fatalf("err = %v", err)
	}
}

func TestActivityAndSeverityFromTheCategory(t *testing.T) {
	cases := []struct {
		category, operation, status string
		activity, severity          string
	}{
		{"export", "bulk_result", StatusAllowed, "export", "high"},
		{"bulk", "bulk_ingest", StatusAllowed, "bulk", "high"},
		{"write", "create", StatusAllowed, "create", "medium"},
		{"write", "update", StatusAllowed, "update", "medium"},
		{"write", "upsert", StatusAllowed, "update", "medium"},
		{"write", "delete", StatusAllowed, "delete", "high"},
		{"read", "query", StatusAllowed, "read", "informational"},
		{"metadata", "describe", StatusAllowed, "read", "informational"},
		{"unknown", "unknown", StatusAllowed, "other", "low"},
		{"read", "query", StatusDenied, "read", "medium"},
		{"export", "bulk_query", StatusDenied, "export", "high"},
		{"read", "query", StatusRateLimited, "read", "medium"},
		{"read", "query", StatusFailed, "read", "low"},
	}
	for _, tc := range cases {
		ev := Event{Status: tc.status, CRM: CRM{Category: tc.category, Operation: tc.operation}}
		ev.Classify()
		if ev.Activity != tc.activity || ev.Severity != tc.severity || ev.ClassUID != 6003 {
			t.Errorf("%s/%s/%s -> %s/%s, want %s/%s", tc.category, tc.operation, tc.status, ev.Activity, ev.Severity, tc.activity, tc.severity)
		}
	}
}

// TestAlertRegoTests runs policies/alerts_test.rego with OPA's tester.
func TestAlertRegoTests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results, err := tester.Run(ctx, "../policies/alerts.rego", "../policies/alerts_test.rego", "../policies/alerts_data.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 15 {
		t.Fatalf("only %d Rego tests ran", len(results))
	}
	for _, r := range results {
		if !r.Pass() {
			t.Errorf("%s.%s: %v %v", r.Package, r.Name, r.Fail, r.Error)
		}
	}
}

// TestAlertRegoIsFormatted is `opa fmt --diff` for the files this package
// owns.
func TestAlertRegoIsFormatted(t *testing.T) {
	for _, f := range []string{"../policies/alerts.rego", "../policies/alerts_test.rego"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := format.Source(f, src)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(src) {
			t.Errorf("%s is not opa-fmt formatted:\n%s", f, got)
		}
	}
}
