//! The committed recording (`crates/bench/assets/mixed.sakerrec.gz`, see
//! `record_asset.rs`) replays through decode → enrich → detect: every record
//! decodes, events come out, and detection finds what the recorded activity
//! did. No timing assertions: this machine's speed is not under test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_agent::DetectionConfig;
use saker_agent::replay::{load, replay};
use std::path::PathBuf;

fn asset() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/assets/mixed.sakerrec.gz"))
}

#[test]
fn committed_recording_replays_with_findings() {
    let stats = replay(&asset(), 2, Some(DetectionConfig::default())).unwrap();
    assert!(stats.records >= 20_000, "{} records", stats.records);
    assert_eq!(stats.events_in, stats.records * 2);
    assert_eq!(stats.decode_errors, 0);
    assert!(stats.events_out > 0);
    // The recorded mix: process lifecycle, files, network, DNS, libraries.
    for kind in
        ["process.exec", "process.fork", "process.exit", "file.write", "net.connect", "dns.query", "library.load"]
    {
        assert!(stats.events_by_kind.get(kind).is_some_and(|&n| n > 0), "no {kind} in {:?}", stats.events_by_kind);
    }
    // The activity resolved one of GuardDuty's test domains and wrote a file
    // named release_agent.
    for t in ["Backdoor:Runtime/C&CActivity.B!DNS", "PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified"] {
        assert!(stats.findings_by_type.contains_key(t), "no {t} in {:?}", stats.findings_by_type);
    }
    assert!(stats.cpu_seconds > 0.0 && stats.first_loop_cpu_seconds <= stats.cpu_seconds);
    let split = stats.decode_cpu_seconds + stats.enrich_cpu_seconds + stats.detect_cpu_seconds;
    assert!(split <= stats.cpu_seconds * 1.01, "stages {split} s > total {} s", stats.cpu_seconds);
}

#[test]
fn enrichment_alone_and_recorded_times() {
    let stats = replay(&asset(), 1, None).unwrap();
    assert!(!stats.detection);
    assert_eq!(stats.findings, 0);
    assert!(stats.events_out > 0);
    // The recording's clock offset is used: its times are from when it was
    // recorded (2026), not from replaying now on an arbitrary boot.
    let (_, offset) = load(&asset()).unwrap();
    assert!(offset > 1_700_000_000_000_000_000, "offset {offset}");
}

#[test]
fn damaged_recording_is_a_clear_error() {
    let bytes = std::fs::read(asset()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.sakerrec.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = replay(&cut, 1, None).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
    let missing = replay(&dir.path().join("absent"), 1, None).unwrap_err().to_string();
    assert!(missing.contains("absent"), "{missing}");
}
