use std::time::Duration;

/// A size or duration string that could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot parse {input:?} as a {what} (examples: {examples})")]
pub struct ParseSizeError {
    input: String,
    what: &'static str,
    examples: &'static str,
}

/// Parses a byte size such as `512`, `64KiB`, `256MiB`, `1GiB`, `10MB` or `4k`.
///
/// ```
/// assert_eq!(cordon_core::parse_size("64MiB"), Ok(64 << 20));
/// assert_eq!(cordon_core::parse_size("1k"), Ok(1024));
/// assert!(cordon_core::parse_size("lots").is_err());
/// ```
pub fn parse_size(input: &str) -> Result<u64, ParseSizeError> {
    let err = || ParseSizeError {
        input: input.to_owned(),
        what: "size",
        examples: "4096, 64KiB, 256MiB, 1GiB",
    };
    let s = input.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| err())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(err()),
    };
    n.checked_mul(mult).ok_or_else(err)
}

/// Parses a duration such as `250ms`, `5s`, `2m` or `1500` (milliseconds).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(cordon_core::parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(cordon_core::parse_duration("2s"), Ok(Duration::from_secs(2)));
/// assert_eq!(cordon_core::parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, ParseSizeError> {
    let err = || ParseSizeError {
        input: input.to_owned(),
        what: "duration",
        examples: "250ms, 5s, 2m, 1h, 7d",
    };
    let s = input.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| err())?;
    match unit.trim() {
        "" | "ms" => Ok(Duration::from_millis(n)),
        "us" => Ok(Duration::from_micros(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs).ok_or_else(err),
        "h" => n.checked_mul(3600).map(Duration::from_secs).ok_or_else(err),
        "d" => n
            .checked_mul(86_400)
            .map(Duration::from_secs)
            .ok_or_else(err),
        _ => Err(err()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_overflowing_u64_are_refused() {
        assert!(parse_size("99999999999999999999GiB").is_err());
        assert!(parse_size("18446744073709551615GiB").is_err());
    }

    #[test]
    fn durations_reject_unknown_units() {
        assert!(parse_duration("5 fortnights").is_err());
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
    }
}
