package config

import (
	"strings"
	"testing"
)

// TestAuditOCSFFormat: format: ocsf is accepted on every audit sink but
// the local log, and a bad format is named with its file, line and key.
func TestAuditOCSFFormat(t *testing.T) {
	e := env(map[string]string{"SF_TOKEN": "x"})
	good := minimal + `    - {type: file, path: ocsf.jsonl, format: ocsf}
    - {type: stdout, format: ocsf}
    - {type: webhook, url: "https://siem.example.com/in", format: ocsf}
    - {type: syslog, address: "tcp://siem.example.com:601", format: ocsf}
`
	cfg, err := Parse("crmgw.yaml", []byte(good), e)
	if err != nil {
		t.Fatalf("format: ocsf on every sink type but the local log: %v", err)
	}
	if cfg.Audit.Sinks[1].Format != "ocsf" || cfg.Audit.Sinks[0].Format != "" {
		t.Errorf("formats = %q, %q", cfg.Audit.Sinks[0].Format, cfg.Audit.Sinks[1].Format)
	}

	bad := strings.Replace(minimal, "{type: file, path: audit.jsonl}", "{type: file, path: audit.jsonl, format: ocsf}", 1) +
		"    - type: webhook\n      url: https://siem.example.com/in\n      format: ocfs\n"
	_, err = Parse("crmgw.yaml", []byte(bad), e)
	for _, want := range []string{
		"crmgw.yaml:12: audit.sinks[0].format: the first file sink is the local audit log",
		`crmgw.yaml:15: audit.sinks[1].format: must be one of generic, splunk_hec, ocsf, splunk_hec_ocsf, got "ocfs"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}
