# Default alert rules, evaluated by crmgw for every audit event.
#
# input.event is the audit event (docs/audit.md), input.usage the usage
# counters: records/requests per window from the rate limiter, denials["10m"]
# (the larger of the proxy's counter and crmgw's in-process one) and
# new_network (an API key used from a /24 it was not seen from before).
# Thresholds live in data.crmgw.alerts_config (policies/alerts_data.json);
# each key missing there falls back to default_config below.
package crmgw.alerts

import rego.v1

default_config := {
	"bulk_export_records": 10000,
	"working_hours": {"start": 8, "end": 20, "utc_offset_minutes": 0, "weekends": true},
	"volume_baseline_records_1h": 2000,
	"volume_baselines": {},
	"volume_factor": 5,
	"denials_10m": 20,
}

default user_config := {}

user_config := data.crmgw.alerts_config

config := object.union(default_config, user_config)

# alerts is the set of alerts this event raises.
alerts contains alert if {
	is_export
	input.event.crm.records > config.bulk_export_records
	alert := {
		"rule": "bulk_export",
		"severity": "high",
		"summary": sprintf("%s exported %d %s records (threshold %d)", [subject, input.event.crm.records, object_name, config.bulk_export_records]),
	}
}

alerts contains alert if {
	is_export
	input.event.decision.allow
	outside_working_hours
	alert := {
		"rule": "export_outside_working_hours",
		"severity": "medium",
		"summary": sprintf("%s exported %d %s records outside working hours", [subject, input.event.crm.records, object_name]),
	}
}

alerts contains alert if {
	records := input.usage.records["1h"]
	records > config.volume_factor * baseline
	alert := {
		"rule": "record_volume_spike",
		"severity": "high",
		"summary": sprintf("%s received %d records in the last hour, over %d times the usual %d", [subject, records, config.volume_factor, baseline]),
	}
}

alerts contains alert if {
	input.event.status == "denied"
	denials := input.usage.denials["10m"]
	denials >= config.denials_10m
	alert := {
		"rule": "repeated_denials",
		"severity": "medium",
		"summary": sprintf("%s was denied %d times in 10 minutes (probing?)", [subject, denials]),
	}
}

# A request was forwarded to the CRM when the gateway stopped (crash, kill,
# node loss): the restart closed its start record, and what reached the
# caller (how many records) is unknown.
alerts contains alert if {
	input.event.status == "unknown"
	alert := {
		"rule": "outcome_unknown",
		"severity": "high",
		"summary": sprintf("%s's %s on %s was in flight when the gateway stopped: its outcome is unknown", [subject, input.event.crm.operation, object_name]),
	}
}

alerts contains alert if {
	input.usage.new_network == true
	input.event.actor.client_id != ""
	alert := {
		"rule": "api_key_new_network",
		"severity": "medium",
		"summary": sprintf("API key %s used from a new network (%s)", [input.event.actor.client_id, input.event.src_endpoint.ip]),
	}
}

is_export if input.event.crm.category == "export"

subject := input.event.actor.user.uid if {
	input.event.actor.user.uid != ""
} else := input.event.actor.client_id if {
	input.event.actor.client_id != ""
} else := input.event.src_endpoint.ip

object_name := input.event.crm.object if {
	input.event.crm.object != ""
} else := "CRM"

# baseline is the subject's usual records per hour: its own entry in
# volume_baselines, else the global volume_baseline_records_1h.
baseline := object.get(config.volume_baselines, subject, config.volume_baseline_records_1h)

hours := object.union(default_config.working_hours, config.working_hours)

local_ns := time.parse_rfc3339_ns(input.event.time) + ((hours.utc_offset_minutes * 60) * 1000000000)

local_hour := time.clock(local_ns)[0]

outside_working_hours if local_hour < hours.start

outside_working_hours if local_hour >= hours.end

outside_working_hours if {
	hours.weekends
	time.weekday(local_ns) in {"Saturday", "Sunday"}
}

# --- approvals and the watch list (docs/approvals.md) -------------------------

# Every export or bulk request by a watched subject ("departing"), allowed
# or not.
alerts contains alert if {
	input.event.crm.category in {"export", "bulk"}
	not input.event.approval.step
	count(object.get(input.event.actor, "watch", [])) > 0
	alert := {
		"rule": "watched_subject_export",
		"severity": "high",
		"summary": sprintf("%s (watch list: %s) attempted a %s of %s (%s, %d records)", [subject, concat(", ", input.event.actor.watch), input.event.crm.category, object_name, input.event.status, input.event.crm.records]),
	}
}

# A request by a frozen subject (refused before the policy).
alerts contains alert if {
	input.event.actor.frozen == true
	alert := {
		"rule": "frozen_subject_request",
		"severity": "high",
		"summary": sprintf("frozen subject %s tried %s %s from %s", [subject, input.event.http_request.method, input.event.http_request.path, input.event.src_endpoint.ip]),
	}
}

# The approvers' notification: someone asks for approval.
alerts contains alert if {
	a := input.event.approval
	a.step == "requested"
	alert := {
		"rule": "approval_requested",
		"severity": "medium",
		"summary": sprintf("%s asks to %s %s: %s. Approvers: %s. Approve or deny at %s (approval %s)", [a.subject, input.event.crm.operation, object_name, a.reason, concat(", ", a.approvers), a.url, a.id]),
	}
}

alerts contains alert if {
	a := input.event.approval
	a.step in {"approved", "denied"}
	alert := {
		"rule": concat("_", ["approval", a.step]),
		"severity": "medium",
		"summary": sprintf("approval %s for %s (%s %s) %s by %s: %s", [a.id, a.subject, input.event.crm.operation, object_name, a.step, a.approver, a.comment]),
	}
}
