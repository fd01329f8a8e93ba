//! Key names. Tenant and tool names are escaped before they become part of a key, so
//! `acme:x` + `tool` and `acme` + `x:tool` never share a stream.

/// `name` with `%` and `:` percent-escaped.
pub fn part(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            ':' => out.push_str("%3A"),
            c => out.push(c),
        }
    }
    out
}

pub fn job(prefix: &str, id: &str) -> String {
    format!("{prefix}:job:{id}")
}

pub fn quarantine(prefix: &str) -> String {
    format!("{prefix}:quarantine")
}

pub fn depth(prefix: &str, priority: &str) -> String {
    format!("{prefix}:depth:{priority}")
}

pub fn host(prefix: &str, id: &str) -> String {
    format!("{prefix}:host:{id}")
}

pub fn hosts(prefix: &str) -> String {
    format!("{prefix}:hosts")
}

/// Channel: a job was queued (the payload is its priority).
pub fn ready(prefix: &str) -> String {
    format!("{prefix}:ready")
}

/// Channel: a job finished (the payload is its id).
pub fn done(prefix: &str) -> String {
    format!("{prefix}:done")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_differ_give_parts_that_differ() {
        assert_eq!(part("acme"), "acme");
        assert_ne!(
            format!("{}:{}", part("acme:x"), part("tool")),
            format!("{}:{}", part("acme"), part("x:tool"))
        );
        assert_ne!(part("a%3Ab"), part("a:b"));
    }
}
