//! What policy is asked: the input documents for `decision` and `admission`.

use cordon_core::{DirMode, Grants, HostRule, Limits, Principal};
use regorus::{Rc, Value};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Everything policy sees about one call.
#[derive(Debug, Serialize)]
pub struct DecisionInput<'a> {
    /// Who is calling.
    pub principal: &'a Principal,
    /// What is called.
    pub tool: ToolInput<'a>,
    /// The call's arguments, as given.
    pub arguments: &'a serde_json::Value,
    /// The capabilities and limits the call would run with if policy granted all of them.
    pub request: RequestInput,
}

/// The tool and function being called.
#[derive(Debug, Serialize)]
pub struct ToolInput<'a> {
    /// The tool's name (a catalog name, or the file name of a component run by path).
    pub name: &'a str,
    /// The resolved function (`func` or `interface#func`).
    pub function: &'a str,
    /// Whether the tool came from the catalog, with a manifest (else: a component by path).
    pub registered: bool,
    /// The tool's manifest, when registered, prepared once per tool
    /// ([`PolicyValue::from_json`]) rather than converted on every call.
    pub manifest: Option<&'a PolicyValue>,
    /// For native command tools: the command's canonical name (no directory).
    pub command: Option<&'a str>,
}

/// Requested capabilities and limits.
#[derive(Debug, Serialize)]
pub struct RequestInput {
    /// Directories requested, by guest path.
    pub dirs: Vec<RequestedDir>,
    /// Names of environment variables requested.
    pub env: Vec<String>,
    /// The scratch directory's guest path, when requested.
    pub scratch: Option<String>,
    /// Outbound hosts requested.
    pub hosts: Vec<RequestedHost>,
    /// Limits requested.
    pub limits: RequestedLimits,
    /// The native tier asked for (`process`, `container`, `gvisor`, `microvm`), if any;
    /// policy may give a stronger one.
    pub backend: Option<String>,
}

/// One requested directory.
#[derive(Debug, Serialize)]
pub struct RequestedDir {
    /// Where the guest would see it.
    pub guest: String,
    /// Where it is on the host (a fresh workspace's differs on every call).
    pub host_path: String,
    /// The mode requested.
    pub mode: DirMode,
}

/// One requested outbound host, split so policy need not parse it.
#[derive(Debug, Serialize)]
pub struct RequestedHost {
    /// The rule as the host writes it (`https://api.example.com:443`); grants name this.
    pub rule: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or IP literal (may start with `*.`).
    pub host: String,
    /// Port.
    pub port: u16,
}

/// Limits in the units policy compares.
#[derive(Debug, Serialize)]
pub struct RequestedLimits {
    /// Fuel units.
    pub fuel: u64,
    /// Milliseconds.
    pub timeout_ms: u64,
    /// Bytes of linear memory.
    pub memory_bytes: u64,
    /// Bytes of stdout and of stderr.
    pub output_bytes: u64,
}

impl RequestInput {
    /// The request for running with `grants` and `limits`.
    pub fn new(grants: &Grants, limits: &Limits) -> RequestInput {
        RequestInput {
            dirs: grants
                .dirs()
                .iter()
                .map(|d| RequestedDir {
                    guest: d.guest.clone(),
                    host_path: d.host.display().to_string(),
                    mode: d.mode,
                })
                .collect(),
            env: grants.env().iter().map(|(k, _)| k.clone()).collect(),
            scratch: grants.scratch().map(str::to_owned),
            hosts: grants.hosts().iter().map(RequestedHost::from).collect(),
            limits: RequestedLimits {
                fuel: limits.fuel,
                timeout_ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
                memory_bytes: limits.memory_bytes,
                output_bytes: limits.output_bytes,
            },
            backend: None,
        }
    }

    /// The same request, asking for the native tier `backend`.
    pub fn with_backend(mut self, backend: &str) -> RequestInput {
        self.backend = Some(backend.to_owned());
        self
    }
}

