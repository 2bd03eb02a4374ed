//! `saker bench pressure` and `saker bench churn` (docs/performance.md,
//! "Pressure" and "Churn soak"): the agent under the highest event rate the
//! machine can make, with every event accounted for; and its memory across
//! thousands of short-lived processes and runc containers. The engines are
//! `saker_bench::pressure` and `saker_bench::churn`.

use anyhow::{Context, Result, bail};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct PressureArgs {
    /// How long the load runs (default 60; 5 with --quick).
    #[arg(long, value_name = "N")]
    pub seconds: Option<u64>,
    /// Five seconds: a smoke run.
    #[arg(long)]
    pub quick: bool,
    /// Run the agent without its resource budget (by default it has one and
    /// sheds file events when over it).
    #[arg(long)]
    pub no_budget: bool,
    /// Print the result as JSON instead of markdown.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ChurnArgs {
    /// 500 processes and 20 containers instead of 10,000 and 1,000.
    #[arg(long)]
    pub quick: bool,
    /// Short-lived processes (overrides the size).
    #[arg(long, value_name = "N")]
    pub processes: Option<u64>,
    /// Short-lived runc containers (overrides the size).
    #[arg(long, value_name = "N")]
    pub containers: Option<u64>,
    /// Print the result as JSON instead of markdown.
    #[arg(long)]
    pub json: bool,
}

pub fn run_pressure(args: PressureArgs) -> Result<()> {
    crate::bench_cmd::require_root();
    let seconds = args.seconds.unwrap_or(if args.quick { 5 } else { 60 });
    if seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    let opts = saker_bench::pressure::PressureOptions {
        exe: std::env::current_exe().context("finding the saker binary to re-execute")?,
        duration: Duration::from_secs(seconds),
        budget: !args.no_budget,
        interrupted: crate::bench_cmd::interrupt_flag()?,
    };
    let report = saker_bench::pressure::run(&opts)?;
    match args.json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => print!("{}", report.markdown()),
    }
    Ok(())
}

pub fn run_churn(args: ChurnArgs) -> Result<()> {
    crate::bench_cmd::require_root();
    let exe = std::env::current_exe().context("finding the saker binary to re-execute")?;
    let mut opts = saker_bench::churn::ChurnOptions::sized(exe, args.quick, crate::bench_cmd::interrupt_flag()?);
    opts.processes = args.processes.unwrap_or(opts.processes);
    opts.containers = args.containers.unwrap_or(opts.containers);
    let report = saker_bench::churn::run(&opts)?;
    match args.json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => print!("{}", report.markdown()),
    }
    Ok(())
}
