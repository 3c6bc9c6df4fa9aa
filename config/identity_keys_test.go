package config

import (
	"strings"
	"testing"
)

// The identity hardening keys (docs/identity.md) are reported by crmgw
// validate with file:line, every problem at once.
func TestIdentityHardeningKeysNameKeyAndLine(t *testing.T) {
	yaml := `server:
  listen: 127.0.0.1:8080
upstreams:
  - name: salesforce
    type: salesforce
    url: https://acme.my.salesforce.com
    auth:
      type: static
      token: t
      use_instance_url: true
      allowed_instance_hosts: ["*.my.salesforce.com", "*", "evil.com:0"]
identity:
  token_cache_ttl: 2h
  oidc:
    - issuer: https://login.example.com
      audience: crmgw
      jwks_refresh: 10ms
      max_token_lifetime: -1h
      allowed_roles: [""]
      introspection: {url: "ftp://x", client_id: "", client_secret: ""}
  mtls:
    clients:
      - {id: legacy, subject_dn: "CN=legacy;O=Acme"}
policy:
  paths: [policies]
audit:
  sinks:
    - {type: file, path: audit.jsonl}
`
	_, err := Parse("/etc/crmgw/crmgw.yaml", []byte(yaml), env(nil))
	if err == nil {
		t.Fatal("bad identity keys accepted")
	}
	for _, want := range []string{
		"crmgw.yaml:11: upstreams[0].auth.allowed_instance_hosts[1]:",
		"crmgw.yaml:11: upstreams[0].auth.allowed_instance_hosts[2]:",
		"crmgw.yaml:13: identity.token_cache_ttl:",
		"crmgw.yaml:17: identity.oidc[0].jwks_refresh:",
		"crmgw.yaml:18: identity.oidc[0].max_token_lifetime:",
		"identity.oidc[0].allowed_roles[0]: must not be empty",
		"identity.oidc[0].introspection.url:",
		"identity.oidc[0].introspection.client_id: is required",
		"identity.oidc[0].introspection.client_secret: is required",
		"identity.mtls.clients[0].subject_dn:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
