package approval

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable time for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// steps records the steps a manager reports.
type steps struct {
	mu  sync.Mutex
	got []string
}

func (s *steps) add(r Request, step string) {
	s.mu.Lock()
	s.got = append(s.got, step+":"+r.ID)
	s.mu.Unlock()
}
func (s *steps) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// stores runs a test against the memory store and a Redis store.
func stores(t *testing.T, run func(t *testing.T, newStore func() Store)) {
	t.Run("memory", func(t *testing.T) {
		m := NewMemoryStore()
		run(t, func() Store { return m })
	})
	t.Run("redis", func(t *testing.T) {
		addr := startRedis(t)
		run(t, func() Store { return NewRedisStore(redisClient(t, addr), 0, false) })
	})
}

var export = Action{Upstream: "salesforce", Operation: "bulk_query", Category: "export", Object: "Contact",
	Fields: []string{"Id", "Email"}, Query: "SELECT Id, Email FROM Contact"}

func ask(subject string) Request {
	return Request{Subject: subject, SubjectEmail: "li.wei@example.com", Upstream: "salesforce", Action: export,
		Reason: "exports by departing staff need a manager", Approvers: []string{"group:sales_managers"}, TTL: Duration(time.Hour)}
}

var (
	manager = Approver{Subject: "https://idp|mgr1", ID: "mgr1", Email: "ma.li@example.com", Groups: []string{"sales_managers"}}
	rep     = Approver{Subject: "https://idp|00u1", ID: "00u1", Email: "li.wei@example.com", Groups: []string{"sales_managers"}}
)

func TestFingerprint(t *testing.T) {
	base := export.Fingerprint()
	same := export
	same.Fields = []string{"Email", "Id", "Email"}
	same.Object = "contact"
	if same.Fingerprint() != base {
		t.Error("field order, duplicates or object case changed the fingerprint")
	}
	results := export
	results.Operation = "bulk_result"
	if results.Fingerprint() != base {
		t.Error("a bulk job's results do not belong to the bulk query's grant")
	}
	for name, change := range map[string]func(*Action){
		"upstream":   func(a *Action) { a.Upstream = "zoho" },
		"operation":  func(a *Action) { a.Operation = "query" },
		"object":     func(a *Action) { a.Object = "Lead" },
		"field":      func(a *Action) { a.Fields = []string{"Id", "Email", "MobilePhone"} },
		"all fields": func(a *Action) { a.AllFields = true },
		"query":      func(a *Action) { a.Query = "SELECT Id, Email FROM Contact LIMIT 1" },
		// Length-prefixed: fields cannot be shifted into the object.
		"joined": func(a *Action) { a.Object, a.Fields = "ContactId", []string{"Email"} },
	} {
		a := export
		a.Fields = append([]string(nil), export.Fields...)
		change(&a)
		if a.Fingerprint() == base {
			t.Errorf("a different %s has the same fingerprint", name)
		}
	}
}

