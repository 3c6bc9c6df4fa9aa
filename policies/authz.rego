# METADATA
# title: crmgw default authorization policy
# description: |
#   Decides every CRM request crmgw proxies. Deny by default; roles, their
#   objects, operations, export caps and field masks live in data.crmgw
#   (policies/data.json) so most changes are data changes.
#   The decision is the object at data.crmgw.authz.decision:
#   {"allow", "reason", "mask", "max_records"}, and "approval" when an
#   allowed request must first be approved by a second person
#   (docs/approvals.md, policies/approvals.rego).
package crmgw.authz

import rego.v1

default base_decision := {
	"allow": false,
	"reason": "denied by default: no rule allowed this request",
	"mask": {},
	"max_records": 0,
}

# The decision tries the ways a request can be allowed, most common first,
# and otherwise denies with the first reason that applies. The allow paths
# run on every request, so they are written for few evaluation steps: the
# usual case, one role permitting the request, reads everything from that
# role's data directly (see BenchmarkDecide in the policy package).
base_decision := {
	"allow": true,
	"reason": concat("", ["role ", role, " may ", verb, " ", input.action.object]),
	"mask": object.get(grant, "mask", {}),
	"max_records": object.get(object.get(grant, "max_records", {}), input.action.category, 0),
} if {
	# A record request (read, write, export, bulk) that one role permits.
	record_categories[input.action.category]
	record_operations[input.action.operation]
	# The set as a whole is evaluated once; iterating the rule itself
	# (some role in permitting_roles) would evaluate it again.
	roles := permitting_roles
	count(roles) == 1
	some role in roles
	grant := data.crmgw.roles[role]
	mfa_satisfied
} else := {
	"allow": true,
	"reason": concat("", [roles_phrase(permitting_roles), " may ", verb, " ", input.action.object]),
	"mask": mask_for(permitting_roles),
	"max_records": max_records,
} if {
	# The same, permitted by several roles: their rights add up.
	record_categories[input.action.category]
	record_operations[input.action.operation]
	count(permitting_roles) > 1
	mfa_satisfied
} else := {
	"allow": true,
	"reason": "composite request: every sub-request is decided on its own",
	"mask": mask_for(known_roles),
	"max_records": 0,
} if {
	is_composite_container
	container_categories[input.action.category]
	count(known_roles) > 0
} else := {
	"allow": true,
	"reason": concat("", [roles_phrase(known_roles), " may read metadata"]),
	"mask": {},
	"max_records": 0,
} if {
	input.action.category == "metadata"
	input.action.operation == "describe"
	count(known_roles) > 0
} else := {
	"allow": false,
	"reason": deny_reason,
	"mask": {},
	"max_records": 0,
}

# --- who is asking ---------------------------------------------------------

# Roles the policy knows (defined in data.crmgw.roles); other roles are ignored.
known_roles contains role if {
	some role in subject_roles
	data.crmgw.roles[role].categories
}

# The subject's roles that count. A privileged role (one that may export,
# change in bulk, delete, or do anything) counts only when crmgw's own
# configuration granted it (API keys, mTLS clients) or the primary issuer
# (the first under identity.oidc) asserted it: input.subject.issuer_primary.
# data.crmgw.primary_issuers may name further issuers by URL
# (docs/identity.md, "Issuer scoping"). Otherwise a partner IdP writing
# "roles": ["sales_manager"] into its tokens gets nothing from it.
subject_roles contains role if {
	some role in input.subject.roles
	not privileged_role(role)
}

subject_roles contains role if {
	some role in input.subject.roles
	privileged_role(role)
	issuer_may_grant_privileged
}

# Privileged roles the subject claims but its issuer may not grant.
untrusted_roles contains role if {
	some role in input.subject.roles
	privileged_role(role)
	not issuer_may_grant_privileged
}

privileged_role(role) if {
	some category in data.crmgw.roles[role].categories
	category in {"export", "bulk"}
}

privileged_role(role) if {
	some operations in data.crmgw.roles[role].objects
	some operation in operations
	operation in {"delete", "*"}
}

issuer_may_grant_privileged if input.subject.issuer_primary == true

issuer_may_grant_privileged if input.subject.issuer in {"crmgw:api_key", "crmgw:mtls"}

issuer_may_grant_privileged if input.subject.issuer in data.crmgw.primary_issuers

# Exports, bulk changes and deletes by people need a multi-factor login;
# clients (API keys, service accounts) are exempt.
mfa_satisfied if input.subject.mfa == true

mfa_satisfied if input.subject.kind != "user"

mfa_satisfied if {
	not input.action.category in data.crmgw.mfa_required.categories
	not input.action.operation in data.crmgw.mfa_required.operations
}

# --- what is asked ----------------------------------------------------------

record_operations := {
	"read", "list", "query", "search", "create", "update", "upsert", "delete",
	"bulk_query", "bulk_result", "bulk_ingest", "report",
}

record_categories := {"read", "write", "export", "bulk"}

# A composite request's category is the riskiest of its sub-requests'.
container_categories := {"read", "write", "export", "bulk", "metadata"}

is_known_action if {
	record_operations[input.action.operation]
	record_categories[input.action.category]
}

is_known_action if {
	input.action.operation == "composite"
	container_categories[input.action.category]
}

is_known_action if {
	input.action.operation == "describe"
	input.action.category == "metadata"
}

# Object names arrive in the CRM's own spelling and case ("Contact",
# "contact", Zoho's "Contacts"); the policy compares a lower-case canonical name.
target_object := object.get(data.crmgw.object_aliases, name, name) if {
	name := lower(input.action.object)
}

