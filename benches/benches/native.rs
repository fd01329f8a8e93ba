//! Native tiers against their bare programs (`make bench-native`): `/bin/true` and
//! `python3 -c 'print(1)'` as a bare process, under a bare `bwrap` with the same namespaces,
//! and through Cordon's process tier (resolved program, cgroup created and removed, seccomp
//! filter, supervision); the wasm path (the trivial component, warm) in the same run. The
//! targets: the process tier within 2× of bare bwrap, the container tier within 1.3× of
//! bare crun (and runsc beside it). Needs root, bubblewrap, crun, runsc and `make rootfs`;
//! a tier that cannot run prints `SKIPPED`.

// The bare-runtime baseline needs the same raw calls between fork and exec as the tier.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, unsafe_code)]

use cordon_benches::fixture;
use cordon_core::Backend;
use cordon_core::{Grants, Limits};
use cordon_native::{NativeCall, ProcessTier, Sandbox, resolve};
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

fn rootfs() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/rootfs/debian")
}

/// A bare OCI bundle (`crun spec`'s defaults: namespaces, no user namespace, no seccomp)
/// on the same root filesystem, for the runtime alone.
fn bare_bundle(argv: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("crun")
        .arg("spec")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let path = dir.path().join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["root"] = json!({"path": rootfs(), "readonly": true});
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(argv);
    std::fs::write(&path, spec.to_string()).unwrap();
    dir
}

/// `crun run` (or `runsc run`) of `bundle` as the tier starts it, minus Cordon: managing no
/// cgroup and, on a hybrid-cgroup host, in a private mount namespace without the empty
/// cgroup v2 mount (done between fork and exec, as the tier does, not by a shell).
fn bare_runtime(runtime: &str, bundle: &Path, id: &str) -> Command {
    let mut c = Command::new(runtime);
    c.arg("--root").arg(format!("/tmp/cordon-bench-{runtime}"));
    if runtime == "crun" {
        c.arg("--cgroup-manager=disabled");
    } else {
        c.args(["--platform=ptrace", "--network=none", "--ignore-cgroups"]);
    }
    c.arg("run").arg("--bundle").arg(bundle).arg(id);
    c.stdout(std::process::Stdio::null());
    if Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
        // SAFETY: unshare, mount and umount2 only, between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut c, || {
                let ok = libc::unshare(libc::CLONE_NEWNS) == 0
                    && libc::mount(
                        std::ptr::null(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ) == 0
                    && libc::umount2(c"/sys/fs/cgroup/unified".as_ptr(), libc::MNT_DETACH) == 0;
                if ok {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    c
}

fn containers(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    for (backend, runtime) in [(Backend::Container, "crun"), (Backend::Gvisor, "runsc")] {
        let tier = match rt.block_on(Sandbox::probe(backend, &rootfs())) {
            Ok(t) => t,
            Err(why) => {
                println!("SKIPPED: the {backend} tier cannot run here: {why}");
                continue;
            }
        };
        let cases: [(&str, &[&str]); 2] = [
            ("true", &["/usr/bin/true"]),
            ("python", &["/usr/bin/python3", "-c", "print(1)"]),
        ];
        for (name, argv) in cases {
            let mut g = c.benchmark_group(format!("{backend}/{name}"));
            g.sample_size(10).measurement_time(Duration::from_secs(8));
            let bundle = bare_bundle(argv);
            let mut n = 0u64;
            g.bench_function(format!("bare-{runtime}"), |b| {
                b.iter(|| {
                    n += 1;
                    let id = format!("bench-{}-{n}", std::process::id());
                    assert!(
                        bare_runtime(runtime, bundle.path(), &id)
                            .status()
                            .unwrap()
                            .success()
                    );
                });
            });
            let program = resolve(argv[0], tier.root()).unwrap().program;
            let call =
                NativeCall::new(program, argv[1..].iter().map(|s| (*s).to_owned()).collect());
            g.bench_function(format!("{backend}-tier"), |b| {
                b.iter(|| assert_eq!(rt.block_on(tier.run(&call)).unwrap().code, Some(0)));
            });
            g.finish();
        }
    }
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
    containers(c, &rt);
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
