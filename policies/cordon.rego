# Cordon's default policy: least privilege.
#
# `data.cordon.decision` answers everything the host needs for a call: whether it may run,
# why not, what it is granted, its limits and its backend. It is made of two queries the
# host evaluates apart (`call` and `argument_check`, see "The answer"). Another,
# `data.cordon.admission`, decides whether a tool may be added to the catalog at all.
# The tables this policy reads (roles, the per-tool permission matrix, tenants, path and
# command rules) are data, in data.json; change them there, not here.
#
# Input (built by the host for every call):
#   principal  {tenant, subject, roles}
#   tool       {name, function, registered, manifest, command}
#   arguments  the call's JSON arguments
#   request    {dirs: [{guest, host_path, mode}], env: [names], scratch: guest path or null,
#               hosts: [{rule, scheme, host, port}], limits: {fuel, timeout_ms, memory_bytes,
#               output_bytes}}
#
# Grants and limits can only narrow the request: the host intersects them with it.
package cordon

import rego.v1

# --- The answer -------------------------------------------------------------------------
# A decision is made of two parts, each a query of its own, so that the host can keep one
# and evaluate only the other on most calls:
#
#   call            everything that does not depend on the call's arguments: who may call
#                   what, the grants, the limits, the backend. The host evaluates it on the
#                   input *without* `arguments` and reuses the answer for the same principal,
#                   tool and request, so its rules must not read `input.arguments` (the host
#                   refuses to load a policy whose `call` does).
#   argument_check  what the arguments add: reasons and violations (the path rules below),
#                   evaluated on every call with the whole input.
#
# `decision` puts the two together exactly as the host does (allowed only if `call` allows
# and the arguments add nothing against it; reasons merged and sorted; violations of `call`
# first). `cordon policy eval`, the tests, and a single-query engine such as OPA read it.

decision := {
	"allow": allow,
	"reasons": sort({r | some r in call.reasons} | {r | some r in argument_check.reasons}),
	"violations": array.concat(call.violations, argument_check.violations),
	"grants": call.grants,
	"limits": call.limits,
	"backend": call.backend,
}

default allow := false

allow if {
	call.allow
	count(argument_check.reasons) == 0
	count(argument_check.violations) == 0
}

call := {
	"allow": call_allowed,
	"reasons": sort([r | some r in reasons]),
	"violations": [v | some v in command_violations],
	"grants": grants,
	"limits": limits,
	"backend": backend,
}

argument_check := {
	"reasons": sort([r | some r in argument_reasons]),
	"violations": [v | some v in path_violations],
}

default call_allowed := false

# Allowed only on positive evidence: a permission held, and nothing against it. Anything
# missing from the input leaves `call_allowed` at its default.
call_allowed if {
	required_permission in permissions
	count(reasons) == 0
	count(command_violations) == 0
}

# --- Who: roles and permissions ---------------------------------------------------------

# Roles the principal holds that this policy knows; unknown role names grant nothing.
known_roles contains role if {
	some role in input.principal.roles
	data.roles[role]
}

# The principal's permissions on this tool: for each role, the tool's row of the matrix,
# else the role's "*" row.
permissions contains perm if {
	some role in known_roles
	row := object.get(data.matrix[role], input.tool.name, object.get(data.matrix[role], "*", []))
	some perm in row
}

# What the call needs: a function's own entry, else the tool's default, else the global
# default. A component run without a manifest (by path) needs admin.
tool_rules := object.get(data.tools, input.tool.name, {})

required_permission := "admin" if not input.tool.registered

required_permission := object.get(
	object.get(tool_rules, "functions", {}),
	input.tool.function,
	object.get(tool_rules, "default", data.default_permission),
) if input.tool.registered

# Capability flags any of the principal's roles carries.
env_allowed if {
	some role in known_roles
	data.roles[role].env == true
}

network_allowed if {
	some role in known_roles
	data.roles[role].network == true
}

tenant := object.get(data.tenants, input.principal.tenant, data.tenants["*"])

