# Tests for the default policy: `cordon policy test` runs every `test_*` rule here.
# Each role, each denial reason, each path rule, grants and limits.
package cordon_test

import rego.v1

import data.cordon

# A call builder: `call(roles, tool, function, arguments)` with a read-write workspace at
# /ws, scratch at /tmp, LANG requested, one outbound host and generous requested limits.
call(roles, tool, function, arguments) := {
	"principal": {"tenant": "acme", "subject": "alice", "roles": roles},
	"tool": {"name": tool, "function": function, "registered": true, "command": null},
	"arguments": arguments,
	"request": {
		"dirs": [{"guest": "/ws", "host_path": "/srv/ws", "mode": "rw"}],
		"env": ["LANG"],
		"scratch": "/tmp",
		"hosts": [
			{"rule": "https://api.example.com:443", "scheme": "https", "host": "api.example.com", "port": 443},
			{"rule": "http://169.254.169.254:80", "scheme": "http", "host": "169.254.169.254", "port": 80},
		],
		"limits": {"fuel": 5000000000, "timeout_ms": 1000, "memory_bytes": 1073741824, "output_bytes": 1024},
	},
}

read_call(roles) := call(roles, "fs", "files#read-file", {"path": "notes.txt"})

write_call(roles) := call(roles, "fs", "files#write-file", {"path": "out.txt", "contents": "x"})

# --- Roles ------------------------------------------------------------------------------

test_guest_may_read if {
	d := cordon.decision with input as read_call(["guest"])
	d.allow
	d.reasons == []
}

test_guest_may_not_write if {
	d := cordon.decision with input as write_call(["guest"])
	not d.allow
	d.reasons == [`role ["guest"] has no "write" permission on tool "fs", which function "files#write-file" needs`]
}

test_guest_gets_read_only_dirs_no_env_no_network if {
	d := cordon.decision with input as read_call(["guest"])
	d.grants.dirs == [{"guest": "/ws", "mode": "ro"}]
	d.grants.env == []
	d.grants.hosts == []
	d.grants.scratch == true
}

test_developer_may_write_with_a_read_write_workspace if {
	d := cordon.decision with input as write_call(["developer"])
	d.allow
	d.grants.dirs == [{"guest": "/ws", "mode": "rw"}]
	d.grants.env == ["LANG"]
}

test_developer_gets_hosts_but_never_metadata_endpoints if {
	d := cordon.decision with input as read_call(["developer"])
	d.grants.hosts == ["https://api.example.com:443"]
}

test_developer_may_not_run_an_unregistered_component if {
	input_value := json.patch(call(["developer"], "x.wasm", "run", {}), [{"op": "replace", "path": "/tool/registered", "value": false}])
	d := cordon.decision with input as input_value
	not d.allow
	d.reasons == [`role ["developer"] has no "admin" permission on tool "x.wasm", which function "run" needs`]
}

test_admin_may_run_an_unregistered_component if {
	input_value := json.patch(call(["admin"], "x.wasm", "run", {}), [{"op": "replace", "path": "/tool/registered", "value": false}])
	d := cordon.decision with input as input_value
	d.allow
}

test_unknown_tools_need_execute if {
	not cordon.decision.allow with input as call(["guest"], "other", "go", {})
	cordon.decision.allow with input as call(["developer"], "other", "go", {})
}

test_the_matrix_can_narrow_one_tool_for_one_role if {
	matrix := {"guest": {"*": ["read"]}, "developer": {"*": ["read", "write", "execute"], "fs": ["read"]}, "admin": {"*": ["admin"]}}
	not cordon.decision.allow with input as write_call(["developer"]) with data.matrix as matrix
}

# --- Denial reasons ---------------------------------------------------------------------

test_no_known_role_is_denied if {
	d := cordon.decision with input as read_call(["root"])
	not d.allow
	d.reasons == [`principal acme/alice holds no role this policy knows (holds ["root"]; known: ["admin", "developer", "guest"])`]
}

test_no_roles_at_all_is_denied if {
	not cordon.decision.allow with input as read_call([])
}

test_a_disabled_tenant_is_denied if {
	tenants := {"*": {"limits": {}}, "acme": {"disabled": true, "limits": {}}}
	d := cordon.decision with input as read_call(["admin"]) with data.tenants as tenants
	not d.allow
	d.reasons == [`tenant "acme" is disabled`]
}

test_missing_function_is_denied if {
	base := read_call(["admin"])
	i := object.union(object.remove(base, ["tool"]), {"tool": object.remove(base.tool, ["function"])})
	d := cordon.decision with input as i
	not d.allow
	"the input names no tool function" in d.reasons
}

test_empty_input_is_denied if {
	d := cordon.decision with input as {}
	not d.allow
}

# --- Path rules -------------------------------------------------------------------------

