//! Compiles bpf/saker.bpf.c (CO-RE, against the committed bpf/vmlinux.h) into
//! one BPF object that the sensor embeds.
#![allow(clippy::expect_used)] // a build script may fail loudly

mod compile_bpf;

fn main() {
    compile_bpf::compile("saker.bpf.c", "saker.bpf.o", "the BPF programs");
    println!("cargo:rerun-if-changed={}", compile_bpf::bpf_dir().display());
}