func TestFourEyes(t *testing.T) {
	stores(t, func(t *testing.T, newStore func() Store) {
		m := NewManager(newStore(), Options{})
		ctx := context.Background()
		r, created, err := m.Ask(ctx, ask("https://idp|00u1"))
		if err != nil || !created || r.Status != StatusPending {
			t.Fatalf("Ask = %+v, %v, %v", r, created, err)
		}
		// The subject, even holding the group, and even through another
		// credential with the same email, may not decide.
		if _, err := m.Decide(ctx, r.ID, rep, true, "mine"); !errors.Is(err, ErrSelfApprove) {
			t.Errorf("self-approval: %v, want ErrSelfApprove", err)
		}
		other := rep
		other.Subject, other.ID = "apikey-rep", "apikey-rep"
		if _, err := m.Decide(ctx, r.ID, other, true, ""); !errors.Is(err, ErrSelfApprove) {
			t.Errorf("self-approval by email: %v, want ErrSelfApprove", err)
		}
		wrong := manager
		wrong.Groups, wrong.Roles = []string{"support"}, []string{"sales_managers"} // a role of that name is not the group
		if _, err := m.Decide(ctx, r.ID, wrong, true, ""); !errors.Is(err, ErrNotApprover) {
			t.Errorf("wrong group: %v, want ErrNotApprover", err)
		}
		if _, err := m.Decide(ctx, r.ID, Approver{Groups: []string{"sales_managers"}}, true, ""); !errors.Is(err, ErrNotApprover) {
			t.Errorf("anonymous approver: %v, want ErrNotApprover", err)
		}
		got, _ := m.Get(ctx, r.ID)
		if got.Status != StatusPending {
			t.Fatalf("refused decisions changed the request: %s", got.Status)
		}
		d, err := m.Decide(ctx, r.ID, manager, true, "ok for the audit")
		if err != nil || d.Status != StatusApproved || d.Approver != "ma.li@example.com" || d.Comment != "ok for the audit" || d.DecidedAt.IsZero() {
			t.Fatalf("Decide = %+v, %v", d, err)
		}
		if _, err := m.Decide(ctx, r.ID, manager, false, "changed my mind"); !errors.Is(err, ErrNotPending) {
			t.Errorf("second decision: %v, want ErrNotPending", err)
		}
		if _, err := m.Decide(ctx, "apr_nope", manager, true, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown id: %v", err)
		}
	})
}

func TestAskRejectsBadApprovers(t *testing.T) {
	m := NewManager(NewMemoryStore(), Options{})
	for _, a := range [][]string{nil, {"sales_managers"}, {"user:boss"}, {"group:"}} {
		r := ask("s")
		r.Approvers = a
		if _, _, err := m.Ask(context.Background(), r); !errors.Is(err, ErrBadApprover) {
			t.Errorf("approvers %q: %v, want ErrBadApprover", a, err)
		}
	}
}

// The same subject asking again for the same action gets the same request;
// another action or another subject a new one; after a denial or a use, a
// new one.
func TestAskReusesTheOpenRequest(t *testing.T) {
	stores(t, func(t *testing.T, newStore func() Store) {
		rec := &steps{}
		m := NewManager(newStore(), Options{OnStep: rec.add})
		ctx := context.Background()
		a, _, _ := m.Ask(ctx, ask("s1"))
		b, created, err := m.Ask(ctx, ask("s1"))
		if err != nil || created || b.ID != a.ID {
			t.Fatalf("second ask: %s created=%v %v, want %s", b.ID, created, err, a.ID)
		}
		other := ask("s1")
		other.Action.Query = "SELECT Id FROM Contact"
		c, created, _ := m.Ask(ctx, other)
		if !created || c.ID == a.ID {
			t.Error("another action reused the request")
		}
		d, created, _ := m.Ask(ctx, ask("s2"))
		if !created || d.ID == a.ID {
			t.Error("another subject reused the request")
		}
		if _, err := m.Decide(ctx, a.ID, manager, false, "no"); err != nil {
			t.Fatal(err)
		}
		e, created, _ := m.Ask(ctx, ask("s1"))
		if !created || e.ID == a.ID {
			t.Error("a denied request was reused")
		}
		if n := len(rec.list()); n != 5 { // 4 requested, 1 denied
			t.Errorf("steps %q", rec.list())
		}
	})
}

