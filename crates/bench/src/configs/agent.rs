//! The Saker configuration: the real agent, `saker_agent::start` with the
//! configuration `saker agent` runs by default (detection on, the resource
//! budget on), in a child process (`saker bench-child agent`).
//!
//! Why a child rather than a thread of the bench: its CPU time and peak RSS
//! are then the agent's alone, read the way one would read a deployed
//! agent's; and its sink only counts, so the numbers are the agent's work,
//! not JSON output's (a deployed agent sends findings, not every event).

use super::Observed;
use crate::BenchError;
use crate::procfs;
use saker_agent::{AgentConfig, AgentError, Sink};
use saker_model::{Event, Payload};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// What the agent child prints when it stops (one JSON line).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct ChildReport {
    /// Every event the agent produced.
    events: u64,
    /// Events of the bench's own children (the workload's process tree).
    workload_events: u64,
    lost: u64,
    shed: u64,
    cpu_micros: u64,
    peak_rss_kib: u64,
}

/// The bench's handle on a running agent child.
pub struct AgentChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

const READY: &str = "ready";

impl AgentChild {
    pub fn start(exe: &Path) -> Result<Self, BenchError> {
        let mut child = Command::new(exe)
            .args(["--log-level", "warn", "bench-child", "agent"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a Ctrl-C at the terminal reaches the
            // bench, which stops the agent in order (closing its stdin).
            .process_group(0)
            .spawn()
            .map_err(|e| BenchError::io(format!("starting {} bench-child agent", exe.display()), e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(BenchError::Agent("no pipes to the agent child".into()));
        };
        let mut me = AgentChild { child, stdin: Some(stdin), stdout: BufReader::new(stdout) };
        let mut line = String::new();
        me.stdout.read_line(&mut line).map_err(|e| BenchError::io("reading from the agent child", e))?;
        if line.trim_end() != READY {
            let status = me.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            return Err(BenchError::Agent(format!("it did not start ({status}); its log is above")));
        }
        Ok(me)
    }

    /// Stop the agent (closing its stdin) and collect its counts.
    pub fn finish(mut self, wall: Duration) -> Result<Observed, BenchError> {
        drop(self.stdin.take());
        let mut out = String::new();
        self.stdout.read_to_string(&mut out).map_err(|e| BenchError::io("reading the agent child's report", e))?;
        let status = self.child.wait().map_err(|e| BenchError::io("waiting for the agent child", e))?;
        if !status.success() {
            return Err(BenchError::Agent(format!("it exited with {status}; its log is above")));
        }
        let report: ChildReport = serde_json::from_str(out.trim())
            .map_err(|e| BenchError::Agent(format!("unreadable report {out:?}: {e}")))?;
        tracing::debug!(?report, wall_ms = wall.as_millis() as u64, "agent child report");
        Ok(Observed {
            events: Some(report.workload_events),
            lost: Some(report.lost),
            shed: Some(report.shed),
            cpu_micros: Some(report.cpu_micros),
            peak_rss_kib: Some(report.peak_rss_kib),
        })
    }
}

impl Drop for AgentChild {
    fn drop(&mut self) {
        // On an error path: closing stdin stops the child; reap it.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Counts events and sums `agent.loss`.
struct CountingSink {
    counts: Arc<Counts>,
    bench_pid: u32,
}

#[derive(Default)]
struct Counts {
    events: AtomicU64,
    workload_events: AtomicU64,
    lost: AtomicU64,
    shed: AtomicU64,
}

impl Sink for CountingSink {
    fn write(&mut self, event: &Event) -> Result<(), AgentError> {
        let c = &self.counts;
        c.events.fetch_add(1, Ordering::Relaxed);
        if let Payload::Loss(loss) = &event.payload {
            c.lost.fetch_add(loss.total, Ordering::Relaxed);
            c.shed.fetch_add(loss.shed.iter().map(|s| s.count).sum(), Ordering::Relaxed);
            return Ok(());
        }
        // The workload is a child of the bench: its whole tree has the bench
        // in its lineage. Other processes on a shared machine do not.
        if event.lineage.iter().any(|p| p.pid == self.bench_pid) {
            c.workload_events.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The child side (`saker bench-child agent`): start the agent, say
/// `ready`, run until stdin closes, stop, print the report.
pub fn run_child() -> Result<(), BenchError> {
    let bench_pid = std::os::unix::process::parent_id();
    let counts = Arc::new(Counts::default());
    let sink = CountingSink { counts: Arc::clone(&counts), bench_pid };
    // What `saker agent` runs with no flags and no config file.
    let cfg = AgentConfig { budget: Some(saker_agent::budget::BudgetConfig::default()), ..AgentConfig::default() };
    let stop = Arc::new(AtomicBool::new(false));
    let agent = saker_agent::start(cfg, vec![Box::new(sink)], Arc::clone(&stop))
        .map_err(|e| BenchError::Agent(format!("start: {e}")))?;
    let me = std::process::id();
    // The peak from here on is the run's, not start-up's (loading the
    // programs, reading /proc).
    procfs::reset_peak_rss(me)?;
    let cpu_start = own_cpu_micros();
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{READY}").and_then(|()| stdout.flush()).map_err(|e| BenchError::io("writing ready", e))?;
    // Until the bench closes our stdin (or dies).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    // The workload is over; let the agent finish what it still holds, and
    // read the CPU time then: stopping the agent is not the workload's cost.
    wait_quiet(&counts.workload_events);
    let cpu_micros = own_cpu_micros().saturating_sub(cpu_start);
    stop.store(true, Ordering::SeqCst);
    agent.join().map_err(|e| BenchError::Agent(format!("stop: {e}")))?;
    let report = ChildReport {
        events: counts.events.load(Ordering::Relaxed),
        workload_events: counts.workload_events.load(Ordering::Relaxed),
        lost: counts.lost.load(Ordering::Relaxed),
        shed: counts.shed.load(Ordering::Relaxed),
        cpu_micros,
        peak_rss_kib: procfs::peak_rss_kib(me)?,
    };
    let line = serde_json::to_string(&report)?;
    writeln!(stdout, "{line}").and_then(|()| stdout.flush()).map_err(|e| BenchError::io("writing the report", e))
}

/// Until no event of the workload has arrived for 200 ms (the sensor drains its ring every
/// 10 ms), at most 30 s.
fn wait_quiet(events: &AtomicU64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut last = events.load(Ordering::Relaxed);
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        let now = events.load(Ordering::Relaxed);
        if now == last {
            return;
        }
        last = now;
    }
}

/// This process's CPU time (all threads, exited ones included), µs.
fn own_cpu_micros() -> u64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    // SAFETY: getrusage succeeded, so the struct is initialised.
    let ru = unsafe { ru.assume_init() };
    let us = |t: libc::timeval| (t.tv_sec as u64) * 1_000_000 + t.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}
