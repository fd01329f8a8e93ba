//! Builds `cordon-enter` (src/enter.c), the process tier's first program inside the sandbox,
//! as a static executable (the sandbox's root holds only `/usr`) for `include_bytes!`.

// A build script reports failure by panicking, with the reason.
#![allow(clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/enter.c");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = out.join("cordon-enter");
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let status = Command::new(&cc)
        .args(["-static", "-O2", "-Wall", "-Wextra", "-o"])
        .arg(&target)
        .arg("src/enter.c")
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc:?} for src/enter.c: {e}"));
    assert!(
        status.success(),
        "{cc:?} failed to build src/enter.c (needs a C compiler and a static libc: Debian's gcc and libc6-dev)"
    );
}