# --- Why not ----------------------------------------------------------------------------

reasons contains msg if {
	count(known_roles) == 0
	msg := sprintf(
		"principal %s/%s holds no role this policy knows (holds %v; known: %v)",
		[input.principal.tenant, input.principal.subject, input.principal.roles, sort(object.keys(data.roles))],
	)
}

reasons contains msg if {
	count(known_roles) > 0
	not required_permission in permissions
	msg := sprintf(
		"role %v has no %q permission on tool %q, which function %q needs",
		[sort([r | some r in known_roles]), required_permission, input.tool.name, input.tool.function],
	)
}

reasons contains "the input names no tool function" if {
	not is_string(input.tool.function)
}

reasons contains msg if {
	tenant.disabled == true
	msg := sprintf("tenant %q is disabled", [input.principal.tenant])
}

reasons contains msg if {
	some msg in command_refusals
}

argument_reasons contains msg if {
	some v in path_violations
	msg := sprintf("argument %s: %s", [trim_prefix(v.operation, "argument "), v.reason])
}

# --- Path rules -------------------------------------------------------------------------
# Arguments that name paths are checked before the call. A violation denies the call as a
# `path_escape` and is counted and audited as an escape attempt. The guest's filesystem
# guard checks again at use; this catches the attempt before anything runs.

# Most calls name no path that even looks like leaving its directory, and the path rules
# below skip their loops unless one does: absolute, home-relative or containing "..". Each
# path rule fires only on a value that passes this test.
path_suspect if {
	some name, value in input.arguments
	is_string(value)
	strings.any_prefix_match(value, ["/", "~"])
	path_name(name)
}

path_suspect if {
	some name, value in input.arguments
	is_string(value)
	contains(value, "..")
	path_name(name)
}

# Arguments that name paths, by argument name: computed once per decision.
path_arguments[name] := value if {
	some name, value in input.arguments
	is_string(value)
	path_name(name)
}

path_name(name) if data.paths.argument_names[name]

path_name(name) if strings.any_suffix_match(name, data.paths.argument_suffixes)

path_violations contains v if {
	path_suspect
	some name, value in path_arguments
	".." in split(replace(value, "\\", "/"), "/")
	v := violation("path_traversal", name, value, "climbs out of its directory with \"..\"")
}

path_violations contains v if {
	path_suspect
	some name, value in path_arguments
	startswith(value, "/")
	not granted_path(value)
	not sensitive_path(value)
	v := violation("absolute_path", name, value, "is an absolute path outside every granted directory")
}

path_violations contains v if {
	path_suspect
	some name, value in path_arguments
	startswith(value, "~")
	v := violation("absolute_path", name, value, "names a home directory, which is never granted")
}

path_violations contains v if {
	path_suspect
	some name, value in path_arguments
	startswith(value, "/")
	not granted_path(value)
	sensitive_path(value)
	v := violation("sensitive_path", name, value, "names a host path that is never granted")
}

# A native command that is blocked or not on the allow-list is an attempt to run what may not
# run: counted and audited as such (the host answers `command_not_allowed`).
command_violations contains v if {
	some msg in command_refusals
	v := {"kind": "command", "operation": "command", "path": input.tool.command, "reason": msg}
}

violation(kind, name, value, reason) := {
	"kind": kind,
	"operation": sprintf("argument %s", [name]),
	"path": value,
	"reason": sprintf("%q %s", [value, reason]),
}

granted_path(path) if {
	some d in input.request.dirs
	within(path, d.guest)
}

granted_path(path) if {
	is_string(input.request.scratch)
	within(path, input.request.scratch)
}

sensitive_path(path) if {
	some prefix in data.paths.sensitive
	within(path, prefix)
}

within(path, root) if path == root

within(path, root) if startswith(path, concat("", [trim_suffix(root, "/"), "/"]))

# --- What: grants -----------------------------------------------------------------------

