//! The small parsers of text that arrives from outside: a `traceparent` header, sizes and
//! durations (config, manifests, flags), outbound host rules (manifests), OCI references
//! (`cordon tools add oci://...`). Each refuses or yields something well-formed; none
//! panics.
#![no_main]

use cordon_core::HostRule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(id) = cordon_core::trace::trace_id_from_traceparent(text) {
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id:?}");
        assert!(id != "0".repeat(32), "the all-zero trace id is invalid");
    }
    let _ = cordon_core::parse_size(text);
    let _ = cordon_core::parse_duration(text);
    if let Ok(rule) = text.parse::<HostRule>() {
        let _ = rule.allows("https", text, 443);
    }
    if let Ok(reference) = cordon_oci::Reference::parse(text) {
        let again = cordon_oci::Reference::parse(&reference.to_string())
            .unwrap_or_else(|e| panic!("{reference} does not parse again: {e}"));
        assert_eq!(again.to_string(), reference.to_string());
    }
});
