//! Environment and host information: what a guest can learn about the host it runs on.
//! Nothing is refused here because nothing is there to take: the guest's environment,
//! preopens and stdin are built from its grants alone. Each case asks, and asserts the
//! answer holds nothing of the host's.

use super::*;

#[test]
fn a_guest_sees_nothing_of_the_hosts_environment() {
    let t = Target::start(
        "environment",
        catalog(&[(
            "hostile",
            Some("hostile.wasm"),
            "[capabilities]\nworkspace = \"rw\"\nscratch = true\nenv = [\"HOME\", \"PATH\"]\n",
        )]),
        "",
    );
    let data_dir = t.env.data.path().display().to_string();
    // The server's own environment holds these (CORDON_DATA_DIR, CORDON_TOOLS_DIR, HOME,
    // PATH); even names the manifest lists get no value over HTTP, where nothing is offered.
    for name in [
        "HOME",
        "PATH",
        "CORDON_DATA_DIR",
        "CORDON_TOOLS_DIR",
        "USER",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        t.contained(
            &format!("read the host's {name}"),
            |t| t.call("hostile", "read-env", json!({ "name": name })),
            |a| (a.1["value"] != Value::Null).then(|| value_text(a)),
        );
    }
    t.contained(
        "list the whole environment",
        |t| t.call("hostile", "env-all", json!({})),
        |a| {
            let text = value_text(a);
            (a.0 != 200 || a.1["value"] != json!([]) || text.contains(&data_dir)).then_some(text)
        },
    );
    t.contained(
        "list the preopened directories",
        |t| t.call("hostile", "preopens", json!({"session": "env"})),
        |a| {
            let mut seen: Vec<&str> = a.1["value"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            seen.sort_unstable();
            (seen != ["/tmp", "/workspace"]).then(|| value_text(a))
        },
    );
    t.contained(
        "read stdin",
        |t| t.call("hostile", "read-stdin", json!({})),
        |a| (a.1["value"] != json!("")).then(|| value_text(a)),
    );
    t.done(9);
}