impl From<&HostRule> for RequestedHost {
    fn from(r: &HostRule) -> Self {
        RequestedHost {
            rule: r.to_string(),
            scheme: r.scheme().to_owned(),
            host: r.host().to_owned(),
            port: r.port(),
        }
    }
}

/// What policy sees when a tool is added to the catalog.
#[derive(Debug, Serialize)]
pub struct AdmissionInput<'a> {
    /// The tool.
    pub tool: AdmissionTool<'a>,
    /// Every interface the component imports (`wasi:sockets/tcp@0.2.12`, ...).
    pub imports: Vec<String>,
    /// What is known about how the component was built.
    pub component: AdmissionComponent,
}

/// Facts about the component being admitted.
#[derive(Debug, Default, Serialize)]
pub struct AdmissionComponent {
    /// The tool chain that built it (`componentize-py`), when its modules name one.
    pub toolchain: Option<&'static str>,
}

/// The tool being admitted.
#[derive(Debug, Serialize)]
pub struct AdmissionTool<'a> {
    /// Its name.
    pub name: &'a str,
    /// For native command tools: the command's canonical name.
    pub command: Option<&'a str>,
    /// Its manifest as JSON.
    pub manifest: Option<&'a serde_json::Value>,
}

/// A JSON document converted to the policy engine's value form, so that a document used by
/// many calls (a tool's manifest) is converted once. Cloning it is a reference-count bump.
#[derive(Debug, Clone)]
pub struct PolicyValue {
    value: Value,
    /// Names this conversion among all others in the process: kept decisions are keyed by
    /// it, never by comparing whole manifests.
    id: u64,
}

static NEXT_VALUE_ID: AtomicU64 = AtomicU64::new(1);

