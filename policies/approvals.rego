# crmgw default approval rules (four eyes before sensitive exports).
#
# An allowed request gains an "approval" object when a rule below asks
# for one: the gateway then lets it through only under a grant approved
# by someone else holding one of the approvers' groups or roles
# (docs/approvals.md). Approval never turns a denial into an allow.
# Settings live in data.crmgw.approvals (policies/data.json).
package crmgw.authz

import rego.v1

decision := object.union(base_decision, {"approval": approval}) if {
	base_decision.allow
	count(approval_reasons) > 0
} else := base_decision

approval := {
	"approvers": approvals_config.approvers,
	"ttl": approvals_config.ttl,
	"reason": concat("; ", sort(approval_reasons)),
}

default_approvals_config := {
	"approvers": ["group:sales_managers", "role:sales_manager"],
	"ttl": "4h",
	"watch_flags": ["departing"],
	"watched_categories": ["export", "bulk"],
	"large_export_records": 500,
	"large_export_subject_kinds": ["user"],
}

default user_approvals_config := {}

user_approvals_config := data.crmgw.approvals

approvals_config := object.union(default_approvals_config, user_approvals_config)

# --- watch list --------------------------------------------------------------

# The subject's flags the approval rules act on ("departing").
watched_flags := sort([f | some f in input.subject.watch; f in approvals_config.watch_flags])

approval_reasons contains reason if {
	count(watched_flags) > 0
	input.action.category in approvals_config.watched_categories
	reason := sprintf("%s by a watched subject (%s) needs approval", [verb, concat(", ", watched_flags)])
}

# --- large exports -----------------------------------------------------------

# How many records an export will return is not known before it runs.
# What is known: the query's own top-level LIMIT, and the policy's record
# cap. An export by a person needs approval unless one of them keeps it
# within large_export_records. Clients (integrations) are exempt by
# default: their exports are scheduled, capped and quota-limited.
approval_reasons contains reason if {
	input.action.category == "export"
	input.subject.kind in approvals_config.large_export_subject_kinds
	not within_limit
	not within_cap
	reason := sprintf("exports of more than %d records need approval", [approvals_config.large_export_records])
}

# The LIMIT that ends the query (SOQL or COQL), optionally with an OFFSET.
# Only a LIMIT at the very end counts: one inside a subquery or a string
# literal does not bound the export.
query_limit := to_number(m[0][1]) if {
	m := regex.find_all_string_submatch_n(`(?i)\sLIMIT\s+(\d{1,9})(?:\s+OFFSET\s+\d{1,9})?\s*$`, input.action.query, 1)
	count(m) == 1
}

within_limit if query_limit <= approvals_config.large_export_records

within_cap if {
	base_decision.max_records > 0
	base_decision.max_records <= approvals_config.large_export_records
}
