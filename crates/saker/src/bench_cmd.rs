//! `saker bench` (docs/performance.md): the agent's overhead measured
//! against bare runs, auditd and a count-only BPF floor; and the hidden
//! `saker bench-child` the bench re-executes for the agent and the workloads.

use anyhow::{Context, Result};
use saker_bench::{Config, Options, Workload};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Small sizes and one repetition: a smoke run in well under a minute.
    #[arg(long)]
    quick: bool,
    /// Print the report as JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
    /// Repetitions of each workload × configuration (default 5; 1 with --quick).
    #[arg(long)]
    repetitions: Option<usize>,
    /// Workloads, comma-separated: open-close, exec-storm, connect-storm, build (default: all).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Configurations, comma-separated: bare, floor, saker, auditd (default: all).
    #[arg(long, value_delimiter = ',')]
    configs: Vec<String>,
    #[command(subcommand)]
    what: Option<BenchWhat>,
}

#[derive(clap::Subcommand)]
enum BenchWhat {
    /// The user-space pipeline's throughput: a recorded stream replayed
    /// through decode → enrich → detect (docs/performance.md).
    Pipeline(crate::bench_pipeline_cmd::PipelineArgs),
    /// Detection latency: syscall → finding visible through a real server's
    /// API, over a real agent's gRPC uplink (docs/performance.md).
    Latency(crate::bench_latency_cmd::LatencyArgs),
    /// The agent under the highest event rate this machine can make: every
    /// event generated, received, lost or shed, accounted for.
    Pressure(crate::bench_soak_cmd::PressureArgs),
    /// The agent's memory across thousands of short-lived processes and runc containers.
    Churn(crate::bench_soak_cmd::ChurnArgs),
}

#[derive(clap::Args)]
pub struct ChildArgs {
    #[command(subcommand)]
    what: Child,
}

#[derive(clap::Subcommand)]
enum Child {
    /// The agent under test: prints `ready`, runs until stdin closes, prints its counts.
    Agent {
        /// Without the resource budget `saker agent` has by default.
        #[arg(long)]
        no_budget: bool,
    },
    /// One loop workload.
    Workload {
        name: String,
        #[arg(long)]
        iterations: u64,
        /// The file the open/close loop opens.
        #[arg(long)]
        path: PathBuf,
    },
}

pub fn run(args: BenchArgs) -> Result<()> {
    match args.what {
        Some(BenchWhat::Pipeline(p)) => return crate::bench_pipeline_cmd::run(p), // user space only: no root needed
        Some(BenchWhat::Latency(l)) => return crate::bench_latency_cmd::run(l),
        Some(BenchWhat::Pressure(p)) => return crate::bench_soak_cmd::run_pressure(p),
        Some(BenchWhat::Churn(c)) => return crate::bench_soak_cmd::run_churn(c),
        None => {}
    }
    require_root();
    let workloads = match args.workloads.is_empty() {
        true => Workload::ALL.to_vec(),
        false => args.workloads.iter().map(|n| Workload::parse(n.trim())).collect::<Result<_, _>>()?,
    };
    let configs = match args.configs.is_empty() {
        true => Config::ALL.to_vec(),
        false => args.configs.iter().map(|n| Config::parse(n.trim())).collect::<Result<_, _>>()?,
    };
    // Ctrl-C or SIGTERM: finish the current run's tear-down (auditd's rules
    // out, the kernel's audit state back), then stop.
    let interrupted = interrupt_flag()?;
    let opts = Options {
        exe: std::env::current_exe().context("finding the saker binary to re-execute")?,
        quick: args.quick,
        repetitions: args.repetitions.unwrap_or(if args.quick { 1 } else { 5 }),
        workloads,
        configs,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        interrupted,
    };
    let report = saker_bench::run(&opts)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.markdown());
    }
    Ok(())
}

pub fn run_child(args: ChildArgs) -> Result<()> {
    match args.what {
        Child::Agent { no_budget } => {
            saker_bench::child_agent_with(saker_bench::configs::agent::ChildOptions { budget: !no_budget })?
        }
        Child::Workload { name, iterations, path } => saker_bench::child_workload(&name, iterations, &path)?,
    }
    Ok(())
}

/// Every `saker bench` run that loads BPF or starts daemons: without root,
/// say so and exit with code 2.
pub(crate) fn require_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("saker: error: {}", saker_bench::BenchError::NotRoot);
        std::process::exit(2);
    }
}

/// Set on Ctrl-C or SIGTERM: the run stops the load and tears down.
pub(crate) fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&flag)).context("installing signal handlers")?;
    }
    Ok(flag)
}
