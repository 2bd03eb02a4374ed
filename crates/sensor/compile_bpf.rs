//! Compiling one of `bpf/*.bpf.c` (CO-RE, against the committed
//! `bpf/vmlinux.h`) into a BPF object in OUT_DIR. Shared by the build
//! scripts of the crates that embed an object (`saker-sensor`, and
//! `saker-bench` through `#[path]`), so every object is built the same way.

use libbpf_cargo::SkeletonBuilder;
use std::env;
use std::path::PathBuf;

/// The `bpf/` directory of this checkout. Read at run time, not with `env!`:
/// a build-script binary cargo reuses for a checkout elsewhere must not
/// compile the other checkout's sources.
pub fn bpf_dir() -> PathBuf {
    PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../bpf")
}

/// Compile `bpf/<source>` into `OUT_DIR/<object>`; panics (fails the build)
/// with `what` and clang's message when it cannot.
pub fn compile(source: &str, object: &str, what: &str) {
    let bpf_dir = bpf_dir();
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join(object);
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "arm64",
        _ => "x86",
    };
    let result = SkeletonBuilder::new()
        .source(bpf_dir.join(source))
        .obj(&out)
        .clang_args([
            format!("-I{}", bpf_dir.display()),
            format!("-D__TARGET_ARCH_{arch}"),
            "-O2".to_owned(),
            "-g".to_owned(),
            "-Wall".to_owned(),
        ])
        .build();
    if let Err(e) = result {
        panic!("compiling {what} failed (needs clang; see README): {e:#}");
    }
    // This file is not the build script cargo watches by default.
    println!("cargo:rerun-if-changed={}", bpf_dir.join("../crates/sensor/compile_bpf.rs").display());
}
