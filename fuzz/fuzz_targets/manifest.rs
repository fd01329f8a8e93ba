//! `tool.toml` as a tool author (or a registry) wrote it: refused with an error, or a
//! manifest whose limits, grants and JSON form can be used without a panic.
#![no_main]

use cordon_core::{Grants, Limits};
use cordon_wasm::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = Manifest::parse(text, std::path::Path::new("fuzz/tool.toml")) else {
        return;
    };
    let limits = manifest.limits(Limits::default());
    assert!(limits.fuel > 0 || Limits::default().fuel == 0);
    let _ = manifest.grants_for(Grants::default());
    let _ = serde_json::to_value(&manifest).expect("a parsed manifest serializes");
});
