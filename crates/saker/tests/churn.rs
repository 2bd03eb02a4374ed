//! Container churn: 500 short-lived runc containers, each running one
//! command. Their exec events must be attributed to their container
//! (≥ 99.5 %), and the agent's memory must not grow with the churn.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_testkit::container::{Container, hex_id};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SAKER: &str = env!("CARGO_BIN_EXE_saker");
const CONTAINERS: usize = 500;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap()
}

fn run_container(tag: &str) -> String {
    let id = hex_id(64);
    let mut c = Container::spec(&format!("exec /bin/echo {tag}")).id(&id).build();
    c.start();
    assert!(c.wait().contains(tag));
    id
}

#[test]
fn short_lived_containers_are_attributed_and_memory_stays_flat() {
    if !saker_testkit::privileged() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    let mut agent = Command::new(SAKER)
        .args(["agent", "--kinds", "process.exec", "--no-hash", "--events-out"])
        .arg(&events)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = agent.id();
    // Warm up (caches, allocator) and wait for the agent to be attached.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        run_container("churn-warmup");
        if std::fs::read_to_string(&events).is_ok_and(|s| s.contains("churn-warmup")) {
            break;
        }
        assert!(Instant::now() < deadline, "agent never reported the warm-up container");
    }
    for i in 0..20 {
        run_container(&format!("churn-warmup-{i}"));
    }
    std::thread::sleep(Duration::from_secs(1));
    let rss_before = rss_kib(pid);

    let mut expected = HashMap::new();
    for i in 0..CONTAINERS {
        let tag = format!("churn-{i}");
        expected.insert(tag.clone(), run_container(&tag));
    }
    // Let the last events drain.
    let deadline = Instant::now() + Duration::from_secs(30);
    let last = format!("churn-{}", CONTAINERS - 1);
    while !std::fs::read_to_string(&events).unwrap().contains(&last) {
        assert!(Instant::now() < deadline, "events stopped arriving");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let rss_after = rss_kib(pid);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    assert!(agent.wait().unwrap().success());

    let mut attributed = 0;
    for line in std::fs::read_to_string(&events).unwrap().lines() {
        let ev: serde_json::Value = serde_json::from_str(line).unwrap();
        let Some(tag) = ev["exec"]["argv"].as_array().and_then(|a| a.last()).and_then(|t| t.as_str()) else { continue };
        if let Some(id) = expected.get(tag)
            && ev["container"]["id"].as_str() == Some(id)
        {
            attributed += 1;
        }
    }
    let ratio = attributed as f64 / CONTAINERS as f64;
    eprintln!("churn: {attributed}/{CONTAINERS} attributed; agent RSS {rss_before} KiB → {rss_after} KiB");
    assert!(ratio >= 0.995, "only {attributed} of {CONTAINERS} container execs attributed");
    assert!(rss_after <= rss_before + 5 * 1024, "agent RSS grew from {rss_before} KiB to {rss_after} KiB");
}