// A grant lets the export through once: the first request uses it, its
// continuation pages follow within the TTL, a second export needs a new
// approval.
func TestGrantIsUsedOnce(t *testing.T) {
	stores(t, func(t *testing.T, newStore func() Store) {
		m := NewManager(newStore(), Options{})
		ctx := context.Background()
		r, _, _ := m.Ask(ctx, ask("s1"))
		if _, err := m.Use(ctx, r.ID, "req0", false); !errors.Is(err, ErrNoGrant) {
			t.Fatalf("pending request used: %v", err)
		}
		if _, err := m.Use(ctx, r.ID, "req0", true); !errors.Is(err, ErrNoGrant) {
			t.Fatalf("continuation before the first use: %v", err)
		}
		m.Decide(ctx, r.ID, manager, true, "")
		u, err := m.Use(ctx, r.ID, "req1", false)
		if err != nil || u.Status != StatusUsed {
			t.Fatalf("first use: %+v %v", u, err)
		}
		if _, err := m.Use(ctx, r.ID, "req2", false); !errors.Is(err, ErrNoGrant) {
			t.Errorf("second export under one grant: %v", err)
		}
		u, err = m.Use(ctx, r.ID, "req3", true)
		if err != nil || len(u.UsedBy) != 2 || u.UsedBy[1] != "req3" {
			t.Errorf("continuation page: %+v %v", u, err)
		}
		m.Delivered(ctx, r.ID, "req1", 700)
		m.Delivered(ctx, r.ID, "req3", 300)
		if g, _ := m.Get(ctx, r.ID); g.Records != 1000 {
			t.Errorf("records = %d, want 1000", g.Records)
		}
		cur, _ := m.Lookup(ctx, "s1", export.Fingerprint())
		if cur == nil || cur.ID != r.ID || cur.Status != StatusUsed {
			t.Errorf("Lookup = %+v", cur)
		}
		n, created, _ := m.Ask(ctx, ask("s1"))
		if !created || n.ID == r.ID {
			t.Error("a used grant was handed out again")
		}
	})
}

