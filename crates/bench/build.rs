//! Compiles bpf/bench_floor.bpf.c (the bench's count-only floor probe) into
//! a BPF object the bench embeds, the same way crates/sensor/build.rs does.
#![allow(clippy::expect_used)] // a build script may fail loudly

use libbpf_cargo::SkeletonBuilder;
use std::env;
use std::path::PathBuf;

fn main() {
    // Read at run time, not with env!: a build-script binary cargo reuses
    // for a checkout elsewhere must not compile the other checkout's sources.
    let bpf_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../bpf");
    let src = bpf_dir.join("bench_floor.bpf.c");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("bench_floor.bpf.o");
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "arm64",
        _ => "x86",
    };
    let result = SkeletonBuilder::new()
        .source(&src)
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
        panic!("compiling the bench's floor probe failed (needs clang; see README): {e:#}");
    }
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed={}", bpf_dir.join("vmlinux.h").display());
}
