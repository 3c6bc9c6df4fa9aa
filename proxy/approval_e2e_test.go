package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/config"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// End-to-end tests of approvals, freezes and the watch list through real
// gateways: the default policies, the sample CRM, JWTs from the test
// issuer, and (for replicas and restarts) a redis-server of the test's own.

var adminSection = "  token: " + adminTok + "\n"

// person signs an OIDC JWT for a user signed in with MFA.
func (e *env) person(sub, email string, groups, roles []string) string {
	c := e.issuer.Claims(sub, audience)
	c["email"], c["groups"], c["roles"], c["amr"] = email, groups, roles, []string{"pwd", "mfa"}
	return e.issuer.Sign(c)
}

// adminCall calls the admin API with the given bearer token.
func (e *env) adminCall(method, path, tok, body string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.admin+path, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, b)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		e.t.Errorf("%s %s: Cache-Control %q", method, path, resp.Header.Get("Cache-Control"))
	}
	return resp.StatusCode, out
}

const exportQuery = "SELECT Id, Name, Email FROM Contact LIMIT 50"

// startExport creates a Bulk 2.0 query job; it returns the status, the
// job id (if created) and the body.
func (e *env) startExport(tok, query string) (int, string, string) {
	e.t.Helper()
	resp := e.do("POST", "/services/data/v60.0/jobs/query", bearer(tok),
		strings.NewReader(`{"operation":"query","query":"`+query+`"}`), "Content-Type", "application/json")
	body := string(readAll(e.t, resp))
	var job struct{ ID string }
	_ = json.Unmarshal([]byte(body), &job)
	return resp.StatusCode, job.ID, body
}

var approvalIDRe = regexp.MustCompile(`approval (apr_[0-9a-z]+)`)

// approvalID reads the approval id from an APPROVAL_REQUIRED answer.
func approvalID(t *testing.T, status int, body string) string {
	t.Helper()
	var errs []struct{ ErrorCode, Message string }
	if status != 403 || json.Unmarshal([]byte(body), &errs) != nil || len(errs) != 1 || errs[0].ErrorCode != "APPROVAL_REQUIRED" {
		t.Fatalf("want 403 APPROVAL_REQUIRED in Salesforce's shape, got %d %s", status, body)
	}
	m := approvalIDRe.FindStringSubmatch(errs[0].Message)
	if m == nil {
		t.Fatalf("no approval id in %q", errs[0].Message)
	}
	return m[1]
}

func activities(evs []map[string]any) map[string]int {
	out := map[string]int{}
	for _, ev := range evs {
		out[ev["activity"].(string)]++
	}
	return out
}

