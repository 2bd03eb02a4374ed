//! Gzip JSON Lines files: the exact S3-style layout, rotation by size and by
//! age, nothing visible under a final name until it is a complete gzip, and
//! recovery of what a crash left half-written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{DateTime, Duration, Utc};
use flate2::read::GzDecoder;
use saker_detect::Finding;
use saker_export::config::{FilesConfig, JsonFormat};
use saker_export::s3files::{FileWriter, JsonlFiles};
use saker_export::sink::Sink;
use saker_export::{ExportItem, FindingState, ManualClock};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::*;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T14:31:07Z").unwrap().with_timezone(&Utc)
}

fn config(format: JsonFormat, max_file_bytes: u64) -> FilesConfig {
    FilesConfig {
        name: "lake".into(),
        root: PathBuf::from("unused"),
        prefix: "exports/saker".into(),
        format,
        max_file_bytes,
        max_file_age_secs: 300,
    }
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn finals(dir: &Path) -> Vec<String> {
    files(dir).into_iter().filter(|f| f.ends_with(".jsonl.gz")).collect()
}

/// Decompress a whole file; fails unless the gzip stream is complete.
fn lines(path: &Path) -> Vec<String> {
    let mut text = String::new();
    GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut text).expect("a complete gzip stream");
    assert!(text.ends_with('\n'), "every line ends with a newline");
    text.lines().map(str::to_owned).collect()
}

/// `<prefix>/<account>/<region>/<yyyy>/<mm>/<dd>/<HHMMSS>-<uuid>.jsonl.gz`
fn assert_layout(rel: &str, account: &str, region: &str, date: &str, hms: &str) {
    let parts: Vec<&str> = rel.split('/').collect();
    assert_eq!(parts.len(), 8, "{rel}");
    assert_eq!(&parts[..7], ["exports", "saker", account, region, &date[..4], &date[5..7], &date[8..10]], "{rel}");
    let name = parts[7];
    let (time, rest) = name.split_once('-').unwrap();
    assert_eq!(time, hms, "{rel}");
    let uuid = rest.strip_suffix(".jsonl.gz").unwrap();
    assert_eq!(uuid::Uuid::parse_str(uuid).unwrap().get_version_num(), 4, "{rel}");
}

fn other_account() -> Finding {
    edit(&c2_dns_container(), |j| {
        j["accountId"] = "999999999999".into();
        j["region"] = "ap-south-1".into();
    })
}

#[tokio::test]
async fn layout_is_exact_and_files_appear_only_complete() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let sink = JsonlFiles::new(&config(JsonFormat::Raw, 1 << 20), dir.path(), ctx(), Arc::new(clock.clone())).unwrap();
    let batch =
        vec![new(reverse_shell_ecs()), new(other_account()), ExportItem::new(c2_ip_instance(), FindingState::Updated)];
    let report = sink.deliver(&batch).await;
    assert_eq!((report.delivered, report.failed), (3, 0), "{report:?}");

    // Written, but under hidden .partial names only.
    assert!(finals(dir.path()).is_empty(), "{:?}", files(dir.path()));
    assert_eq!(files(dir.path()).iter().filter(|f| f.ends_with(".jsonl.gz.partial")).count(), 2);

    // Not yet old enough: nothing moves.
    clock.advance(Duration::seconds(299));
    assert!(sink.tick().await.is_empty());
    assert!(finals(dir.path()).is_empty());

    clock.advance(Duration::seconds(1));
    sink.tick().await;
    let done = finals(dir.path());
    assert_eq!(done.len(), 2, "{done:?}");
    assert_eq!(files(dir.path()), done, "no partial file left");
    assert_layout(&done[0], "123456789012", "eu-west-1", "2026-11-28", "143107");
    assert_layout(&done[1], "999999999999", "ap-south-1", "2026-11-28", "143107");

    let parsed = |rel: &str| -> Vec<Finding> {
        lines(&dir.path().join(rel)).iter().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    assert_eq!(parsed(&done[0]), vec![batch[0].finding.clone(), batch[2].finding.clone()]);
    assert_eq!(parsed(&done[1]), vec![batch[1].finding.clone()]);
}

#[tokio::test]
async fn rotates_by_size_and_keeps_every_line_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let one = serde_json::to_vec(&reverse_shell_ecs()).unwrap().len() as u64 + 1;
    // Room for two findings per file.
    let sink =
        JsonlFiles::new(&config(JsonFormat::Raw, 2 * one + 10), dir.path(), ctx(), Arc::new(clock.clone())).unwrap();
    let mut sent = Vec::new();
    for i in 0..5u64 {
        let f = edit(&reverse_shell_ecs(), |j| j["service"]["count"] = (i + 1).into());
        sent.push(f.clone());
        assert_eq!(sink.deliver(&[new(f)]).await.delivered, 1);
        clock.advance(Duration::seconds(1));
    }
    // Two full files closed by size while writing; the third on close.
    assert_eq!(finals(dir.path()).len(), 2);
    sink.close().await;
    let done = finals(dir.path());
    assert_eq!(done.len(), 3, "{done:?}");
    assert_layout(&done[0], "123456789012", "eu-west-1", "2026-11-28", "143107");
    assert_layout(&done[1], "123456789012", "eu-west-1", "2026-11-28", "143109");
    assert_layout(&done[2], "123456789012", "eu-west-1", "2026-11-28", "143111");
    let back: Vec<Finding> =
        done.iter().flat_map(|rel| lines(&dir.path().join(rel))).map(|l| serde_json::from_str(&l).unwrap()).collect();
    assert_eq!(back, sent);
}

#[tokio::test]
async fn lines_hold_the_configured_format() {
    for (format, key, value) in [
        (JsonFormat::Asff, "SchemaVersion", "2018-10-08"),
        (JsonFormat::Ocsf, "class_name", "Detection Finding"),
        (JsonFormat::Eventbridge, "detail-type", "Saker Finding"),
        (JsonFormat::Falco, "source", "saker"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let sink =
            JsonlFiles::new(&config(format, 1 << 20), dir.path(), ctx(), Arc::new(ManualClock::new(t0()))).unwrap();
        sink.deliver(&[new(reverse_shell_ecs()), new(malicious_file_eks())]).await;
        sink.close().await;
        let done = finals(dir.path());
        let got = lines(&dir.path().join(&done[0]));
        assert_eq!(got.len(), 2);
        for l in got {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            assert_eq!(v[key], value, "{format:?}");
        }
    }
}

#[test]
fn a_crash_leaves_a_partial_file_that_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("saker");
    let mut w = FileWriter::new(base.clone(), 1 << 20, Duration::minutes(5)).unwrap();
    let a = serde_json::to_vec(&reverse_shell_ecs()).unwrap();
    let b = serde_json::to_vec(&c2_ip_instance()).unwrap();
    w.write_line("123456789012", "eu-west-1", &a, t0()).unwrap();
    w.write_line("123456789012", "eu-west-1", &b, t0()).unwrap();
    w.flush().unwrap();
    // A crash: no gzip trailer, no rename (forget skips the encoder's Drop).
    std::mem::forget(w);
    assert!(finals(&base).is_empty());

    let _restarted = FileWriter::new(base.clone(), 1 << 20, Duration::minutes(5)).unwrap();
    let done = finals(&base);
    assert_eq!(done.len(), 1, "{:?}", files(&base));
    assert_eq!(files(&base), done, "the partial file is gone");
    let got = lines(&base.join(&done[0]));
    assert_eq!(got, [String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap()]);
}
