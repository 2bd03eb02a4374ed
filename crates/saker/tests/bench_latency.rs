//! `saker bench latency --quick` end to end (issue 6): a real server and a
//! real agent on this machine; it must exit 0, print a complete table and
//! see every trigger's finding. Benchmarks are not timed tests: nothing here
//! looks at a latency.

use std::process::Command;

const SAKER: &str = env!("CARGO_BIN_EXE_saker");

/// The table's rows (header first), cells trimmed.
fn table(stdout: &str) -> Vec<Vec<&str>> {
    stdout
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .map(|l| l.trim().trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

#[test]
fn quick_latency_bench_sees_every_trigger() {
    if !saker_testkit::privileged() {
        return;
    }
    let out = Command::new(SAKER).args(["bench", "latency", "--quick"]).output().expect("running saker bench latency");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "saker bench latency --quick: {}\n{stdout}\n{stderr}", out.status);

    let rows = table(&stdout);
    assert_eq!(rows.len(), 5, "a header and four rows:\n{stdout}");
    let header = &rows[0];
    assert_eq!(header, &["latency", "triggers", "seen", "missed", "p50", "p90", "p99", "max"], "{stdout}");
    for row in &rows[1..] {
        assert_eq!(row.len(), header.len(), "row {row:?} in\n{stdout}");
        assert!(row.iter().all(|c| !c.is_empty() && *c != "n/a"), "a cell without a value in {row:?}:\n{stdout}");
        assert_eq!(row[1], "50", "--quick fires 50 triggers:\n{stdout}");
        assert_eq!(row[3], "0", "missed triggers:\n{stdout}\n{stderr}");
        assert_eq!(row[2], "50", "{stdout}");
    }
    assert!(stdout.contains("Target p99 ≤ 1 s"), "{stdout}");
}

#[test]
fn latency_json_has_a_sample_per_trigger() {
    if !saker_testkit::privileged() {
        return;
    }
    let out = Command::new(SAKER)
        .args(["bench", "latency", "--json", "--triggers", "10", "--rate", "50"])
        .output()
        .expect("running saker bench latency --json");
    assert!(out.status.success(), "{}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["triggers"], 10, "{doc:#}");
    assert_eq!(doc["missed"], 0, "{doc:#}");
    assert_eq!(doc["finding_type"], "DefenseEvasion:Runtime/ProcessInjection.VirtualMemoryWrite");
    assert!(doc["kernel_to_api"]["p99_ms"].is_number(), "{doc:#}");
    assert!(doc["call_to_api"]["p50_ms"].is_number(), "{doc:#}");
    assert!(doc["machine"]["kernel"].is_string());
    let samples = doc["samples"].as_array().expect("samples");
    assert_eq!(samples.len(), 10);
    assert!(samples.iter().all(|s| s["event_time"].is_string() && s["kernel_to_api_ms"].is_number()), "{doc:#}");
}

#[test]
fn latency_bench_without_root_is_a_clear_error_with_exit_code_2() {
    if !saker_testkit::privileged() {
        return; // becoming another user needs root
    }
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", SAKER, "bench", "latency", "--quick"])
        .output()
        .expect("running setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs root"), "{stderr}");
}