// The whole story on one gateway: a departing salesperson's export needs
// approval; asking again gives the same request; the subject cannot
// approve it (with the same or another credential), nor someone of the
// wrong group, nor the admin token; a manager approves; the export goes
// through once, with its results; the next export needs a new approval.
func TestApprovalBeforeAWatchedSubjectsExport(t *testing.T) {
	e := newEnv(t, envOptions{admin: adminSection})
	li := e.person("00u-li", "li.wei@example.com", []string{"sales"}, []string{"sales_manager"})
	ma := e.person("00u-ma", "ma.li@example.com", []string{"sales_managers"}, []string{"sales_manager"})
	support := e.person("00u-sup", "sup@example.com", []string{"support"}, []string{"support"})

	// Before the watch: a small export needs no approval.
	if st, id, body := e.startExport(li, exportQuery); st != 200 || id == "" {
		t.Fatalf("export before the watch: %d %s", st, body)
	}
	if st, out := e.adminCall("POST", "/admin/subjects/li.wei@example.com/watch", adminTok, `{"flag":"departing"}`); st != 200 {
		t.Fatalf("watch: %d %v", st, out)
	}
	st, _, body := e.startExport(li, exportQuery)
	id := approvalID(t, st, body)
	for _, want := range []string{"group:sales_managers", e.admin + "/approvals/" + id, "watched subject (departing)"} {
		if !strings.Contains(body, want) {
			t.Errorf("answer %s lacks %q", body, want)
		}
	}
	st, _, body = e.startExport(li, exportQuery)
	if again := approvalID(t, st, body); again != id {
		t.Errorf("asking again made a new request %s, want %s", again, id)
	}
	// Zoho answers in its own shape, with the same approval story.
	zr := e.do("POST", "/zoho/crm/bulk/v6/read", bearer(li),
		strings.NewReader(`{"query": {"module": {"api_name": "Contacts"}, "fields": ["Last_Name", "Email"], "page": 1}}`),
		"Content-Type", "application/json")
	zb := string(readAll(t, zr))
	if zr.StatusCode != 403 || !strings.Contains(zb, `"code":"APPROVAL_REQUIRED"`) || !strings.Contains(zb, e.admin+"/approvals/apr_") {
		t.Errorf("Zoho bulk read by a watched subject: %d %s", zr.StatusCode, zb)
	}
	// Reads are not held.
	if resp := e.do("GET", contactQuery, bearer(li), nil); resp.StatusCode != 200 {
		t.Errorf("read by a watched subject: %d", resp.StatusCode)
	} else {
		readAll(t, resp)
	}

	decide := func(tok, verb, body string) (int, map[string]any) {
		return e.adminCall("POST", "/admin/approvals/"+id+"/"+verb, tok, body)
	}
	if st, out := decide(li, "approve", `{"comment":"mine"}`); st != 403 || out["error"] != "SELF_APPROVAL" {
		t.Errorf("self-approval: %d %v", st, out)
	}
	// The same person through an API key: no email there, so the key's id
	// is not li's; but a JWT of li from the same issuer with another sub
	// and the same email is li.
	liAgain := e.person("00u-li-2", "LI.WEI@example.com", []string{"sales_managers"}, nil)
	if st, out := decide(liAgain, "approve", ``); st != 403 || out["error"] != "SELF_APPROVAL" {
		t.Errorf("self-approval under another sub, same email: %d %v", st, out)
	}
	if st, out := decide(support, "approve", ``); st != 403 || out["error"] != "NOT_APPROVER" {
		t.Errorf("wrong group: %d %v", st, out)
	}
	if st, out := decide(adminTok, "approve", ``); st != 403 || out["error"] != "NOT_A_PERSON" {
		t.Errorf("admin token approving: %d %v", st, out)
	}
	if st, out := decide(ma, "approve", `{"approver":"boss@example.com"}`); st != 400 {
		t.Errorf("naming another approver: %d %v", st, out)
	}
	if st, out := decide("", "approve", ``); st != 401 {
		t.Errorf("no credential: %d %v", st, out)
	}
	// The support person cannot even see it; the manager can.
	if st, _ := e.adminCall("GET", "/admin/approvals/"+id, support, ""); st != 404 {
		t.Errorf("show to the wrong group: %d", st)
	}
	if st, out := e.adminCall("GET", "/admin/approvals?status=pending", ma, ""); st != 200 || len(out["approvals"].([]any)) != 2 { // Salesforce's and Zoho's
		t.Errorf("manager's list: %d %v", st, out)
	}
	if st, out := e.adminCall("GET", "/admin/approvals", support, ""); st != 200 || len(out["approvals"].([]any)) != 0 {
		t.Errorf("support's list: %d %v", st, out)
	}
	st, out := decide(ma, "approve", `{"comment":"handover list for the new owner"}`)
	if st != 200 || get(out, "approval", "status") != "approved" || get(out, "approval", "approver") != "ma.li@example.com" {
		t.Fatalf("approve: %d %v", st, out)
	}
	if st, out := decide(ma, "deny", ``); st != 409 {
		t.Errorf("deciding twice: %d %v", st, out)
	}

	// The export goes through once, with its results.
	st, job, body := e.startExport(li, exportQuery)
	if st != 200 || job == "" {
		t.Fatalf("approved export: %d %s", st, body)
	}
	resp := e.do("GET", "/services/data/v60.0/jobs/query/"+job+"/results", bearer(li), nil)
	csv := string(readAll(t, resp))
	if resp.StatusCode != 200 || strings.Count(strings.TrimSpace(csv), "\n") != 50 {
		t.Fatalf("results under the grant: %d %.200s", resp.StatusCode, csv)
	}
	st, _, body = e.startExport(li, exportQuery)
	if next := approvalID(t, st, body); next == id {
		t.Error("a used grant let a second export through")
	}

	evs := e.auditEvents(15)
	acts := activities(evs)
	for act, n := range map[string]int{"approval_requested": 3, "approval_approved": 1, "approval_used": 2} {
		if acts[act] != n {
			t.Errorf("%d %s events, want %d (all: %v)", acts[act], act, n, acts)
		}
	}
	var usedRecords int64
	for _, ev := range evs {
		if ev["activity"] == "approval_used" {
			n, _ := get(ev, "approval", "records").(float64) // left out when 0
			usedRecords += int64(n)
			if get(ev, "approval", "used_by") == nil {
				t.Errorf("used event without request ids: %v", ev["approval"])
			}
		}
		if ev["activity"] == "approval_approved" && get(ev, "approval", "comment") != "handover list for the new owner" {
			t.Errorf("approved event %v", ev["approval"])
		}
	}
	if usedRecords != 50 { // the job's creation delivers none, its results 50
		t.Errorf("records in used events: %d, want 50", usedRecords)
	}
	if rep, err := audit.VerifyFile(e.dir + "/audit.jsonl"); err != nil || !rep.OK() {
		t.Fatalf("chain: %+v %v", rep, err)
	}
}

