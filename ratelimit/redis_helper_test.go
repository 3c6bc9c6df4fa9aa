package ratelimit

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisProc is a redis-server started by a test.
type redisProc struct {
	port int
	dir  string
	cmd  *exec.Cmd
}

func (p *redisProc) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

func (p *redisProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

// requireRedis skips the test when redis-server is not installed, or fails
// it when CRMGW_REQUIRE_REDIS=1 or CI=true.
func requireRedis(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CRMGW_REQUIRE_REDIS") == "1" || os.Getenv("CI") == "true" {
			tb.Fatalf("redis-server is required (CRMGW_REQUIRE_REDIS=1 or CI=true) but not found: %v", err)
		}
		tb.Skipf("redis-server not installed: %v", err)
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedisOn starts redis-server on port (cluster: a one-node cluster
// holding every slot) and waits until it answers.
func startRedisOn(tb testing.TB, port int, dir string, cluster bool) (*redisProc, error) {
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--loglevel", "warning"}
	if cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"))
	}
	cmd := exec.Command("redis-server", args...)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &redisProc{port: port, dir: dir, cmd: cmd}
	c := redis.NewClient(&redis.Options{Addr: p.addr(), MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("redis-server on port %d did not answer: %w", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cluster {
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil && !strings.Contains(err.Error(), "already") {
			p.kill()
			return nil, fmt.Errorf("assigning cluster slots: %w", err)
		}
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				p.kill()
				return nil, fmt.Errorf("cluster did not become ok: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return p, nil
}

// startRedis starts a redis-server owned by the test (killed at cleanup).
func startRedis(t *testing.T) *redisProc {
	t.Helper()
	requireRedis(t)
	p, err := startRedisOn(t, freePort(t), t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	return p
}

// Kinds of shared Redis deployment.
const (
	redisSingle   = "single"
	redisCluster  = "cluster"  // one node holding every slot
	redisSentinel = "sentinel" // a master watched by one Sentinel
)

// Shared servers for the tests that do not kill theirs; each test uses its
// own key prefix. Killed in TestMain.
var (
	sharedMu      sync.Mutex
	sharedServers = map[string]string{} // kind -> address to configure
	sharedProcs   []*redisProc
	sharedDirs    []string
	prefixSeq     atomic.Int64
)

// sharedRedis returns the address of a running deployment of kind: the
// node's for single and cluster, the Sentinel's (master "mymaster") for
// sentinel.
func sharedRedis(t testing.TB, kind string) string {
	t.Helper()
	requireRedis(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if a, ok := sharedServers[kind]; ok {
		return a
	}
	dir, err := os.MkdirTemp("", "crmgw-ratelimit-redis-")
	if err != nil {
		t.Fatal(err)
	}
	sharedDirs = append(sharedDirs, dir)
	p, err := startRedisOn(t, freePort(t), dir, kind == redisCluster)
	if err != nil {
		t.Fatal(err)
	}
	sharedProcs = append(sharedProcs, p)
	addr := p.addr()
	if kind == redisSentinel {
		sp, err := startSentinel(freePort(t), dir, p.port)
		if err != nil {
			t.Fatal(err)
		}
		sharedProcs = append(sharedProcs, sp)
		addr = sp.addr()
	}
	sharedServers[kind] = addr
	return addr
}

// startSentinel starts a Sentinel on port watching the master on
// masterPort as "mymaster", and waits until it knows the master.
func startSentinel(port int, dir string, masterPort int) (*redisProc, error) {
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 1\nsentinel down-after-milliseconds mymaster 60000\n", port, dir, masterPort)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command("redis-server", conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &redisProc{port: port, dir: dir, cmd: cmd}
	c := redis.NewSentinelClient(&redis.Options{Addr: p.addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		addr, err := c.GetMasterAddrByName(context.Background(), "mymaster").Result()
		if err == nil && len(addr) == 2 && addr[1] == strconv.Itoa(masterPort) {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("sentinel on port %d did not find its master: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func uniquePrefix(t testing.TB) string {
	name := strings.NewReplacer("/", ":", " ", "_", "{", "(", "}", ")").Replace(t.Name())
	return fmt.Sprintf("test:%d:%s:", prefixSeq.Add(1), name)
}

func TestMain(m *testing.M) {
	code := m.Run()
	sharedMu.Lock()
	for _, p := range sharedProcs {
		p.kill()
	}
	for _, d := range sharedDirs {
		_ = os.RemoveAll(d)
	}
	sharedMu.Unlock()
	os.Exit(code)
}

// countingHook counts the round trips a client makes: one per command sent
// alone, one per pipeline.
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

var _ redis.Hook = (*countingHook)(nil)
