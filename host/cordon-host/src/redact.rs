use serde_json::Value;

/// `value` with every object field named in `secret` (at any depth) replaced by
/// `"[redacted]"`: what the audit log may keep of a call's arguments.
///
/// ```
/// let args = serde_json::json!({"user": "a", "auth": {"token": "s3cret"}});
/// let kept = cordon_host::redact(&args, &["token".to_owned()]);
/// assert_eq!(kept, serde_json::json!({"user": "a", "auth": {"token": "[redacted]"}}));
/// ```
pub fn redact(value: &Value, secret: &[String]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if secret.iter().any(|s| s == k) {
                        Value::String("[redacted]".into())
                    } else {
                        redact(v, secret)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| redact(v, secret)).collect()),
        other => other.clone(),
    }
}
