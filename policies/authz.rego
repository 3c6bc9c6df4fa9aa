# METADATA
# title: crmgw default authorization policy
# description: |
#   Decides every CRM request crmgw proxies. Deny by default; roles, their
#   objects, operations, export caps and field masks live in data.crmgw
#   (policies/data.json) so most changes are data changes.
#   The decision is the object at data.crmgw.authz.decision:
#   {"allow", "reason", "mask", "max_records"}.
package crmgw.authz

import rego.v1

default decision := {
	"allow": false,
	"reason": "denied by default: no rule allowed this request",
	"mask": {},
	"max_records": 0,
}

# The decision tries the three ways a request can be allowed, most common
# first, and otherwise denies with the first reason that applies. The allow
# paths are written inline because they run on every request.
decision := {
	"allow": true,
	"reason": sprintf("%s may %s %s", [roles_phrase(permitting_roles), verb, input.action.object]),
	"mask": mask_for(permitting_roles),
	"max_records": max_records,
} if {
	# A record request (read, write, export, bulk) that a role permits.
	input.action.category in record_categories
	input.action.operation in record_operations
	count(permitting_roles) > 0
	mfa_satisfied
} else := {
	"allow": true,
	"reason": "composite request: every sub-request is decided on its own",
	"mask": mask_for(known_roles),
	"max_records": 0,
} if {
	is_composite_container
	input.action.category in container_categories
	count(known_roles) > 0
} else := {
	"allow": true,
	"reason": sprintf("%s may read metadata", [roles_phrase(known_roles)]),
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
	some role in input.subject.roles
	data.crmgw.roles[role].categories
}

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
	input.action.operation in record_operations
	input.action.category in record_categories
}

is_known_action if {
	input.action.operation == "composite"
	input.action.category in container_categories
}

is_known_action if {
	input.action.operation == "describe"
	input.action.category == "metadata"
}

# Object names arrive in the CRM's own spelling and case ("Contact",
# "contact", Zoho's "Contacts"); the policy compares a lower-case canonical name.
target_object := data.crmgw.object_aliases[lower(input.action.object)] if {
	true
} else := lower(input.action.object)

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
	some role in known_roles
	role_permits(role)
}

# A role permits the request if it grants the category and the operation on
# the object; "*" stands for any object or any operation.
role_permits(role) if {
	input.action.category in data.crmgw.roles[role].categories
	input.action.operation in data.crmgw.roles[role].objects[target_object]
}

role_permits(role) if {
	input.action.category in data.crmgw.roles[role].categories
	"*" in data.crmgw.roles[role].objects[target_object]
}

role_permits(role) if {
	target_object != ""
	input.action.category in data.crmgw.roles[role].categories
	grants_operation(data.crmgw.roles[role].objects["*"])
}

grants_operation(operations) if input.action.operation in operations

grants_operation(operations) if "*" in operations

# "role intern" or "roles intern, support", for messages.
roles_phrase(roles) := sprintf("role %s", [r]) if {
	count(roles) == 1
	some r in roles
} else := sprintf("roles %s", [concat(", ", sort(roles))])

# --- why a request is denied ------------------------------------------------

deny_reason := "the subject has no roles" if {
	count(object.get(input, ["subject", "roles"], [])) == 0
} else := sprintf("none of the subject's roles (%s) is defined in the policy", [concat(", ", sort(input.subject.roles))]) if {
	count(known_roles) == 0
} else := sprintf("unknown operation %q (category %q): crmgw could not classify this request", [input.action.operation, input.action.category]) if {
	not is_known_action
} else := "composite requests may not be nested inside composite requests" if {
	is_nested_composite
} else := sprintf("%s names no object", [input.action.operation]) if {
	object.get(input.action, "object", "") == ""
} else := sprintf("%s may not %s %s", [roles_phrase(known_roles), verb, object_name]) if {
	count(permitting_roles) == 0
} else := sprintf("%s of %s requires multi-factor authentication: sign in again with MFA", [verb, object_name]) if {
	not mfa_satisfied
}

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
