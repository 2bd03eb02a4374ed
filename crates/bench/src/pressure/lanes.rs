//! The load: one lane per loop, each a thread of the bench that runs its
//! workload (`saker bench-child workload ...`, the same code as `saker bench`)
//! in fixed-size chunks until the deadline. A chunk's iterations count only
//! once the child has exited successfully, so the total is exact.

use crate::BenchError;
use crate::workload::{Launcher, Workload};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// One loop of the load.
#[derive(Debug, Clone)]
pub struct Lane {
    pub workload: Workload,
    /// The file an open/close lane opens (under /etc/, watched by default).
    pub file: PathBuf,
}

/// What a lane did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LaneResult {
    pub workload: Workload,
    /// Workload children run to completion (each is one exec of `saker`).
    pub chunks: u64,
    /// Loop iterations in those chunks.
    pub iterations: u64,
}

/// The lanes for a machine with `cpus` CPUs: an open/close loop per CPU (the
/// highest-rate event source: every call is a `file.write`), an exec loop and
/// a loopback connect loop.
pub fn lanes(cpus: usize) -> Vec<Lane> {
    let me = std::process::id();
    let mut v: Vec<Lane> = (0..cpus.max(1))
        .map(|i| Lane { workload: Workload::OpenClose, file: PathBuf::from(format!("/etc/saker-bench-{me}-{i}.tmp")) })
        .collect();
    for w in [Workload::ExecStorm, Workload::ConnectStorm] {
        v.push(Lane { workload: w, file: PathBuf::from("/unused") });
    }
    v
}

/// Iterations per chunk: `saker bench --quick`'s sizes, a fraction of a
/// second each under load, so a lane overruns the deadline by little.
fn chunk(w: Workload) -> u64 {
    w.size(true)
}

/// Run every lane until `deadline` (or an interruption); the first error
/// wins and stops the other lanes.
pub fn run(exe: &Path, lanes: &[Lane], deadline: Instant, stop: &AtomicBool) -> Result<Vec<LaneResult>, BenchError> {
    let failed = AtomicBool::new(false);
    let failed = &failed;
    let results: Vec<Result<LaneResult, BenchError>> = std::thread::scope(|s| {
        let handles: Vec<_> = lanes
            .iter()
            .map(|lane| {
                s.spawn(move || {
                    let r = run_lane(exe, lane, deadline, &[stop, failed]);
                    failed.fetch_or(r.is_err(), Ordering::SeqCst);
                    r
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(BenchError::Usage("a load lane panicked".into()))))
            .collect()
    });
    results.into_iter().collect()
}

fn run_lane(exe: &Path, lane: &Lane, deadline: Instant, stop: &[&AtomicBool]) -> Result<LaneResult, BenchError> {
    let launcher = Launcher { exe, watched_file: &lane.file, project: None };
    let mut r = LaneResult { workload: lane.workload, chunks: 0, iterations: 0 };
    let n = chunk(lane.workload);
    while Instant::now() < deadline && !stop.iter().any(|s| s.load(Ordering::SeqCst)) {
        launcher.run(lane.workload, n)?;
        r.chunks += 1;
        r.iterations += n;
    }
    tracing::info!(workload = lane.workload.name(), chunks = r.chunks, iterations = r.iterations, "lane done");
    Ok(r)
}
