//! The `saker` binary as a user runs it: clear errors for bad input and for
//! missing privileges, `--kinds` filtering, and a clean stop on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SAKER: &str = env!("CARGO_BIN_EXE_saker");

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn skip_unless_root() -> bool {
    !saker_testkit::privileged()
}

#[test]
fn unknown_kind_lists_the_known_ones() {
    let out = Command::new(SAKER).args(["agent", "--events-out", "-", "--kinds", "process.nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown event kind \"process.nope\""), "{err}");
    assert!(err.contains("process.exec"), "lists known kinds: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn not_root_is_a_clear_error() {
    let mut cmd = Command::new(SAKER);
    cmd.args(["agent", "--events-out", "-"]);
    if is_root() {
        // Drop to nobody for this run: the point is the unprivileged path.
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs root"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unwritable_events_out_is_a_clear_error() {
    if skip_unless_root() {
        return;
    }
    let out = Command::new(SAKER).args(["agent", "--events-out", "/nonexistent-dir/events.ndjson"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--events-out /nonexistent-dir/events.ndjson"), "{err}");
}

#[test]
fn agent_filters_kinds_never_reports_itself_and_stops_on_sigterm() {
    if skip_unless_root() {
        return;
    }
    // The events file is under a watched prefix (/root/): the agent's own
    // write-open of it must not be reported.
    let dir = tempfile::tempdir_in("/root").unwrap();
    let events = dir.path().join("events.ndjson");
    let mut agent = Command::new(SAKER)
        .args(["--log-format", "json", "agent", "--kinds", "process.exec,file.write", "--events-out"])
        .arg(&events)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let agent_pid = agent.id();

    // Exec a marker until it shows up: proves the agent is attached.
    let deadline = Instant::now() + Duration::from_secs(60);
    let marker = format!("saker-cli-marker-{}", std::process::id());
    loop {
        Command::new("/bin/echo").arg(&marker).stdout(Stdio::null()).status().unwrap();
        if std::fs::read_to_string(&events).is_ok_and(|s| s.contains(&marker)) {
            break;
        }
        assert!(Instant::now() < deadline, "marker exec never reported");
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(agent_pid as i32, libc::SIGTERM) };
    let status = agent.wait().unwrap();
    let mut log = String::new();
    agent.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}\n{log}");
    assert!(log.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "JSON logs: {log}");
    assert!(log.contains("detaching"), "{log}");

    let text = std::fs::read_to_string(&events).unwrap();
    for line in text.lines() {
        let ev: serde_json::Value = serde_json::from_str(line).expect("every line is one JSON event");
        let kind = ev["kind"].as_str().unwrap();
        assert!(["process.exec", "file.write", "agent.loss"].contains(&kind), "unrequested kind {kind}");
        assert_ne!(ev["process"]["pid"].as_u64(), Some(u64::from(agent_pid)), "the agent reported itself: {line}");
    }
}

#[test]
fn bad_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(&cfg, "[files]\nwatch = [\"relative/path\"]\n").unwrap();
    let out = Command::new(SAKER).args(["agent", "--events-out", "-", "--config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("agent.toml") && err.contains("not an absolute path"), "{err}");
}