// A freeze refuses every request of the subject, by any of its names,
// before the policy; unfreeze lets it back. Only the admin token may.
func TestFreezeRefusesBeforeThePolicy(t *testing.T) {
	e := newEnv(t, envOptions{admin: adminSection})
	li := e.person("00u-li", "li.wei@example.com", []string{"sales"}, []string{"sales_rep"})
	if st, _ := e.adminCall("POST", "/admin/subjects/li.wei@example.com/freeze", li, `{"reason":"x"}`); st != 403 {
		t.Errorf("freeze by a non-admin: %d", st)
	}
	if st, _ := e.adminCall("POST", "/admin/subjects/li.wei@example.com/freeze", adminTok, `{"reasn":"typo"}`); st != 400 {
		t.Errorf("unknown body key: %d", st)
	}
	if st, out := e.adminCall("POST", "/admin/subjects/Li.Wei@Example.com/freeze", adminTok, `{"reason":"left the company"}`); st != 200 || get(out, "state", "frozen") != true {
		t.Fatalf("freeze: %d %v", st, out)
	}
	resp := e.do("GET", contactQuery, bearer(li), nil)
	body := string(readAll(t, resp))
	if resp.StatusCode != 403 || !strings.Contains(body, `"CRMGW_FROZEN"`) || strings.Contains(body, "left the company") {
		t.Fatalf("frozen subject: %d %s", resp.StatusCode, body)
	}
	zoho := e.do("GET", "/zoho/crm/v6/Contacts?fields=Last_Name", bearer(li), nil)
	if zb := string(readAll(t, zoho)); zoho.StatusCode != 403 || !strings.Contains(zb, `"code":"CRMGW_FROZEN"`) {
		t.Errorf("frozen subject on Zoho: %d %s", zoho.StatusCode, zb)
	}
	// The API key of another subject is not frozen; freezing its id is.
	if r := e.do("GET", contactQuery, bearer(repKey), nil); r.StatusCode != 200 {
		t.Errorf("another subject: %d", r.StatusCode)
	} else {
		readAll(t, r)
	}
	e.adminCall("POST", "/admin/subjects/rep/freeze", adminTok, `{}`)
	if r := e.do("GET", contactQuery, bearer(repKey), nil); r.StatusCode != 403 {
		t.Errorf("frozen API key: %d", r.StatusCode)
	} else {
		readAll(t, r)
	}
	if st, out := e.adminCall("GET", "/admin/subjects", adminTok, ""); st != 200 || len(out["subjects"].(map[string]any)) != 2 {
		t.Errorf("subjects: %d %v", st, out)
	}
	e.adminCall("POST", "/admin/subjects/li.wei@example.com/unfreeze", adminTok, "")
	// By subject key (issuer|sub), sent percent-encoded: the issuer's
	// slashes stay inside the one path segment.
	key := e.issuer.URL() + "|00u-li"
	if st, out := e.adminCall("POST", "/admin/subjects/"+url.PathEscape(key)+"/freeze", adminTok, `{}`); st != 200 || out["subject"] != strings.ToLower(key) {
		t.Fatalf("freeze by subject key: %d %v", st, out)
	}
	if r := e.do("GET", contactQuery, bearer(li), nil); r.StatusCode != 403 {
		t.Errorf("frozen by subject key: %d", r.StatusCode)
	} else {
		readAll(t, r)
	}
	e.adminCall("POST", "/admin/subjects/"+url.PathEscape(key)+"/unfreeze", adminTok, "")
	if r := e.do("GET", contactQuery, bearer(li), nil); r.StatusCode != 200 {
		t.Errorf("after unfreeze: %d", r.StatusCode)
	} else {
		readAll(t, r)
	}
	evs := e.auditEvents(11)
	var frozen int
	for _, ev := range evs {
		if get(ev, "actor", "frozen") == true {
			frozen++
			if ev["status"] != "denied" {
				t.Errorf("frozen request event status %v", ev["status"])
			}
		}
	}
	if acts := activities(evs); frozen != 4 || acts["subject_freeze"] != 3 || acts["subject_unfreeze"] != 2 {
		t.Errorf("%d frozen request events, activities %v", frozen, acts)
	}
}

