//! `saker record`: record the real sensor's raw ring-buffer records to a
//! file in Saker's recording format (`saker_abi::recording`), for
//! `saker bench pipeline --recording` to replay. Every kind is enabled, as
//! for an agent with detection on; the recorder's own process is excluded
//! in the kernel, as the agent's always is. Stops at `--duration`,
//! `--max-records` or Ctrl-C, whichever comes first.

use anyhow::{Context, Result, bail};
use saker_agent::record::{RecordOptions, record};
use saker_sensor::SensorConfig;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Where to write the recording; gzip-compressed when the name ends in `.gz`.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub duration: u64,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    pub max_records: Option<u64>,
}

pub fn run(args: RecordArgs) -> Result<()> {
    if args.duration == 0 {
        bail!("--duration must be at least 1 second");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing signal handlers")?;
    }
    let opts = RecordOptions {
        duration: Duration::from_secs(args.duration),
        max_records: args.max_records.unwrap_or(u64::MAX),
        gzip: args.out.extension().is_some_and(|e| e == "gz"),
    };
    let out = args.out.display().to_string();
    let stats = record(&SensorConfig::default(), &args.out, &opts, &stop, &mut || {
        eprintln!("recording to {out} (Ctrl-C to stop)");
    })
    .with_context(|| format!("recording to {out}"))?;
    eprintln!(
        "{} records ({} bytes of records) in {:.1} s; {} undecodable, {} lost in the kernel",
        stats.records,
        stats.bytes,
        stats.elapsed.as_secs_f64(),
        stats.undecodable,
        stats.kernel_lost
    );
    for (kind, n) in &stats.by_kind {
        eprintln!("  kind {kind:>2}: {n}");
    }
    Ok(())
}
