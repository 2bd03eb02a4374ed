//! `saker bench latency`: how long from a syscall to its finding being
//! visible through the server's REST API — the whole path a deployed Saker
//! takes: kernel ring buffer → the agent's decode, enrichment and detection
//! → its disk spool → gRPC over TLS → the server's ingest transaction in
//! SQLite → a search answered by the API. docs/performance.md ("Detection
//! latency") reports the numbers.
//!
//! - `stack.rs` starts a real `saker server` (SQLite in a temporary
//!   directory) and a real `saker agent` enrolled with an agent token;
//! - `trigger.rs` is the trigger: one `process_vm_writev` into a fresh child,
//!   a new `ProcessInjection.VirtualMemoryWrite` finding every time;
//! - `watch.rs` polls the API and matches findings back to triggers;
//! - `report.rs` gives the percentiles as markdown or JSON.
//!
//! Triggers are spaced out (25/s by default) so the run measures latency,
//! not queueing. Warm-up triggers run first, until one is seen: the agent is
//! then attached, connected and has seen this process. Nothing here asserts a
//! time; a trigger not seen within the timeout is counted as missed.

mod report;
mod stack;
mod trigger;
mod watch;

pub use report::{LatencyReport, Summary, TARGET_P99_S};
pub use trigger::FINDING_TYPE;
pub use watch::{FindingsApi, Sample};

use crate::BenchError;
use stack::Stack;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use watch::{Book, lock};

/// What each trigger does, for the report.
pub const TRIGGER: &str = "fork a child, `process_vm_writev` 8 bytes into it, kill it";

/// Measured triggers: the full run and `--quick`.
pub const DEFAULT_TRIGGERS: usize = 1_000;
pub const QUICK_TRIGGERS: usize = 50;

/// How long the agent may take from its start to reporting a first finding
/// (BPF programs verified and attached, the uplink connected).
const WARMUP_LIMIT: Duration = Duration::from_secs(120);
/// A warm-up trigger every so often until one is seen.
const WARMUP_EVERY: Duration = Duration::from_millis(500);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `saker` binary to run as server and agent.
    pub exe: PathBuf,
    pub quick: bool,
    /// Measured triggers.
    pub triggers: usize,
    /// Triggers per second.
    pub rate_per_s: f64,
    /// How often the API is asked.
    pub poll_interval: Duration,
    /// A trigger whose finding is not visible this long after its call is
    /// missed.
    pub timeout: Duration,
    /// Recorded in the report.
    pub command_line: String,
    /// Set (by a signal handler) to stop firing; the stack is torn down.
    pub interrupted: Arc<AtomicBool>,
}

/// Opens the API at a URL with a token.
pub type Connect<'a> = dyn Fn(&str, &str) -> Result<Box<dyn FindingsApi>, BenchError> + 'a;

/// Run the benchmark. Needs root (the agent loads BPF programs).
pub fn run(opts: &Options, connect: &Connect<'_>) -> Result<LatencyReport, BenchError> {
    if opts.triggers == 0 {
        return Err(BenchError::Usage("--triggers must be at least 1".into()));
    }
    if !(opts.rate_per_s.is_finite() && opts.rate_per_s > 0.0 && opts.rate_per_s <= 1000.0) {
        return Err(BenchError::Usage(format!("--rate {} must be above 0 and at most 1000", opts.rate_per_s)));
    }
    if opts.poll_interval.is_zero() || opts.timeout.is_zero() {
        return Err(BenchError::Usage("the poll interval and the timeout must be above zero".into()));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(BenchError::NotRoot);
    }
    let mut stack = Stack::start(&opts.exe)?;
    let api = connect(&stack.api_url, &stack.api_token)?;
    let measured = measure(opts, &mut stack, api);
    // Torn down whatever happened; a measurement error wins over a
    // tear-down error.
    let stopped = stack.stop();
    let samples = measured?;
    stopped?;
    Ok(LatencyReport::new(
        crate::report::Machine {
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            saker_version: env!("CARGO_PKG_VERSION").to_owned(),
            command_line: opts.command_line.clone(),
            date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
        opts.quick,
        TRIGGER,
        FINDING_TYPE,
        opts.rate_per_s,
        u64::try_from(opts.poll_interval.as_millis()).unwrap_or(u64::MAX),
        opts.timeout.as_secs_f64(),
        samples,
    ))
}

/// Warm up, fire the measured triggers on schedule while a second thread
/// polls, wait for the last findings (or the timeout).
fn measure(opts: &Options, stack: &mut Stack, mut api: Box<dyn FindingsApi>) -> Result<Vec<Sample>, BenchError> {
    let book = Mutex::new(Book::default());
    let firing_done = AtomicBool::new(false);
    let own_pid = std::process::id();
    std::thread::scope(|s| {
        let poller = s.spawn(|| -> Result<(), BenchError> {
            loop {
                let next = Instant::now() + opts.poll_interval;
                watch::poll(api.as_mut(), &book, own_pid)?;
                let mut b = lock(&book);
                b.expire(opts.timeout, Instant::now());
                if firing_done.load(Ordering::SeqCst) && b.waiting() == 0 {
                    return Ok(());
                }
                drop(b);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        let fired = fire_all(opts, stack, &book, &poller);
        firing_done.store(true, Ordering::SeqCst);
        if fired.is_err() {
            lock(&book).expire(Duration::ZERO, Instant::now() + Duration::from_secs(1));
        }
        let polled = poller.join().unwrap_or_else(|_| Err(BenchError::Server("the poller panicked".into())));
        // The poller's own error explains a "poller stopped early".
        polled?;
        fired
    })?;
    Ok(book.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).finish())
}

/// The warm-up, then the measured triggers at their scheduled times.
fn fire_all(
    opts: &Options,
    stack: &mut Stack,
    book: &Mutex<Book>,
    poller: &std::thread::ScopedJoinHandle<'_, Result<(), BenchError>>,
) -> Result<(), BenchError> {
    let alive = |stack: &mut Stack| -> Result<(), BenchError> {
        if opts.interrupted.load(Ordering::SeqCst) {
            return Err(BenchError::Interrupted);
        }
        if poller.is_finished() {
            return Err(BenchError::Server("the poller stopped early".into()));
        }
        stack.check()
    };
    let started = Instant::now();
    let mut warmups = 0;
    while lock(book).warmups_seen() == 0 {
        alive(stack)?;
        if started.elapsed() > WARMUP_LIMIT {
            return Err(BenchError::Agent(format!(
                "no finding of a warm-up trigger within {WARMUP_LIMIT:?} ({warmups} fired)\n{}",
                stack.logs()
            )));
        }
        let f = trigger::fire()?;
        lock(book).fired(warmups, f, true);
        warmups += 1;
        std::thread::sleep(WARMUP_EVERY);
    }
    lock(book).drop_warmups();
    tracing::info!(warmups, after = ?started.elapsed(), "agent reporting; measuring");

    let every = Duration::from_secs_f64(1.0 / opts.rate_per_s);
    let start = Instant::now();
    for seq in 0..opts.triggers {
        // On a fixed schedule: a slow trigger does not push the others back.
        let at = start + every.saturating_mul(u32::try_from(seq).unwrap_or(u32::MAX));
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        if seq % 50 == 0 {
            alive(stack)?;
        }
        let f = trigger::fire()?;
        lock(book).fired(seq, f, false);
    }
    tracing::info!(triggers = opts.triggers, elapsed = ?start.elapsed(), "all fired; waiting for the last findings");
    Ok(())
}