// startRedis starts a redis-server for the test (skipped without one,
// failed when CI=true or CRMGW_REQUIRE_REDIS=1).
func startRedis(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CRMGW_REQUIRE_REDIS") != "" || os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is required: %v", err)
		}
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
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr
}

func redisLimits(addr string) string {
	return fmt.Sprintf("ratelimit:\n  store: redis\n  redis: {url: \"redis://%s/0\"}\n", addr)
}

// Replicas share one Redis: a grant approved through one gateway is
// honoured by another, and by a gateway started afresh on the same
// configuration (a restart); once used, neither lets it through again.
func TestGrantSharedByReplicasAndKeptAcrossRestart(t *testing.T) {
	addr := startRedis(t)
	a := newEnv(t, envOptions{admin: adminSection, limits: redisLimits(addr)})
	b := newEnv(t, envOptions{admin: adminSection, limits: redisLimits(addr)})
	// Each env has its own test issuer, so the subject is the API key
	// "manager" (role sales_manager), the same subject on both gateways;
	// the approver signs in at a's issuer.
	ma := a.person("00u-ma", "ma.li@example.com", []string{"sales_managers"}, nil)
	a.adminCall("POST", "/admin/subjects/manager/watch", adminTok, `{"flag":"departing"}`)

	// The watch is shared: b holds the export too, with the same request.
	st, _, body := a.startExport(managerKey, exportQuery)
	id := approvalID(t, st, body)
	st, _, body = b.startExport(managerKey, exportQuery)
	if got := approvalID(t, st, body); got != id {
		t.Errorf("replica b opened %s, want the shared %s", got, id)
	}
	if st, out := a.adminCall("POST", "/admin/approvals/"+id+"/approve", ma, `{"comment":"ok"}`); st != 200 {
		t.Fatalf("approve: %d %v", st, out)
	}

	// Restart a: a new server on the same configuration.
	if err := a.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(a.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := NewServer(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	if err := a2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a2.Shutdown(context.Background()) })
	restarted := *a
	restarted.srv, restarted.base, restarted.admin = a2, "http://"+a2.ProxyAddr(), "http://"+a2.AdminAddr()
	if st, out := restarted.adminCall("GET", "/admin/approvals/"+id, adminTok, ""); st != 200 || get(out, "approval", "status") != "approved" {
		t.Fatalf("after restart: %d %v", st, out)
	}
	// The grant is used through b.
	if st, job, body := b.startExport(managerKey, exportQuery); st != 200 || job == "" {
		t.Fatalf("grant on replica b: %d %s", st, body)
	}
	// And is gone for the restarted a.
	st, _, body = restarted.startExport(managerKey, exportQuery)
	if next := approvalID(t, st, body); next == id {
		t.Error("a used grant was honoured again after the restart")
	}
}

