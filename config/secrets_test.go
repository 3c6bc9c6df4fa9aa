package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretsYAML is a configuration whose secrets all come from files in dir.
func secretsYAML(extra string) string {
	return `server:
  listen: 127.0.0.1:8080
upstreams:
  - name: salesforce
    type: salesforce
    url: https://acme.my.salesforce.com
    auth: {type: static, token: t}
policy:
  paths: [policies]
masking:
  hmac_key_file: secrets/hmac
ratelimit:
  store: redis
  redis: {url: "redis://127.0.0.1:6379/0", password_file: secrets/redis}
audit:
  sinks:
    - {type: webhook, format: splunk_hec, url: "https://siem.example.com/hec", token_file: secrets/hec}
alerts:
  sinks:
    - {type: webhook, url: "https://soc.example.com/hook", token_file: /nonexistent/never}
` + extra
}

func writeSecrets(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, "secrets", name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSecretsFromFiles(t *testing.T) {
	dir := writeSecrets(t, map[string]string{
		"hmac":  "0123456789abcdef-hmac\n", // one trailing newline: removed
		"redis": " pw with spaces \r\n",    // CRLF removed, spaces kept
		"hec":   "hec-token-1\n\n",         // only one newline is removed
		"alert": "alert-token",
	})
	y := strings.Replace(secretsYAML(""), "/nonexistent/never", filepath.Join(dir, "secrets", "alert"), 1)
	cfg, err := Parse(filepath.Join(dir, "crmgw.yaml"), []byte(y), env(nil))
	if err != nil {
		t.Fatalf("problems: %v", err)
	}
	if cfg.Masking.HMACKey != "0123456789abcdef-hmac" {
		t.Errorf("hmac_key = %q", cfg.Masking.HMACKey)
	}
	if cfg.Ratelimit.Redis.Password != " pw with spaces " {
		t.Errorf("redis password = %q", cfg.Ratelimit.Redis.Password)
	}
	if cfg.Audit.Sinks[0].Token != "hec-token-1\n" {
		t.Errorf("HEC token = %q", cfg.Audit.Sinks[0].Token)
	}
	if cfg.Alerts.Sinks[0].Token != "alert-token" {
		t.Errorf("alert token = %q", cfg.Alerts.Sinks[0].Token)
	}
}

func TestSecretFileProblemsNameKeyAndLine(t *testing.T) {
	dir := writeSecrets(t, map[string]string{
		"hmac":  "short\n", // read, then validated like hmac_key
		"redis": "\n",      // empty once the newline is gone
	})
	if err := os.Mkdir(filepath.Join(dir, "secrets", "hec"), 0o700); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "secrets", "big")
	if err := os.WriteFile(big, make([]byte, maxSecretFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	y := secretsYAML("") + "" // alerts token_file: /nonexistent/never
	y = strings.Replace(y, `url: "redis://127.0.0.1:6379/0", password_file`, `url: "redis://127.0.0.1:6379/0", password: also-inline, password_file`, 1)
	_, err := Parse(filepath.Join(dir, "crmgw.yaml"), []byte(y), env(nil))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		"crmgw.yaml:10: masking.hmac_key: must be at least 16 bytes (got 5)",
		"crmgw.yaml:14: ratelimit.redis.password_file: set either password or password_file, not both",
		"crmgw.yaml:17: audit.sinks[0].token_file: " + filepath.Join(dir, "secrets", "hec") + " is a directory, not a file",
		"crmgw.yaml:20: alerts.sinks[0].token_file: /nonexistent/never cannot be read: no such file or directory",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems lack %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "also-inline") {
		t.Errorf("a secret value is in the problem text:\n%s", msg)
	}

	// Empty and oversized files.
	y = strings.Replace(secretsYAML(""), "hmac_key_file: secrets/hmac", "hmac_key_file: secrets/big", 1)
	y = strings.Replace(y, "/nonexistent/never", filepath.Join(dir, "secrets", "redis"), 1)
	_, err = Parse(filepath.Join(dir, "crmgw.yaml"), []byte(y), env(nil))
	for _, want := range []string{
		"masking.hmac_key_file: " + big + " is larger than 65536 bytes",
		"ratelimit.redis.password_file: " + filepath.Join(dir, "secrets", "redis") + " is empty",
		"alerts.sinks[0].token_file: " + filepath.Join(dir, "secrets", "redis") + " is empty",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
}
