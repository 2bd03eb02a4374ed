//! `saker bench pressure`: the highest event rate this machine can make,
//! against the real agent in its default configuration, and where every
//! event went.
//!
//! The load (`lanes.rs`): an open/close loop on a watched file per CPU, an
//! exec loop and a loopback connect loop — `saker bench`'s workload children,
//! run in chunks until the deadline. The agent is `saker bench`'s `saker`
//! configuration (`configs::agent`: `saker bench-child agent`, a counting
//! sink), with its resource budget (the default) or without (`--no-budget`).
//!
//! Accounting, per kind whose count the load fixes exactly: generated (from
//! the lanes' iteration counts), received (events of the bench's process
//! tree), lost in the ring and shed by the budget (`agent.loss` totals).
//! `received + ring + shed = generated` when every missing event has a
//! counted reason; ring and shed counts are host-wide, so other processes'
//! records of the same kind can only make the right side larger.

mod lanes;
mod report;

pub use lanes::LaneResult;

use crate::BenchError;
use crate::configs::agent::{AgentChild, ChildOptions, ChildReport};
use crate::workload::Workload;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct PressureOptions {
    /// The binary with the `bench-child` subcommand (the running `saker`).
    pub exe: PathBuf,
    /// How long the load runs.
    pub duration: Duration,
    /// The agent's default resource budget; `false`: without one.
    pub budget: bool,
    /// Set by a signal handler: stop the load early (the run still reports).
    pub interrupted: Arc<AtomicBool>,
}

/// One kind's accounting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KindAccount {
    pub kind: String,
    /// Events the load caused, from its own iteration counts.
    pub generated: u64,
    /// Events of the bench's process tree the agent delivered.
    pub received: u64,
    /// Records of this kind the ring had no room for (host-wide).
    pub ring_lost: u64,
    /// Records of this kind shed by the budget (host-wide).
    pub shed: u64,
    /// generated − received − ring_lost − shed: 0 when every event is
    /// accounted for; positive, missing without a counted reason; negative,
    /// other processes' records of the kind were lost or shed too.
    pub unexplained: i64,
}

/// The result of a pressure run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PressureReport {
    pub date: String,
    pub kernel: String,
    pub cpus: usize,
    pub budget: bool,
    pub debug_build: bool,
    pub seconds_requested: f64,
    /// From the first chunk's start to the last one's end.
    pub wall_s: f64,
    /// From the end of the load until no event of it had arrived for
    /// 200 ms (included): the agent caught up.
    pub catch_up_s: f64,
    /// Then stopping the agent (its last drain, threads joined).
    pub stop_s: f64,
    pub lanes: Vec<LaneResult>,
    pub kinds: Vec<KindAccount>,
    /// Sums over `kinds`.
    pub generated: u64,
    pub received: u64,
    /// Every event of the bench's tree, any kind (library loads included).
    pub workload_events: u64,
    /// The same per kind.
    pub workload_kinds: BTreeMap<String, u64>,
    /// Every event the agent delivered, host-wide.
    pub agent_events: u64,
    /// `agent.loss` totals, host-wide: ring full per kind, user space per
    /// stage and reason, shed per kind.
    pub ring_lost: BTreeMap<String, u64>,
    pub user_lost: BTreeMap<String, u64>,
    pub shed: BTreeMap<String, u64>,
    /// Ring + user-space loss (what the zero-loss requirement counts).
    pub lost_total: u64,
    pub shed_total: u64,
    pub max_shed_level: Option<usize>,
    /// The agent's CPU time (from start of load until it had handled
    /// everything) over the load's wall time, percent of one CPU.
    pub agent_cpu_percent: f64,
    /// VmHWM from the start of the load.
    pub agent_peak_rss_kib: u64,
}