impl PolicyValue {
    /// Converts `json`.
    pub fn from_json(json: &serde_json::Value) -> PolicyValue {
        PolicyValue {
            value: json_value(json),
            id: NEXT_VALUE_ID.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl PartialEq for PolicyValue {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Serialize for PolicyValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

/// Converts JSON by reference; `regorus::Value::from(serde_json::Value)` needs an owned
/// document and goes through serde, at about twice the cost.
pub(crate) fn json_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::from(a.iter().map(json_value).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => Value::from(
            o.iter()
                .map(|(k, v)| (Value::from(k.as_str()), json_value(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

/// The input document's field names, allocated once: every decision shares them.
struct Keys {
    principal: Value,
    tenant: Value,
    subject: Value,
    roles: Value,
    tool: Value,
    name: Value,
    function: Value,
    registered: Value,
    manifest: Value,
    command: Value,
    arguments: Value,
    request: Value,
    dirs: Value,
    guest: Value,
    host: Value,
    host_path: Value,
    mode: Value,
    env: Value,
    scratch: Value,
    hosts: Value,
    rule: Value,
    scheme: Value,
    port: Value,
    limits: Value,
    fuel: Value,
    timeout_ms: Value,
    memory_bytes: Value,
    output_bytes: Value,
    ro: Value,
    rw: Value,
    backend: Value,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys {
    principal: "principal".into(),
    tenant: "tenant".into(),
    subject: "subject".into(),
    roles: "roles".into(),
    tool: "tool".into(),
    name: "name".into(),
    function: "function".into(),
    registered: "registered".into(),
    manifest: "manifest".into(),
    command: "command".into(),
    arguments: "arguments".into(),
    request: "request".into(),
    dirs: "dirs".into(),
    guest: "guest".into(),
    host: "host".into(),
    host_path: HOST_PATH.into(),
    mode: "mode".into(),
    env: "env".into(),
    scratch: "scratch".into(),
    hosts: "hosts".into(),
    rule: "rule".into(),
    scheme: "scheme".into(),
    port: "port".into(),
    limits: "limits".into(),
    fuel: "fuel".into(),
    timeout_ms: "timeout_ms".into(),
    memory_bytes: "memory_bytes".into(),
    output_bytes: "output_bytes".into(),
    ro: "ro".into(),
    rw: "rw".into(),
    backend: "backend".into(),
});

fn object<const N: usize>(fields: [(&Value, Value); N]) -> Value {
    Value::from(
        fields
            .into_iter()
            .map(|(k, v)| (k.clone(), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn string_or_null(s: Option<&str>) -> Value {
    s.map_or(Value::Null, Value::from)
}

impl DecisionInput<'_> {
    /// The input document, built directly in the engine's value form. It is the document
    /// `serde_json::to_value(self)` describes (a test holds them equal), without the JSON
    /// detour that cost more than the rest of a decision.
    pub(crate) fn to_value(&self) -> Value {
        self.with_arguments(self.call_value(true))
    }

    /// `call`, the input without its arguments (from [`DecisionInput::call_value`]), with the
    /// arguments added: the input `argument_check` is given (the whole input, when `call`
    /// was given host paths).
    pub(crate) fn with_arguments(&self, mut call: Value) -> Value {
        if let Value::Object(fields) = &mut call {
            Rc::make_mut(fields).insert(KEYS.arguments.clone(), json_value(self.arguments));
        }
        call
    }

    /// Exactly what [`DecisionInput::call_value`] is made of, as bytes: equal keys, equal
    /// documents. A manifest stands for itself by its conversion's identity.
    pub(crate) fn call_key(&self, host_paths: bool) -> Vec<u8> {
        let mut key = Key(Vec::with_capacity(256));
        let p = self.principal;
        key.str(&p.tenant);
        key.str(&p.subject);
        key.count(p.roles.len());
        for role in &p.roles {
            key.str(role);
        }
        let t = &self.tool;
        key.str(t.name);
        key.str(t.function);
        key.byte(u8::from(t.registered));
        match t.manifest {
            Some(m) => {
                key.byte(1);
                key.u64(m.id);
            }
            None => key.byte(0),
        }
        key.opt(t.command);
        let r = &self.request;
        key.count(r.dirs.len());
        for d in &r.dirs {
            key.str(&d.guest);
            if host_paths {
                key.str(&d.host_path);
            }
            key.byte(match d.mode {
                DirMode::ReadOnly => 0,
                DirMode::ReadWrite => 1,
            });
        }
        key.count(r.env.len());
        for e in &r.env {
            key.str(e);
        }
        key.opt(r.scratch.as_deref());
        key.count(r.hosts.len());
        for h in &r.hosts {
            key.str(&h.rule);
            key.str(&h.scheme);
            key.str(&h.host);
            key.u64(u64::from(h.port));
        }
        let l = &r.limits;
        for n in [l.fuel, l.timeout_ms, l.memory_bytes, l.output_bytes] {
            key.u64(n);
        }
        key.opt(r.backend.as_deref());
        key.0
    }

    /// The input document without `arguments`, and without the directories' host paths
    /// unless `host_paths`: what `data.cordon.call` is given.
    pub(crate) fn call_value(&self, host_paths: bool) -> Value {
        let k = &*KEYS;
        let p = self.principal;
        let principal = object([
            (&k.tenant, Value::from(p.tenant.as_str())),
            (&k.subject, Value::from(p.subject.as_str())),
            (
                &k.roles,
                Value::from(
                    p.roles
                        .iter()
                        .map(|r| Value::from(r.as_str()))
                        .collect::<Vec<_>>(),
                ),
            ),
        ]);
        let t = &self.tool;
        let tool = object([
            (&k.name, Value::from(t.name)),
            (&k.function, Value::from(t.function)),
            (&k.registered, Value::Bool(t.registered)),
            (
                &k.manifest,
                t.manifest.map_or(Value::Null, |m| m.value.clone()),
            ),
            (&k.command, string_or_null(t.command)),
        ]);
        let r = &self.request;
        let dirs = r
            .dirs
            .iter()
            .map(|d| {
                let mode = match d.mode {
                    DirMode::ReadOnly => &k.ro,
                    DirMode::ReadWrite => &k.rw,
                };
                let guest = (&k.guest, Value::from(d.guest.as_str()));
                if host_paths {
                    object([
                        guest,
                        (&k.host_path, Value::from(d.host_path.as_str())),
                        (&k.mode, mode.clone()),
                    ])
                } else {
                    object([guest, (&k.mode, mode.clone())])
                }
            })
            .collect::<Vec<_>>();
        let hosts = r
            .hosts
            .iter()
            .map(|h| {
                object([
                    (&k.rule, Value::from(h.rule.as_str())),
                    (&k.scheme, Value::from(h.scheme.as_str())),
                    (&k.host, Value::from(h.host.as_str())),
                    (&k.port, Value::from(u64::from(h.port))),
                ])
            })
            .collect::<Vec<_>>();
        let l = &r.limits;
        let request = object([
            (&k.dirs, Value::from(dirs)),
            (
                &k.env,
                Value::from(
                    r.env
                        .iter()
                        .map(|e| Value::from(e.as_str()))
                        .collect::<Vec<_>>(),
                ),
            ),
            (&k.scratch, string_or_null(r.scratch.as_deref())),
            (&k.hosts, Value::from(hosts)),
            (
                &k.limits,
                object([
                    (&k.fuel, Value::from(l.fuel)),
                    (&k.timeout_ms, Value::from(l.timeout_ms)),
                    (&k.memory_bytes, Value::from(l.memory_bytes)),
                    (&k.output_bytes, Value::from(l.output_bytes)),
                ]),
            ),
            (&k.backend, string_or_null(r.backend.as_deref())),
        ]);
        object([
            (&k.principal, principal),
            (&k.tool, tool),
            (&k.request, request),
        ])
    }
}

/// The field of a requested directory that names where it is on the host. A fresh
/// workspace's path is new on every call, so the part of a decision without arguments is
/// given it (and keyed by it) only when the policy's rules name it.
pub(crate) const HOST_PATH: &str = "host_path";

/// A byte string no two different inputs share: every variable-length part is preceded by
/// its length, every optional part by whether it is there.
struct Key(Vec<u8>);

impl Key {
    fn byte(&mut self, b: u8) {
        self.0.push(b);
    }

    fn u64(&mut self, n: u64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }

    fn count(&mut self, n: usize) {
        self.u64(n as u64);
    }

    fn str(&mut self, s: &str) {
        self.count(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn opt(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.byte(1);
                self.str(s);
            }
            None => self.byte(0),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The directly built input must be exactly the document the serde form describes:
    /// policies (and `cordon policy eval --input`) are written against that form.
    #[test]
    fn the_built_input_is_the_serialized_input() {
        let principal = Principal::new("acme", "alice", ["developer", "guest"]);
        let grants = Grants::builder()
            .dir("/srv/ws", "/ws", DirMode::ReadWrite)
            .dir("/srv/ref", "/ref", DirMode::ReadOnly)
            .env("LANG", "C")
            .scratch("/tmp")
            .host("https://api.example.com".parse().unwrap())
            .host("http://*.internal:8080".parse().unwrap())
            .build();
        let manifest_json = serde_json::json!({
            "name": "fs", "version": "1.2.0", "ratio": 0.5, "offset": -3,
            "capabilities": {"dirs": [{"guest": "/ws", "mode": "rw"}], "scratch": true},
            "secret_arguments": [], "native": null,
        });
        let manifest = PolicyValue::from_json(&manifest_json);
        let arguments = serde_json::json!({
            "path": "a/b.txt", "n": 18446744073709551615u64, "neg": -1, "f": 1.25,
            "nested": {"list": [true, null, "x"]},
        });
        let limits = Limits::default();
        for (manifest, command) in [(Some(&manifest), None), (None, Some("python3"))] {
            let input = DecisionInput {
                principal: &principal,
                tool: ToolInput {
                    name: "fs",
                    function: "files#read-file",
                    registered: manifest.is_some(),
                    manifest,
                    command,
                },
                arguments: &arguments,
                request: RequestInput::new(&grants, &limits),
            };
            let via_json = Value::from(serde_json::to_value(&input).unwrap());
            assert_eq!(input.to_value(), via_json);
        }
    }
}
