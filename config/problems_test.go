package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenConfigsReportEveryProblemWithFileLineAndKey loads broken files
// as `crmgw validate` does and checks that each problem is reported, all at
// once, as file:line: key: message.
func TestBrokenConfigsReportEveryProblemWithFileLineAndKey(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "policies"), 0o700); err != nil {
		t.Fatal(err)
	}
	base := `server:
  listen: 127.0.0.1:8080
upstreams:
  - name: salesforce
    type: salesforce
    url: https://acme.my.salesforce.com
    auth: {type: static, token: t}
policy:
  paths: [policies]
audit:
  sinks:
    - {type: file, path: audit.jsonl}
`
	cases := []struct {
		name string
		yaml string
		want []string // each must appear; all in one error
	}{
		{
			name: "type errors name the key, in flow and block mappings alike",
			yaml: base + "ratelimit:\n  store: memory\n  limits:\n    - {name: a, key: subject, rate: fast, per: 1s, burst: 2}\n",
			want: []string{`crmgw.yaml:16: ratelimit.limits[0].rate: want a number, got "fast"`},
		},
		{
			name: "a bad duration",
			yaml: strings.Replace(base, "  paths: [policies]", "  paths: [policies]\n  timeout: soon", 1),
			want: []string{`crmgw.yaml:10: policy.timeout: want a duration like 30s or 1m30s, got "soon"`},
		},
		{
			name: "a bad size has its line, and does not hide the next problem",
			yaml: strings.Replace(base, "  listen: 127.0.0.1:8080", "  listen: 127.0.0.1:99999\n  max_request_body: ten", 1),
			want: []string{
				`crmgw.yaml:2: server.listen: port 99999 is out of range (0-65535)`,
				`crmgw.yaml:3: server.max_request_body: invalid size "ten"`,
			},
		},
		{
			name: "a missing policy directory names its line",
			yaml: strings.Replace(base, "[policies]", "[policies, nowhere]", 1),
			want: []string{`crmgw.yaml:9: policy.paths[1]: ` + filepath.Join(dir, "nowhere") + ` does not exist`},
		},
		{
			name: "TLS files are loaded as serve loads them",
			yaml: strings.Replace(base, "  listen: 127.0.0.1:8080", "  listen: 127.0.0.1:8443\n  tls: {cert_file: a.crt, key_file: a.key, client_ca_file: ca.pem}", 1),
			want: []string{
				`crmgw.yaml:3: server.tls.cert_file: cannot load the certificate and key: ` + filepath.Join(dir, "a.crt") + `: no such file or directory`,
				`crmgw.yaml:3: server.tls.client_ca_file: ` + filepath.Join(dir, "ca.pem") + `: no such file or directory`,
			},
		},
		{
			name: "a list where a value belongs",
			yaml: strings.Replace(base, "  listen: 127.0.0.1:8080", "  listen: [127.0.0.1:8080]", 1),
			want: []string{`crmgw.yaml:2: server.listen: want a single value`},
		},
		{
			name: "many problems, all reported",
			yaml: strings.Replace(strings.Replace(base, "type: salesforce", "type: sugarcrm", 1), "  paths: [policies]", "  paths: [policies]\n  mode: loud\n  timeout: x", 1),
			want: []string{
				`crmgw.yaml:5: upstreams[0].type: want salesforce, zoho or generic, got "sugarcrm"`,
				`crmgw.yaml:11: policy.timeout: want a duration`,
				`crmgw.yaml:10: policy.mode:`,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "crmgw.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), strings.Replace(w, "crmgw.yaml", path, 1)) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestEnvDefaultIsUsedWhenUnsetOrEmpty(t *testing.T) {
	y := strings.Replace(minimal, `"${SF_TOKEN}"`, `"${SF_TOKEN:-sample-token}"`, 1)
	for _, e := range []map[string]string{nil, {"SF_TOKEN": ""}} {
		c, err := Parse("crmgw.yaml", []byte(y), env(e))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Upstreams[0].Auth.Token; got != "sample-token" {
			t.Fatalf("token = %q, want the default", got)
		}
	}
	c, err := Parse("crmgw.yaml", []byte(y), env(map[string]string{"SF_TOKEN": "real"}))
	if err != nil || c.Upstreams[0].Auth.Token != "real" {
		t.Fatalf("a set variable wins over its default: %v %v", err, c)
	}
}
