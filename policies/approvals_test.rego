package crmgw.approvals_test

import rego.v1

import data.crmgw.authz

manager(kind, watch) := {
	"kind": kind, "id": "00u1", "issuer": "https://login.example.com", "issuer_primary": true,
	"email": "li.wei@example.com", "groups": [], "roles": ["sales_manager"],
	"mfa": true, "client_id": "", "claims": {}, "watch": watch,
}

rep(watch) := object.union(manager("user", watch), {"roles": ["sales_rep"]})

action(operation, category, object, query) := {
	"operation": operation, "category": category, "object": object,
	"fields": ["Id", "Email"], "all_fields": false, "record_id": "", "query": query, "parent": null,
}

request(subject, act) := {
	"request": {
		"id": "01JTEST", "method": "POST", "path": "/services/data/v60.0/jobs/query",
		"query": {}, "remote_addr": "10.20.1.7", "time": "2026-11-23T09:14:03Z", "headers": {},
	},
	"subject": subject,
	"upstream": {"name": "salesforce", "type": "salesforce"},
	"action": act,
	"usage": {"records": {"1h": 0, "24h": 0}, "requests": {"1m": 0}},
	"approval": {"status": "none", "id": "", "approver": "", "decided_at": ""},
}

export_all := action("bulk_query", "export", "Contact", "SELECT Id, Email FROM Contact")

export_limited(n) := action("bulk_query", "export", "Contact", sprintf("SELECT Id, Email FROM Contact LIMIT %d", [n]))

# --- large exports -------------------------------------------------------------

test_export_without_limit_needs_approval if {
	d := authz.decision with input as request(manager("user", []), export_all)
	d.allow == true
	d.max_records == 2000
	d.approval.approvers == ["group:sales_managers", "role:sales_manager"]
	d.approval.ttl == "4h"
	d.approval.reason == "exports of more than 500 records need approval"
}

test_export_limited_to_500_needs_none if {
	d := authz.decision with input as request(manager("user", []), export_limited(500))
	d.allow == true
	not d.approval
}

test_export_limited_to_501_needs_approval if {
	d := authz.decision with input as request(manager("user", []), export_limited(501))
	d.approval
}

test_limit_with_offset_counts if {
	act := action("bulk_query", "export", "Contact", "select Id from Contact limit 100 offset 20")
	d := authz.decision with input as request(manager("user", []), act)
	not d.approval
}

# A LIMIT inside a subquery or a string does not bound the export.
test_limit_in_subquery_does_not_count if {
	act := action("bulk_query", "export", "Account", "SELECT Id, (SELECT Id FROM Contacts LIMIT 5) FROM Account")
	d := authz.decision with input as request(manager("user", []), act)
	d.approval
}

test_limit_in_string_does_not_count if {
	act := action("bulk_query", "export", "Contact", "SELECT Id FROM Contact WHERE Name != 'x LIMIT 5'")
	d := authz.decision with input as request(manager("user", []), act)
	d.approval
}

test_report_export_needs_approval if {
	d := authz.decision with input as request(manager("user", []), action("report", "export", "Opportunity", ""))
	d.approval
}

test_small_cap_needs_none if {
	d := authz.decision with input as request(manager("user", []), export_all)
		with data.crmgw.roles.sales_manager.max_records.export as 300
	d.max_records == 300
	not d.approval
}

test_client_export_needs_none if {
	d := authz.decision with input as request(manager("client", []), export_all)
	d.allow == true
	not d.approval
}

test_reads_need_none if {
	d := authz.decision with input as request(manager("user", []), action("query", "read", "Contact", "SELECT Id FROM Contact"))
	d.allow == true
	not d.approval
}

# --- watch list ----------------------------------------------------------------

test_watched_export_needs_approval_even_when_small if {
	d := authz.decision with input as request(manager("user", ["departing"]), export_limited(10))
	d.allow == true
	d.approval.reason == "export by a watched subject (departing) needs approval"
}

test_watched_client_export_needs_approval if {
	d := authz.decision with input as request(manager("client", ["departing"]), export_all)
	d.approval.reason == "export by a watched subject (departing) needs approval"
}

test_watched_large_export_gives_both_reasons if {
	d := authz.decision with input as request(manager("user", ["departing"]), export_all)
	d.approval.reason == "export by a watched subject (departing) needs approval; exports of more than 500 records need approval"
}

test_other_flags_need_none if {
	d := authz.decision with input as request(manager("user", ["vip"]), export_limited(10))
	not d.approval
}

test_watched_reads_need_none if {
	d := authz.decision with input as request(manager("user", ["departing"]), action("query", "read", "Contact", "SELECT Id FROM Contact"))
	d.allow == true
	not d.approval
}

# Approval never turns a denial into an allow.
test_denied_export_stays_denied if {
	d := authz.decision with input as request(rep(["departing"]), export_all)
	d.allow == false
	not d.approval
	d.reason == "role sales_rep may not export Contact"
}

# The decision keeps asking while a grant exists: the gateway uses the
# grant up only on a request that asks for it.
test_approved_state_still_asks if {
	inp := object.union(request(manager("user", ["departing"]), export_all), {"approval": {"status": "approved", "id": "apr_1", "approver": "ma.li@example.com", "decided_at": "2026-11-23T09:00:00Z"}})
	d := authz.decision with input as inp
	d.approval
}

test_settings_come_from_data if {
	d := authz.decision with input as request(manager("user", []), export_limited(800))
		with data.crmgw.approvals as {"large_export_records": 1000, "approvers": ["group:cfo"], "ttl": "1h"}
	not d.approval
	d2 := authz.decision with input as request(manager("user", ["departing"]), export_limited(800))
		with data.crmgw.approvals as {"approvers": ["group:cfo"], "ttl": "1h"}
	d2.approval.approvers == ["group:cfo"]
	d2.approval.ttl == "1h"
}
