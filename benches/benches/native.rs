//! Native tiers against their bare programs (`make bench-native`): `/bin/true` and
//! `python3 -c 'print(1)'` as a bare process, under a bare `bwrap` with the same namespaces,
//! and through Cordon's process tier (resolved program, cgroup created and removed, seccomp
//! filter, supervision); the wasm path (the trivial component, warm) in the same run. The
//! target: the process tier within 2× of bare bwrap. Needs root and bubblewrap; prints
//! `SKIPPED` otherwise.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use cordon_benches::fixture;
use cordon_core::{Grants, Limits};
use cordon_native::{NativeCall, ProcessTier, resolve};
use cordon_wasm::{EngineConfig, Executor};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The namespaces and mounts the process tier uses, without Cordon around them.
fn bare_bwrap(argv: &[&str]) -> Command {
    let mut c = Command::new("bwrap");
    c.args([
        "--unshare-all",
        "--unshare-user",
        "--uid",
        "1001",
        "--gid",
        "1001",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--clearenv",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/bin",
        "/bin",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--",
    ])
    .args(argv);
    c
}

fn native(c: &mut Criterion) {
    let rt = runtime();
    let tier = match rt.block_on(ProcessTier::probe()) {
        Ok(t) => t,
        Err(why) => {
            println!("SKIPPED: the process tier cannot run here: {why}");
            return;
        }
    };
    let cases: [(&str, &[&str]); 2] = [
        ("true", &["/usr/bin/true"]),
        ("python", &["python3", "-c", "print(1)"]),
    ];
    for (name, argv) in cases {
        let mut g = c.benchmark_group(format!("native/{name}"));
        g.sample_size(20).measurement_time(Duration::from_secs(5));
        g.bench_function("bare-process", |b| {
            b.iter(|| {
                assert!(
                    Command::new(argv[0])
                        .args(&argv[1..])
                        .output()
                        .unwrap()
                        .status
                        .success()
                )
            });
        });
        g.bench_function("bare-bwrap", |b| {
            b.iter(|| assert!(bare_bwrap(argv).output().unwrap().status.success()));
        });
        let program = resolve(argv[0], Path::new("/")).unwrap().program;
        let call = NativeCall::new(program, argv[1..].iter().map(|s| (*s).to_owned()).collect());
        g.bench_function("process-tier", |b| {
            b.iter(|| assert_eq!(rt.block_on(tier.run(&call)).unwrap().code, Some(0)));
        });
        g.finish();
    }
    // The wasm path, warm, for scale.
    let executor = Executor::new(&EngineConfig::default(), None).unwrap();
    let component = executor.load_file(&fixture("trivial")).unwrap();
    let (grants, limits) = (Grants::default(), Limits::default());
    let args = json!({"a": 2, "b": 40});
    let mut g = c.benchmark_group("native/wasm");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("trivial-add-warm", |b| {
        b.iter(|| {
            rt.block_on(executor.call(&component, Some("add"), &args, &grants, &limits))
                .unwrap()
        });
    });
    g.finish();
}

criterion_group!(benches, native);
criterion_main!(benches);
