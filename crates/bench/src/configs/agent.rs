//! The Saker configuration: the real agent, `saker_agent::start` with the
//! configuration `saker agent` runs by default (detection on, the resource
//! budget on), in a child process (`saker bench-child agent`).
//!
//! Why a child rather than a thread of the bench: its CPU time and peak RSS
//! are then the agent's alone, read the way one would read a deployed
//! agent's; and its sink only counts, so the numbers are the agent's work,
//! not JSON output's (a deployed agent sends findings, not every event).
//!
//! `saker bench pressure` and `saker bench churn` run the same child and read
//! its whole [`ChildReport`]: events of the bench's tree per kind, loss per
//! stage, kind and reason, the budget's highest shed level.

use super::Observed;
use crate::BenchError;
use crate::procfs;
use saker_agent::{AgentConfig, AgentError, Sink};
use saker_model::{Event, Payload};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// What the agent child prints when it stops (one JSON line).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct ChildReport {
    /// Every event the agent produced.
    pub events: u64,
    /// Events of the bench's own children (the workload's process tree).
    pub workload_events: u64,
    /// `agent.loss` totals: ring, user space and shed.
    pub lost: u64,
    /// Of `lost`, shed by the budget.
    pub shed: u64,
    pub cpu_micros: u64,
    pub peak_rss_kib: u64,
    /// Events of the bench's tree per kind (`file.write`, ...).
    #[serde(default)]
    pub workload_kinds: BTreeMap<String, u64>,
    /// Of those, events attributed to a container.
    #[serde(default)]
    pub container_events: u64,
    /// Records the kernel could not put in the ring (full), per kind, all CPUs.
    #[serde(default)]
    pub ring_lost: BTreeMap<String, u64>,
    /// Records dropped in user space, per `stage: reason`.
    #[serde(default)]
    pub user_lost: BTreeMap<String, u64>,
    /// Records shed by the budget in the kernel, per kind.
    #[serde(default)]
    pub shed_kinds: BTreeMap<String, u64>,
    /// The highest shed level the budget reached (`None`: no budget).
    #[serde(default)]
    pub max_shed_level: Option<usize>,
    /// From stdin closing until no event of the bench's tree had arrived
    /// for 200 ms (those 200 ms included), ms.
    #[serde(default)]
    pub quiet_ms: u64,
    /// Stopping the agent: its last drain and its threads joined, ms.
    #[serde(default)]
    pub stop_ms: u64,
}

/// How the agent child runs.
#[derive(Debug, Clone, Copy)]
pub struct ChildOptions {
    /// The resource budget `saker agent` enforces by default; `false` runs
    /// the agent without one (`bench-child agent --no-budget`).
    pub budget: bool,
}

impl Default for ChildOptions {
    fn default() -> Self {
        ChildOptions { budget: true }
    }
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
        Self::start_with(exe, ChildOptions::default())
    }

    pub fn start_with(exe: &Path, opts: ChildOptions) -> Result<Self, BenchError> {
        let mut cmd = Command::new(exe);
        cmd.args(["--log-level", "warn", "bench-child", "agent"]);
        if !opts.budget {
            cmd.arg("--no-budget");
        }
        let mut child = cmd
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

    /// The agent child's pid (to read its memory from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stop the agent (closing its stdin) and collect its counts.
    pub fn finish(self, wall: Duration) -> Result<Observed, BenchError> {
        let report = self.finish_report()?;
        tracing::debug!(?report, wall_ms = wall.as_millis() as u64, "agent child report");
        Ok(Observed {
            events: Some(report.workload_events),
            lost: Some(report.lost),
            shed: Some(report.shed),
            cpu_micros: Some(report.cpu_micros),
            peak_rss_kib: Some(report.peak_rss_kib),
        })
    }

    /// Stop the agent once it has handled what it holds, and read its whole report.
    pub fn finish_report(mut self) -> Result<ChildReport, BenchError> {
        drop(self.stdin.take());
        let mut out = String::new();
        self.stdout.read_to_string(&mut out).map_err(|e| BenchError::io("reading the agent child's report", e))?;
        let status = self.child.wait().map_err(|e| BenchError::io("waiting for the agent child", e))?;
        if !status.success() {
            return Err(BenchError::Agent(format!("it exited with {status}; its log is above")));
        }
        serde_json::from_str(out.trim()).map_err(|e| BenchError::Agent(format!("unreadable report {out:?}: {e}")))
    }
}

