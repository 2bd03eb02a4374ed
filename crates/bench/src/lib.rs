//! `saker bench`: what the agent costs the workloads it watches, measured.
//!
//! Each workload (`workload.rs`: an open/close loop on a watched file, an
//! exec storm, a loopback connect storm, a generated C project's build)
//! runs as a child process under each configuration (`configs/`: bare, a
//! count-only BPF floor, the Saker agent, auditd), repeated with the
//! configurations alternating (`runner.rs`); `report.rs` gives medians and
//! ratios against bare as markdown or JSON. The agent and the workloads run
//! as re-executions of the `saker` binary (`bench-child`), whose entry points
//! are [`child_agent`] and [`child_workload`]. Nothing here asserts a time:
//! performance is measured, not asserted.

pub mod churn;
pub mod configs;
mod error;
pub mod latency;
pub mod pressure;
mod procfs;
mod project;
pub mod report;
mod runner;
mod stats;
pub mod workload;

pub use configs::Config;
pub use error::BenchError;
pub use report::Report;
pub use workload::Workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The binary whose `bench-child` subcommand runs the agent and the
    /// loop workloads (the running `saker`).
    pub exe: PathBuf,
    /// Small sizes and one repetition: a smoke run well under a minute.
    pub quick: bool,
    pub repetitions: usize,
    pub workloads: Vec<Workload>,
    pub configs: Vec<Config>,
    /// Recorded in the report.
    pub command_line: String,
    /// Set (by a signal handler) to stop after the current run; the
    /// observers are then torn down and the run ends with an error.
    pub interrupted: Arc<AtomicBool>,
}

/// Run the benchmark. Needs root.
pub fn run(opts: &Options) -> Result<Report, BenchError> {
    runner::run(opts)
}

/// `saker bench-child agent`: the agent under test (see `configs::agent`).
pub fn child_agent() -> Result<(), BenchError> {
    configs::agent::run_child(configs::agent::ChildOptions::default())
}

/// `saker bench-child agent --no-budget`: the agent under test, without its resource budget.
pub fn child_agent_with(opts: configs::agent::ChildOptions) -> Result<(), BenchError> {
    configs::agent::run_child(opts)
}

/// `saker bench-child workload NAME`: one loop workload.
pub fn child_workload(name: &str, iterations: u64, path: &std::path::Path) -> Result<(), BenchError> {
    workload::run_child(Workload::parse(name)?, iterations, path)
}
