package policy

import (
	"errors"
	"strconv"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/crmgw/crmgw/internal/confkey"
)

// Modes of the policy section: in enforce mode a denial blocks the request;
// in monitor mode the proxy computes and audits every decision but never blocks.
const (
	ModeEnforce = "enforce"
	ModeMonitor = "monitor"
)

// Defaults applied by SetDefaults.
const (
	DefaultDecision = "data.crmgw.authz.decision"
	DefaultTimeout  = 50 * time.Millisecond
)

// Config is the `policy:` section of the gateway configuration.
type Config struct {
	// Paths are directories (walked) or files holding .rego modules and
	// .json/.yaml data. Relative paths are resolved by the config loader.
	Paths []string `yaml:"paths"`
	// Decision is the Rego reference whose value is the decision object.
	Decision string `yaml:"decision"`
	// Mode is enforce or monitor.
	Mode string `yaml:"mode"`
	// Timeout bounds one evaluation; a decision not reached in time is a deny.
	Timeout time.Duration `yaml:"timeout"`
	// Watch reloads the policies when a file under Paths changes (default true).
	Watch *bool `yaml:"watch"`
	// CacheSize is how many decisions a policy revision remembers, keyed by
	// the part of the input its rules read (default 4096, about 2 KB each;
	// 0 turns the cache off). Policies that call nondeterministic builtins
	// or read the request id or time are never cached.
	CacheSize *int `yaml:"cache_size"`
	// Bundle loads an OPA bundle besides (or instead of) Paths (bundle.go).
	Bundle *BundleConfig `yaml:"bundle"`
	// DecisionLog, when set, writes every decision in OPA's decision-log
	// format (decisionlog.go).
	DecisionLog *DecisionLogConfig `yaml:"decision_log"`
}

// SetDefaults fills the keys left empty: decision, mode, timeout, watch and
// cache_size.
// Paths has no default: a gateway without policies must not start.
func (c *Config) SetDefaults() {
	if c.Decision == "" {
		c.Decision = DefaultDecision
	}
	if c.Mode == "" {
		c.Mode = ModeEnforce
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Watch == nil {
		t := true
		c.Watch = &t
	}
	if c.CacheSize == nil {
		n := DefaultCacheSize
		c.CacheSize = &n
	}
	if c.Bundle != nil {
		c.Bundle.SetDefaults()
	}
	if c.DecisionLog != nil {
		c.DecisionLog.SetDefaults()
	}
}

// Validate reports every problem of the section at once, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	if c.Bundle != nil {
		errs = append(errs, confkey.Prefix("bundle", c.Bundle.Validate()))
	}
	if c.DecisionLog != nil {
		errs = append(errs, confkey.Prefix("decision_log", c.DecisionLog.Validate()))
	}
	if len(c.Paths) == 0 && c.Bundle == nil {
		errs = append(errs, confkey.Errorf("paths", "at least one policy directory or file is required"))
	}
	for i, p := range c.Paths {
		if p == "" {
			errs = append(errs, confkey.Errorf("paths["+strconv.Itoa(i)+"]", "empty path"))
		}
	}
	if c.Decision != "" {
		if err := checkDecisionRef(c.Decision); err != nil {
			errs = append(errs, confkey.Errorf("decision", "%v", err))
		}
	} else {
		errs = append(errs, confkey.Errorf("decision", "empty reference (want e.g. %s)", DefaultDecision))
	}
	switch c.Mode {
	case ModeEnforce, ModeMonitor:
	default:
		errs = append(errs, confkey.Errorf("mode", "%q is not a mode (want enforce or monitor)", c.Mode))
	}
	if c.Timeout < 0 {
		errs = append(errs, confkey.Errorf("timeout", "%s is negative", c.Timeout))
	}
	if c.CacheSize != nil && *c.CacheSize < 0 {
		errs = append(errs, confkey.Errorf("cache_size", "%d is negative (0 turns the cache off)", *c.CacheSize))
	}
	return errors.Join(errs...)
}

// checkDecisionRef accepts a plain reference into data, such as
// data.crmgw.authz.decision, and nothing that would need a query.
func checkDecisionRef(s string) error {
	ref, err := ast.ParseRef(s)
	if err != nil {
		return errors.New("\"" + s + "\" is not a Rego reference (want e.g. " + DefaultDecision + ")")
	}
	if !ref.HasPrefix(ast.DefaultRootRef) || len(ref) < 2 || !ref.IsGround() {
		return errors.New("\"" + s + "\" must be a reference into data, such as " + DefaultDecision)
	}
	return nil
}
