//! `cordon.toml`: refused with an error, or settings whose every derived value (limits,
//! session TTL and quota, audit retention) is computed without a panic.
#![no_main]

#[allow(dead_code)]
#[path = "../../host/cordon/src/config.rs"]
mod config;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = config::FileConfig::parse(text) else {
        return;
    };
    let _ = file.limits();
    let _ = file.sessions.ttl();
    let _ = file.sessions.quota();
    let _ = file.audit.retention();
});
