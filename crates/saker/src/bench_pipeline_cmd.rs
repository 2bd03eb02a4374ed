//! `saker bench pipeline` (docs/performance.md, "Pipeline throughput"): the user-space pipeline's
//! throughput. Replays a recorded stream of raw ring-buffer records (by
//! default the one committed at `crates/bench/assets/mixed.sakerrec.gz`)
//! through decode → enrich → detect and reports events per second per core
//! against the ≥ 1 M events/s target. The engine is `saker_agent::replay`.

use anyhow::{Context, Result, bail};
use saker_agent::DetectionConfig;
use saker_agent::replay::ReplayStats;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The committed recording, where the source tree has it: it is not compiled
/// into the binary, so an installed `saker` needs `--recording`.
pub const DEFAULT_RECORDING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/assets/mixed.sakerrec.gz");

/// Issue 6's target: events per second on one core.
pub const TARGET_PER_CORE: f64 = 1_000_000.0;

#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    /// The recording to replay (made by `saker record`; default: the one in the source tree).
    #[arg(long, value_name = "PATH")]
    pub recording: Option<PathBuf>,
    /// Times the whole recording is replayed (default 20; 3 with --quick).
    #[arg(long, value_name = "N")]
    pub loops: Option<u32>,
    /// Three loops: a smoke run.
    #[arg(long)]
    pub quick: bool,
    /// Print the result as JSON instead of a markdown table.
    #[arg(long)]
    pub json: bool,
    /// Stop after enrichment: measure decode → enrich only.
    #[arg(long)]
    pub no_detect: bool,
}

pub fn run(args: PipelineArgs) -> Result<()> {
    let path = match &args.recording {
        Some(p) => p.clone(),
        None => {
            let p = PathBuf::from(DEFAULT_RECORDING);
            if !p.exists() {
                bail!(
                    "the bundled recording is not at {} (it lives in the source tree, not in the binary): \
                     pass --recording PATH, or make one with `saker record --out PATH`",
                    p.display()
                );
            }
            p
        }
    };
    let loops = args.loops.unwrap_or(if args.quick { 3 } else { 20 });
    if loops == 0 {
        bail!("--loops must be at least 1");
    }
    let detection = (!args.no_detect).then(DetectionConfig::default);
    let stats = saker_agent::replay::replay(&path, loops, detection)
        .with_context(|| format!("replaying {}", path.display()))?;
    if args.json {
        let report = serde_json::json!({
            "recording": path,
            "stats": stats,
            "eventsPerCpuSecond": stats.events_per_cpu_second(),
            "eventsPerWallSecond": stats.events_per_wall_second(),
            "steadyEventsPerCpuSecond": stats.steady_events_per_cpu_second(),
            "targetPerCore": TARGET_PER_CORE,
            "targetMet": stats.events_per_cpu_second() >= TARGET_PER_CORE,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", markdown(&stats, &path.display().to_string()));
    }
    Ok(())
}

/// The report as a markdown table.
pub fn markdown(s: &ReplayStats, recording: &str) -> String {
    let pct = |x: f64| if s.cpu_seconds > 0.0 { 100.0 * x / s.cpu_seconds } else { 0.0 };
    let rate = s.events_per_cpu_second();
    let verdict = if rate >= TARGET_PER_CORE {
        format!("met ({:.2}× the target)", rate / TARGET_PER_CORE)
    } else {
        format!(
            "missed by {:.0} events/s ({:.0}% of the target)",
            TARGET_PER_CORE - rate,
            100.0 * rate / TARGET_PER_CORE
        )
    };
    let mut out = String::new();
    let _ = writeln!(out, "Pipeline throughput: decode → enrich{}\n", if s.detection { " → detect" } else { "" });
    let _ = writeln!(out, "| measure | value |\n|---|---|");
    let _ = writeln!(out, "| recording | `{recording}` |");
    let _ = writeln!(out, "| records | {} |", s.records);
    let _ = writeln!(out, "| loops | {} |", s.loops);
    let _ = writeln!(out, "| events in / out | {} / {} |", s.events_in, s.events_out);
    let _ = writeln!(out, "| decode errors | {} |", s.decode_errors);
    let _ = writeln!(out, "| **events/s per core (CPU)** | **{rate:.0}** |");
    if let Some(steady) = s.steady_events_per_cpu_second() {
        let _ = writeln!(out, "| events/s per core after the first loop | {steady:.0} |");
    }
    let _ = writeln!(out, "| events/s wall | {:.0} |", s.events_per_wall_second());
    let _ = writeln!(out, "| CPU / wall time | {:.3} s / {:.3} s |", s.cpu_seconds, s.wall_seconds);
    let _ = writeln!(out, "| findings | {} |", s.findings);
    let _ = writeln!(
        out,
        "| CPU split | decode {:.1}%, enrich {:.1}%, detect {:.1}%, freeing events {:.1}% |",
        pct(s.decode_cpu_seconds),
        pct(s.enrich_cpu_seconds),
        pct(s.detect_cpu_seconds),
        pct(s.drop_cpu_seconds),
    );
    let _ = writeln!(out, "| target ≥ {:.0} M events/s per core | {verdict} |", TARGET_PER_CORE / 1e6);
    if cfg!(debug_assertions) {
        let _ = writeln!(out, "\nThis is a debug build: measure with `cargo build --release`.");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_says_whether_the_target_was_met() {
        let mut s = ReplayStats {
            records: 1000,
            loops: 2,
            events_in: 2000,
            events_out: 2000,
            cpu_seconds: 0.004,
            wall_seconds: 0.004,
            first_loop_cpu_seconds: 0.002,
            detection: true,
            ..ReplayStats::default()
        };
        let t = markdown(&s, "x");
        assert!(t.contains("| **events/s per core (CPU)** | **500000** |"), "{t}");
        assert!(t.contains("missed by 500000 events/s (50% of the target)"), "{t}");
        s.cpu_seconds = 0.001;
        assert!(markdown(&s, "x").contains("met (2.00× the target)"));
    }
}
