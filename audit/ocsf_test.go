package audit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crmgw/crmgw/internal/ocsftest"
)

func ocsfSchema(t testing.TB) *ocsftest.Schema {
	t.Helper()
	s, err := ocsftest.Default()
	if err != nil {
		t.Fatalf("loading the OCSF definitions: %v", err)
	}
	return s
}

// ocsfCases are native events of every shape the gateway writes.
func ocsfCases() map[string]*Event {
	chained := func(ev *Event, seq int64) *Event {
		ev.Chain = Chain{Seq: seq, Prev: strings.Repeat("0", 64), Hash: strings.Repeat("ab", 32)}
		return ev
	}
	read := testEvent(1)
	export := exportEvent(2, "00u1", 5000, time.Date(2026, 11, 23, 9, 14, 7, 0, time.UTC))
	export.CRM.Objects = []string{"Contact", "Account"}
	export.CRM.FieldRoles = map[string][]string{"Contact.Email": {"select"}, "Contact.Id": {"select"}, "Account.Name": {"filter"}}
	export.TraceID, export.SpanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

	apiKey := testEvent(3)
	apiKey.Actor = Actor{User: User{UID: "etl-nightly", Groups: []string{}}, ClientID: "etl-nightly", Kind: "client", Issuer: "crmgw:api_key"}
	apiKey.Status, apiKey.HTTPResponse = StatusRateLimited, HTTPResponse{Code: 429, Bytes: 104}
	apiKey.Decision = Decision{Allow: false, Enforced: true, Reason: "rate limit per-subject exceeded", Masked: []string{}}
	apiKey.Classify()

	unauth := testEvent(4)
	unauth.Actor = Actor{User: User{Groups: []string{}}}
	unauth.Status, unauth.HTTPResponse = StatusDenied, HTTPResponse{Code: 401, Bytes: 90}
	unauth.CRM = CRM{Operation: "unknown", Category: "unknown", Fields: []string{}}
	unauth.Decision = Decision{Enforced: true, Reason: "no credential", Masked: []string{}}
	unauth.Error = "no credential"
	unauth.Classify()

	pending := exportEvent(5, "00u1", 0, time.Date(2026, 11, 23, 9, 14, 8, 0, time.UTC))
	pending.Status = StatusPending
	pending.HTTPResponse = HTTPResponse{}

	crash := exportEvent(6, "00u1", 0, time.Date(2026, 11, 23, 9, 14, 9, 0, time.UTC))
	crash.Status, crash.Severity = StatusUnknown, SeverityHigh
	crash.Error = "the gateway stopped before the request completed; what reached the caller is unknown"

	monitor := testEvent(7)
	monitor.Decision.Allow, monitor.Decision.Enforced = false, false

	upstream404 := testEvent(8)
	upstream404.HTTPResponse.Code = 404

	bulk := testEvent(9)
	bulk.CRM.Operation, bulk.CRM.Category = "bulk_ingest", "bulk"
	bulk.CRM.Host = "acme.my.salesforce.com:443"
	bulk.Classify()

	composite := testEvent(10)
	composite.CRM.Operation, composite.CRM.Category, composite.CRM.Object = "composite", "write", ""
	composite.Subrequests = []CRM{{Operation: "create", Category: "write", Object: "Account", Fields: []string{"Name"}},
		{Operation: "delete", Category: "write", Object: "Contact", Fields: []string{}}}
	composite.Classify()

	approval := &Event{Time: time.Date(2026, 11, 23, 9, 15, 0, 0, time.UTC), RequestID: "01JAPPROVAL",
		Activity: "approval_approved", Severity: SeverityMedium, Status: StatusAllowed,
		Actor:    Actor{User: User{UID: "mgr@example.com", Email: "mgr@example.com", Groups: []string{}}},
		CRM:      CRM{Upstream: "salesforce", Operation: "bulk_query", Category: "export", Object: "Contact", Fields: []string{"Id"}},
		Decision: Decision{Allow: true, Enforced: true, Reason: "big export", Masked: []string{}},
		Approval: &Approval{ID: "ap1", Step: "approved", Status: "approved", Approver: "mgr@example.com"}}

	failed := testEvent(12)
	failed.Status, failed.HTTPResponse = StatusFailed, HTTPResponse{Code: 502, Bytes: 120}
	failed.Error = "upstream: connection refused"
	failed.Classify()

	badEmail := testEvent(11)
	badEmail.Actor.User.Email = "not an email"

	return map[string]*Event{
		"read with a masked field":                 chained(read, 1),
		"traced export of two objects":             chained(export, 2),
		"rate-limited API key":                     chained(apiKey, 3),
		"unauthenticated caller":                   chained(unauth, 4),
		"start record":                             chained(pending, 5),
		"request cut short by a crash":             chained(crash, 6),
		"monitor-mode denial":                      chained(monitor, 7),
		"allowed request the CRM answered 404":     chained(upstream404, 8),
		"bulk ingest":                              chained(bulk, 9),
		"composite create and delete":              chained(composite, 10),
		"approval step with no caller address":     chained(approval, 11),
		"IdP email OCSF's email_t does not accept": chained(badEmail, 12),
		"upstream failure":                         chained(failed, 13),
	}
}

