package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// policiesDir holds the default policies shipped with crmgw.
const policiesDir = "../policies"

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	if cfg.Watch == nil {
		off := false
		cfg.Watch = &off
	}
	if cfg.Timeout == 0 {
		// Generous: these tests are about decisions, not speed, and run
		// under the race detector on a loaded 2-core CI machine.
		cfg.Timeout = 5 * time.Second
	}
	e, err := New(context.Background(), cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func defaultEngine(t testing.TB) *Engine {
	return newEngine(t, Config{Paths: []string{policiesDir}})
}

func subject(mfa bool, roles ...string) SubjectInput {
	return SubjectInput{Kind: "user", ID: "00u1", Issuer: "https://login.example.com", IssuerPrimary: true,
		Email: "li.wei@example.com", Groups: []string{"sales"}, Roles: roles, MFA: mfa}
}

func clientSubject(roles ...string) SubjectInput {
	return SubjectInput{Kind: "client", ID: "etl-nightly", ClientID: "etl-nightly", Roles: roles, Issuer: "crmgw:api_key", IssuerPrimary: true}
}

func input(s SubjectInput, a ActionInput) *Input {
	return &Input{
		Request: RequestInput{ID: "01JTEST", Method: "GET", Path: "/services/data/v60.0/query",
			Query:      map[string][]string{"q": {"SELECT Id, Email FROM Contact"}},
			RemoteAddr: "10.20.1.7", Time: time.Date(2026, 11, 23, 9, 14, 3, 0, time.UTC),
			Headers: map[string]string{"user-agent": "jsforce/3.10"}},
		Subject:  s,
		Upstream: UpstreamInput{Name: "salesforce", Type: "salesforce"},
		Action:   a,
		Usage:    UsageInput{Records: map[string]int64{"1h": 120, "24h": 3400}, Requests: map[string]int64{"1m": 12}},
	}
}

func act(op, cat, object string) ActionInput {
	return ActionInput{Operation: op, Category: cat, Object: object}
}

func TestDecideWithDefaultPolicies(t *testing.T) {
	e := defaultEngine(t)
	container := act("composite", "write", "")
	sub := func(a ActionInput) ActionInput { a.Parent = &container; return a }
	tests := []struct {
		name       string
		in         *Input
		allow      bool
		reason     string
		mask       map[string]string // entries that must be present
		maxRecords int
	}{
		{
			name:  "sales rep reads contacts with national ID and bank account redacted, mobile partial",
			in:    input(subject(false, "sales_rep"), ActionInput{Operation: "query", Category: "read", Object: "Contact", Fields: []string{"Id", "Email", "MobilePhone"}, Query: "SELECT Id, Email, MobilePhone FROM Contact"}),
			allow: true, reason: "role sales_rep may query Contact",
			mask: map[string]string{"*.National_ID__c": "redact", "*.Bank_Account__c": "redact", "*.MobilePhone": "partial"},
		},
		{
			name:  "object names compare case-insensitively",
			in:    input(subject(false, "sales_rep"), act("read", "read", "cOnTaCt")),
			allow: true,
		},
		{
			name:  "intern delete of a contact is denied with a reason",
			in:    input(subject(true, "intern"), act("delete", "write", "Contact")),
			allow: false, reason: "role intern may not delete Contact",
		},
		{
			name:  "intern reads contacts with phone and e-mail redacted",
			in:    input(subject(false, "intern"), act("list", "read", "Contacts")),
			allow: true, mask: map[string]string{"*.Phone": "redact", "*.Email": "redact", "*.Mobile": "redact"},
		},
		{
			name:  "export without MFA is denied",
			in:    input(subject(false, "sales_manager"), act("bulk_query", "export", "Contact")),
			allow: false, reason: "export of Contact requires multi-factor authentication: sign in again with MFA",
		},
		{
			name:  "export by a sales manager with MFA is capped at 2000 records",
			in:    input(subject(true, "sales_manager"), act("bulk_result", "export", "Contact")),
			allow: true, maxRecords: 2000,
		},
		{
			name:  "export by a sales rep is denied even with MFA",
			in:    input(subject(true, "sales_rep"), act("report", "export", "Opportunity")),
			allow: false, reason: "role sales_rep may not export Opportunity",
		},
		{
			name:  "integration client exports without MFA, capped at 50000",
			in:    input(clientSubject("integration"), act("bulk_query", "export", "Account")),
			allow: true, maxRecords: 50000, mask: map[string]string{"*.National_ID__c": "hash"},
		},
		{
			name:  "unknown operation is denied even for admin",
			in:    input(subject(true, "admin"), act("unknown", "unknown", "")),
			allow: false, reason: `unknown operation "unknown" (category "unknown"): crmgw could not classify this request`,
		},
		{
			name:  "caller without roles is denied",
			in:    input(subject(true), act("read", "read", "Contact")),
			allow: false, reason: "the subject has no roles",
		},
		{
			name:  "describe is allowed for any known role",
			in:    input(subject(false, "intern"), act("describe", "metadata", "Contact")),
			allow: true,
		},
		{
			name:  "composite container is allowed for a known role",
			in:    input(subject(false, "intern"), container),
			allow: true, reason: "composite request: every sub-request is decided on its own",
		},
		{
			name:  "composite sub-request reading contacts is allowed for an intern",
			in:    input(subject(false, "intern"), sub(act("query", "read", "Contact"))),
			allow: true,
		},
		{
			name:  "composite hiding an Opportunity read is denied for an intern",
			in:    input(subject(false, "intern"), sub(act("read", "read", "Opportunity"))),
			allow: false, reason: "role intern may not read Opportunity",
		},
		{
			name:  "composite inside a composite is denied",
			in:    input(subject(true, "admin"), sub(container)),
			allow: false, reason: "composite requests may not be nested inside composite requests",
		},
		{
			name:  "zero input is denied",
			in:    &Input{},
			allow: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Allow != tt.allow {
				t.Errorf("allow = %v, want %v (reason %q)", d.Allow, tt.allow, d.Reason)
			}
			if tt.reason != "" && d.Reason != tt.reason {
				t.Errorf("reason = %q, want %q", d.Reason, tt.reason)
			}
			if d.Reason == "" {
				t.Errorf("empty reason")
			}
			for k, v := range tt.mask {
				if d.Mask[k] != v {
					t.Errorf("mask[%q] = %q, want %q (mask %v)", k, d.Mask[k], v, d.Mask)
				}
			}
			if d.MaxRecords != tt.maxRecords {
				t.Errorf("max_records = %d, want %d", d.MaxRecords, tt.maxRecords)
			}
			if !strings.HasPrefix(d.Revision, "sha256:") || d.Revision != e.Revision() {
				t.Errorf("revision = %q, engine %q", d.Revision, e.Revision())
			}
		})
	}
}

