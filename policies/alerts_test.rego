package crmgw.alerts_test

import rego.v1

import data.crmgw.alerts

# A weekday (Monday 2026-11-23) at 09:14 UTC.
base_event := {
	"time": "2026-11-23T09:14:03.412Z",
	"request_id": "01JTEST",
	"status": "allowed",
	"actor": {"user": {"uid": "00u1", "email": "li.wei@example.com", "groups": ["sales"]}, "client_id": "", "mfa": true},
	"src_endpoint": {"ip": "10.20.1.7"},
	"crm": {"upstream": "salesforce", "type": "salesforce", "operation": "query", "category": "read", "object": "Contact", "records": 20},
	"decision": {"allow": true, "enforced": true},
}

export_event(records, at) := object.union(base_event, {
	"time": at,
	"crm": object.union(base_event.crm, {"operation": "bulk_result", "category": "export", "records": records}),
})

rules(set) := {a.rule | some a in set}

test_small_read_raises_nothing if {
	count(alerts.alerts) == 0 with input as {"event": base_event, "usage": {}}
}

test_export_over_threshold_is_bulk_export if {
	got := alerts.alerts with input as {"event": export_event(10001, base_event.time), "usage": {}}
	rules(got) == {"bulk_export"}
	some a in got
	a.severity == "high"
	contains(a.summary, "00u1 exported 10001 Contact records")
}

test_export_at_threshold_is_not_bulk_export if {
	count(alerts.alerts) == 0 with input as {"event": export_event(10000, base_event.time), "usage": {}}
}

test_threshold_comes_from_data if {
	got := alerts.alerts with input as {"event": export_event(600, base_event.time), "usage": {}}
		with data.crmgw.alerts_config as {"bulk_export_records": 500}
	rules(got) == {"bulk_export"}
}

test_export_at_night_is_outside_working_hours if {
	got := alerts.alerts with input as {"event": export_event(10, "2026-11-23T23:30:00Z"), "usage": {}}
	rules(got) == {"export_outside_working_hours"}
}

test_export_at_8_is_inside_and_at_20_outside if {
	count(alerts.alerts) == 0 with input as {"event": export_event(10, "2026-11-23T08:00:00Z"), "usage": {}}
	got := alerts.alerts with input as {"event": export_event(10, "2026-11-23T20:00:00Z"), "usage": {}}
	rules(got) == {"export_outside_working_hours"}
}

test_working_hours_follow_the_configured_offset if {
	# 02:00 UTC is 10:00 at UTC+8: inside working hours there.
	count(alerts.alerts) == 0 with input as {"event": export_event(10, "2026-11-23T02:00:00Z"), "usage": {}}
		with data.crmgw.alerts_config as {"working_hours": {"utc_offset_minutes": 480}}

	# 13:00 UTC is 21:00 at UTC+8: outside.
	got := alerts.alerts with input as {"event": export_event(10, "2026-11-23T13:00:00Z"), "usage": {}}
		with data.crmgw.alerts_config as {"working_hours": {"utc_offset_minutes": 480}}
	rules(got) == {"export_outside_working_hours"}
}

test_export_on_saturday_is_outside_working_hours if {
	got := alerts.alerts with input as {"event": export_event(10, "2026-11-28T10:00:00Z"), "usage": {}}
	rules(got) == {"export_outside_working_hours"}
}

test_weekends_can_be_working_days if {
	count(alerts.alerts) == 0 with input as {"event": export_event(10, "2026-11-28T10:00:00Z"), "usage": {}}
		with data.crmgw.alerts_config as {"working_hours": {"weekends": false}}
}

test_denied_export_at_night_is_not_an_outside_hours_export if {
	ev := object.union(export_event(10, "2026-11-23T23:30:00Z"), {"status": "denied", "decision": {"allow": false}})
	count(alerts.alerts) == 0 with input as {"event": ev, "usage": {}}
}

test_records_far_above_baseline_is_a_volume_spike if {
	got := alerts.alerts with input as {"event": base_event, "usage": {"records": {"1h": 10001}}}
	rules(got) == {"record_volume_spike"}
}

test_records_at_factor_times_baseline_is_not_a_spike if {
	count(alerts.alerts) == 0 with input as {"event": base_event, "usage": {"records": {"1h": 10000}}}
}

test_subject_baseline_overrides_the_global_one if {
	cfg := {"volume_baselines": {"00u1": 100}}
	got := alerts.alerts with input as {"event": base_event, "usage": {"records": {"1h": 501}}}
		with data.crmgw.alerts_config as cfg
	rules(got) == {"record_volume_spike"}
}

test_many_denials_is_probing if {
	ev := object.union(base_event, {"status": "denied", "decision": {"allow": false}})
	got := alerts.alerts with input as {"event": ev, "usage": {"denials": {"10m": 20}}}
	rules(got) == {"repeated_denials"}
}