path_call(path) := call(["admin"], "fs", "files#read-file", {"path": path})

test_relative_paths_pass if {
	cordon.decision.allow with input as path_call("docs/a.txt")
}

test_dot_dot_is_path_traversal if {
	d := cordon.decision with input as path_call("docs/../../etc/shadow")
	not d.allow
	d.violations == [{"kind": "path_traversal", "operation": "argument path", "path": "docs/../../etc/shadow", "reason": `"docs/../../etc/shadow" climbs out of its directory with ".."`}]
}

test_backslash_dot_dot_is_path_traversal if {
	d := cordon.decision with input as path_call(`..\secret`)
	d.violations[0].kind == "path_traversal"
}

test_absolute_path_inside_a_grant_passes if {
	cordon.decision.allow with input as path_call("/ws/a.txt")
	cordon.decision.allow with input as path_call("/tmp/x")
	cordon.decision.allow with input as path_call("/ws")
}

test_absolute_path_outside_grants_is_refused if {
	d := cordon.decision with input as path_call("/srv/ws/a.txt")
	not d.allow
	d.violations[0].kind == "absolute_path"
	d.reasons == [`argument path: "/srv/ws/a.txt" is an absolute path outside every granted directory`]
}

test_prefix_of_a_grant_is_not_inside_it if {
	d := cordon.decision with input as path_call("/wsx/a.txt")
	d.violations[0].kind == "absolute_path"
}

test_proc_is_sensitive if {
	d := cordon.decision with input as path_call("/proc/self/environ")
	d.violations[0].kind == "sensitive_path"
}

test_etc_passwd_is_sensitive if {
	d := cordon.decision with input as path_call("/etc/passwd")
	not d.allow
	d.violations[0].kind == "sensitive_path"
}

test_home_is_refused if {
	d := cordon.decision with input as path_call("~/.ssh/id_rsa")
	d.violations[0].kind == "absolute_path"
}

test_path_named_arguments_are_checked_by_suffix if {
	d := cordon.decision with input as call(["admin"], "fs", "files#search", {"root_dir": "/etc"})
	d.violations[0].kind == "sensitive_path"
}

test_other_arguments_are_not_paths if {
	cordon.decision.allow with input as call(["admin"], "fs", "files#search", {"pattern": "../x"})
}

test_even_admin_cannot_escape if {
	not cordon.decision.allow with input as path_call("../x")
}

# --- Limits and backend -----------------------------------------------------------------

test_limits_are_lowered_to_the_tenant_ceiling_never_raised if {
	d := cordon.decision with input as read_call(["admin"])
	d.limits == {"fuel": 2000000000, "timeout_ms": 1000, "memory_bytes": 268435456, "output_bytes": 1024}
}

test_local_tenant_has_its_own_ceiling if {
	i := json.patch(read_call(["admin"]), [{"op": "replace", "path": "/principal/tenant", "value": "local"}])
	d := cordon.decision with input as i
	d.limits.fuel == 5000000000
}

test_a_tool_may_raise_the_default_ceiling_but_not_a_tenants_own if {
	py := json.patch(read_call(["developer"]), [{"op": "replace", "path": "/tool/name", "value": "python"}])
	d := cordon.decision with input as py
	d.limits.fuel == 5000000000 # the request's, under python's 10^12 ceiling
	d.limits.memory_bytes == 268435456 # no tool ceiling for memory: the default tenant's
	# A tenant with an entry of its own keeps its ceilings for every tool.
	capped := json.patch(py, [{"op": "replace", "path": "/principal/tenant", "value": "tight"}])
	t := cordon.decision with input as capped with data.tenants.tight as {"limits": {"fuel": 1000}}
	t.limits.fuel == 1000
}

test_components_run_on_wasm if {
	cordon.decision.backend == "wasm" with input as read_call(["guest"])
}

native_call := json.patch(call(["developer"], "py", "run", {}), [{"op": "replace", "path": "/tool/command", "value": "python3"}])

test_native_commands_run_in_their_tenants_minimum_tier if {
	d := cordon.decision with input as native_call
	d.allow
	d.backend == "process"
}

test_a_call_may_ask_for_a_stronger_tier_never_a_weaker_one if {
	stronger := json.patch(native_call, [{"op": "add", "path": "/request/backend", "value": "gvisor"}])
	cordon.decision.backend == "gvisor" with input as stronger
	weaker := json.patch(native_call, [{"op": "add", "path": "/request/backend", "value": "process"}])
	cordon.decision.backend == "container" with input as weaker with data.tenants.acme as {"min_tier": "container"}
	unknown := json.patch(native_call, [{"op": "add", "path": "/request/backend", "value": "chroot"}])
	cordon.decision.backend == "process" with input as unknown
}