// Two replicas using one grant at the same moment: exactly one wins.
func TestGrantUsedOnceUnderRace(t *testing.T) {
	stores(t, func(t *testing.T, newStore func() Store) {
		ctx := context.Background()
		a, b := NewManager(newStore(), Options{}), NewManager(newStore(), Options{})
		r, _, _ := a.Ask(ctx, ask("s1"))
		a.Decide(ctx, r.ID, manager, true, "")
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			m := a
			if i%2 == 1 {
				m = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := m.Use(ctx, r.ID, "r", false); err == nil {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d requests used one grant", wins.Load())
		}
	})
}

func TestExpiry(t *testing.T) {
	stores(t, func(t *testing.T, newStore func() Store) {
		c := &clock{t: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
		rec := &steps{}
		m := NewManager(newStore(), Options{Now: c.now, PendingTTL: 2 * time.Hour, OnStep: rec.add})
		ctx := context.Background()

		// An approved grant not used within its TTL is refused, and expired.
		r, _, _ := m.Ask(ctx, ask("s1"))
		m.Decide(ctx, r.ID, manager, true, "")
		c.add(time.Hour) // the TTL
		if _, err := m.Use(ctx, r.ID, "late", false); !errors.Is(err, ErrNoGrant) {
			t.Errorf("expired grant used: %v", err)
		}
		if g, _ := m.Get(ctx, r.ID); g.Status != StatusExpired {
			t.Errorf("status %s, want expired", g.Status)
		}
		// Continuation pages end with the grant's time too.
		r2, _, _ := m.Ask(ctx, ask("s1"))
		m.Decide(ctx, r2.ID, manager, true, "")
		if _, err := m.Use(ctx, r2.ID, "a", false); err != nil {
			t.Fatal(err)
		}
		c.add(time.Hour)
		if _, err := m.Use(ctx, r2.ID, "b", true); !errors.Is(err, ErrNoGrant) {
			t.Errorf("continuation after the grant's end: %v", err)
		}
		// A pending request past PendingTTL cannot be approved, and a new
		// ask makes a new request.
		r3, _, _ := m.Ask(ctx, ask("s1"))
		c.add(2 * time.Hour)
		if _, err := m.Decide(ctx, r3.ID, manager, true, ""); !errors.Is(err, ErrExpired) {
			t.Errorf("late approval: %v", err)
		}
		r4, created, _ := m.Ask(ctx, ask("s1"))
		if !created || r4.ID == r3.ID {
			t.Error("expired request reused")
		}
		var expired int
		for _, s := range rec.list() {
			if s[:8] == "expired:" {
				expired++
			}
		}
		if expired != 2 {
			t.Errorf("expired steps: %q", rec.list())
		}
	})
}

// A grant approved through one gateway is honoured by another sharing the
// store, and by a gateway started afresh on the same Redis.
func TestGrantSharedAndKeptAcrossRestart(t *testing.T) {
	addr := startRedis(t)
	ctx := context.Background()
	a := NewManager(NewRedisStore(redisClient(t, addr), 0, true), Options{})
	r, _, _ := a.Ask(ctx, ask("s1"))
	if _, err := a.Decide(ctx, r.ID, manager, true, "go"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b := NewManager(NewRedisStore(redisClient(t, addr), 0, false), Options{})
	cur, err := b.Lookup(ctx, "s1", export.Fingerprint())
	if err != nil || cur == nil || cur.Status != StatusApproved || cur.Approver != "ma.li@example.com" {
		t.Fatalf("after restart: %+v %v", cur, err)
	}
	if _, err := b.Use(ctx, cur.ID, "req1", false); err != nil {
		t.Fatal(err)
	}
	list, _ := b.List(ctx, Filter{})
	if len(list) != 1 || list[0].Status != StatusUsed {
		t.Errorf("List = %+v", list)
	}
}

func TestFreezeAndWatch(t *testing.T) {
	stores(t, func(t *testing.T, newStore func() Store) {
		m := NewManager(newStore(), Options{})
		ctx := context.Background()
		if err := m.Freeze(ctx, "Li.Wei@Example.com", "left the company", "admin"); err != nil {
			t.Fatal(err)
		}
		st, err := m.State(ctx, "https://idp|00u1", "00u1", "li.wei@example.com")
		if err != nil || !st.Frozen || st.Reason != "left the company" {
			t.Fatalf("State = %+v %v", st, err)
		}
		if st, _ := m.State(ctx, "someone-else"); st.Frozen {
			t.Error("another subject is frozen")
		}
		m.Watch(ctx, "00u1", "departing")
		m.Watch(ctx, "li.wei@example.com", "departing")
		m.Watch(ctx, "li.wei@example.com", "audit")
		st, _ = m.State(ctx, "https://idp|00u1", "00u1", "li.wei@example.com")
		if len(st.Watch) != 2 || st.Watch[0] != "audit" || st.Watch[1] != "departing" {
			t.Errorf("watch = %q", st.Watch)
		}
		m.Unfreeze(ctx, "li.wei@example.com")
		m.Unwatch(ctx, "li.wei@example.com", "")
		st, _ = m.State(ctx, "li.wei@example.com", "00u1")
		if st.Frozen || len(st.Watch) != 1 {
			t.Errorf("after unfreeze/unwatch: %+v", st)
		}
		if err := m.Freeze(ctx, "  ", "", ""); !errors.Is(err, ErrBadSubject) {
			t.Errorf("empty subject: %v", err)
		}
	})
}

// A freeze made through one replica holds on another within a second.
func TestFreezeReachesAnotherReplica(t *testing.T) {
	addr := startRedis(t)
	ctx := context.Background()
	a := NewManager(NewRedisStore(redisClient(t, addr), 0, false), Options{})
	b := NewManager(NewRedisStore(redisClient(t, addr), 0, false), Options{})
	if st, err := b.State(ctx, "00u1"); err != nil || st.Frozen {
		t.Fatal(st, err) // b now holds a copy saying "not frozen"
	}
	start := time.Now()
	if err := a.Freeze(ctx, "00u1", "departing", "admin"); err != nil {
		t.Fatal(err)
	}
	for {
		st, err := b.State(ctx, "00u1")
		if err != nil {
			t.Fatal(err)
		}
		if st.Frozen {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatal("the freeze did not reach the other replica within 1s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
