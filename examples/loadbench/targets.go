// Starting the targets under test: the sample CRM (in this process or as
// the -serve-crm world process), crmgw with its configurations, and nginx
// and caddy when they are installed.

package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/examples/samplecrm"
	"github.com/crmgw/crmgw/proxy"
)

// runCRM is the sample CRM process.
func runCRM() error {
	crm := samplecrm.New(samplecrm.Options{Records: 5000, Seed: 1, SalesforceToken: sfToken})
	u, stop, err := serve(crm)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Println(u)
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
	return nil
}

// world is the executable of the generator and the sample CRM: -world,
// else this program.
func world() (string, error) {
	if worldExe != "" {
		return worldExe, nil
	}
	return os.Executable()
}

// startCRM runs the sample CRM as a child process.
func startCRM() (string, int, func(), error) {
	exe, err := world()
	if err != nil {
		return "", 0, nil, err
	}
	// In the gen layout the CRM shares the proxy's CPUs (this process's).
	cmd := exec.Command(exe, "-serve-crm")
	if layout == "proxy" {
		cmd = onCPU0(exe, "-serve-crm")
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", 0, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return "", 0, nil, fmt.Errorf("sample CRM did not start: %v", err)
	}
	return strings.TrimSpace(line), cmd.Process.Pid, func() { stdin.Close(); _ = cmd.Wait() }, nil
}

func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// plainKey is crmgw-plain's API key.
const plainKey = "loadbench-plain-api-key"

// upstreamConfig is the part both crmgw configurations share: listeners,
// logging and the sample CRM as upstream (no gzip on loopback, like the
// direct and plain-proxy runs).
func upstreamConfig(crmURL string) string {
	return fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0"}
log: {level: error}
upstreams:
  - name: salesforce
    type: salesforce
    url: %s
    compression: none
    auth: {type: static, token: %s}
`, crmURL, sfToken)
}

// plainConfig is crmgw with its optional stages off: an API key caller, a
// policy that allows everything without masks or caps, no rate limits.
func plainConfig(dir, crmURL string) (string, error) {
	// The policy directory holds the policy alone: the loader would take
	// the configuration file beside it for policy data.
	policies := filepath.Join(dir, "policy")
	if err := os.MkdirAll(policies, 0o755); err != nil {
		return "", err
	}
	allow := "package crmgw.authz\n\ndecision := {\"allow\": true, \"reason\": \"load benchmark: allow all\"}\n"
	if err := os.WriteFile(filepath.Join(policies, "allow.rego"), []byte(allow), 0o644); err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(plainKey))
	return upstreamConfig(crmURL) + fmt.Sprintf(`identity:
  api_keys:
    - {id: loadbench, key_sha256: %s, roles: [admin]}
policy:
  paths: [%q]
audit:
  sinks:
    - {type: file, path: %q}
`, hex.EncodeToString(sum[:]), policies, filepath.Join(dir, "audit.jsonl")), nil
}

// fullConfig is crmgw with every stage on.
func fullConfig(dir, crmURL, issuer string) string {
	_, file, _, _ := runtime.Caller(0)
	policies := filepath.Join(filepath.Dir(file), "..", "..", "policies")
	return upstreamConfig(crmURL) + fmt.Sprintf(`identity:
  oidc:
    - {issuer: %q, audience: crmgw-bench}
policy:
  paths: [%q]
masking:
  hmac_key: loadbench-hmac-key-0123
ratelimit:
  store: memory
  limits:
    - {name: per-subject, key: subject, rate: 1000000, per: 1s, burst: 1000000}
    - {name: per-ip, key: ip, rate: 1000000, per: 1s, burst: 1000000}
  preauth:
    per_ip: {rate: 1000000, per: 1s}
    global: {rate: 1000000, per: 1s}
  quotas:
    - {name: export-per-day, key: subject, records: 100000000, window: 24h, categories: [export, bulk]}
audit:
  sinks:
    - {type: file, path: %q}
`, issuer, policies, filepath.Join(dir, "audit.jsonl"))
}

func startGateway(dir, cfg string) (*proxy.Server, error) {
	p := filepath.Join(dir, "crmgw.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	c, err := config.Load(p)
	if err != nil {
		return nil, err
	}
	s, err := proxy.NewServer(context.Background(), c, zap.NewNop())
	if err != nil {
		return nil, err
	}
	return s, s.Start()
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// installed finds the plain proxy name on PATH and a free port for it to
// listen on; a proxy that is not installed is skipped with this error.
func installed(name string) (bin, addr string, err error) {
	if bin, err = exec.LookPath(name); err != nil {
		return "", "", fmt.Errorf("not installed (apt-get install %s)", name)
	}
	if addr, err = freePort(); err != nil {
		return "", "", err
	}
	return bin, addr, nil
}

func startNginx(dir, crmURL string) (string, int, func(), error) {
	bin, addr, err := installed("nginx")
	if err != nil {
		return "", 0, nil, err
	}
	nd := filepath.Join(dir, "nginx")
	_ = os.MkdirAll(nd, 0o755)
	conf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  upstream crm { server %[3]s; keepalive 64; }
  server {
    listen %[2]s;
    location / {
      proxy_pass http://crm;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`, nd, addr, strings.TrimPrefix(crmURL, "http://"))
	cp := filepath.Join(nd, "nginx.conf")
	if err := os.WriteFile(cp, []byte(conf), 0o644); err != nil {
		return "", 0, nil, err
	}
	return startServer(exec.Command(bin, "-c", cp, "-p", nd), addr)
}

func startCaddy(dir, crmURL string) (string, int, func(), error) {
	bin, addr, err := installed("caddy")
	if err != nil {
		return "", 0, nil, err
	}
	cf := filepath.Join(dir, "Caddyfile")
	conf := fmt.Sprintf("{\n  admin off\n  auto_https off\n}\nhttp://%s {\n  reverse_proxy %s\n}\n", addr, strings.TrimPrefix(crmURL, "http://"))
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(bin, "run", "--config", cf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	return startServer(cmd, addr)
}

// startServer starts a baseline proxy in its own process group (stopping
// it kills nginx's workers too) and waits until it listens on addr. It
// returns the URL, the pid and the stop function.
func startServer(cmd *exec.Cmd, addr string) (string, int, func(), error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
	if err := waitListening(addr); err != nil {
		stop()
		return "", 0, nil, err
	}
	return "http://" + addr, cmd.Process.Pid, stop, nil
}

func waitListening(addr string) error {
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not start listening", addr)
}
