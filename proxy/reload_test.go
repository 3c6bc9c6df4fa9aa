package proxy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/crmgw/crmgw/config"
)

const restartBase = `server:
  listen: 127.0.0.1:8080
  tls: {cert_file: /etc/crmgw/tls/server.crt, key_file: /etc/crmgw/tls/server.key}
admin:
  listen: 127.0.0.1:9090
upstreams:
  - name: salesforce
    type: salesforce
    url: https://acme.my.salesforce.com
    auth: {type: client_credentials, token_url: https://acme.my.salesforce.com/services/oauth2/token, client_id: cid, client_secret: one}
  - name: zoho
    type: zoho
    url: https://www.zohoapis.eu
    match: {path_prefix: /zoho}
    auth: {type: static, token: zt}
identity:
  api_keys:
    - {id: etl, key_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
policy:
  paths: [/etc/crmgw/policies]
masking:
  hmac_key: hmac-key-0123456789abcdef
ratelimit:
  store: redis
  redis: {url: "redis://127.0.0.1:6379/0"}
  limits:
    - {name: per-subject, key: subject, rate: 20, per: 1s}
audit:
  sinks:
    - {type: stdout}
`

// restartKeys names exactly the settings a reload cannot apply, by their
// YAML keys, and nothing a reload applies.
func TestRestartKeys(t *testing.T) {
	env := func(string) (string, bool) { return "", false }
	base, err := config.Parse("crmgw.yaml", []byte(restartBase), env)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		from []string // pairs: old, new
		want []string
	}{
		{"nothing", nil, nil},
		{"reloadable only", []string{
			"rate: 20, per: 1s", "rate: 5, per: 1m",
			"client_secret: one", "client_secret: two",
			"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
			"key_file: /etc/crmgw/tls/server.key", "key_file: /etc/crmgw/tls/new.key",
		}, nil},
		{"listeners and stores", []string{
			"listen: 127.0.0.1:8080", "listen: 127.0.0.1:8443",
			"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6380/0",
			"{type: stdout}", "{type: file, path: /var/log/crmgw/audit.jsonl}",
		}, []string{"server.listen", "ratelimit.redis", "audit.sinks", "audit.spool_dir"}}, // the spool follows the file sink
		{"secrets by name only", []string{"hmac_key: hmac-key-0123456789abcdef", "hmac_key: hmac-key-fedcba9876543210"}, []string{"masking.hmac_key"}},
		{"tls off", []string{"  tls: {cert_file: /etc/crmgw/tls/server.crt, key_file: /etc/crmgw/tls/server.key}\n", ""}, []string{"server.tls"}},
		{"an upstream's address, with its auth", []string{
			"url: https://www.zohoapis.eu", "url: https://www.zohoapis.com",
			"token: zt", "token: zt2",
		}, []string{"upstreams[zoho]"}},
		{"an upstream removed", []string{"  - name: zoho\n    type: zoho\n    url: https://www.zohoapis.eu\n    match: {path_prefix: /zoho}\n    auth: {type: static, token: zt}\n", ""}, []string{"upstreams[zoho] (removed)"}},
		{"policy settings", []string{"paths: [/etc/crmgw/policies]", "paths: [/etc/crmgw/policies]\n  mode: monitor"}, []string{"policy.mode"}},
	} {
		text := restartBase
		for i := 0; i+1 < len(c.from); i += 2 {
			if !strings.Contains(text, c.from[i]) {
				t.Fatalf("%s: %q not in the base", c.name, c.from[i])
			}
			text = strings.Replace(text, c.from[i], c.from[i+1], 1)
		}
		cur, err := config.Parse("crmgw.yaml", []byte(text), env)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := restartKeys(base, cur); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: restart needed for %q, want %q", c.name, got, c.want)
		}
	}
}
