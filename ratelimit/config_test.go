package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crmgw/crmgw/internal/confkey"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"
)

func decodeConfig(t *testing.T, src string) (Config, error) {
	t.Helper()
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, err
	}
	c.SetDefaults()
	return c, c.Validate()
}

func TestDesignExampleConfigIsValid(t *testing.T) {
	c, err := decodeConfig(t, `
store: memory
redis: {url: redis://127.0.0.1:6379/0}
on_store_error: deny
limits:
  - {name: per-subject, key: subject, rate: 20, per: 1s, burst: 40}
  - {name: exports, key: subject+operation, rate: 10, per: 1m, categories: [export], operations: [bulk_query], upstreams: [salesforce]}
quotas:
  - {name: export-per-day, key: subject, records: 10000, window: 24h, categories: [export, bulk]}
`)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.Limits[0].Burst != 40 || c.Limits[0].Per != time.Second || c.Limits[1].Burst != 10 {
		t.Errorf("limits = %+v", c.Limits)
	}
	if c.Timeout != 300*time.Millisecond || c.Redis.ReadTimeout != 250*time.Millisecond || c.Redis.DialTimeout != 200*time.Millisecond ||
		c.Breaker.Failures != 3 || c.Breaker.OpenFor != time.Second {
		t.Errorf("timeouts not defaulted: %v %v %v", c.Timeout, c.Redis.ReadTimeout, c.Redis.DialTimeout)
	}
	if c.Quotas[0].Window != 24*time.Hour || c.Quotas[0].Records != 10000 {
		t.Errorf("quota = %+v", c.Quotas[0])
	}
}

func TestRedisTLSAcceptsABooleanOrAMapping(t *testing.T) {
	c, err := decodeConfig(t, "store: redis\nredis: {url: 'redis://h:1', tls: true}")
	if err != nil || !c.Redis.TLS.Enabled {
		t.Errorf("tls: true -> %+v, %v", c.Redis.TLS, err)
	}
	c, err = decodeConfig(t, "store: redis\nredis: {url: 'redis://h:1', tls: {enabled: true, ca_file: ca.pem}}")
	if err != nil || !c.Redis.TLS.Enabled || c.Redis.TLS.CAFile != "ca.pem" {
		t.Errorf("tls mapping -> %+v, %v", c.Redis.TLS, err)
	}
	if _, err := decodeConfig(t, "store: redis\nredis: {url: 'redis://h:1', tls: {enabled: true, ca: x}}"); err == nil {
		t.Error("unknown tls key accepted")
	}
}

func TestEmptySectionDefaultsToMemoryDeny(t *testing.T) {
	c, err := decodeConfig(t, "{}")
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != StoreMemory || c.OnStoreError != FailDeny {
		t.Errorf("store=%q on_store_error=%q", c.Store, c.OnStoreError)
	}
}

func TestUnknownKeyIsRejected(t *testing.T) {
	if _, err := decodeConfig(t, "limits: [{name: a, rate: 1, per: 1s, brust: 3}]"); err == nil {
		t.Error("typo accepted")
	}
}

