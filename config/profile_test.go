package config

import (
	"strings"
	"testing"
)

// TestProfileKey: a built-in profile name stays a name, a file is resolved
// against the config directory, auth type profile is only for generic
// upstreams, and a generic upstream needs a profile.
func TestProfileKey(t *testing.T) {
	y := `server: {listen: 127.0.0.1:8080}
upstreams:
  - {name: fx, type: generic, profile: fxiaoke, url: https://open.fxiaoke.com, match: {path_prefix: /fx},
     auth: {type: profile, params: {appId: a, appSecret: "${FX_SECRET}"}}}
  - {name: inhouse, type: generic, profile: profiles/inhouse.yaml, url: https://crm.example.com,
     auth: {type: static, token: t}}
policy: {paths: [policies]}
`
	cfg, err := Parse("/etc/crmgw/crmgw.yaml", []byte(y), env(map[string]string{"FX_SECRET": "s"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Upstreams[0].Profile; got != "fxiaoke" {
		t.Errorf("built-in name changed: %q", got)
	}
	if got := cfg.Upstreams[1].Profile; got != "/etc/crmgw/profiles/inhouse.yaml" {
		t.Errorf("profile file not resolved: %q", got)
	}
	if got := cfg.Upstreams[0].Auth.Params["appSecret"]; got != "s" {
		t.Errorf("params not expanded: %q", got)
	}
	bad := strings.Replace(minimal, "auth: {type: static, token: \"${SF_TOKEN}\"}", "auth: {type: profile}", 1)
	_, err = Parse("/etc/crmgw/crmgw.yaml", []byte(bad), env(nil))
	if err == nil || !strings.Contains(err.Error(), "upstreams[0].auth.type: profile is for upstreams of type generic") {
		t.Errorf("auth type profile on salesforce: %v", err)
	}
	noProfile := strings.Replace(minimal, "type: salesforce", "type: generic", 1)
	_, err = Parse("/etc/crmgw/crmgw.yaml", []byte(noProfile), env(map[string]string{"SF_TOKEN": "t"}))
	if err == nil || !strings.Contains(err.Error(), "upstreams[0].profile: required for type generic") {
		t.Errorf("generic without profile: %v", err)
	}
}
