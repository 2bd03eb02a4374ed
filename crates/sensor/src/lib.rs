//! The kernel side of the agent: loads Saker's BPF object, configures and
//! attaches its programs, and reads the event ring buffer.
//!
//! Output is decoded [`saker_abi::Record`]s in batches, plus cumulative
//! kernel loss counters. Nothing here knows about processes, containers or
//! JSON: that is the enrich layer's job.

mod config;
mod error;
mod libbpf_log;
mod loader;
mod preflight;

pub use config::{PathInterest, ScopeFilter, SensorConfig, default_path_interest};
pub use error::SensorError;
pub use loader::{KernelLossCount, Sensor, cgroup2_root, check_object};
pub use preflight::preflight;

/// The compiled BPF object (built from bpf/saker.bpf.c by build.rs).
pub const BPF_OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/saker.bpf.o"));