test_a_blocked_command_is_denied_at_call_time_too if {
	i := json.patch(call(["admin"], "net", "run", {}), [{"op": "replace", "path": "/tool/command", "value": "curl"}])
	d := cordon.decision with input as i
	not d.allow
	d.reasons == [`Blocked tool "curl" in tool "net"`]
	[v.kind | some v in d.violations] == ["command"]
}

# --- The two parts of a decision ---------------------------------------------------------
# The host evaluates `call` without the arguments and keeps its answer, so `call` must give
# the same answer with and without them; `argument_check` adds the arguments' findings.

sample_calls := [
	read_call(["guest"]),
	write_call(["guest"]),
	write_call(["developer"]),
	read_call(["root"]),
	read_call([]),
	path_call("docs/a.txt"),
	path_call("docs/../../etc/shadow"),
	path_call(`..\secret`),
	path_call("/ws/a.txt"),
	path_call("/srv/ws/a.txt"),
	path_call("/etc/passwd"),
	path_call("~/.ssh/id_rsa"),
	call(["admin"], "fs", "files#search", {"root_dir": "/etc"}),
	call(["admin"], "fs", "files#search", {"pattern": "../x"}),
	json.patch(call(["admin"], "net", "run", {}), [{"op": "replace", "path": "/tool/command", "value": "curl"}]),
	json.patch(call(["admin"], "x", "run", {}), [{"op": "replace", "path": "/tool/command", "value": "perl"}]),
	{},
]

test_call_does_not_depend_on_the_arguments if {
	every i in sample_calls {
		with_arguments := cordon.call with input as i
		without := cordon.call with input as object.remove(i, ["arguments"])
		with_arguments == without
	}
}

test_plain_arguments_add_nothing if {
	nothing := {"reasons": [], "violations": []}
	cordon.argument_check == nothing with input as read_call(["guest"])
	cordon.argument_check == nothing with input as path_call("docs/a.txt")
	cordon.argument_check == nothing with input as call(["admin"], "fs", "files#search", {"pattern": "../x"})
}

test_the_arguments_alone_can_deny if {
	i := path_call("docs/../../etc/shadow")
	c := cordon.call with input as i
	c.allow
	a := cordon.argument_check with input as i
	[v.kind | some v in a.violations] == ["path_traversal"]
	not cordon.decision.allow with input as i
}

# --- Admission --------------------------------------------------------------------------

test_admission_allows_a_plain_component if {
	a := cordon.admission with input as {"tool": {"name": "fs", "command": null}, "imports": ["wasi:filesystem/types@0.2.12", "cordon:tool/logging@0.1.0"]}
	a.allow
}

test_admission_refuses_sockets if {
	a := cordon.admission with input as {"tool": {"name": "net", "command": null}, "imports": ["wasi:sockets/tcp@0.2.12"]}
	not a.allow
	a.reasons == [`tool "net" imports wasi:sockets/tcp@0.2.12, which no role may be granted: components reach the network only through wasi:http, host by host`]
}

test_admission_lets_the_python_interpreter_carry_inert_sockets_and_nothing_else if {
	imports := ["wasi:sockets/tcp@0.2.9", "wasi:filesystem/types@0.2.9"]
	python := cordon.admission with input as {"tool": {"name": "python", "command": null}, "imports": imports}
	python.allow
	# The allowance is the tool's, and only for the sockets prefix.
	other := cordon.admission with input as {"tool": {"name": "not-python", "command": null}, "imports": imports}
	not other.allow
}

test_admission_lets_componentize_py_tools_carry_inert_sockets_and_nothing_else if {
	imports := ["wasi:sockets/tcp@0.2.9", "wasi:filesystem/types@0.2.9"]
	built := {"toolchain": "componentize-py"}
	py := cordon.admission with input as {"tool": {"name": "demo", "command": null}, "imports": imports, "component": built}
	py.allow
	# Only the sockets prefix is excused, and only for that tool chain.
	other := cordon.admission with input as {"tool": {"name": "demo", "command": null}, "imports": imports, "component": {"toolchain": "other"}}
	not other.allow
	unknown := cordon.admission with input as {"tool": {"name": "demo", "command": null}, "imports": imports, "component": {"toolchain": null}}
	not unknown.allow
}

test_admission_refuses_blocked_commands_by_name if {
	a := cordon.admission with input as {"tool": {"name": "net", "command": "curl"}, "imports": []}
	a.reasons == [`Blocked tool "curl" in tool "net"`]
}

test_admission_refuses_commands_off_the_allow_list if {
	a := cordon.admission with input as {"tool": {"name": "x", "command": "perl"}, "imports": []}
	not a.allow
	startswith(a.reasons[0], `command "perl" in tool "x" is not on the allow-list`)
}

test_admission_allows_listed_commands if {
	a := cordon.admission with input as {"tool": {"name": "py", "command": "python3"}, "imports": []}
	a.allow
}
