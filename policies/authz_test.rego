package crmgw.authz_test

import rego.v1

import data.crmgw.authz

# --- input builders -----------------------------------------------------------

user(roles) := {
	"kind": "user", "id": "00u1", "issuer": "https://login.example.com", "issuer_primary": true,
	"email": "li.wei@example.com", "groups": [], "roles": roles,
	"mfa": false, "client_id": "", "claims": {},
}

mfa_user(roles) := object.union(user(roles), {"mfa": true})

client(roles) := {
	"kind": "client", "id": "etl-nightly", "issuer": "crmgw:api_key", "email": "",
	"groups": [], "roles": roles, "mfa": false, "client_id": "etl-nightly", "claims": {},
}

action(operation, category, object) := {
	"operation": operation, "category": category, "object": object,
	"fields": [], "all_fields": false, "record_id": "", "query": "", "parent": null,
}

request(subject, act) := {
	"request": {
		"id": "01JTEST", "method": "GET", "path": "/services/data/v60.0/query",
		"query": {}, "remote_addr": "10.20.1.7", "time": "2026-11-23T09:14:03Z",
		"headers": {"user-agent": "jsforce/3.10"},
	},
	"subject": subject,
	"upstream": {"name": "salesforce", "type": "salesforce"},
	"action": act,
	"usage": {"records": {"1h": 0, "24h": 0}, "requests": {"1m": 0}},
}

composite_container := action("composite", "write", "")

# --- sales_rep ----------------------------------------------------------------

test_sales_rep_queries_contacts_with_pii_masked if {
	inp := request(user(["sales_rep"]), action("query", "read", "Contact"))
	d := authz.decision with input as inp
	d.allow == true
	d.reason == "role sales_rep may query Contact"
	d.mask["*.National_ID__c"] == "redact"
	d.mask["*.Bank_Account__c"] == "redact"
	d.mask["*.MobilePhone"] == "partial"
	d.max_records == 0
}

test_sales_rep_object_names_are_case_insensitive if {
	inp := request(user(["sales_rep"]), action("read", "read", "OPPORTUNITY"))
	d := authz.decision with input as inp
	d.allow == true
}

test_sales_rep_updates_lead if {
	inp := request(user(["sales_rep"]), action("update", "write", "Lead"))
	d := authz.decision with input as inp
	d.allow == true
}

