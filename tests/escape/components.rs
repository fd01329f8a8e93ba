//! Malformed and hostile components dropped into a running server's catalog: invalid
//! binaries, sections that lie about their size, nesting past any sane depth, imports of
//! interfaces no host provides or no call may have. Each is refused when the catalog
//! reloads (the tool never appears), counted as `malformed_component`, and audited under
//! the tool's name; the tools already there go on serving.

use super::*;

const COMPONENT_HEADER: &[u8] = b"\0asm\x0d\x00\x01\x00";

fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A component with `payload` as one section of id `id`.
fn component_with_section(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut c = COMPONENT_HEADER.to_vec();
    c.push(id);
    leb(payload.len(), &mut c);
    c.extend_from_slice(payload);
    c
}

/// Components nested `depth` deep (section 4 holds a whole component), built from the
/// outside in: each level's length is known from the levels inside it.
fn nested(depth: usize) -> Vec<u8> {
    let leb_len = |n: usize| {
        let mut v = Vec::new();
        leb(n, &mut v);
        v
    };
    // lengths[i]: the whole component at nesting level i from the inside.
    let mut lengths = vec![COMPONENT_HEADER.len()];
    for i in 0..depth {
        let inner = lengths[i];
        lengths.push(COMPONENT_HEADER.len() + 1 + leb_len(inner).len() + inner);
    }
    let mut out = Vec::with_capacity(lengths[depth]);
    for i in (0..depth).rev() {
        out.extend_from_slice(COMPONENT_HEADER);
        out.push(4);
        out.extend_from_slice(&leb_len(lengths[i]));
    }
    out.extend_from_slice(COMPONENT_HEADER);
    out
}

/// A component that imports the instance `name`, which must export a function `steal`.
fn importing(name: &str) -> Vec<u8> {
    // Type section: one instance type declaring a function type and exporting `steal`.
    let mut instance = vec![
        0x01, 0x42, 0x02, 0x01, 0x40, 0x00, 0x01, 0x00, 0x04, 0x00, 0x05,
    ];
    instance.extend_from_slice(b"steal");
    instance.extend_from_slice(&[0x01, 0x00]);
    let mut c = component_with_section(7, &instance);
    let mut import = vec![0x01, 0x00];
    leb(name.len(), &mut import);
    import.extend_from_slice(name.as_bytes());
    import.extend_from_slice(&[0x05, 0x00]);
    c.push(10);
    leb(import.len(), &mut c);
    c.extend_from_slice(&import);
    c
}

/// Bytes that are no format at all (a fixed xorshift stream).
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn malformed_components_are_refused_counted_and_audited() {
    let t = Target::start("components", catalog(&[]), "");
    let hostile = std::fs::read(fixture("hostile.wasm")).unwrap();
    let mut wrong_version = hostile.clone();
    wrong_version[4] = 0x0e;
    let mut huge_section = COMPONENT_HEADER.to_vec();
    huge_section.extend_from_slice(&[
        0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x04, b'n', b'a', b'm', b'e',
    ]);
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        ("random bytes", "noise", noise(4096), "invalid_component"),
        ("an empty file", "empty", Vec::new(), "invalid_component"),
        (
            "a core module, not a component",
            "core",
            b"\0asm\x01\x00\x00\x00".to_vec(),
            "invalid_component",
        ),
        (
            "a component cut in half",
            "half",
            hostile[..hostile.len() / 2].to_vec(),
            "invalid_component",
        ),
        (
            "a component of a future version",
            "future",
            wrong_version,
            "invalid_component",
        ),
        (
            "a section claiming 4 GiB",
            "huge-section",
            huge_section,
            "invalid_component",
        ),
        // 1.2 MB that would take wasmtime some 24 GB to validate (quadratic in the depth).
        (
            "components nested 100,000 deep",
            "deep",
            nested(100_000),
            "invalid_component",
        ),
        (
            "an import no host provides",
            "backdoor",
            importing("evil:pwn/backdoor"),
            "invalid_component",
        ),
        (
            "an import of sockets, never granted",
            "sockets",
            std::fs::read(fixture("sockets.wasm")).unwrap(),
            "policy_denied",
        ),
    ];
    for (case, name, bytes, code) in cases {
        let before = t.escapes();
        // Staged beside the catalog and moved in whole, so a reload never sees half a tool.
        let staging = tempfile::tempdir_in(t.tools.path().parent().unwrap()).unwrap();
        let dir = staging.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("tool.wasm"), &bytes).unwrap();
        std::fs::write(
            dir.join("tool.toml"),
            format!("name = \"{name}\"\nversion = \"0\"\ndescription = \"{case}\"\ncomponent = \"tool.wasm\"\n"),
        )
        .unwrap();
        std::fs::rename(&dir, t.tools.path().join(name)).unwrap();
        let outcome = (|| {
            let deadline = Instant::now() + Duration::from_secs(15);
            let counted =
                |e: &BTreeMap<String, u64>| e.get("malformed_component").copied().unwrap_or(0);
            while counted(&t.escapes()) <= counted(&before) {
                if Instant::now() > deadline {
                    return Err("the malformed_component counter did not move".to_owned());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let record = loop {
                let (status, page) = http(
                    &t.server.addr,
                    "GET",
                    &format!("/v1/audit?tenant=*&tool={name}"),
                    None,
                    Some(&t.operator),
                );
                assert_eq!(status, 200, "{page}");
                if let Some(r) = page["records"].as_array().and_then(|r| r.last()) {
                    break r.clone();
                }
                if Instant::now() > deadline {
                    return Err(format!("no audit record for tool {name}"));
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            if record["outcome"] != json!(code)
                || record["violations"][0]["kind"] != json!("malformed_component")
            {
                return Err(format!("audit record says {record}"));
            }
            let (status, v) = t.call(name, "run", json!({}));
            if status != 404 {
                return Err(format!("the refused tool answered {status} {v}"));
            }
            t.still_serves()
        })();
        t.finish(case, outcome);
    }
    t.done(9);
}