func TestValidateReportsEveryProblemWithItsKey(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string // "key: message fragment"
	}{
		{"bad store and failure mode", "store: mysql\non_store_error: maybe",
			[]string{`store: must be memory or redis, not "mysql"`, `on_store_error: must be deny or allow, not "maybe"`}},
		{"limit without name, rate and period", "limits: [{key: subject}]",
			[]string{"limits[0].name: is required", "limits[0].rate: must be positive", "limits[0].per: must be a positive duration"}},
		{"unknown key part and doubled part", "limits: [{name: a, key: user, rate: 1, per: 1s}, {name: b, key: ip+ip, rate: 1, per: 1s}]",
			[]string{`limits[0].key: "user" is not one of subject`, `limits[1].key: "ip" appears twice`}},
		{"duplicate names across limits and quotas", "limits: [{name: a, rate: 1, per: 1s}]\nquotas: [{name: a, records: 1, window: 1h}]",
			[]string{`quotas[0].name: "a" is already used by limits[0].name`}},
		{"name unfit for a header", `limits: [{name: "a b", rate: 1, per: 1s}]`,
			[]string{`limits[0].name: "a b" may hold only`}},
		{"unknown operation and category", "limits: [{name: a, rate: 1, per: 1s, operations: [exprot], categories: [exports], upstreams: ['']}]",
			[]string{`limits[0].operations[0]: "exprot" is not one of`, `limits[0].categories[0]: "exports" is not one of`, "limits[0].upstreams[0]: must not be empty"}},
		{"negative burst and absurd rate", "limits: [{name: a, rate: 10000000, per: 1s, burst: -1}]",
			[]string{"limits[0].burst: must not be negative", "limits[0].rate: 10000000 per 1s is more than one request per microsecond"}},
		{"quota without records and with a tiny window", "quotas: [{name: q, records: 0, window: 500ms, categories: [export, nope]}]",
			[]string{"quotas[0].records: must be positive", "quotas[0].window: must be at least 1s", `quotas[0].categories[1]: "nope"`}},
		{"redis without address", "store: redis",
			[]string{"redis.url: redis store needs url or addrs"}},
		{"redis URL with a bad scheme never echoes the URL", "store: redis\nredis: {url: 'http://user:s3cret@host:1'}",
			[]string{"redis.url: scheme must be redis or rediss"}},
		{"sentinel without addresses, bad prefix, negative values", "store: redis\nredis: {url: 'redis://h:1', master_name: m, key_prefix: 'a{b}', db: -1, read_timeout: -1s, pool_size: -2}",
			[]string{"redis.addrs: master_name needs the Sentinel addresses", "redis.key_prefix: must not contain { or }", "redis.db: must not be negative",
				"redis.read_timeout: must not be negative", "redis.pool_size: must not be negative"}},
		{"cluster with a database and a bad address", "store: redis\nredis: {addrs: ['a:1', 'b'], db: 2}",
			[]string{`redis.addrs[1]: "b" is not host:port`, "redis.db: Redis Cluster has only database 0"}},
		{"url and addrs together, half a client certificate", "store: redis\nredis: {url: 'redis://h:1', addrs: ['h:2'], tls: {cert_file: c.pem}}",
			[]string{"redis.addrs: set either url or addrs, not both", "redis.tls: cert_file and key_file go together"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeConfig(t, c.yaml)
			if err == nil {
				t.Fatal("no error")
			}
			var got []string
			for _, e := range confkey.Flatten(err) {
				var ke *confkey.Error
				if !errors.As(e, &ke) {
					t.Errorf("not a confkey.Error: %v", e)
					continue
				}
				got = append(got, ke.Error())
				if strings.Contains(ke.Msg, "s3cret") {
					t.Errorf("password in message: %v", ke)
				}
			}
			sort.Strings(got)
			for _, w := range c.want {
				found := false
				for _, g := range got {
					found = found || strings.HasPrefix(g, w) || strings.Contains(g, w)
				}
				if !found {
					t.Errorf("missing %q in:\n  %s", w, strings.Join(got, "\n  "))
				}
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := New(Config{Limits: []LimitConfig{{Name: "a"}}}, nil, zap.NewNop())
	if err == nil {
		t.Fatal("invalid config accepted")
	}
}

func TestNewBuildsEveryRedisDeployment(t *testing.T) {
	cases := []struct {
		name    string
		redis   RedisConfig
		cluster bool
	}{
		{"single node from URL", RedisConfig{URL: "redis://user:pw@127.0.0.1:1/2"}, false},
		{"TLS from rediss URL", RedisConfig{URL: "rediss://127.0.0.1:1/0"}, false},
		{"sentinel", RedisConfig{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, MasterName: "mymaster", Password: "pw"}, false},
		{"cluster from seeds", RedisConfig{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}}, true},
		{"cluster from one seed", RedisConfig{Addrs: []string{"127.0.0.1:1"}, Cluster: true}, true},
		{"cluster from URL", RedisConfig{URL: "redis://127.0.0.1:1?addr=127.0.0.1:2", Cluster: true}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := New(Config{Store: StoreRedis, Redis: c.redis}, prometheus.NewRegistry(), zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if got := l.st.(*redisStore).cluster; got != c.cluster {
				t.Errorf("cluster = %v, want %v", got, c.cluster)
			}
		})
	}
	_, err := New(Config{Store: StoreRedis, Redis: RedisConfig{URL: "redis://h:1", TLS: RedisTLSConfig{Enabled: true, CAFile: "/nonexistent/ca.pem"}}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("missing CA file: %v", err)
	}
}

func TestKeySlotMatchesRedisCluster(t *testing.T) {
	if keySlot("123456789") != 0x31C3%16384 || keySlot("foo") != 12182 {
		t.Errorf("keySlot disagrees with the Redis Cluster specification's examples")
	}
	c := redis.NewClient(&redis.Options{Addr: sharedRedis(t, redisCluster)})
	defer c.Close()
	for _, k := range []string{"foo", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "crmgw:rl:{s:alice}:u:req:1m", "{s:a}b}", "", "ü{ñ}"} {
		want, err := c.ClusterKeySlot(context.Background(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := keySlot(k); int64(got) != want {
			t.Errorf("keySlot(%q) = %d, CLUSTER KEYSLOT says %d", k, got, want)
		}
	}
}
