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
pub mod netns;

use saker_agent::{AgentConfig, FindingFnSink, FnSink, RunningAgent};
use saker_detect::Finding;
use saker_detect::intel::{Intel, IntelHandle, ThreatList};
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

type Shared<T> = Arc<(Mutex<Vec<T>>, Condvar)>;

pub struct Harness {
    events: Shared<Event>,
    findings: Shared<Finding>,
    /// The running detector's threat intelligence.
    intel: IntelHandle,
    /// Lists tests added, on top of the built-in ones.
    added_lists: Mutex<Vec<ThreatList>>,
    /// Trusted lists tests added (none built in).
    added_trusted: Mutex<Vec<ThreatList>>,
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
    let events: Shared<Event> = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    let findings: Shared<Finding> = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    let sink_events = Arc::clone(&events);
    let sink_findings = Arc::clone(&findings);
    let me = std::process::id();
    let intel = cfg.detection.as_ref().map(|d| d.intel.clone()).unwrap_or_default();
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
    let finding_sink = FindingFnSink(move |f: &Finding| {
        if !our_finding(f, me) {
            return;
        }
        let (lock, cv) = &*sink_findings;
        if let Ok(mut v) = lock.lock() {
            v.push(f.clone());
            cv.notify_all();
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let agent =
        saker_agent::start(cfg, vec![Box::new(sink), Box::new(finding_sink)], stop).map_err(|e| e.to_string())?;
    Ok(Harness {
        events,
        findings,
        intel,
        added_lists: Mutex::new(Vec::new()),
        added_trusted: Mutex::default(),
        _agent: agent,
    })
}

/// Findings about descendants of the test binary.
fn our_finding(f: &Finding, me: u32) -> bool {
    let p = &f.service.runtime_details.process;
    p.pid == me || p.lineage.iter().any(|a| a.pid == me)
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
        wait_for(&self.events, wait, "event", what, pred)
    }

    /// Wait for a finding matching `pred`; panic with the findings that did
    /// arrive.
    /// Every finding it returns has only the context fields its type
    /// declares (docs/findings.md lists the same).
    pub fn expect_finding(&self, what: &str, pred: impl Fn(&Finding) -> bool) -> Finding {
        let f = wait_for(&self.findings, WAIT, "finding", what, pred);
        let undeclared = f.undeclared_context_fields();
        assert!(undeclared.is_empty(), "{}: context fields missing from the catalog: {undeclared:?}", f.finding_type);
        f
    }

    /// Add a threat list to the running agent (with the built-in lists and
    /// every list added before): the detector uses it from its next event.
    pub fn add_threat_list(&self, list: ThreatList) {
        self.add_lists(Some(list), None);
    }

    /// Add a trusted list (its entries are never reported, whatever threat
    /// list holds them) to the running agent, with every list added before.
    pub fn add_trusted_list(&self, list: ThreatList) {
        self.add_lists(None, Some(list));
    }

    fn add_lists(&self, threat: Option<ThreatList>, trusted: Option<ThreatList>) {
        let mut added = self.added_lists.lock().unwrap_or_else(|p| p.into_inner());
        let mut added_trusted = self.added_trusted.lock().unwrap_or_else(|p| p.into_inner());
        added.extend(threat);
        added_trusted.extend(trusted);
        let mut all = saker_detect::intel::builtin::guardduty_test_domains();
        all.extend(added.iter().cloned());
        self.intel.swap(Intel::build(&all, &added_trusted));
    }

    /// Findings so far matching `pred`, without waiting.
    pub fn findings(&self, pred: impl Fn(&Finding) -> bool) -> Vec<Finding> {
        let (lock, _) = &*self.findings;
        lock.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|f| pred(f)).cloned().collect()
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

fn wait_for<T: Clone + serde::Serialize>(
    shared: &Shared<T>,
    wait: Duration,
    noun: &str,
    what: &str,
    pred: impl Fn(&T) -> bool,
) -> T {
    let (lock, cv) = &**shared;
    let deadline = Instant::now() + wait;
    let mut items = lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if let Some(x) = items.iter().find(|x| pred(x)) {
            return x.clone();
        }
        let now = Instant::now();
        if now >= deadline {
            let recent: Vec<String> =
                items.iter().rev().take(20).map(|x| serde_json::to_string(x).unwrap_or_default()).collect();
            // Release the lock before panicking: other tests share it.
            drop(items);
            panic!("no {noun}: {what}\nlast {noun}s seen (newest first):\n{}", recent.join("\n"));
        }
        items = cv.wait_timeout(items, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
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

/// True when `e` is the exit of the process with this uuid.
pub fn exited(e: &Event, uuid: &str) -> bool {
    e.kind == saker_model::Kind::ProcessExit && e.process.as_ref().is_some_and(|p| p.uuid.to_string() == uuid)
}

impl Harness {
    /// Exactly `f`'s type fires for its process, checked once the process has
    /// exited (every finding about it has arrived by then).
    pub fn assert_only_type_for_process(&self, f: &Finding) {
        let p = &f.service.runtime_details.process;
        self.expect(&format!("exit of {} {:?}", p.pid, p.argv), |e| exited(e, &p.uuid));
        let types: Vec<_> = self
            .findings(|g| g.service.runtime_details.process.uuid == p.uuid)
            .iter()
            .map(|g| g.finding_type)
            .collect();
        assert!(types.iter().all(|t| *t == f.finding_type), "only {} for {:?}, got {types:?}", f.finding_type, p.argv);
    }
}

/// True when the event's process is `pid`.
pub fn by(ev: &Event, pid: u32) -> bool {
    ev.pid() == Some(pid)
}