test_few_denials_is_not_probing if {
	ev := object.union(base_event, {"status": "denied", "decision": {"allow": false}})
	count(alerts.alerts) == 0 with input as {"event": ev, "usage": {"denials": {"10m": 19}}}
}

test_allowed_request_after_denials_does_not_repeat_probing if {
	count(alerts.alerts) == 0 with input as {"event": base_event, "usage": {"denials": {"10m": 50}}}
}

test_api_key_from_new_network if {
	ev := object.union(base_event, {"actor": {"user": {"uid": "", "email": "", "groups": []}, "client_id": "etl-nightly", "mfa": false}})
	got := alerts.alerts with input as {"event": ev, "usage": {"new_network": true}}
	rules(got) == {"api_key_new_network"}
	some a in got
	contains(a.summary, "etl-nightly")
}

test_known_network_is_quiet if {
	ev := object.union(base_event, {"actor": {"user": {"uid": "", "email": "", "groups": []}, "client_id": "etl-nightly", "mfa": false}})
	count(alerts.alerts) == 0 with input as {"event": ev, "usage": {"new_network": false}}
}

test_missing_usage_raises_nothing_extra if {
	count(alerts.alerts) == 0 with input as {"event": base_event}
}

test_several_rules_fire_together if {
	got := alerts.alerts with input as {"event": export_event(20000, "2026-11-23T23:30:00Z"), "usage": {"records": {"1h": 20000}}}
	rules(got) == {"bulk_export", "export_outside_working_hours", "record_volume_spike"}
}

# --- approvals and the watch list ------------------------------------------------

watched_export(status) := object.union(export_event(100, base_event.time), {
	"status": status,
	"actor": object.union(base_event.actor, {"watch": ["departing"]}),
})

test_watched_export_alerts_when_allowed_or_denied if {
	rules(alerts.alerts) == {"watched_subject_export"} with input as {"event": watched_export("allowed"), "usage": {}}
	rules(alerts.alerts) == {"watched_subject_export"} with input as {"event": watched_export("denied"), "usage": {}}
	some a in alerts.alerts with input as {"event": watched_export("denied"), "usage": {}}
	contains(a.summary, "00u1 (watch list: departing) attempted a export of Contact (denied, 100 records)")
}

test_unwatched_export_does_not_alert if {
	count(alerts.alerts) == 0 with input as {"event": export_event(100, base_event.time), "usage": {}}
}

test_watched_read_does_not_alert if {
	ev := object.union(base_event, {"actor": object.union(base_event.actor, {"watch": ["departing"]})})
	count(alerts.alerts) == 0 with input as {"event": ev, "usage": {}}
}

test_frozen_subject_request_alerts if {
	ev := object.union(base_event, {
		"status": "denied",
		"actor": object.union(base_event.actor, {"frozen": true}),
		"http_request": {"method": "GET", "path": "/services/data/v60.0/query"},
	})
	rules(alerts.alerts) == {"frozen_subject_request"} with input as {"event": ev, "usage": {}}
}

approval_event(step) := object.union(export_event(0, base_event.time), {
	"activity": concat("_", ["approval", step]),
	"actor": object.union(base_event.actor, {"watch": ["departing"]}),
	"approval": {
		"id": "apr_01", "step": step, "status": "pending", "subject": "li.wei@example.com",
		"approvers": ["group:sales_managers"], "approver": "ma.li@example.com", "comment": "ok",
		"reason": "export by a watched subject (departing) needs approval",
		"url": "https://crmgw-admin.example.com/approvals/apr_01",
	},
})

test_approval_requested_notifies_with_url if {
	got := alerts.alerts with input as {"event": approval_event("requested"), "usage": {}}
	rules(got) == {"approval_requested"}
	some a in got
	contains(a.summary, "li.wei@example.com asks to bulk_result Contact")
	contains(a.summary, "Approvers: group:sales_managers")
	contains(a.summary, "https://crmgw-admin.example.com/approvals/apr_01")
}

test_approval_decisions_alert if {
	rules(alerts.alerts) == {"approval_approved"} with input as {"event": approval_event("approved"), "usage": {}}
	rules(alerts.alerts) == {"approval_denied"} with input as {"event": approval_event("denied"), "usage": {}}
	count(alerts.alerts) == 0 with input as {"event": approval_event("used"), "usage": {}}
}

test_request_cut_short_by_a_crash_is_outcome_unknown if {
	ev := object.union(export_event(0, base_event.time), {"status": "unknown"})
	"outcome_unknown" in rules(alerts.alerts) with input as {"event": ev, "usage": {}}
}

test_pending_start_record_raises_nothing if {
	ev := object.union(base_event, {"status": "pending"})
	count(alerts.alerts) == 0 with input as {"event": ev, "usage": {}}
}