impl Drop for AgentChild {
    fn drop(&mut self) {
        // On an error path: closing stdin stops the child; reap it.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Counts events and sums `agent.loss`. The per-kind tallies stay in the
/// sink (no lock per event) and are handed over when the pipeline drops it.
struct CountingSink {
    counts: Arc<Counts>,
    bench_pid: u32,
    tally: Tally,
}

#[derive(Default)]
struct Counts {
    events: AtomicU64,
    workload_events: AtomicU64,
    lost: AtomicU64,
    shed: AtomicU64,
    /// Filled when the sink is dropped (the agent's pipeline thread ends).
    tally: Mutex<Tally>,
}

#[derive(Default, Clone)]
struct Tally {
    workload_kinds: BTreeMap<&'static str, u64>,
    container_events: u64,
    ring_lost: BTreeMap<String, u64>,
    user_lost: BTreeMap<String, u64>,
    shed_kinds: BTreeMap<String, u64>,
}

impl Drop for CountingSink {
    fn drop(&mut self) {
        if let Ok(mut t) = self.counts.tally.lock() {
            *t = std::mem::take(&mut self.tally);
        }
    }
}

impl Sink for CountingSink {
    fn write(&mut self, event: &Event) -> Result<(), AgentError> {
        let c = &self.counts;
        c.events.fetch_add(1, Ordering::Relaxed);
        if let Payload::Loss(loss) = &event.payload {
            c.lost.fetch_add(loss.total, Ordering::Relaxed);
            c.shed.fetch_add(loss.shed.iter().map(|s| s.count).sum(), Ordering::Relaxed);
            let t = &mut self.tally;
            for k in &loss.kernel {
                *t.ring_lost.entry(k.kind.clone()).or_default() += k.count;
            }
            for u in &loss.user {
                *t.user_lost.entry(format!("{}: {}", u.stage, u.reason)).or_default() += u.count;
            }
            for s in &loss.shed {
                *t.shed_kinds.entry(s.kind.clone()).or_default() += s.count;
            }
            return Ok(());
        }
        // The workload is a child of the bench: its whole tree has the bench
        // in its lineage. Other processes on a shared machine do not.
        if event.lineage.iter().any(|p| p.pid == self.bench_pid) {
            c.workload_events.fetch_add(1, Ordering::Relaxed);
            *self.tally.workload_kinds.entry(event.kind.as_str()).or_default() += 1;
            self.tally.container_events += u64::from(event.container.is_some());
        }
        Ok(())
    }
}

/// The child side (`saker bench-child agent [--no-budget]`): start the agent, say
/// `ready`, run until stdin closes, stop, print the report.
pub fn run_child(opts: ChildOptions) -> Result<(), BenchError> {
    let bench_pid = std::os::unix::process::parent_id();
    let counts = Arc::new(Counts::default());
    let sink = CountingSink { counts: Arc::clone(&counts), bench_pid, tally: Tally::default() };
    // What `saker agent` runs with no flags and no config file (or that without its budget).
    let budget = opts.budget.then(saker_agent::budget::BudgetConfig::default);
    let cfg = AgentConfig { budget, ..AgentConfig::default() };
    let stop = Arc::new(AtomicBool::new(false));
    let agent = saker_agent::start(cfg, vec![Box::new(sink)], Arc::clone(&stop))
        .map_err(|e| BenchError::Agent(format!("start: {e}")))?;
    let levels = agent.budget().cloned().map(LevelWatch::start);
    let me = std::process::id();
    // The peak from here on is the run's, not start-up's (loading the
    // programs, reading /proc).
    procfs::reset_peak_rss(me)?;
    let cpu_start = own_cpu_micros();
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{READY}").and_then(|()| stdout.flush()).map_err(|e| BenchError::io("writing ready", e))?;
    // Until the bench closes our stdin (or dies).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    let closed = std::time::Instant::now();
    // The workload is over; let the agent finish what it still holds, and
    // read the CPU time then: stopping the agent is not the workload's cost.
    wait_quiet(&counts.workload_events);
    let cpu_micros = own_cpu_micros().saturating_sub(cpu_start);
    let max_shed_level = levels.map(LevelWatch::finish);
    let quiet = closed.elapsed();
    stop.store(true, Ordering::SeqCst);
    agent.join().map_err(|e| BenchError::Agent(format!("stop: {e}")))?;
    let stopped = closed.elapsed().saturating_sub(quiet);
    let tally = counts.tally.lock().map(|t| t.clone()).unwrap_or_default();
    let report = ChildReport {
        events: counts.events.load(Ordering::Relaxed),
        workload_events: counts.workload_events.load(Ordering::Relaxed),
        lost: counts.lost.load(Ordering::Relaxed),
        shed: counts.shed.load(Ordering::Relaxed),
        cpu_micros,
        peak_rss_kib: procfs::peak_rss_kib(me)?,
        workload_kinds: tally.workload_kinds.into_iter().map(|(k, n)| (k.to_owned(), n)).collect(),
        container_events: tally.container_events,
        ring_lost: tally.ring_lost,
        user_lost: tally.user_lost,
        shed_kinds: tally.shed_kinds,
        max_shed_level,
        quiet_ms: quiet.as_millis() as u64,
        stop_ms: stopped.as_millis() as u64,
    };
    let line = serde_json::to_string(&report)?;
    writeln!(stdout, "{line}").and_then(|()| stdout.flush()).map_err(|e| BenchError::io("writing the report", e))
}

/// Watches the budget's shed level (every 100 ms) for its maximum.
struct LevelWatch {
    max: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl LevelWatch {
    fn start(handle: saker_agent::budget::BudgetHandle) -> Self {
        let (max, stop) = (Arc::new(AtomicUsize::new(handle.level())), Arc::new(AtomicBool::new(false)));
        let (m, s) = (Arc::clone(&max), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                m.fetch_max(handle.level(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        LevelWatch { max, stop, thread }
    }

    fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.max.load(Ordering::Relaxed)
    }
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
