//! Resource exhaustion and time: a guest that spins, allocates, recurses, floods, hoards
//! descriptors, sleeps past its deadline or loops in host calls. Each is stopped with its
//! limit's code, counted under the limit's kind, and the server goes on.

use super::*;

/// Tight limits, as a tenant's policy would set them for untrusted code.
const TIGHT: &str = "[capabilities]\nworkspace = \"rw\"\nscratch = true\n[limits]\nfuel = 20_000_000\ntimeout = \"2s\"\nmemory = \"16MiB\"\noutput = \"64KiB\"\n";
/// As much fuel as policy gives (2e9, some 200 ms of spinning here) and a deadline well
/// before it runs out, so that the deadline is what stops a guest.
const SLOW: &str = "[capabilities]\nworkspace = \"rw\"\nscratch = true\n[limits]\ntimeout = \"60ms\"\nmemory = \"64MiB\"\n";

/// A component whose one function grows its table until the host says no (no source
/// language of the fixtures emits `table.grow`, so it is written as text here).
const TABLE_BOMB: &str = r#"(component
  (core module $m
    (table $t 1 funcref)
    (func (export "grow") (result i32)
      (loop $again
        (br_if $again
          (i32.ne (table.grow $t (ref.null func) (i32.const 4096)) (i32.const -1))))
      (i32.const -1)))
  (core instance $i (instantiate $m))
  (func (export "grow-table") (result s32) (canon lift (core func $i "grow"))))"#;

#[test]
fn resource_exhaustion_is_stopped_counted_and_audited() {
    let tools = catalog(&[
        ("hostile", Some("hostile.wasm"), TIGHT),
        ("hostile-slow", Some("hostile.wasm"), SLOW),
    ]);
    let bomb = tools.path().join("table-bomb");
    std::fs::create_dir(&bomb).unwrap();
    std::fs::write(
        bomb.join("table-bomb.wasm"),
        wat::parse_str(TABLE_BOMB).unwrap(),
    )
    .unwrap();
    std::fs::write(
        bomb.join("tool.toml"),
        "name = \"table-bomb\"\nversion = \"0\"\ndescription = \"grows its table (test)\"\n\
         component = \"table-bomb.wasm\"\n[limits]\ntable_elements = 50_000\n",
    )
    .unwrap();
    let t = Target::start("resources", tools, "");
    let cases: &[(&str, &str, &str, Value, Refusal)] = &[
        (
            "a busy loop runs out of fuel",
            "hostile",
            "spin",
            json!({}),
            refused("fuel_exhausted", "fuel"),
        ),
        (
            "a busy loop runs past its deadline",
            "hostile-slow",
            "spin",
            json!({}),
            refused("deadline_exceeded", "deadline"),
        ),
        (
            "a loop of host calls runs out of fuel",
            "hostile",
            "clock-loop",
            json!({}),
            refused("fuel_exhausted", "fuel"),
        ),
        (
            "a loop of host calls runs past its deadline",
            "hostile-slow",
            "clock-loop",
            json!({}),
            refused("deadline_exceeded", "deadline"),
        ),
        (
            "a sleep past the deadline",
            "hostile-slow",
            "sleep",
            json!({"millis": 60_000}),
            refused("deadline_exceeded", "deadline"),
        ),
        (
            "memory grows without bound",
            "hostile",
            "grow-memory",
            json!({}),
            refused("memory_limit", "memory"),
        ),
        (
            "a return value larger than memory",
            "hostile",
            "big-value",
            json!({"bytes": 64u64 << 20}),
            refused("memory_limit", "memory"),
        ),
        (
            "recursion without bound",
            "hostile",
            "recurse",
            json!({"depth": u64::MAX}),
            refused("stack_overflow", "stack"),
        ),
        (
            "a table grows without bound",
            "table-bomb",
            "grow-table",
            json!({}),
            refused("memory_limit", "memory"),
        ),
        (
            "stdout flooded",
            "hostile",
            "spew",
            json!({}),
            refused("output_limit", "output"),
        ),
        (
            "a return value over the output cap",
            "hostile",
            "big-value",
            json!({"bytes": 1u64 << 20}),
            refused("output_limit", "output"),
        ),
        (
            "descriptors hoarded",
            "hostile",
            "open-many",
            json!({"path": "notes.txt", "count": 1_000_000, "session": "res"}),
            refused("descriptor_limit", "descriptors"),
        ),
        (
            "the scratch disk filled",
            "hostile-slow",
            "fill-disk",
            json!({"path": "/tmp/fill", "total": 1u64 << 40}),
            refused("deadline_exceeded", "deadline"),
        ),
    ];
    // Something for open-many to open.
    let (status, v) = t.call(
        "hostile",
        "create-raw",
        json!({"path": "notes.txt", "session": "res"}),
    );
    assert_eq!(status, 200, "{v}");
    for (case, tool, function, arguments, expect) in cases {
        t.refused(case, *expect, |t| t.call(tool, function, arguments.clone()));
    }
    // A table is memory to the host: the code is memory_limit, the message says which.
    let (_, v) = t.call("table-bomb", "grow-table", json!({}));
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("table limit of 50000"), "{v}");
    t.done(13);
}