test_sales_rep_may_not_delete if {
	inp := request(mfa_user(["sales_rep"]), action("delete", "write", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "role sales_rep may not delete Contact"
}

test_sales_rep_may_not_export if {
	inp := request(mfa_user(["sales_rep"]), action("bulk_query", "export", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "role sales_rep may not export Contact"
}

test_sales_rep_may_not_read_cases if {
	inp := request(user(["sales_rep"]), action("query", "read", "Case"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "role sales_rep may not query Case"
}

test_sales_rep_may_not_bulk_create if {
	inp := request(user(["sales_rep"]), action("create", "bulk", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "role sales_rep may not bulk create Contact"
}

# --- zoho names -----------------------------------------------------------------

test_zoho_module_names_map_to_salesforce_objects if {
	inp := request(user(["sales_rep"]), action("list", "read", "Deals"))
	d := authz.decision with input as inp
	d.allow == true
	d.reason == "role sales_rep may list Deals"
}

test_intern_zoho_mobile_and_email_are_redacted if {
	inp := request(user(["intern"]), action("list", "read", "Contacts"))
	d := authz.decision with input as inp
	d.allow == true
	d.mask["*.Mobile"] == "redact"
	d.mask["*.Phone"] == "redact"
	d.mask["*.Email"] == "redact"
}

# --- intern ---------------------------------------------------------------------

test_intern_reads_accounts if {
	inp := request(user(["intern"]), action("read", "read", "Account"))
	d := authz.decision with input as inp
	d.allow == true
	d.mask["*.Phone"] == "redact"
}

test_intern_may_not_delete_contacts if {
	inp := request(mfa_user(["intern"]), action("delete", "write", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "role intern may not delete Contact"
}

test_intern_may_not_update_accounts if {
	inp := request(user(["intern"]), action("update", "write", "Account"))
	d := authz.decision with input as inp
	d.allow == false
}

test_intern_may_not_read_opportunities if {
	inp := request(user(["intern"]), action("query", "read", "Opportunity"))
	d := authz.decision with input as inp
	d.allow == false
}

# --- support and marketing -----------------------------------------------------------

test_support_works_cases if {
	inp := request(user(["support"]), action("update", "write", "Case"))
	d := authz.decision with input as inp
	d.allow == true
}

test_support_reads_contacts_without_bank_details if {
	inp := request(user(["support"]), action("read", "read", "Contact"))
	d := authz.decision with input as inp
	d.allow == true
	d.mask["*.Bank_Account__c"] == "redact"
	d.mask["*.National_ID__c"] == "redact"
	not d.mask["*.Email"]
}

test_support_may_not_write_contacts if {
	inp := request(user(["support"]), action("update", "write", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "role support may not update Contact"
}

test_marketing_works_campaigns_and_leads if {
	every obj in ["Campaign", "Lead"] {
		d := authz.decision with input as request(user(["marketing"]), action("create", "write", obj))
		d.allow == true
	}
}

test_marketing_may_not_read_opportunities if {
	inp := request(user(["marketing"]), action("query", "read", "Opportunity"))
	d := authz.decision with input as inp
	d.allow == false
}

# --- exports and MFA ---------------------------------------------------------------

test_export_by_manager_with_mfa_is_capped if {
	inp := request(mfa_user(["sales_manager"]), action("bulk_query", "export", "Contact"))
	d := authz.decision with input as inp
	d.allow == true
	d.max_records == 2000
	d.reason == "role sales_manager may export Contact"
}

test_report_by_manager_is_capped if {
	inp := request(mfa_user(["sales_manager"]), action("report", "export", "Opportunity"))
	d := authz.decision with input as inp
	d.allow == true
	d.max_records == 2000
}

test_export_without_mfa_is_denied if {
	inp := request(user(["sales_manager"]), action("bulk_result", "export", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "export of Contact requires multi-factor authentication: sign in again with MFA"
}

test_delete_without_mfa_is_denied if {
	inp := request(user(["sales_manager"]), action("delete", "write", "Lead"))
	d := authz.decision with input as inp
	d.allow == false
	contains(d.reason, "multi-factor")
}

test_delete_by_manager_with_mfa_is_allowed if {
	inp := request(mfa_user(["sales_manager"]), action("delete", "write", "Lead"))
	d := authz.decision with input as inp
	d.allow == true
}

test_integration_client_exports_without_mfa if {
	inp := request(client(["integration"]), action("bulk_query", "export", "Account"))
	d := authz.decision with input as inp
	d.allow == true
	d.max_records == 50000
}

test_integration_client_bulk_loads if {
	inp := request(client(["integration"]), action("bulk_ingest", "bulk", "Contact"))
	d := authz.decision with input as inp
	d.allow == true
	d.mask["*.National_ID__c"] == "hash"
}

test_integration_may_not_delete if {
	inp := request(client(["integration"]), action("delete", "write", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "role integration may not delete Contact"
}

test_admin_export_is_capped if {
	inp := request(mfa_user(["admin"]), action("bulk_result", "export", "Anything__c"))
	d := authz.decision with input as inp
	d.allow == true
	d.max_records == 100000
	d.mask == {}
}

test_admin_delete_needs_mfa if {
	inp := request(user(["admin"]), action("delete", "write", "Account"))
	d := authz.decision with input as inp
	d.allow == false
}

# --- unknown and malformed input ------------------------------------------------------

test_unknown_operation_is_denied_even_for_admin if {
	inp := request(mfa_user(["admin"]), action("unknown", "unknown", ""))
	d := authz.decision with input as inp
	d.allow == false
	startswith(d.reason, "unknown operation \"unknown\"")
}

test_unknown_category_is_denied if {
	inp := request(mfa_user(["admin"]), action("read", "teleport", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
}

test_subject_without_roles_is_denied if {
	inp := request(user([]), action("read", "read", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "the subject has no roles"
}

test_unknown_role_is_denied if {
	inp := request(user(["ceo"]), action("read", "read", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "none of the subject's roles (ceo) is defined in the policy"
}

test_empty_input_is_denied if {
	d := authz.decision with input as {}
	d.allow == false
}

test_read_without_object_is_denied if {
	inp := request(user(["admin"]), action("query", "read", ""))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "query names no object"
}

test_non_string_object_is_denied if {
	inp := request(user(["sales_rep"]), action("query", "read", 42))
	d := authz.decision with input as inp
	d.allow == false
}

# --- metadata -------------------------------------------------------------------------

test_describe_is_allowed_for_every_known_role if {
	every role in ["sales_rep", "sales_manager", "support", "marketing", "integration", "admin", "intern"] {
		d := authz.decision with input as request(user([role]), action("describe", "metadata", "Contact"))
		d.allow == true
	}
}

test_describe_is_denied_without_a_known_role if {
	inp := request(user(["visitor"]), action("describe", "metadata", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
}

# --- composite --------------------------------------------------------------------------

test_composite_container_is_allowed_for_a_known_role if {
	inp := request(user(["intern"]), composite_container)
	d := authz.decision with input as inp
	d.allow == true
	d.mask["*.Email"] == "redact"
}

test_composite_container_is_denied_without_roles if {
	inp := request(user([]), composite_container)
	d := authz.decision with input as inp
	d.allow == false
}

test_composite_sub_request_is_decided_on_its_own if {
	sub := object.union(action("query", "read", "Contact"), {"parent": composite_container})
	d := authz.decision with input as request(user(["intern"]), sub)
	d.allow == true
	hidden := object.union(action("read", "read", "Opportunity"), {"parent": composite_container})
	denied := authz.decision with input as request(user(["intern"]), hidden)
	denied.allow == false
	denied.reason == "role intern may not read Opportunity"
}

test_nested_composite_is_denied if {
	nested := object.union(composite_container, {"parent": composite_container})
	d := authz.decision with input as request(mfa_user(["admin"]), nested)
	d.allow == false
}

# --- several roles --------------------------------------------------------------------

test_roles_add_up_and_masks_keep_the_least_strict if {
	inp := request(user(["intern", "sales_rep"]), action("query", "read", "Contact"))
	d := authz.decision with input as inp
	d.allow == true

	# intern redacts phones and e-mails, sales_rep does not: visible.
	not d.mask["*.Email"]
	not d.mask["*.Phone"]

	# both mask mobile phones: the less strict strategy wins.
	d.mask["*.MobilePhone"] == "partial"

	# both redact national IDs.
	d.mask["*.National_ID__c"] == "redact"
}

test_role_specific_mask_meets_wildcard_mask if {
	d := authz.mask_for({"a", "b"}) with data.crmgw.roles as {
		"a": {"mask": {"*.Phone": "redact"}},
		"b": {"mask": {"Contact.Phone": "partial"}},
	}
	d == {"Contact.Phone": "partial"}
}

test_unknown_mask_strategy_is_never_dropped if {
	d := authz.mask_for({"a", "b"}) with data.crmgw.roles as {
		"a": {"mask": {"*.Phone": "scramble"}},
		"b": {"mask": {"*.Phone": "redact"}},
	}
	d == {"*.Phone": "redact"}
}

test_denial_names_every_role if {
	inp := request(user(["support", "intern"]), action("delete", "write", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "roles intern, support may not delete Contact"
}

test_most_generous_export_cap_applies if {
	inp := request(client(["sales_manager", "integration"]), action("bulk_query", "export", "Contact"))
	d := authz.decision with input as inp
	d.allow == true
	d.max_records == 50000
}

# --- issuer scoping ----------------------------------------------------------------

partner_user(roles) := object.union(mfa_user(roles), {"issuer": "https://partner.example.net", "issuer_primary": false})

test_partner_issuer_manager_with_mfa_may_not_export if {
	inp := request(partner_user(["sales_manager"]), action("bulk_query", "export", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "role sales_manager counts only from the primary issuer, not from https://partner.example.net"
}

test_partner_issuer_manager_may_not_delete if {
	inp := request(partner_user(["sales_manager"]), action("delete", "write", "Lead"))
	d := authz.decision with input as inp
	d.allow == false
}

test_partner_issuer_admin_gets_nothing if {
	inp := request(partner_user(["admin"]), action("query", "read", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
}

test_partner_issuer_rep_keeps_rep_rights if {
	inp := request(partner_user(["sales_rep"]), action("query", "read", "Contact"))
	d := authz.decision with input as inp
	d.allow == true
}

test_partner_issuer_manager_and_rep_gets_only_rep_rights if {
	read := request(partner_user(["sales_manager", "sales_rep"]), action("query", "read", "Contact"))
	r := authz.decision with input as read
	r.allow == true
	r.reason == "role sales_rep may query Contact"
	export := request(partner_user(["sales_manager", "sales_rep"]), action("bulk_query", "export", "Contact"))
	e := authz.decision with input as export
	e.allow == false
}

test_listed_primary_issuer_grants_privileged_roles if {
	inp := request(partner_user(["sales_manager"]), action("bulk_query", "export", "Contact"))
	d := authz.decision with input as inp with data.crmgw.primary_issuers as ["https://partner.example.net"]
	d.allow == true
}

test_an_issuer_differing_in_case_or_slash_is_not_primary if {
	count([iss |
		some iss in ["https://LOGIN.example.com", "https://login.example.com/", "", "crmgw:API_KEY"]
		inp := request(object.union(partner_user(["sales_manager"]), {"issuer": iss}), action("bulk_query", "export", "Contact"))
		d := authz.decision with input as inp
		d.allow == true
	]) == 0
}

test_mtls_client_may_hold_privileged_roles if {
	inp := request(object.union(client(["integration"]), {"issuer": "crmgw:mtls"}), action("bulk_query", "export", "Account"))
	d := authz.decision with input as inp
	d.allow == true
}

test_roles_that_cannot_export_or_delete_are_not_privileged if {
	not authz.privileged_role("sales_rep")
	not authz.privileged_role("intern")
	authz.privileged_role("sales_manager")
	authz.privileged_role("admin")
	authz.privileged_role("integration")
}

test_issuer_primary_missing_is_not_primary if {
	inp := request(object.remove(mfa_user(["sales_manager"]), ["issuer_primary"]), action("bulk_query", "export", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
}

test_issuer_primary_must_be_the_boolean_true if {
	inp := request(object.union(mfa_user(["sales_manager"]), {"issuer_primary": "true"}), action("bulk_query", "export", "Contact"))
	d := authz.decision with input as inp
	d.allow == false
}

# --- objects of the access plan, decided as sub-actions ------------------------

# A sub-action of the plan: the container's operation and category, the
# reached object, the container as parent.
plan_sub(container, obj) := object.union(container, {"object": obj, "parent": container})

intern_account_query := object.union(action("query", "read", "Account"), {
	"query": "SELECT Id, (SELECT Amount FROM Opportunities), (SELECT Subject FROM Cases) FROM Account",
	"objects": ["Account", "Opportunity", "Case"],
})

test_intern_child_subquery_into_opportunities_is_denied if {
	inp := request(user(["intern"]), plan_sub(intern_account_query, "Opportunity"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "role intern may not query Opportunity"
}

test_intern_child_subquery_into_cases_is_denied if {
	inp := request(user(["intern"]), plan_sub(intern_account_query, "Case"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "role intern may not query Case"
}

test_intern_child_subquery_into_contacts_is_allowed_and_masked if {
	inp := request(user(["intern"]), plan_sub(action("query", "read", "Account"), "Contact"))
	d := authz.decision with input as inp
	d.allow == true
	d.mask["*.MobilePhone"] == "redact"
}

# The owner of an account or contact is read through the relationship,
# with the intern's masks (e-mail, phones, username redacted) ...
test_intern_reads_the_owner_through_a_relationship_masked if {
	inp := request(user(["intern"]), plan_sub(action("query", "read", "Contact"), "User"))
	d := authz.decision with input as inp
	d.allow == true
	d.mask["*.Email"] == "redact"
	d.mask["*.Username"] == "redact"
}

# ... never as a User query of its own.
test_intern_may_not_query_users if {
	inp := request(user(["intern"]), action("query", "read", "User"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "role intern may not query User"
}

test_sales_rep_relationship_to_campaign_is_denied if {
	inp := request(user(["sales_rep"]), plan_sub(action("query", "read", "Opportunity"), "Campaign"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "role sales_rep may not query Campaign"
}

test_sales_rep_reads_user_through_a_relationship if {
	inp := request(user(["sales_rep"]), plan_sub(action("query", "read", "Contact"), "User"))
	d := authz.decision with input as inp
	d.allow == true
	d.reason == "role sales_rep may query User"
}

test_sales_rep_may_not_read_user_on_its_own if {
	inp := request(user(["sales_rep"]), action("query", "read", "User"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "role sales_rep may not query User"
}

# related_objects do not reach through a composite container: a sub-request
# stands for itself.
test_related_objects_do_not_apply_inside_composite if {
	inp := request(user(["sales_rep"]), object.union(action("query", "read", "User"), {"parent": composite_container}))
	d := authz.decision with input as inp
	d.allow == false
}

test_unknown_object_is_denied_even_to_admin if {
	inp := request(mfa_user(["admin"]), plan_sub(action("query", "read", "Account"), "unknown"))
	d := authz.decision with input as inp
	d.allow == false
	d.reason == "query reaches an object crmgw could not resolve (unknown): denied unless a role names \"unknown\""
}

test_unknown_object_is_denied_to_intern if {
	inp := request(user(["intern"]), plan_sub(action("query", "read", "Contact"), "unknown"))
	d := authz.decision with input as inp
	d.allow == false
}

test_a_role_naming_unknown_allows_it if {
	inp := request(user(["reader"]), plan_sub(action("query", "read", "Account"), "unknown"))
	roles := {"reader": {"categories": ["read"], "objects": {"unknown": ["query"]}, "mask": {}}}
	d := authz.decision with input as inp with data.crmgw.roles as roles
	d.allow == true
}

test_admin_reaches_named_objects_of_a_plan if {
	inp := request(mfa_user(["admin"]), plan_sub(action("query", "read", "Account"), "Opportunity"))
	d := authz.decision with input as inp
	d.allow == true
}

# The plan's fields and roles are in the input; the default decision keeps
# working with them present and lists no allow_filter (masked fields stay
# unfilterable, built into the gateway).
test_plan_fields_leave_the_decision_alone if {
	act := object.union(action("query", "read", "Contact"), {
		"objects": ["Contact"],
		"field_roles": {"Contact.MobilePhone": ["filter"], "Contact.Id": ["select"]},
		"aliases": {"m": "Contact.MobilePhone"},
	})
	d := authz.decision with input as request(user(["intern"]), act)
	d.allow == true
	d.mask["*.MobilePhone"] == "redact"
	not "allow_filter" in object.keys(d)
}
