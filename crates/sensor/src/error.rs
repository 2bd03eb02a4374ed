//! The sensor's error enum: every failure names what failed and keeps the
//! kernel's own words (the verifier log) where there are any.

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SensorError {
    #[error(
        "the sensor needs root (CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN); this process runs as uid {uid}. Run it with sudo."
    )]
    NotPrivileged { uid: u32 },
    #[error("kernel BTF not found at {path}: Saker's CO-RE programs need a kernel built with CONFIG_DEBUG_INFO_BTF=y")]
    NoBtf { path: PathBuf },
    #[error("opening the embedded BPF object failed: {source}")]
    Open { source: libbpf_rs::Error },
    #[error("the kernel refused to load the BPF programs: {source}\n--- libbpf and verifier log ---\n{log}")]
    Load { source: libbpf_rs::Error, log: String },
    #[error("BPF map {name} is missing from the object (build and ABI out of step?)")]
    MissingMap { name: &'static str },
    #[error("BPF map {map}: {source}")]
    Map { map: &'static str, source: libbpf_rs::Error },
    #[error("attaching BPF program {program}: {source}")]
    Attach { program: String, source: libbpf_rs::Error },
    #[error("no cgroup2 mount found in /proc/self/mountinfo: DNS capture needs cgroup v2")]
    NoCgroup2,
    #[error("opening {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("ring buffer: {source}")]
    RingBuffer { source: libbpf_rs::Error },
    #[error("invalid sensor configuration: {0}")]
    Config(String),
}
