//! `saker bench churn`: does the agent's memory come back after many
//! short-lived processes and containers?
//!
//! The agent is `saker bench`'s `saker` configuration (`configs::agent`, the
//! default configuration, a counting sink). After a warm-up (a few hundred
//! processes and a few containers, then a pause) the bench reads the agent's
//! VmRSS (before); then runs the exec loop (`saker bench-child workload
//! exec-storm`, each iteration a /bin/true process) and, at the same time,
//! real runc containers one after another (`runc.rs`), sampling VmRSS every
//! 100 ms (peak); then waits for the agent's tables to settle and reads it
//! again (after). Growth is after − before.

mod report;
mod runc;

use crate::BenchError;
use crate::configs::agent::{AgentChild, ChildOptions, ChildReport};
use crate::workload::{Launcher, Workload};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct ChurnOptions {
    pub exe: PathBuf,
    /// Short-lived processes (/bin/true, spawned and waited for).
    pub processes: u64,
    /// Short-lived runc containers.
    pub containers: u64,
    /// Warm-up processes and containers before the first reading.
    pub warmup: (u64, u64),
    /// The pause before the first reading and after the churn.
    pub settle: Duration,
    pub interrupted: Arc<AtomicBool>,
}

impl ChurnOptions {
    /// Issue 6's sizes (10,000 processes, 1,000 containers), or `--quick`'s.
    pub fn sized(exe: PathBuf, quick: bool, interrupted: Arc<AtomicBool>) -> Self {
        let (processes, containers, warmup, settle) = match quick {
            false => (10_000, 1_000, (500, 20), Duration::from_secs(10)),
            true => (500, 20, (100, 3), Duration::from_secs(3)),
        };
        ChurnOptions { exe, processes, containers, warmup, settle, interrupted }
    }
}

/// The result of a churn run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChurnReport {
    pub date: String,
    pub debug_build: bool,
    pub processes: u64,
    pub containers: u64,
    /// Containers whose `runc run` failed (each reason is logged).
    pub containers_failed: u64,
    /// Containers of this run left behind (runc state or cgroup).
    pub leftovers: Vec<String>,
    pub churn_s: f64,
    pub settle_s: f64,
    pub rss_before_kib: u64,
    pub rss_peak_kib: u64,
    pub rss_after_kib: u64,
    /// after − before (negative: the agent gave memory back).
    pub rss_growth_kib: i64,
    pub rss_samples: u64,
    /// The agent child's whole report (events per kind, loss).
    pub agent: ChildReport,
}

/// Run the churn against the agent. Needs root, runc and busybox-static.
pub fn run(opts: &ChurnOptions) -> Result<ChurnReport, BenchError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(BenchError::NotRoot);
    }
    let mut runc = runc::Runc::new()?;
    let agent = AgentChild::start_with(&opts.exe, ChildOptions::default())?;
    let pid = agent.pid();
    tracing::info!(processes = opts.warmup.0, containers = opts.warmup.1, "warm-up");
    let (_, failed) = churn(opts, &mut runc, opts.warmup)?;
    if failed > 0 {
        return Err(BenchError::Runc(format!("{failed} warm-up container(s) failed; see the log")));
    }
    pause(opts, opts.settle)?;
    let before = rss_kib(pid)?;
    tracing::info!(rss_kib = before, processes = opts.processes, containers = opts.containers, "churn");
    let sampler = Sampler::start(pid);
    let (churn_s, containers_failed) = churn(opts, &mut runc, (opts.processes, opts.containers))?;
    tracing::info!(seconds = format!("{churn_s:.1}"), "churn done; settling");
    pause(opts, opts.settle)?;
    let after = rss_kib(pid)?;
    let (peak, samples) = sampler.finish();
    let child = agent.finish_report()?;
    Ok(ChurnReport {
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        debug_build: cfg!(debug_assertions),
        processes: opts.processes,
        containers: opts.containers,
        containers_failed,
        leftovers: runc.leftovers(),
        churn_s,
        settle_s: opts.settle.as_secs_f64(),
        rss_before_kib: before,
        rss_peak_kib: peak.max(before).max(after),
        rss_after_kib: after,
        rss_growth_kib: after as i64 - before as i64,
        rss_samples: samples,
        agent: child,
    })
}

/// `processes` /bin/true runs (one exec-loop child) and, alongside, `containers`
/// containers one after another. Its wall time and the failed containers.
fn churn(
    opts: &ChurnOptions,
    runc: &mut runc::Runc,
    (processes, containers): (u64, u64),
) -> Result<(f64, u64), BenchError> {
    let started = Instant::now();
    let (procs, failed) = std::thread::scope(|s| {
        let procs = s.spawn(|| match processes {
            0 => Ok(()),
            n => run_processes(&opts.exe, n),
        });
        let mut failed = 0u64;
        for _ in 0..containers {
            if opts.interrupted.load(Ordering::SeqCst) {
                break;
            }
            if let Err(e) = runc.run_one() {
                tracing::warn!(error = %e, "container failed");
                failed += 1;
            }
        }
        (procs.join(), failed)
    });
    procs.unwrap_or_else(|_| Err(BenchError::Usage("the process churn panicked".into())))?;
    if opts.interrupted.load(Ordering::SeqCst) {
        return Err(BenchError::Interrupted);
    }
    Ok((started.elapsed().as_secs_f64(), failed))
}

fn run_processes(exe: &Path, n: u64) -> Result<(), BenchError> {
    let launcher = Launcher { exe, watched_file: Path::new("/unused"), project: None };
    launcher.run(Workload::ExecStorm, n).map(|_| ())
}

fn pause(opts: &ChurnOptions, d: Duration) -> Result<(), BenchError> {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if opts.interrupted.load(Ordering::SeqCst) {
            return Err(BenchError::Interrupted);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// VmRSS of a process, KiB.
fn rss_kib(pid: u32) -> Result<u64, BenchError> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let text = std::fs::read_to_string(&path).map_err(|source| BenchError::Proc { path: path.clone(), source })?;
    saker_agent::procfs::status_kib(&text, "VmRSS:").ok_or_else(|| BenchError::Proc {
        path,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "no VmRSS line"),
    })
}

/// Reads VmRSS every 100 ms in a thread; keeps the highest.
struct Sampler {
    peak: Arc<AtomicU64>,
    samples: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        let (peak, samples, stop) =
            (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (p, n, s) = (Arc::clone(&peak), Arc::clone(&samples), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Ok(kib) = rss_kib(pid) {
                    p.fetch_max(kib, Ordering::Relaxed);
                    n.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Sampler { peak, samples, stop, thread }
    }

    /// The peak and the number of readings.
    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        (self.peak.load(Ordering::Relaxed), self.samples.load(Ordering::Relaxed))
    }
}