// writePolicy writes files (name -> content) into a fresh directory.
func writePolicy(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	return dir
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Write then rename, as editors and deploy tools do.
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

const allowAll = `package crmgw.authz

decision := {"allow": true, "reason": "everything goes", "mask": {}, "max_records": 0}
`

func TestDecideDeniesWhenThePolicyGivesNoUsableDecision(t *testing.T) {
	tests := []struct {
		name     string
		policy   string
		decision string
		timeout  time.Duration
		wantErr  error
		reason   string
	}{
		{
			name:     "undefined decision path",
			policy:   allowAll,
			decision: "data.crmgw.authz.nothing_here",
			wantErr:  ErrUndefined, reason: reasonUndefined,
		},
		{
			name:    "rule defined only for other inputs",
			policy:  "package crmgw.authz\n\ndecision := {\"allow\": true} if input.subject.kind == \"robot\"\n",
			wantErr: ErrUndefined, reason: reasonUndefined,
		},
		{
			name: "conflicting values are an evaluation error",
			policy: `package crmgw.authz

decision := {"allow": true, "reason": "a"}

decision := {"allow": false, "reason": "b"} if input.action.operation == "read"
`,
			wantErr: ErrEval, reason: reasonEval,
		},
		{
			name: "evaluation past the timeout",
			policy: `package crmgw.authz

decision := {"allow": true, "reason": sprintf("%d", [count(big)])}

big contains x if {
	some i in numbers.range(1, 2000)
	some j in numbers.range(1, 2000)
	x := i * j
}
`,
			timeout: time.Millisecond,
			wantErr: ErrTimeout, reason: reasonTimeout,
		},
		{
			name:    "allow as a string",
			policy:  "package crmgw.authz\n\ndecision := {\"allow\": \"yes\", \"reason\": \"sure\"}\n",
			wantErr: ErrMalformed, reason: reasonMalformed,
		},
		{
			name:    "allow missing",
			policy:  "package crmgw.authz\n\ndecision := {\"reason\": \"sure\"}\n",
			wantErr: ErrMalformed, reason: reasonMalformed,
		},
		{
			name:    "decision is not an object",
			policy:  "package crmgw.authz\n\ndecision := true\n",
			wantErr: ErrMalformed, reason: reasonMalformed,
		},
		{
			name:    "mask with a non-string strategy",
			policy:  "package crmgw.authz\n\ndecision := {\"allow\": true, \"mask\": {\"Contact.Email\": 1}}\n",
			wantErr: ErrMalformed, reason: reasonMalformed,
		},
		{
			name:    "negative max_records",
			policy:  "package crmgw.authz\n\ndecision := {\"allow\": true, \"max_records\": -1}\n",
			wantErr: ErrMalformed, reason: reasonMalformed,
		},
		{
			name:    "allow_filter as a string",
			policy:  "package crmgw.authz\n\ndecision := {\"allow\": true, \"allow_filter\": \"Contact.Email\"}\n",
			wantErr: ErrMalformed, reason: reasonMalformed,
		},
		{
			name:    "allow_filter entry without an object",
			policy:  "package crmgw.authz\n\ndecision := {\"allow\": true, \"allow_filter\": [\"Email\"]}\n",
			wantErr: ErrMalformed, reason: reasonMalformed,
		},
		{
			name:    "allow_filter entry with a path",
			policy:  "package crmgw.authz\n\ndecision := {\"allow\": true, \"allow_filter\": [\"Contact.Account.Name\"]}\n",
			wantErr: ErrMalformed, reason: reasonMalformed,
		},
		{
			name:    "allow_filter entry not a string",
			policy:  "package crmgw.authz\n\ndecision := {\"allow\": true, \"allow_filter\": [\"Contact.Email\", 3]}\n",
			wantErr: ErrMalformed, reason: reasonMalformed,
		},
		{
			name:    "fractional max_records",
			policy:  "package crmgw.authz\n\ndecision := {\"allow\": true, \"max_records\": 2.5}\n",
			wantErr: ErrMalformed, reason: reasonMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writePolicy(t, map[string]string{"authz.rego": tt.policy})
			e := newEngine(t, Config{Paths: []string{dir}, Decision: tt.decision, Timeout: tt.timeout})
			d, err := e.Decide(context.Background(), input(subject(true, "admin"), act("read", "read", "Contact")))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if d.Allow {
				t.Errorf("allowed, want a denial")
			}
			if d.Reason != tt.reason {
				t.Errorf("reason = %q, want %q", d.Reason, tt.reason)
			}
			if d.Revision != e.Revision() {
				t.Errorf("revision = %q, want %q", d.Revision, e.Revision())
			}
		})
	}
}

