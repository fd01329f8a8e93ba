//! Native tiers against their bare programs (`make bench-native`): `/bin/true` and
//! `python3 -c 'print(1)'` as a bare process, under a bare `bwrap` with the same namespaces,
//! and through Cordon's process tier (resolved program, cgroup created and removed, seccomp
//! filter, supervision); the wasm path (the trivial component, warm) in the same run. The
//! targets: the process tier within 2× of bare bwrap, the container tier within 1.3× of
//! bare crun (and runsc beside it); the microVM tier booting a VM per call (cold: the bare
//! cost of a QEMU microvm boot is most of it) and taking one from its pool, the target being
//! a pooled call under 100 ms even with an emulated CPU. Needs root, bubblewrap, crun, runsc,
//! QEMU, `make rootfs` and `make vm-image`; a tier that cannot run prints `SKIPPED`.

// The bare-runtime baseline needs the same raw calls between fork and exec as the tier.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, unsafe_code)]

use cordon_benches::fixture;
use cordon_core::Backend;
use cordon_core::{Grants, Limits};
use cordon_native::{MicrovmTier, NativeCall, ProcessTier, Sandbox, TierSettings, resolve};
use cordon_wasm::{EngineConfig, Executor};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
        let tier = match rt.block_on(Sandbox::probe(backend, &TierSettings::beside(rootfs()))) {
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

/// A microVM per call: booted for it (pool of 0), and taken from a full pool (the time to
/// refill it is not the call's, so each measured call waits for a full pool first).
fn microvms(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let cases: [(&str, &[&str]); 2] = [
        ("true", &["/usr/bin/true"]),
        ("python", &["/usr/bin/python3", "-c", "print(1)"]),
    ];
    for (pool, label) in [(0, "cold"), (2, "pool")] {
        let settings = TierSettings {
            microvm_pool: pool,
            ..TierSettings::beside(rootfs())
        };
        let tier = match rt.block_on(MicrovmTier::probe(&settings)) {
            Ok(t) => t,
            Err(why) => {
                println!("SKIPPED: the microvm tier cannot run here: {why}");
                return;
            }
        };
        println!("microvm: {}", tier.describe());
        for (name, argv) in cases {
            let call = NativeCall::new(
                argv[0].into(),
                argv[1..].iter().map(|s| (*s).to_owned()).collect(),
            );
            if pool == 0 {
                // The probe leaves one booted VM behind; a cold measurement must not get it.
                while tier.ready() > 0 {
                    rt.block_on(tier.run(&call)).unwrap();
                }
            }
            // One call per sample: a boot takes seconds, and a pooled call is measured only
            // once the pool is full again, so criterion must not multiply iterations.
            let mut g = c.benchmark_group(format!("microvm/{name}"));
            g.sample_size(10)
                .sampling_mode(criterion::SamplingMode::Flat)
                .warm_up_time(Duration::from_millis(1))
                .measurement_time(Duration::from_millis(if pool == 0 { 10_000 } else { 500 }));
            g.bench_function(format!("microvm-{label}-{}", tier.accel().name()), |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        while tier.ready() < pool {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        let started = Instant::now();
                        let out = rt.block_on(tier.run(&call)).unwrap();
                        spent += started.elapsed();
                        assert_eq!(
                            out.code,
                            Some(0),
                            "{}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                    spent
                });
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
    microvms(c, &rt);
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
