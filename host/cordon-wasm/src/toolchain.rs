//! Which tool chain built a component, from the names its core modules carry.
//!
//! Admission policy uses it for one thing: imports a tool chain adds whether the tool uses
//! them or not (CPython's wasi-libc imports `wasi:sockets`). The host links those refused,
//! so a forged name gains a tool nothing but admission with sockets it cannot use.

use wasmparser::{KnownCustom, Name, Parser, Payload};

/// Core module names that identify a tool chain.
const MARKERS: &[(&str, &str)] = &[("componentize_py_runtime.wasm", "componentize-py")];

/// The tool chain that built `component`, when one of [`MARKERS`] names a module in it.
pub fn detect(component: &[u8]) -> Option<&'static str> {
    for payload in Parser::new(0).parse_all(component) {
        let Ok(Payload::CustomSection(section)) = payload else {
            continue;
        };
        let KnownCustom::Name(names) = section.as_known() else {
            continue;
        };
        for name in names.into_iter().flatten() {
            if let Name::Module { name, .. } = name
                && let Some((_, toolchain)) = MARKERS.iter().find(|(m, _)| *m == name)
            {
                return Some(toolchain);
            }
        }
    }
    None
}