/// Run the load against the agent. Needs root.
pub fn run(opts: &PressureOptions) -> Result<PressureReport, BenchError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(BenchError::NotRoot);
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let lanes = lanes::lanes(cpus);
    tracing::info!(lanes = lanes.len(), seconds = opts.duration.as_secs_f64(), budget = opts.budget, "pressure");
    let agent = AgentChild::start_with(&opts.exe, ChildOptions { budget: opts.budget })?;
    let started = Instant::now();
    let result = lanes::run(&opts.exe, &lanes, started + opts.duration, &opts.interrupted);
    let wall = started.elapsed();
    for lane in lanes.iter().filter(|l| l.workload == Workload::OpenClose) {
        let _ = std::fs::remove_file(&lane.file);
    }
    // On a lane error the agent is dropped, which stops it.
    let results = result?;
    let child = agent.finish_report()?;
    Ok(account(opts, cpus, wall, results, child))
}

/// The events of each kind the load fixes exactly, from what the lanes did.
pub fn expected(lanes: &[LaneResult]) -> BTreeMap<&'static str, u64> {
    let sum = |w: Workload, f: fn(&LaneResult) -> u64| lanes.iter().filter(|l| l.workload == w).map(f).sum::<u64>();
    let chunks: u64 = lanes.iter().map(|l| l.chunks).sum();
    let execs = sum(Workload::ExecStorm, |l| l.iterations);
    let connects = sum(Workload::ConnectStorm, |l| l.iterations);
    BTreeMap::from([
        // One write-open of a watched file per iteration.
        ("file.write", sum(Workload::OpenClose, |l| l.iterations)),
        // Each chunk is one exec of `saker`, each exec-loop iteration one of /bin/true.
        ("process.exec", execs + chunks),
        // Every iteration a connect and its accept; every chunk one listener.
        ("net.connect", connects),
        ("net.accept", connects),
        ("net.listen", sum(Workload::ConnectStorm, |l| l.chunks)),
    ])
}

fn account(
    opts: &PressureOptions,
    cpus: usize,
    wall: Duration,
    lanes: Vec<LaneResult>,
    child: ChildReport,
) -> PressureReport {
    let get = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    let kinds: Vec<KindAccount> = expected(&lanes)
        .into_iter()
        .map(|(kind, generated)| {
            let received = get(&child.workload_kinds, kind);
            let (ring_lost, shed) = (get(&child.ring_lost, kind), get(&child.shed_kinds, kind));
            let unexplained = generated as i64 - received as i64 - ring_lost as i64 - shed as i64;
            KindAccount { kind: kind.to_owned(), generated, received, ring_lost, shed, unexplained }
        })
        .collect();
    let ring: u64 = child.ring_lost.values().sum();
    let user: u64 = child.user_lost.values().sum();
    PressureReport {
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_default(),
        cpus,
        budget: opts.budget,
        debug_build: cfg!(debug_assertions),
        seconds_requested: opts.duration.as_secs_f64(),
        wall_s: wall.as_secs_f64(),
        catch_up_s: child.quiet_ms as f64 / 1e3,
        stop_s: child.stop_ms as f64 / 1e3,
        generated: kinds.iter().map(|k| k.generated).sum(),
        received: kinds.iter().map(|k| k.received).sum(),
        kinds,
        lanes,
        workload_events: child.workload_events,
        workload_kinds: child.workload_kinds,
        agent_events: child.events,
        lost_total: ring + user,
        shed_total: child.shed_kinds.values().sum(),
        ring_lost: child.ring_lost,
        user_lost: child.user_lost,
        shed: child.shed_kinds,
        max_shed_level: child.max_shed_level,
        agent_cpu_percent: 100.0 * child.cpu_micros as f64 / 1e6 / wall.as_secs_f64().max(1e-9),
        agent_peak_rss_kib: child.peak_rss_kib,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_counts_follow_the_lanes() {
        let lane = |workload, chunks, iterations| LaneResult { workload, chunks, iterations };
        let e = expected(&[
            lane(Workload::OpenClose, 3, 60_000),
            lane(Workload::OpenClose, 2, 40_000),
            lane(Workload::ExecStorm, 4, 800),
            lane(Workload::ConnectStorm, 5, 10_000),
        ]);
        assert_eq!(e["file.write"], 100_000);
        assert_eq!(e["process.exec"], 800 + 14);
        assert_eq!(e["net.connect"], 10_000);
        assert_eq!(e["net.accept"], 10_000);
        assert_eq!(e["net.listen"], 5);
    }
}
