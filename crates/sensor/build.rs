//! Compiles bpf/saker.bpf.c (CO-RE, against the committed bpf/vmlinux.h) into
//! one BPF object that the sensor embeds.
#![allow(clippy::expect_used)] // a build script may fail loudly

use libbpf_cargo::SkeletonBuilder;
use std::env;
use std::path::PathBuf;

fn main() {
    // Read at run time, not with env!: a build-script binary cargo reuses
    // for a checkout elsewhere must not compile the other checkout's sources.
    let bpf_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../bpf");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("saker.bpf.o");
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "arm64",
        _ => "x86",
    };
    let result = SkeletonBuilder::new()
        .source(bpf_dir.join("saker.bpf.c"))
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
        panic!("compiling the BPF programs failed (needs clang; see README): {e:#}");
    }
    println!("cargo:rerun-if-changed={}", bpf_dir.display());
}
