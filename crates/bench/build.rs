//! Compiles bpf/bench_floor.bpf.c (the bench's count-only floor probe) into
//! a BPF object the bench embeds, with the sensor's build code.
#![allow(clippy::expect_used)] // a build script may fail loudly

#[path = "../sensor/compile_bpf.rs"]
mod compile_bpf;

fn main() {
    compile_bpf::compile("bench_floor.bpf.c", "bench_floor.bpf.o", "the bench's floor probe");
    let bpf_dir = compile_bpf::bpf_dir();
    println!("cargo:rerun-if-changed={}", bpf_dir.join("bench_floor.bpf.c").display());
    println!("cargo:rerun-if-changed={}", bpf_dir.join("vmlinux.h").display());
}
