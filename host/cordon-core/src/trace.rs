//! W3C trace context: the trace id callers send in `traceparent`.

/// The trace id of a W3C `traceparent` value (`00-<32 hex trace id>-<span id>-<flags>`),
/// if it is well formed and not all zeros (which the spec makes invalid).
pub fn trace_id_from_traceparent(value: &str) -> Option<String> {
    let mut parts = value.split('-');
    let (_version, id) = (parts.next()?, parts.next()?);
    let valid = id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && id.bytes().any(|b| b != b'0');
    valid.then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_nonzero_ids_are_taken() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            trace_id_from_traceparent(&format!("00-{id}-00f067aa0ba902b7-01")).as_deref(),
            Some(id)
        );
        assert_eq!(
            trace_id_from_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(
            trace_id_from_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(trace_id_from_traceparent("garbage"), None);
    }
}
