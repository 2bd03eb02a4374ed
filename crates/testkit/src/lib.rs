//! A spec-like harness for privileged tests: one real agent per test binary,
//! real actions done by `saker-trigger` child processes, and expectations
//! on the events they cause.
//!
//! ```ignore
//! let h = saker_testkit::harness()?;            // None = skipped loudly (not root)
//! let t = h.trigger(&["spawn", "/bin/echo", "hi"]);
//! let ev = h.expect(&t, "exec of echo", |e| e.kind == Kind::ProcessExec && ...);
//! ```
//!
//! Only events of processes descended from the test binary are kept, so
//! tests running in parallel and the rest of the machine don't interfere.
//!
//! Test-only crate: failures panic with context instead of returning errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod container;
pub mod dns;

use saker_agent::{AgentConfig, FnSink, RunningAgent};
use saker_model::{Event, Payload};
use saker_sensor::PathInterest;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The directory tests write watched files under (added to the interest set).
pub const WATCHED_DIR: &str = "/tmp/saker-test/";

/// How long an expectation waits for its event. Generous: this is a wait for
/// the event to arrive, not a timing assertion.
pub const WAIT: Duration = Duration::from_secs(10);

type Shared = Arc<(Mutex<Vec<Event>>, Condvar)>;

pub struct Harness {
    events: Shared,
    _agent: RunningAgent,
}

/// One finished run of `saker-trigger`.
#[derive(Debug)]
pub struct Trigger {
    pub pid: u32,
    pub stdout: String,
    pub status: std::process::ExitStatus,
}

static HARNESS: OnceLock<Result<Harness, String>> = OnceLock::new();

/// Whether a privileged test may run: true as root. Otherwise it must skip,
/// loudly — unless `SAKER_REQUIRE_PRIVILEGED=1` (CI), where a skip is a
/// failure and this panics.
pub fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let required = std::env::var("SAKER_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1");
    assert!(!required, "SAKER_REQUIRE_PRIVILEGED=1 but the tests are not running as root");
    eprintln!("SKIPPED (LOUDLY): privileged sensor test needs root; run the suite with sudo");
    false
}

/// The shared harness, started on first use. `None` means the test must
/// skip (see [`privileged`]).
pub fn harness() -> Option<&'static Harness> {
    if !privileged() {
        return None;
    }
    match HARNESS.get_or_init(|| start(AgentConfig::default())) {
        Ok(h) => Some(h),
        Err(e) => panic!("the agent did not start: {e}"),
    }
}

/// Start a harness with a custom config (a test binary of its own, e.g. to
/// force loss with a tiny ring buffer).
pub fn start(mut cfg: AgentConfig) -> Result<Harness, String> {
    let _ = std::fs::create_dir_all(WATCHED_DIR);
    cfg.sensor.paths.push(PathInterest::prefix(WATCHED_DIR));
    // The ECS metadata endpoint stand-in listens on loopback.
    if let Some(w) = &mut cfg.workload {
        w.ecs_allowed_hosts.push(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let events: Shared = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    let sink_events = Arc::clone(&events);
    let me = std::process::id();
    let sink = FnSink(move |ev: &Event| {
        if !ours(ev, me) {
            return;
        }
        let (lock, cv) = &*sink_events;
        if let Ok(mut v) = lock.lock() {
            v.push(ev.clone());
            cv.notify_all();
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let agent = saker_agent::start(cfg, vec![Box::new(sink)], stop).map_err(|e| e.to_string())?;
    Ok(Harness { events, _agent: agent })
}

/// Descendants of the test binary, and loss reports.
fn ours(ev: &Event, me: u32) -> bool {
    if matches!(ev.payload, Payload::Loss(_)) {
        return true;
    }
    ev.lineage.iter().any(|p| p.pid == me)
}

impl Harness {
    /// Run `saker-trigger ARGS...` to completion.
    pub fn trigger(&self, args: &[&str]) -> Trigger {
        let out = Command::new(trigger_path()).args(args).output().expect("spawning saker-trigger");
        let t = Trigger { pid: 0, stdout: String::from_utf8_lossy(&out.stdout).into_owned(), status: out.status };
        // The trigger prints its own pid first so events can be matched to it.
        let pid = t.stdout.lines().next().and_then(|l| l.strip_prefix("pid=")).and_then(|p| p.parse().ok());
        let stderr = String::from_utf8_lossy(&out.stderr);
        Trigger { pid: pid.unwrap_or_else(|| panic!("trigger {args:?} printed no pid: {} {stderr}", t.stdout)), ..t }
    }

    /// Wait for an event matching `pred`; panic with what did arrive.
    pub fn expect(&self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        self.expect_within(WAIT, what, pred)
    }

    pub fn expect_within(&self, wait: Duration, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let (lock, cv) = &*self.events;
        let deadline = Instant::now() + wait;
        let mut events = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(ev) = events.iter().find(|e| pred(e)) {
                return ev.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                let recent: Vec<String> =
                    events.iter().rev().take(20).map(|e| serde_json::to_string(e).unwrap_or_default()).collect();
                // Release the lock before panicking: other tests share it.
                drop(events);
                panic!("no event: {what}\nlast events seen (newest first):\n{}", recent.join("\n"));
            }
            events = cv.wait_timeout(events, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// The first event so far matching `pred`, without waiting.
    pub fn find(&self, pred: impl Fn(&Event) -> bool) -> Option<Event> {
        let (lock, _) = &*self.events;
        lock.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|e| pred(e)).cloned()
    }

    /// All events of the process `pid` so far.
    pub fn events_of(&self, pid: u32) -> Vec<Event> {
        let (lock, _) = &*self.events;
        let events = lock.lock().unwrap_or_else(|p| p.into_inner());
        events.iter().filter(|e| e.process.as_ref().is_some_and(|p| p.pid == pid)).cloned().collect()
    }
}

/// Path of the `saker-trigger` binary built next to the test binary.
pub fn trigger_path() -> std::path::PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_saker-trigger") {
        return p.into();
    }
    let mut p = std::env::current_exe().expect("current exe");
    p.pop();
    if p.ends_with("deps") {
        p.pop();
    }
    p.join("saker-trigger")
}

/// True when the event's process is `pid`.
pub fn by(ev: &Event, pid: u32) -> bool {
    ev.pid() == Some(pid)
}