func TestOCSFEventsValidateAgainstTheSchema(t *testing.T) {
	s := ocsfSchema(t)
	for name, ev := range ocsfCases() {
		t.Run(name, func(t *testing.T) {
			b, err := MarshalOCSF(ev)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(b); err != nil {
				t.Fatalf("%v\nevent: %s", err, b)
			}
		})
	}
}

func TestTheNativeEventIsNotOCSF(t *testing.T) {
	ev := testEvent(1)
	ev.Chain = Chain{Seq: 1, Prev: GenesisPrev, Hash: strings.Repeat("ab", 32)}
	b, _ := json.Marshal(ev)
	err := ocsfSchema(t).Validate(b)
	if err == nil {
		t.Fatal("the native event validates as OCSF: the validator checks nothing")
	}
	for _, want := range []string{"activity_id: required", "time: must be an integer", "request_id: not an attribute", "actor.mfa: not an attribute"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems do not name %q:\n%v", want, err)
		}
	}
}

// TestOCSFMapping checks what a SOC analyst searches on.
func TestOCSFMapping(t *testing.T) {
	cases := ocsfCases()
	o := OCSF(cases["traced export of two objects"])
	if o.ActivityID != OCSFActivityRead || o.ActivityName != "Read" || o.TypeUID != 600302 || o.SeverityID != 4 ||
		o.StatusID != 1 || o.Time != time.Date(2026, 11, 23, 9, 14, 7, 0, time.UTC).UnixMilli() {
		t.Errorf("export classified as %+v", o)
	}
	if o.Unmapped.Activity != "export" || o.Unmapped.Chain.Seq != 2 || o.Unmapped.CRM.Records != 5000 {
		t.Errorf("unmapped = %+v", o.Unmapped)
	}
	if o.Metadata.Version != "1.8.0" || o.Metadata.Product.Name != "crmgw" || o.Metadata.Product.Version == "" ||
		o.Metadata.CorrelationUID != "4bf92f3577b34da6a3ce929d0e0e4736" || o.Trace == nil || o.Metadata.UID != strings.Repeat("ab", 32) {
		t.Errorf("metadata = %+v, trace = %+v", o.Metadata, o.Trace)
	}
	if len(o.Resources) != 2 || o.Resources[0].Name != "Contact" || o.Resources[1].Name != "Account" ||
		strings.Join(o.Resources[0].Data["fields"].([]string), ",") != "Email,Id" || o.Resources[0].Data["records"] != int64(5000) {
		t.Errorf("resources = %+v", o.Resources)
	}
	if o.Actor.User == nil || o.Actor.User.EmailAddr != "li.wei@example.com" || !o.Actor.User.HasMFA || o.Actor.AppUID != "" {
		t.Errorf("person's actor = %+v", o.Actor)
	}

	k := OCSF(cases["rate-limited API key"])
	if k.Actor.User != nil || k.Actor.AppUID != "etl-nightly" || k.Actor.IDP == nil || k.Actor.IDP.Name != "crmgw:api_key" {
		t.Errorf("an API key is recorded as %+v (user %+v), want an application", k.Actor, k.Actor.User)
	}
	if k.StatusID != 2 || k.ActionID != 2 || k.DispositionID != 2 || k.StatusCode != "rate_limited" || k.StatusDetail == "" {
		t.Errorf("rate-limited: status %d action %d disposition %d code %q", k.StatusID, k.ActionID, k.DispositionID, k.StatusCode)
	}

	for name, want := range map[string]struct{ activity, status, disposition int }{
		"unauthenticated caller":               {OCSFActivityOther, 2, 26},
		"start record":                         {OCSFActivityRead, 99, 0},
		"request cut short by a crash":         {OCSFActivityRead, 0, 0},
		"monitor-mode denial":                  {OCSFActivityRead, 1, 15},
		"allowed request the CRM answered 404": {OCSFActivityRead, 2, 1},
		"bulk ingest":                          {OCSFActivityOther, 1, 1},
		"approval step with no caller address": {OCSFActivityOther, 1, 1},
		"upstream failure":                     {OCSFActivityRead, 2, 27},
	} {
		o := OCSF(cases[name])
		if o.ActivityID != want.activity || o.StatusID != want.status || o.DispositionID != want.disposition {
			t.Errorf("%s: activity %d status %d disposition %d, want %+v", name, o.ActivityID, o.StatusID, o.DispositionID, want)
		}
	}
	if b := OCSF(cases["bulk ingest"]); b.ActivityName != "bulk" || b.DstEndpoint == nil || b.DstEndpoint.Hostname != "acme.my.salesforce.com" || b.DstEndpoint.Port != 443 {
		t.Errorf("bulk: activity_name %q dst %+v", b.ActivityName, b.DstEndpoint)
	}
	if e := OCSF(cases["IdP email OCSF's email_t does not accept"]); e.Actor.User.EmailAddr != "" || e.Unmapped.Actor == nil || e.Unmapped.Actor.Email != "not an email" {
		t.Errorf("an email email_t refuses is kept as %+v / %+v", e.Actor.User, e.Unmapped.Actor)
	}
	if c := OCSF(cases["composite create and delete"]); len(c.Resources) != 2 || len(c.Unmapped.Subrequests) != 2 {
		t.Errorf("composite resources = %+v", c.Resources)
	}
}