// A freeze made through one replica holds on another within a second.
func TestFreezeReachesAnotherReplicaWithinASecond(t *testing.T) {
	addr := startRedis(t)
	a := newEnv(t, envOptions{admin: adminSection, limits: redisLimits(addr)})
	b := newEnv(t, envOptions{admin: adminSection, limits: redisLimits(addr)})
	// b has read the subject states (not frozen) just now.
	if r := b.do("GET", contactQuery, bearer(repKey), nil); r.StatusCode != 200 {
		t.Fatalf("before: %d", r.StatusCode)
	} else {
		readAll(t, r)
	}
	if st, _ := a.adminCall("POST", "/admin/subjects/rep/freeze", adminTok, `{"reason":"departing"}`); st != 200 {
		t.Fatal("freeze failed")
	}
	frozenAt := time.Now()
	for {
		sent := time.Now()
		r := b.do("GET", contactQuery, bearer(repKey), nil)
		readAll(t, r)
		if r.StatusCode == 403 {
			t.Logf("frozen on the other replica after %v", time.Since(frozenAt))
			return
		}
		if sent.Sub(frozenAt) > time.Second {
			t.Fatal("a request sent over a second after the freeze went through on the other replica")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The approvers are notified through the configured alert sinks: the
// rule approval_requested, with the subject, the approvers and the URL;
// the decision and the watched subject's export attempts alert too.
func TestApprovalRequestReachesTheAlertSinks(t *testing.T) {
	type alert struct{ Rule, Summary string }
	got := make(chan alert, 64)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a alert
		_ = json.NewDecoder(r.Body).Decode(&a)
		got <- a
	}))
	defer hook.Close()
	e := newEnv(t, envOptions{admin: adminSection,
		extraYAML: "alerts:\n  rules: data.crmgw.alerts.alerts\n  sinks:\n    - {type: webhook, url: " + hook.URL + "}\n"})
	li := e.person("00u-li", "li.wei@example.com", []string{"sales"}, []string{"sales_manager"})
	ma := e.person("00u-ma", "ma.li@example.com", []string{"sales_managers"}, nil)
	e.adminCall("POST", "/admin/subjects/00u-li/watch", adminTok, `{}`)
	st, _, body := e.startExport(li, exportQuery)
	id := approvalID(t, st, body)
	e.adminCall("POST", "/admin/approvals/"+id+"/deny", ma, `{"comment":"not before the handover meeting"}`)

	want := map[string]string{
		"approval_requested":     e.admin + "/approvals/" + id,
		"approval_denied":        "not before the handover meeting",
		"watched_subject_export": "watch list: departing",
	}
	deadline := time.After(15 * time.Second)
	for len(want) > 0 {
		select {
		case a := <-got:
			if sub, ok := want[a.Rule]; ok {
				if !strings.Contains(a.Summary, sub) {
					t.Errorf("%s: summary %q lacks %q", a.Rule, a.Summary, sub)
				}
				delete(want, a.Rule)
			}
		case <-deadline:
			t.Fatalf("alerts not received: %v", want)
		}
	}
}