grants := {
	"dirs": [{"guest": d.guest, "mode": object.get(dir_modes, d.mode, "ro")} | some d in input.request.dirs],
	"env": sort([name | some name in granted_env]),
	"hosts": sort([h | some h in granted_hosts]),
	"scratch": scratch_granted,
}

# A directory keeps the mode requested only if the principal may write; else read-only.
dir_modes := {"ro": "ro", "rw": "rw"} if "write" in permissions

default dir_modes := {"ro": "ro", "rw": "ro"}

granted_env contains name if {
	env_allowed
	some name in input.request.env
}

granted_hosts contains h.rule if {
	network_allowed
	some h in input.request.hosts
	not h.host in data.network.blocked_hosts
}

default scratch_granted := false

scratch_granted if is_string(input.request.scratch)

# --- How much: limits -------------------------------------------------------------------
# Each requested limit, lowered to its ceiling where there is one: the tenant's own entry
# first; else the tool's (an interpreter spends fuel far faster than a small tool does);
# else the default tenant's.

limits := {key: min([value, ceiling]) |
	some key, value in input.request.limits
	ceiling := limit_ceilings[key]
}

# Later objects win: the tenant's own entry, over the tool's, over the default tenant's.
limit_ceilings := object.union_n([
	object.get(data.tenants["*"], "limits", {}),
	object.get(tool_rules, "limits", {}),
	object.get(object.get(data.tenants, input.principal.tenant, {}), "limits", {}),
])

# --- Where: backend ---------------------------------------------------------------------

default backend := "wasm"

backend := native_backend if is_string(input.tool.command)

# Native tiers, weakest first. A native command runs in its tenant's minimum tier
# (`min_tier`, else data.commands.default_tier) or a stronger one it asks for; asking for a
# weaker one gets the minimum.
tier_rank := {"process": 0, "container": 1, "gvisor": 2, "microvm": 3}

minimum_tier := object.get(tenant, "min_tier", data.commands.default_tier)

native_backend := input.request.backend if tier_rank[input.request.backend] >= tier_rank[minimum_tier]

native_backend := minimum_tier if not tier_rank[input.request.backend] >= tier_rank[minimum_tier]

# --- Admission: may this tool be added at all? ------------------------------------------
# Input: {tool: {name, command}, imports: [interface names], component: {toolchain}}.

admission := {
	"allow": count(admission_reasons) == 0,
	"reasons": sort([r | some r in admission_reasons]),
}

admission_reasons contains msg if {
	some name in input.imports
	some never in data.admission.never_granted
	startswith(name, never.prefix)
	not inert_import(input.tool.name, name)
	not inert_by_toolchain(name)
	msg := sprintf("tool %q imports %s, which no role may be granted: %s", [input.tool.name, name, never.why])
}

# Imports a named tool may carry although no role may be granted them: the host links them
# with every operation refused (CPython's standard library imports wasi:sockets whether a
# program uses it or not; `socket.socket()` then fails inside Python).
inert_import(tool, name) if {
	some prefix in data.admission.inert[tool]
	startswith(name, prefix)
}

# The same, for every tool its tool chain builds that way (every Python tool made with
# componentize-py, whatever its name).
inert_by_toolchain(name) if {
	some prefix in data.admission.inert_by_toolchain[input.component.toolchain]
	startswith(name, prefix)
}

admission_reasons contains msg if {
	some msg in command_refusals
}

# Native command tools: a canonical command name (the host strips the path) on the block
# list is refused by name; anything else must be on the allow-list.
command_refusals contains msg if {
	command := input.tool.command
	command in data.commands.blocked
	msg := sprintf("Blocked tool %q in tool %q", [command, input.tool.name])
}

command_refusals contains msg if {
	command := input.tool.command
	is_string(command)
	not command in data.commands.blocked
	not command in data.commands.allowed
	msg := sprintf(
		"command %q in tool %q is not on the allow-list (%v)",
		[command, input.tool.name, sort(data.commands.allowed)],
	)
}