// TestOCSFValidatorRejectsBrokenEvents breaks a valid event one way at a
// time: each must be refused, naming what is wrong.
func TestOCSFValidatorRejectsBrokenEvents(t *testing.T) {
	s := ocsfSchema(t)
	good, err := MarshalOCSF(ocsfCases()["traced export of two objects"])
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(good); err != nil {
		t.Fatalf("the event to break is not valid: %v", err)
	}
	cases := []struct {
		name   string
		break_ func(m map[string]any)
		want   string
	}{
		{"required attribute removed", func(m map[string]any) { delete(m, "api") }, "api: required by api_activity"},
		{"required attribute of an object removed", func(m map[string]any) { delete(m["metadata"].(map[string]any), "product") }, "metadata.product: required by metadata"},
		{"unknown attribute", func(m map[string]any) { m["crm"] = map[string]any{} }, "crm: not an attribute of api_activity"},
		{"unknown attribute in an object", func(m map[string]any) { m["actor"].(map[string]any)["mfa"] = true }, "actor.mfa: not an attribute of actor"},
		{"time as RFC 3339", func(m map[string]any) { m["time"] = "2026-11-23T09:14:07Z" }, "time: must be an integer (timestamp_t)"},
		{"activity_id as a string", func(m map[string]any) { m["activity_id"] = "2" }, "activity_id: must be an integer"},
		{"activity_id outside its enum", func(m map[string]any) { m["activity_id"] = 7; m["type_uid"] = 600307 }, "activity_id: 7 is not one of its enum values"},
		{"severity_id outside its enum", func(m map[string]any) { m["severity_id"] = 42 }, "severity_id: 42 is not one of its enum values"},
		{"type_uid not class*100+activity", func(m map[string]any) { m["type_uid"] = 600301 }, "type_uid: 600301, want"},
		{"category of another class", func(m map[string]any) { m["category_uid"] = 3 }, "category_uid: 3, but class api_activity is in category 6"},
		{"caption that does not match its id", func(m map[string]any) { m["severity"] = "Low" }, `severity: "Low", but severity_id 4 is "High"`},
		{"string where a boolean goes", func(m map[string]any) {
			m["actor"].(map[string]any)["user"].(map[string]any)["has_mfa"] = "yes"
		}, "actor.user.has_mfa: must be true or false"},
		{"object where an array goes", func(m map[string]any) { m["resources"] = map[string]any{"name": "Contact"} }, "resources: must be an array of resource_details"},
		{"invalid IP address", func(m map[string]any) { m["src_endpoint"] = map[string]any{"ip": "10.20.1.999"} }, `src_endpoint.ip: "10.20.1.999" is not a valid ip_t`},
		{"invalid email", func(m map[string]any) {
			m["actor"].(map[string]any)["user"].(map[string]any)["email_addr"] = "li.wei"
		}, `actor.user.email_addr: "li.wei" is not a valid email_t`},
		{"port out of range", func(m map[string]any) { m["dst_endpoint"] = map[string]any{"hostname": "h", "port": 70000} }, "dst_endpoint.port: 70000 is outside port_t's range"},
		{"profile attribute without its profile", func(m map[string]any) {
			m["metadata"].(map[string]any)["profiles"] = []any{"security_control"}
		}, "trace: belongs to profile trace, which metadata.profiles does not list"},
		{"unknown profile", func(m map[string]any) {
			m["metadata"].(map[string]any)["profiles"] = []any{"security_control", "trace", "crmgw"}
		}, `metadata.profiles: unknown profile "crmgw"`},
		{"actor with nobody in it", func(m map[string]any) { m["actor"] = map[string]any{} }, "actor: actor needs at least one of"},
		{"integer beyond integer_t", func(m map[string]any) { m["http_response"].(map[string]any)["code"] = 1 << 40 }, "does not fit integer_t"},
		{"wrong schema version", func(m map[string]any) { m["metadata"].(map[string]any)["version"] = "1.1.0" }, `metadata.version: "1.1.0"`},
		{"deprecated attribute", func(m map[string]any) { m["actor"].(map[string]any)["invoked_by"] = "x" }, "actor.invoked_by: deprecated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(good, &m); err != nil {
				t.Fatal(err)
			}
			c.break_(m)
			b, _ := json.Marshal(m)
			err := s.Validate(b)
			if err == nil {
				t.Fatalf("the broken event validates: %s", b)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("problems do not name %q:\n%v", c.want, err)
			}
		})
	}
	if err := s.Validate([]byte(`{"class_uid": 6003`)); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("truncated JSON: %v", err)
	}
	if err := s.Validate([]byte(`{"class_uid": 4001}`)); err == nil || !strings.Contains(err.Error(), "4001 is not a class in the definitions") {
		t.Errorf("a class whose definition is not copied: %v", err)
	}
}

// BenchmarkMarshalOCSF is the cost a sink with format: ocsf adds per
// event (in the sink's goroutine, never on the request path).
func BenchmarkMarshalOCSF(b *testing.B) {
	ev := ocsfCases()["traced export of two objects"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MarshalOCSF(ev); err != nil {
			b.Fatal(err)
		}
	}
}