# The object as the client wrote it, for messages.
object_name := input.action.object if {
	is_string(input.action.object)
	input.action.object != ""
} else := "an unnamed object"

# The container of a composite/batch request: every sub-request inside it is
# decided on its own, and one denial denies the whole request.
is_composite_container if {
	input.action.operation == "composite"
	input.action.parent == null
}

is_nested_composite if {
	input.action.operation == "composite"
	is_object(input.action.parent)
}

# What the request does, in words, for reasons: "delete", "export", "bulk update".
verb := "export" if {
	input.action.category == "export"
} else := "bulk-load" if {
	input.action.operation == "bulk_ingest"
} else := concat(" ", ["bulk", input.action.operation]) if {
	input.action.category == "bulk"
} else := input.action.operation

# --- what roles permit ------------------------------------------------------

permitting_roles contains role if {
	some role in subject_roles
	grant := data.crmgw.roles[role]
	input.action.category in grant.categories
	some key in object_keys
	operations := grant.objects[key]
	some wanted in operation_keys
	wanted in operations
}

# An object a request reaches from another one (a relationship path such as
# Contact.Owner.Name, a child subquery) is decided as a sub-action whose
# parent is the request's own action. A role's related_objects are the
# objects it may read that way only, never on their own.
permitting_roles contains role if {
	is_related_object
	some role in input.subject.roles
	grant := data.crmgw.roles[role]
	input.action.category in grant.categories
	operations := grant.related_objects[target_object]
	some wanted in operation_keys
	wanted in operations
}

is_related_object if {
	is_object(input.action.parent)
	input.action.parent.operation != "composite"
}

# A role's objects name the operations it may perform on each object; "*"
# stands for any (named) object or any operation. "*" never covers an
# object crmgw could not resolve ("unknown"): only a role that names
# "unknown" itself may reach one.
object_keys := [target_object] if {
	target_object in {"", "unknown"}
} else := [target_object, "*"]

operation_keys := [input.action.operation, "*"]

# "role intern" or "roles intern, support", for messages.
roles_phrase(roles) := concat("", ["role ", r]) if {
	count(roles) == 1
	some r in roles
} else := concat("", ["roles ", concat(", ", sort(roles))])

# --- why a request is denied ------------------------------------------------

deny_reason := "the subject has no roles" if {
	no_roles
} else := sprintf("role %s counts only from the primary issuer, not from %s", [concat(", ", sort(untrusted_roles)), input.subject.issuer]) if {
	count(untrusted_roles) > 0
	count(permitting_roles) == 0
} else := sprintf("none of the subject's roles (%s) is defined in the policy", [concat(", ", sort(input.subject.roles))]) if {
	count(known_roles) == 0
} else := sprintf("unknown operation %q (category %q): crmgw could not classify this request", [input.action.operation, input.action.category]) if {
	not is_known_action
} else := "composite requests may not be nested inside composite requests" if {
	is_nested_composite
} else := sprintf("%s names no object", [input.action.operation]) if {
	no_object
} else := concat("", [verb, " reaches an object crmgw could not resolve (unknown): denied unless a role names \"unknown\""]) if {
	target_object == "unknown"
	count(permitting_roles) == 0
} else := concat("", [roles_phrase(known_roles), " may not ", verb, " ", object_name]) if {
	count(permitting_roles) == 0
} else := sprintf("%s of %s requires multi-factor authentication: sign in again with MFA", [verb, object_name]) if {
	not mfa_satisfied
}

no_roles if not input.subject.roles

no_roles if count(input.subject.roles) == 0

no_object if not input.action.object

no_object if input.action.object == ""

# --- record caps ------------------------------------------------------------

# Caps per category (data.crmgw.roles[r].max_records[category]); 0 means no
# cap. With several permitting roles the most generous one applies.
max_records := role_cap(role) if {
	count(permitting_roles) == 1
	some role in permitting_roles
} else := 0 if {
	some role in permitting_roles
	role_cap(role) == 0
} else := max([role_cap(role) | some role in permitting_roles])

role_cap(role) := data.crmgw.roles[role].max_records[input.action.category] if {
	true
} else := 0

# --- field masks ------------------------------------------------------------

# The mask for a set of roles. A subject's roles add up: a field stays masked
# only if every role masks it, with the least strict of their strategies.
mask_for(roles) := role_mask(role) if {
	count(roles) == 1
	some role in roles
} else := {key: least_strict(strategies) |
	some role in roles
	some key, _ in role_mask(role)
	strategies := [s | some other in roles; s := mask_strategy(other, key)]
	count(strategies) == count(roles)
}

role_mask(role) := data.crmgw.roles[role].mask if {
	true
} else := {}

# The strategy role applies to key ("Contact.Phone"): its own entry, or its
# wildcard entry for the field ("*.Phone").
mask_strategy(role, key) := data.crmgw.roles[role].mask[key] if {
	true
} else := data.crmgw.roles[role].mask[wildcard] if {
	parts := split(key, ".")
	count(parts) == 2
	parts[0] != "*"
	wildcard := concat(".", ["*", parts[1]])
}

# Unknown strategies rank strictest, so a typo in data never unmasks a field.
mask_rank(strategy) := object.get(data.crmgw.mask_strength, strategy, 100)

least_strict(strategies) := s if {
	lowest := min([mask_rank(x) | some x in strategies])
	some s in strategies
	mask_rank(s) == lowest
}