func TestDecideKeepsUnknownDecisionKeysInExtra(t *testing.T) {
	dir := writePolicy(t, map[string]string{"authz.rego": `package crmgw.authz

decision := {"allow": true, "reason": "ok", "mask": {"*.SSN__c": "redact"}, "max_records": 10, "escalate": {"required": true}}
`})
	e := newEngine(t, Config{Paths: []string{dir}})
	d, err := e.Decide(context.Background(), input(subject(true, "admin"), act("read", "read", "Contact")))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allow || d.MaxRecords != 10 || d.Mask["*.SSN__c"] != "redact" {
		t.Errorf("decision = %+v", d)
	}
	if a, ok := d.Extra["escalate"].(map[string]any); !ok || a["required"] != true {
		t.Errorf("extra = %#v, want escalate.required", d.Extra)
	}
}

// allow_filter is read from an array or a set; the policy sees the access
// plan (objects, field roles, aliases) and can decide on it.
func TestDecideReadsAllowFilterAndThePlan(t *testing.T) {
	dir := writePolicy(t, map[string]string{"authz.rego": `package crmgw.authz

import rego.v1

decision := {"allow": true, "reason": "ok", "mask": {"Contact.Email": "email"}, "allow_filter": filterable} if {
	"Account" in input.action.objects
	"filter" in input.action.field_roles["Contact.Email"]
	input.action.aliases.m == "Contact.MobilePhone"
} else := {"allow": false, "reason": "plan not seen"}

filterable contains "Contact.Email"
filterable contains "*.Phone"
`})
	e := newEngine(t, Config{Paths: []string{dir}})
	a := act("query", "read", "Contact")
	a.Objects = []string{"Contact", "Account"}
	a.FieldRoles = map[string][]string{"Contact.Email": {"select", "filter"}}
	a.Aliases = map[string]string{"m": "Contact.MobilePhone"}
	for range 2 { // evaluated, then from the cache
		d, err := e.Decide(context.Background(), input(subject(true, "admin"), a))
		if err != nil || !d.Allow {
			t.Fatalf("decision = %+v, %v", d, err)
		}
		slices.Sort(d.AllowFilter)
		if !slices.Equal(d.AllowFilter, []string{"*.Phone", "Contact.Email"}) {
			t.Errorf("allow_filter = %q", d.AllowFilter)
		}
	}
	// The same request without the filter role is another decision, not
	// the cached one.
	a.FieldRoles = map[string][]string{"Contact.Email": {"select"}}
	if d, _ := e.Decide(context.Background(), input(subject(true, "admin"), a)); d.Allow {
		t.Errorf("allowed without the filter role: %+v (a stale cached decision?)", d)
	}
}

