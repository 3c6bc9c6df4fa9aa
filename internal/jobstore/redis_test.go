package jobstore

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmgw/crmgw/crm"
)

// startRedis starts a redis-server of the test's own on a free port.
func startRedis(t *testing.T) *redis.Client {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skipf("redis-server not installed: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

func TestRedisJobStore(t *testing.T) {
	c := startRedis(t)
	ctx := context.Background()
	s := NewRedis(c, "test:", "salesforce", time.Hour)
	if _, ok, err := s.Lookup(ctx, "bulk2_query", "750A"); ok || err != nil {
		t.Fatalf("unbound job: ok=%v err=%v", ok, err)
	}
	alice := crm.JobBinding{Owner: "iss|alice", Object: "Contact", Operation: crm.OpBulkQuery, Mode: "queryAll", IncludeDeleted: true}
	if err := s.Bind(ctx, "bulk2_query", "750A", alice); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Lookup(ctx, "bulk2_query", "750A")
	if err != nil || !ok || got != alice {
		t.Fatalf("Lookup = %+v %v %v, want %+v", got, ok, err, alice)
	}
	// The kind is part of the key: an ingest job of the same id is not it.
	if _, ok, _ := s.Lookup(ctx, "bulk2_ingest", "750A"); ok {
		t.Error("a query job's binding answered for an ingest job")
	}
	// Another upstream does not see it.
	if _, ok, _ := NewRedis(c, "test:", "other", time.Hour).Lookup(ctx, "bulk2_query", "750A"); ok {
		t.Error("another upstream's store sees the job")
	}
	// A second bind by someone else does not take the job over.
	if err := s.Bind(ctx, "bulk2_query", "750A", crm.JobBinding{Owner: "iss|bob", Object: "Contact"}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Lookup(ctx, "bulk2_query", "750A"); got.Owner != "iss|alice" {
		t.Errorf("owner after a second bind = %q", got.Owner)
	}
	// The binding expires.
	if ttl := c.TTL(ctx, "test:job:salesforce:bulk2_query:750A").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("ttl = %v", ttl)
	}
	// A value that is not a binding is an error, never an unbound job.
	c.Set(ctx, "test:job:salesforce:bulk2_query:750B", "garbage", time.Hour)
	if _, ok, err := s.Lookup(ctx, "bulk2_query", "750B"); err == nil || ok {
		t.Errorf("malformed binding: ok=%v err=%v", ok, err)
	}
}

// Two classifiers (two replicas) sharing one Redis: a job created through
// one is its creator's on the other, and nobody else's.
func TestRedisJobStoreAcrossReplicas(t *testing.T) {
	c := startRedis(t)
	a, err := crm.NewClassifier("salesforce", crm.Options{Jobs: NewRedis(c, "r:", "sf", time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := crm.NewClassifier("salesforce", crm.Options{Jobs: NewRedis(c, "r:", "sf", time.Hour)})
	ctx := context.Background()
	job, err := a.Classify(ctx, crm.Request{Method: "POST", Path: "/services/data/v60.0/jobs/query", Header: http.Header{},
		Body: []byte(`{"operation":"query","query":"SELECT Id, Email FROM Contact"}`), Subject: "iss|alice"})
	if err != nil || job.Action.Operation != crm.OpBulkQuery {
		t.Fatalf("create: %v %+v", err, job.Action)
	}
	a.Observe("iss|alice", job, 200, nil, map[string]string{"/id": "750R0000000zlh9IAA", "/object": "Contact"})
	for _, m := range []string{"GET", "DELETE"} {
		res, _ := b.Classify(ctx, crm.Request{Method: m, Path: "/services/data/v60.0/jobs/query/750R0000000zlh9IAA", Header: http.Header{}, Subject: "iss|alice"})
		if res.NotFound || res.Action.Operation != crm.OpBulkQuery || res.Action.Object != "Contact" {
			t.Errorf("%s by the owner on the other replica: %+v NotFound=%v", m, res.Action, res.NotFound)
		}
		res, _ = b.Classify(ctx, crm.Request{Method: m, Path: "/services/data/v60.0/jobs/query/750R0000000zlh9IAA", Header: http.Header{}, Subject: "iss|bob"})
		if !res.NotFound {
			t.Errorf("%s by another subject on the other replica: %+v, want not found", m, res.Action)
		}
	}
	// Redis down: unknown (denied by policy), never the owner's nor not found.
	c.Shutdown(ctx)
	res, _ := b.Classify(ctx, crm.Request{Method: "GET", Path: "/services/data/v60.0/jobs/query/750R0000000zlhXIAA", Header: http.Header{}, Subject: "iss|alice"})
	if res.Action.Operation != crm.OpUnknown || res.NotFound {
		t.Errorf("store down: %+v NotFound=%v, want unknown", res.Action, res.NotFound)
	}
}
