//! The network boundary: a guest granted exactly one origin (`http://127.0.0.1:PORT`, a
//! listener of this test) asking wasi:http for every other place, by name, address, port,
//! scheme and URL trickery. Nothing but the granted origin may ever be reached.

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A loopback HTTP server answering `200 hi`, counting the connections it accepted.
fn listener() -> (u16, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
        }
    });
    (port, hits)
}

#[test]
fn network_egress_beyond_the_grant_is_refused_counted_and_audited() {
    let (port, hits) = listener();
    let (other_port, other_hits) = listener();
    let t = Target::start(
        "network",
        catalog(&[(
            "net",
            Some("net.wasm"),
            &format!(
                "[capabilities]\nhosts = [\"http://127.0.0.1:{port}\"]\n[limits]\ntimeout = \"5s\"\n"
            ),
        )]),
        "",
    );
    let fetch = |url: String| move |t: &Target| t.call("net", "fetch", json!({ "url": url }));

    // The grant is live: the one granted origin answers.
    let (status, v) = fetch(format!("http://127.0.0.1:{port}/"))(&t);
    assert_eq!((status, &v["value"]), (200, &json!("200 hi")), "{v}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    let egress = refused("network_denied", "network_egress");
    let cases = [
        ("a host never granted", "http://example.com/".to_owned()),
        (
            "the cloud metadata service",
            "http://169.254.169.254/latest/meta-data/iam/".to_owned(),
        ),
        (
            "the granted host on another port",
            format!("http://127.0.0.1:{other_port}/"),
        ),
        (
            "the granted origin over another scheme",
            format!("https://127.0.0.1:{port}/"),
        ),
        (
            "the same machine by name",
            format!("http://localhost:{port}/"),
        ),
        (
            "the same machine over IPv6",
            format!("http://[::1]:{port}/"),
        ),
        (
            "the granted address written as one number",
            format!("http://2130706433:{port}/"),
        ),
        (
            "the granted address shortened",
            format!("http://127.1:{port}/"),
        ),
        ("the unspecified address", format!("http://0.0.0.0:{port}/")),
        (
            "the granted origin as userinfo before another host",
            format!("http://127.0.0.1:{port}@evil.example/"),
        ),
        (
            "a name that resolves to loopback",
            format!("http://127.0.0.1.nip.io:{port}/"),
        ),
        (
            "the granted address as IPv4-mapped IPv6",
            format!("http://[::ffff:127.0.0.1]:{port}/"),
        ),
        (
            "the Redis port on loopback",
            "http://127.0.0.1:6379/".to_owned(),
        ),
        (
            "the server itself",
            format!("http://{}/v1/tools", t.server.addr),
        ),
    ];
    for (case, url) in cases {
        t.refused(case, egress, fetch(url));
    }
    assert_eq!(
        (
            hits.load(Ordering::SeqCst),
            other_hits.load(Ordering::SeqCst)
        ),
        (1, 0),
        "a refused request reached a listener"
    );

    t.done(14);
}