func TestDecideWithNilInputIsDenied(t *testing.T) {
	e := defaultEngine(t)
	d, err := e.Decide(context.Background(), nil)
	if err == nil || d.Allow {
		t.Fatalf("decision %+v, err %v; want a denial with an error", d, err)
	}
}

func TestDecideWithCancelledContextIsDenied(t *testing.T) {
	e := defaultEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := e.Decide(ctx, input(subject(false, "sales_rep"), act("read", "read", "Contact")))
	if err == nil || d.Allow {
		t.Fatalf("decision %+v, err %v; want a denial with an error", d, err)
	}
}

func TestNewRejectsBrokenPolicyNamingFileLineCol(t *testing.T) {
	dir := writePolicy(t, map[string]string{
		"authz.rego": "package crmgw.authz\n\ndecision := {\"allow\": true}\n",
		"bad.rego":   "package crmgw.bad\n\nx := y\n",
	})
	_, err := New(context.Background(), Config{Paths: []string{dir}}, zaptest.NewLogger(t))
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a *CompileError", err)
	}
	want := filepath.Join(dir, "bad.rego") + ":3:6: rego_unsafe_var_error"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to contain %q", err, want)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := New(context.Background(), Config{Mode: "audit"}, zaptest.NewLogger(t))
	if err == nil || !strings.Contains(err.Error(), "mode") || !strings.Contains(err.Error(), "paths") {
		t.Fatalf("error = %v, want problems with paths and mode", err)
	}
}

func TestModeIsExposed(t *testing.T) {
	if m := defaultEngine(t).Mode(); m != ModeEnforce {
		t.Errorf("default mode = %q", m)
	}
	if m := newEngine(t, Config{Paths: []string{policiesDir}, Mode: ModeMonitor}).Mode(); m != ModeMonitor {
		t.Errorf("mode = %q, want monitor", m)
	}
}
