//! A look at a component's outline before wasmtime sees it. Validating and compiling
//! components nested inside components costs memory quadratic in the depth: a 110 KB
//! component nested 10,000 deep takes wasmtime 3 GB and 8 s, one of 1.2 MB nested 100,000
//! deep takes the whole machine's memory and the server with it. Real components nest a
//! few levels (wit-component: 2; componentize-py: 3). Deeper ones are refused here,
//! reading the outline only (no validation, constant memory).

use crate::WasmError;

/// How deep modules and components may nest inside a component.
pub const MAX_NESTING: usize = 16;

/// Refuses `bytes` when they nest deeper than [`MAX_NESTING`]; anything else (even bytes
/// that do not parse) is left to wasmtime's validation, which explains it better.
///
/// # Errors
///
/// [`WasmError::InvalidComponent`] naming the depth.
pub fn check(name: &str, bytes: &[u8]) -> Result<(), WasmError> {
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else {
            return Ok(());
        };
        match payload {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(WasmError::InvalidComponent {
                        name: name.to_owned(),
                        reason: format!(
                            "modules and components nest more than {MAX_NESTING} deep inside it"
                        ),
                    });
                }
            }
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const HEADER: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn nested(depth: usize) -> Vec<u8> {
        let mut inner = HEADER.to_vec();
        for _ in 0..depth {
            let mut outer = HEADER.to_vec();
            outer.push(4);
            let mut n = inner.len();
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    outer.push(byte);
                    break;
                }
                outer.push(byte | 0x80);
            }
            outer.extend_from_slice(&inner);
            inner = outer;
        }
        inner
    }

    #[test]
    fn nesting_is_allowed_to_the_limit_and_refused_past_it() {
        assert!(check("ok", &nested(MAX_NESTING)).is_ok());
        let e = check("deep", &nested(MAX_NESTING + 1)).unwrap_err();
        assert!(e.to_string().contains("nest more than 16 deep"), "{e}");
        assert!(check("deeper", &nested(100_000)).is_err());
    }
}
