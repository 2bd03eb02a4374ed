//! The sensor on its own: loads through the verifier on this kernel,
//! attaches every program, and hands over a decoded exec record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_abi::Body;
use saker_sensor::{Sensor, SensorConfig};
use std::time::{Duration, Instant};

mod common;
use common::root;

#[test]
fn loads_attaches_everything_reports_children_and_never_itself() {
    if !root() {
        return;
    }
    let mut sensor = Sensor::load(&SensorConfig::default()).expect("sensor loads");
    assert!(sensor.not_attached().is_empty(), "programs not attached: {:?}", sensor.not_attached());
    // The test process is the "agent" (SensorConfig::default() filters its
    // own pid): its write under /etc/ must not be reported; the child's must.
    let me = std::process::id();
    let mine = format!("/etc/saker-selftest-{me}");
    let childs = format!("/etc/saker-selftest-{me}-child");
    std::fs::write(&mine, b"self").unwrap();
    let mut child =
        std::process::Command::new("/bin/sh").args(["-c", &format!("echo child > {childs}")]).spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let _ = std::fs::remove_file(&mine);
    let _ = std::fs::remove_file(&childs);

    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut saw_exec, mut saw_write) = (false, false);
    while !(saw_exec && saw_write) {
        let (records, errors) = sensor.poll().unwrap();
        assert_eq!(errors, 0, "undecodable records");
        for r in &records {
            assert_ne!(r.header.pid, me, "the sensor reported its own process: {r:?}");
            if r.header.pid != pid {
                continue;
            }
            match &r.body {
                Body::Exec { exe, .. } if exe.ends_with(b"/dash") || exe.ends_with(b"/sh") => saw_exec = true,
                Body::File { path, .. } if *path == childs.as_bytes() => saw_write = true,
                _ => {}
            }
        }
        assert!(Instant::now() < deadline, "exec seen: {saw_exec}, child's /etc write seen: {saw_write}");
    }
    for area in ["process_", "file_", "net_", "dns_", "kernel_"] {
        assert!(sensor.attached().iter().any(|p| p.starts_with(area)), "no {area}* program attached");
    }
}

#[test]
fn bad_ring_size_is_a_clear_error() {
    let cfg = SensorConfig { ring_bytes: 12345, ..SensorConfig::default() };
    let err = match Sensor::load(&cfg) {
        Ok(_) => panic!("a ring of 12345 bytes must be refused"),
        Err(e) => e.to_string(),
    };
    // Without root the preflight error comes first; both are clear messages.
    assert!(err.contains("power of two") || err.contains("needs root"), "{err}");
}

#[test]
fn verifier_rejection_carries_the_verifier_log() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let obj = dir.path().join("rejected.bpf.o");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rejected.bpf.c");
    let status = std::process::Command::new("clang")
        .args(["-O2", "-g", "-target", "bpf", "-c", src, "-o"])
        .arg(&obj)
        .status()
        .expect("clang (installed by scripts/install-deps.sh)");
    assert!(status.success());
    let err = saker_sensor::check_object(&std::fs::read(&obj).unwrap()).expect_err("the verifier must refuse it");
    let msg = err.to_string();
    assert!(msg.contains("verifier log"), "{msg}");
    assert!(msg.contains("saker_rejected"), "names the program: {msg}");
    assert!(msg.contains("invalid mem access") || msg.contains("R1"), "carries the verifier's words: {msg}");
}

#[test]
fn the_real_object_passes_the_verifier() {
    if !root() {
        return;
    }
    assert!(saker_sensor::check_object(saker_sensor::BPF_OBJECT).unwrap() > 50);
}
