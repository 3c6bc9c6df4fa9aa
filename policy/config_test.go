package policy

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/crmgw/crmgw/internal/confkey"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.SetDefaults()
	if c.Decision != DefaultDecision || c.Mode != ModeEnforce || c.Timeout != 50*time.Millisecond || c.Watch == nil || !*c.Watch {
		t.Errorf("defaults = %+v", c)
	}
}

func TestConfigFromYAML(t *testing.T) {
	src := "paths: [policies, /etc/crmgw/extra]\ndecision: data.acme.authz.decision\nmode: monitor\ntimeout: 20ms\nwatch: false\n"
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Paths) != 2 || c.Decision != "data.acme.authz.decision" || c.Mode != ModeMonitor || c.Timeout != 20*time.Millisecond || *c.Watch {
		t.Errorf("config = %+v", c)
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	c := Config{Paths: []string{"policies", ""}, Decision: "input.x", Mode: "block", Timeout: -time.Second}
	err := c.Validate()
	keys := map[string]bool{}
	for _, e := range confkey.Flatten(err) {
		ke, ok := e.(*confkey.Error)
		if !ok {
			t.Errorf("%v is not a *confkey.Error", e)
			continue
		}
		keys[ke.Key] = true
	}
	for _, k := range []string{"paths[1]", "decision", "mode", "timeout"} {
		if !keys[k] {
			t.Errorf("no problem reported for %s (got %v)", k, err)
		}
	}
}

func TestConfigValidateDecisionReference(t *testing.T) {
	for ref, ok := range map[string]bool{
		"data.crmgw.authz.decision":      true,
		`data.crmgw["authz"].decision`:   true,
		"data":                           false,
		"input.decision":                 false,
		"data.crmgw.authz[x]":            false,
		"data.crmgw.authz.decision == 1": false,
		"not a ref":                      false,
	} {
		c := Config{Paths: []string{"p"}, Decision: ref}
		c.SetDefaults()
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("decision %q: err = %v, want ok=%v", ref, err, ok)
		}
	}
}
