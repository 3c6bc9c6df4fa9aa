package ratelimit

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/crmgw/crmgw/internal/confkey"
	"gopkg.in/yaml.v3"
)

// Store names accepted in Config.Store.
const (
	StoreMemory = "memory"
	StoreRedis  = "redis"
)

// Failure modes accepted in Config.OnStoreError.
const (
	FailDeny  = "deny"
	FailAllow = "allow"
)

// Config is the `ratelimit:` section of crmgw's configuration.
type Config struct {
	// Store holds the limiter state: "memory" (default, one node) or "redis"
	// (shared by every replica).
	Store string `yaml:"store"`
	// Redis configures the redis store (ignored for memory).
	Redis RedisConfig `yaml:"redis"`
	// OnStoreError decides requests while the store is unreachable:
	// "deny" (default) or "allow".
	OnStoreError string `yaml:"on_store_error"`
	// Timeout bounds one store call (Allow or Record) as a whole, retries
	// and pool waits included. Default 300ms (a busy 2-core host stalls a
	// healthy Redis call for tens of milliseconds; see docs/ratelimit.md).
	Timeout time.Duration `yaml:"timeout"`
	// Breaker stops calling an unreachable store for a while, so that
	// on_store_error decides at memory speed (breaker.go).
	Breaker BreakerConfig `yaml:"breaker"`
	// LogInterval is how often a continuing store outage is logged again
	// (the first failure and the recovery are always logged). Default 30s.
	LogInterval time.Duration `yaml:"log_interval"`
	// Limits are the request rate limits (GCRA).
	Limits []LimitConfig `yaml:"limits"`
	// Quotas are the record-volume quotas.
	Quotas []QuotaConfig `yaml:"quotas"`
	// ReserveMax bounds what one request reserves from a quota before it
	// is forwarded, and so what it may deliver, whatever its own cap;
	// 0 (default): no bound but the room left.
	// docs/ratelimit.md, "Reservations".
	ReserveMax int64 `yaml:"reserve_max"`
	// PreAuth are the limits that run before authentication (preauth.go).
	PreAuth PreAuthConfig `yaml:"preauth"`
}

