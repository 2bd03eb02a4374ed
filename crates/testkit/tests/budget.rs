//! The resource budget's shedding, for real: with every level shed, file
//! and library events vanish from the stream and are counted in
//! `agent.loss` exactly — as many per kind as the same actions produced as
//! events before — while exec events keep flowing.
//!
//! Exact counts need a quiet world: the agent runs in task-sidecar mode,
//! scoped to a cgroup of this test's own, so only the actions below are
//! seen (and shed). Its own test binary: the agent is configured for it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_agent::budget::{BudgetConfig, Limit, SHED_LEVELS, shed_mask};
use saker_agent::scope::TaskScope;
use saker_agent::{AgentConfig, FnSink};
use saker_model::{Event, Kind, Payload};
use saker_sensor::PathInterest;
use saker_testkit::container::cgroup2_root;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

type Events = Arc<(Mutex<Vec<Event>>, Condvar)>;

/// Wait until `done` holds for the events so far; panic after `WAIT`.
fn wait_until<T>(events: &Events, what: &str, mut done: impl FnMut(&[Event]) -> Option<T>) -> T {
    let (lock, cv) = &**events;
    let deadline = Instant::now() + saker_testkit::WAIT;
    let mut items = lock.lock().unwrap();
    loop {
        if let Some(t) = done(&items) {
            return t;
        }
        let now = Instant::now();
        assert!(now < deadline, "timed out waiting for {what}; {} events", items.len());
        items = cv.wait_timeout(items, deadline - now).unwrap().0;
    }
}

/// Run `script` with busybox sh (static: it maps no libraries) moved into
/// the test's cgroup first. Returns its stdout.
fn in_task(task: &Path, script: &str) -> String {
    let procs = task.join("cgroup.procs");
    let out = std::process::Command::new("/bin/busybox")
        .args(["sh", "-c", &format!("echo $$ > {} && {script}", procs.display())])
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pid_of(stdout: &str) -> u32 {
    stdout.lines().next().and_then(|l| l.strip_prefix("pid=")).and_then(|p| p.parse().ok()).unwrap()
}

/// Per kind, the events of the sheddable kinds that process `pid` produced.
fn sheddable_by_kind(events: &[Event], pid: u32) -> BTreeMap<String, u64> {
    let all = shed_mask(SHED_LEVELS.len());
    let mut out = BTreeMap::new();
    for e in events.iter().filter(|e| e.process.as_ref().is_some_and(|p| p.pid == pid)) {
        let abi = saker_agent::abi_kind_mask(&saker_agent::KindFilter::only([e.kind]));
        if abi & all != 0 {
            *out.entry(e.kind.as_str().to_owned()).or_default() += 1;
        }
    }
    out
}

fn is_marker(e: &Event, tag: &str) -> bool {
    e.exec().is_some_and(|x| x.argv.last().is_some_and(|a| a == tag))
}

#[test]
fn shed_kinds_are_absent_and_counted_exactly_while_exec_flows() {
    if !saker_testkit::privileged() {
        return;
    }
    let me = std::process::id();
    let root = cgroup2_root();
    let task = root.join(format!("saker-budget-test-{me}"));
    std::fs::create_dir_all(&task).unwrap();
    let dir = format!("/tmp/saker-budget-{me}");

    let mut cfg = AgentConfig {
        scope: Some(TaskScope::explicit(root.clone(), task.clone())),
        // A budget the test will not exceed: levels change only when asked.
        budget: Some(BudgetConfig {
            cpu_percent: Limit::Value(100.0),
            memory_bytes: Limit::Value(64 << 30),
            ..BudgetConfig::default()
        }),
        loss_interval: Duration::from_millis(100),
        loss_report_every: Duration::from_millis(100),
        ..AgentConfig::default()
    };
    cfg.sensor.paths.push(PathInterest::prefix(&format!("{dir}/")));
    let events: Events = Arc::default();
    let sink_events = Arc::clone(&events);
    let sink = FnSink(move |ev: &Event| {
        let (lock, cv) = &*sink_events;
        lock.lock().unwrap().push(ev.clone());
        cv.notify_all();
    });
    let stop = Arc::new(AtomicBool::new(false));
    let agent = saker_agent::start(cfg, vec![Box::new(sink)], Arc::clone(&stop)).expect("agent starts");
    let budget = agent.budget().expect("budget configured").clone();
    assert_eq!(budget.applied_mask(), 0);
    let trigger = saker_testkit::trigger_path();
    let files = format!("exec {} files {dir}", trigger.display());

    // 1. Nothing shed: the actions' events, per kind, are the reference.
    let first = pid_of(&in_task(&task, &files));
    in_task(&task, "exec /bin/busybox echo budget-marker-1");
    let reference = wait_until(&events, "marker 1", |evs| {
        evs.iter().any(|e| is_marker(e, "budget-marker-1")).then(|| sheddable_by_kind(evs, first))
    });
    for kind in ["library.load", "file.write", "file.rename", "file.chmod", "file.link", "file.symlink", "file.unlink"]
    {
        assert!(reference.get(kind).is_some_and(|n| *n > 0), "no {kind} event before shedding: {reference:?}");
    }

    // 2. Every level shed.
    budget.set_min_level(SHED_LEVELS.len());
    let full = shed_mask(SHED_LEVELS.len());
    let deadline = Instant::now() + saker_testkit::WAIT;
    while budget.applied_mask() != full {
        assert!(Instant::now() < deadline, "shed mask never applied");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(budget.level(), SHED_LEVELS.len());
    let second = pid_of(&in_task(&task, &files));
    in_task(&task, "exec /bin/busybox echo budget-marker-2");

    // Exec still flows; the shed kinds are gone from the stream.
    let (exec_seen, after_marker) = wait_until(&events, "marker 2", |evs| {
        let m = evs.iter().position(|e| is_marker(e, "budget-marker-2"))?;
        let exec =
            evs.iter().any(|e| e.kind == Kind::ProcessExec && e.process.as_ref().is_some_and(|p| p.pid == second));
        Some((exec, m))
    });
    assert!(exec_seen, "the shedding run's exec was not reported");
    let leaked = sheddable_by_kind(&events.0.lock().unwrap(), second);
    assert!(leaked.is_empty(), "shed kinds still reported: {leaked:?}");

    // 3. agent.loss counts exactly what the first run reported as events.
    // Every shed record was counted before marker 2 ran; the first loss
    // check after its exec arrived has them all (one runs every 100 ms).
    let shed = wait_until(&events, "a loss report after marker 2", |evs| {
        evs[after_marker..].iter().any(|e| e.kind == Kind::AgentLoss).then(|| {
            let mut sum = BTreeMap::<String, u64>::new();
            for e in evs {
                if let Payload::Loss(l) = &e.payload {
                    for s in &l.shed {
                        *sum.entry(s.kind.clone()).or_default() += s.count;
                    }
                }
            }
            sum
        })
    });
    assert_eq!(shed, reference, "shed counts (left) differ from the events the same actions produced (right)");

    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    agent.join().unwrap();
    // The final loss report (at shutdown) adds nothing: no double counting.
    let (lock, _) = &*events;
    let total: u64 = lock
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| {
            if let Payload::Loss(l) = &e.payload { Some(l.shed.iter().map(|s| s.count).sum::<u64>()) } else { None }
        })
        .sum();
    assert_eq!(total, reference.values().sum::<u64>());
    let _ = std::fs::remove_dir(&task);
    let _ = std::fs::remove_dir_all(&dir);
}
