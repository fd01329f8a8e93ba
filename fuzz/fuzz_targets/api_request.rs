//! The bodies of `POST /v1/tools/{name}/call` and `POST /v1/jobs` as a caller sends them:
//! refused, or decoded into a request whose checks run without a panic. (What the
//! arguments then become is the `json_wit_values` target's.)
#![no_main]

#[allow(dead_code)]
#[path = "../../host/cordon/src/serve/requests.rs"]
mod requests;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(call) = serde_json::from_slice::<requests::CallRequest>(data) {
        // Decoded once, it decodes the same from its own JSON form.
        let again = serde_json::json!({"function": call.function, "arguments": call.arguments});
        let twice: requests::CallRequest =
            serde_json::from_value(again).expect("a decoded call's own form decodes");
        assert_eq!(twice.arguments, call.arguments);
    }
    if let Ok(job) = serde_json::from_slice::<requests::JobRequest>(data) {
        let checked = job.check();
        let long_key = job
            .idempotency_key
            .as_ref()
            .is_some_and(|k| k.len() > requests::MAX_IDEMPOTENCY_KEY);
        assert_eq!(checked.is_err(), long_key);
    }
});