// RedisConfig selects and tunes the Redis deployment: a single node (url or
// one address), Sentinel (master_name plus sentinel addrs) or Cluster
// (cluster: true, or several addrs without master_name).
type RedisConfig struct {
	// URL is redis://[user:password@]host:port/db or rediss:// for TLS.
	URL string `yaml:"url"`
	// Addrs are host:port pairs: cluster seed nodes, or Sentinel addresses
	// when MasterName is set.
	Addrs []string `yaml:"addrs"`
	// MasterName is the Sentinel master name.
	MasterName string `yaml:"master_name"`
	// Cluster forces cluster mode even with a single seed address.
	Cluster  bool   `yaml:"cluster"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile names a file holding the password instead (a mounted
	// secret); the config loader reads it into Password (docs/deploy.md
	// "Secrets").
	PasswordFile string `yaml:"password_file"`
	// DB is the database number (single node and Sentinel only).
	DB  int            `yaml:"db"`
	TLS RedisTLSConfig `yaml:"tls"`
	// DialTimeout defaults to 200ms, ReadTimeout and WriteTimeout to 250ms:
	// tight enough that a slow store does not hold requests for long, loose
	// enough that CPU contention on the gateway's host does not turn a
	// healthy store's answer into a store error (a false 429 under deny).
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxRetries is how often a failed command is retried (default 0: the
	// circuit breaker handles an outage; a retry only adds latency to
	// every request while the store is down).
	MaxRetries int `yaml:"max_retries"`
	// MinRetryBackoff is the wait before a retry (default 0: none, not
	// even on connection refused).
	MinRetryBackoff time.Duration `yaml:"min_retry_backoff"`
	// PoolSize is the connection pool size per node (0: go-redis default,
	// 10 per CPU).
	PoolSize int `yaml:"pool_size"`
	// KeyPrefix is put in front of every key. Default "crmgw:rl:".
	KeyPrefix string `yaml:"key_prefix"`
}

// RedisTLSConfig turns on TLS to Redis (also implied by a rediss:// URL).
type RedisTLSConfig struct {
	Enabled    bool   `yaml:"enabled"`
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// UnmarshalYAML accepts `tls: true` as well as the full mapping.
func (t *RedisTLSConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&t.Enabled)
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			switch k := n.Content[i].Value; k {
			case "enabled", "ca_file", "cert_file", "key_file", "server_name":
			default:
				return fmt.Errorf("line %d: tls: unknown key %q", n.Content[i].Line, k)
			}
		}
	}
	type plain RedisTLSConfig
	return n.Decode((*plain)(t))
}

// LimitConfig is one request rate limit: Rate requests per Per, with bursts
// of up to Burst requests, counted per value of Key.
type LimitConfig struct {
	// Name appears in metrics, headers and the 429 reason.
	Name string `yaml:"name"`
	// Key is what the limit counts by: subject, client, ip, upstream,
	// operation, category, or a combination joined by "+"
	// ("subject+operation"). Default "subject".
	Key   string        `yaml:"key"`
	Rate  int           `yaml:"rate"`
	Per   time.Duration `yaml:"per"`
	Burst int           `yaml:"burst"` // default Rate
	// Operations, Categories and Upstreams select the requests the limit
	// applies to; an empty list matches everything.
	Operations []string `yaml:"operations"`
	Categories []string `yaml:"categories"`
	Upstreams  []string `yaml:"upstreams"`
}

// QuotaConfig is one record-volume quota: at most Records records per Window
// (sliding) per value of Key, for requests in Categories.
type QuotaConfig struct {
	Name    string        `yaml:"name"`
	Key     string        `yaml:"key"` // as LimitConfig.Key; default "subject"
	Records int64         `yaml:"records"`
	Window  time.Duration `yaml:"window"`
	// Categories, Operations and Upstreams select the requests the quota
	// applies to; an empty list matches everything.
	Categories []string `yaml:"categories"`
	Operations []string `yaml:"operations"`
	Upstreams  []string `yaml:"upstreams"`
}

// Known operation and category names (the policy input contract).
var (
	knownOperations = []string{"read", "list", "query", "search", "create", "update", "upsert", "delete",
		"bulk_query", "bulk_result", "bulk_ingest", "report", "describe", "composite", "unknown"}
	knownCategories = []string{"read", "write", "export", "bulk", "metadata", "unknown"}
	knownKeyParts   = []string{"subject", "client", "ip", "upstream", "operation", "category"}
)

// SetDefaults fills the defaults documented on each field.
func (c *Config) SetDefaults() {
	if c.Store == "" {
		c.Store = StoreMemory
	}
	if c.OnStoreError == "" {
		c.OnStoreError = FailDeny
	}
	if c.Timeout == 0 {
		c.Timeout = 300 * time.Millisecond
	}
	c.Breaker.setDefaults()
	if c.LogInterval == 0 {
		c.LogInterval = 30 * time.Second
	}
	r := &c.Redis
	if r.DialTimeout == 0 {
		r.DialTimeout = 200 * time.Millisecond
	}
	if r.ReadTimeout == 0 {
		r.ReadTimeout = 250 * time.Millisecond
	}
	if r.WriteTimeout == 0 {
		r.WriteTimeout = 250 * time.Millisecond
	}
	if r.KeyPrefix == "" {
		r.KeyPrefix = "crmgw:rl:"
	}
	for i := range c.Limits {
		l := &c.Limits[i]
		if l.Key == "" {
			l.Key = "subject"
		}
		if l.Burst == 0 {
			l.Burst = l.Rate
		}
	}
	for i := range c.Quotas {
		if c.Quotas[i].Key == "" {
			c.Quotas[i].Key = "subject"
		}
	}
	c.PreAuth.setDefaults()
}

// Validate reports every problem in the section at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) { errs = append(errs, confkey.Errorf(key, format, args...)) }

	switch c.Store {
	case StoreMemory, StoreRedis:
	default:
		add("store", "must be memory or redis, not %q", c.Store)
	}
	switch c.OnStoreError {
	case FailDeny, FailAllow:
	default:
		add("on_store_error", "must be deny or allow, not %q", c.OnStoreError)
	}
	if c.Timeout < 0 {
		add("timeout", "must not be negative")
	}
	if c.LogInterval < 0 {
		add("log_interval", "must not be negative")
	}
	if c.ReserveMax < 0 {
		add("reserve_max", "must not be negative, not %d", c.ReserveMax)
	}
	if c.Breaker.Failures < -1 || c.Breaker.OpenFor < 0 || c.Breaker.MaxOpenFor < c.Breaker.OpenFor {
		add("breaker", "failures must be -1 (off) or positive, open_for positive and max_open_for at least open_for (got %d, %s, %s)",
			c.Breaker.Failures, c.Breaker.OpenFor, c.Breaker.MaxOpenFor)
	}
	if c.Redis.MaxRetries < 0 || c.Redis.MinRetryBackoff < 0 {
		add("redis", "max_retries and min_retry_backoff must not be negative")
	}
	if c.Store == StoreRedis {
		errs = append(errs, c.Redis.validate()...)
	}
	errs = append(errs, c.PreAuth.validate()...)

	names := map[string]string{}
	checkName := func(key, name string) {
		switch {
		case name == "":
			add(key, "is required")
		case !validName(name):
			add(key, "%q may hold only letters, digits, '-', '_' and '.'", name)
		case names[name] != "":
			add(key, "%q is already used by %s", name, names[name])
		case slices.Contains(preAuthNames, name):
			add(key, "%q is the name of a pre-authentication limit", name)
		default:
			names[name] = key
		}
	}
	for i, l := range c.Limits {
		p := fmt.Sprintf("limits[%d]", i)
		checkName(p+".name", l.Name)
		if err := checkKey(l.Key); err != nil {
			add(p+".key", "%v", err)
		}
		if l.Rate <= 0 {
			add(p+".rate", "must be positive, not %d", l.Rate)
		}
		if l.Per <= 0 {
			add(p+".per", "must be a positive duration such as 1s or 1m")
		} else if l.Rate > 0 && l.Per/time.Duration(l.Rate) < time.Microsecond {
			add(p+".rate", "%d per %s is more than one request per microsecond", l.Rate, l.Per)
		}
		if l.Burst < 0 {
			add(p+".burst", "must not be negative, not %d", l.Burst)
		}
		checkList(add, p+".operations", l.Operations, knownOperations)
		checkList(add, p+".categories", l.Categories, knownCategories)
		checkList(add, p+".upstreams", l.Upstreams, nil)
	}
	for i, q := range c.Quotas {
		p := fmt.Sprintf("quotas[%d]", i)
		checkName(p+".name", q.Name)
		if err := checkKey(q.Key); err != nil {
			add(p+".key", "%v", err)
		}
		if q.Records <= 0 {
			add(p+".records", "must be positive, not %d", q.Records)
		}
		if q.Window < time.Second {
			add(p+".window", "must be at least 1s, such as 1h or 24h")
		}
		checkList(add, p+".categories", q.Categories, knownCategories)
		checkList(add, p+".operations", q.Operations, knownOperations)
		checkList(add, p+".upstreams", q.Upstreams, nil)
	}
	return errors.Join(errs...)
}

func (r *RedisConfig) validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, confkey.Errorf("redis."+key, format, args...))
	}
	if r.URL == "" && len(r.Addrs) == 0 {
		add("url", "redis store needs url or addrs")
	}
	if r.URL != "" {
		// Never echo the URL: it may hold the password.
		u, err := url.Parse(r.URL)
		switch {
		case err != nil:
			add("url", "is not a valid URL")
		case u.Scheme != "redis" && u.Scheme != "rediss":
			add("url", "scheme must be redis or rediss")
		case u.Host == "":
			add("url", "has no host")
		}
		if len(r.Addrs) > 0 {
			add("addrs", "set either url or addrs, not both")
		}
	}
	for i, a := range r.Addrs {
		if !strings.Contains(a, ":") {
			add(fmt.Sprintf("addrs[%d]", i), "%q is not host:port", a)
		}
	}
	if r.MasterName != "" && len(r.Addrs) == 0 {
		add("addrs", "master_name needs the Sentinel addresses in addrs")
	}
	if r.MasterName != "" && r.Cluster {
		add("cluster", "cannot be combined with master_name")
	}
	if r.DB < 0 {
		add("db", "must not be negative")
	}
	if r.DB != 0 && (r.Cluster || (r.MasterName == "" && len(r.Addrs) > 1)) {
		add("db", "Redis Cluster has only database 0")
	}
	for k, d := range map[string]time.Duration{"dial_timeout": r.DialTimeout, "read_timeout": r.ReadTimeout, "write_timeout": r.WriteTimeout} {
		if d < 0 {
			add(k, "must not be negative")
		}
	}
	if r.PoolSize < 0 {
		add("pool_size", "must not be negative")
	}
	if strings.ContainsAny(r.KeyPrefix, "{}") {
		add("key_prefix", "must not contain { or } (they mark the cluster hash tag)")
	}
	if (r.TLS.CertFile == "") != (r.TLS.KeyFile == "") {
		add("tls", "cert_file and key_file go together")
	}
	return errs
}

func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// checkKey validates a key spec such as "subject+operation".
func checkKey(spec string) error {
	if spec == "" {
		return errors.New("is required")
	}
	seen := map[string]bool{}
	for _, p := range strings.Split(spec, "+") {
		if !slices.Contains(knownKeyParts, p) {
			return fmt.Errorf("%q is not one of %s (combine with +)", p, strings.Join(knownKeyParts, ", "))
		}
		if seen[p] {
			return fmt.Errorf("%q appears twice", p)
		}
		seen[p] = true
	}
	return nil
}

func checkList(add func(string, string, ...any), key string, vals, known []string) {
	for i, v := range vals {
		k := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case v == "":
			add(k, "must not be empty")
		case known != nil && !slices.Contains(known, v):
			add(k, "%q is not one of %s", v, strings.Join(known, ", "))
		}
	}
}
