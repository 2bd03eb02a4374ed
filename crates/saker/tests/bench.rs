//! `saker bench --quick` end to end (issue 6): it must exit 0 and print a
//! complete table — a row for every workload × configuration, no cell
//! empty. Benchmarks are not timed tests: nothing here looks at a number.

use std::process::Command;

const SAKER: &str = env!("CARGO_BIN_EXE_saker");
const WORKLOADS: [&str; 4] = ["open-close", "exec-storm", "connect-storm", "build"];
const CONFIGS: [&str; 4] = ["bare", "floor", "saker", "auditd"];

#[test]
fn quick_bench_prints_a_complete_table() {
    if !saker_testkit::privileged() {
        return;
    }
    let out = Command::new(SAKER).args(["bench", "--quick"]).output().expect("running saker bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "saker bench --quick: {}\n{stdout}\n{stderr}", out.status);

    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .map(|l| l.trim().trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    let header = rows.first().expect("a table header");
    assert_eq!(header[0], "workload", "{stdout}");
    for row in &rows {
        assert_eq!(row.len(), header.len(), "row {row:?} in\n{stdout}");
        assert!(row.iter().all(|c| !c.is_empty()), "empty cell in {row:?}:\n{stdout}");
    }
    for w in WORKLOADS {
        for c in CONFIGS {
            let row = rows
                .iter()
                .find(|r| r[0].starts_with(&format!("{w} (")) && r[1] == c)
                .unwrap_or_else(|| panic!("no row for {w} × {c} in\n{stdout}"));
            // Bare and Saker always run; the floor and auditd may be
            // unavailable on a machine, with the reason printed.
            if c == "bare" || c == "saker" {
                assert!(!row.contains(&"unavailable"), "{w} × {c} did not run:\n{stdout}\n{stderr}");
            }
            if c == "saker" {
                assert!(row.iter().skip(2).all(|cell| *cell != "n/a"), "{w} × saker lacks a number: {row:?}");
            }
        }
    }
    if stdout.contains("unavailable") {
        eprintln!("NOTE: some configurations were unavailable:\n{stdout}");
    }
}

#[test]
fn quick_bench_json_is_a_document() {
    if !saker_testkit::privileged() {
        return;
    }
    let out = Command::new(SAKER)
        .args(["bench", "--quick", "--json", "--workloads", "connect-storm", "--configs", "bare,saker"])
        .output()
        .expect("running saker bench --json");
    assert!(out.status.success(), "{}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert!(doc["machine"]["kernel"].is_string());
    let results = doc["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(results[1]["config"], "saker");
    assert!(results[1]["events_per_s"].is_number(), "{doc}");
    assert!(results[1]["ratio_vs_bare"].is_number(), "{doc}");
}

#[test]
fn bench_without_root_is_a_clear_error_with_exit_code_2() {
    if !saker_testkit::privileged() {
        return; // becoming another user needs root
    }
    // setpriv (util-linux) drops to nobody for this one command.
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", SAKER, "bench", "--quick"])
        .output()
        .expect("running setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs root"), "{stderr}");
}

/// `saker bench pipeline --quick` replays the committed recording: it must
/// decode every record and report a throughput (user space only, no root).
#[test]
fn quick_pipeline_bench_replays_the_committed_recording() {
    let out = Command::new(SAKER).args(["bench", "pipeline", "--quick", "--json"]).output().expect("running saker");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    let stats = &v["stats"];
    assert_eq!(stats["decodeErrors"], 0, "{v:#}");
    assert_eq!(stats["eventsIn"], stats["records"].as_u64().unwrap_or(0) * 3, "three loops: {v:#}");
    assert!(stats["findingsByType"]["Backdoor:Runtime/C&CActivity.B!DNS"].as_u64().is_some_and(|n| n > 0), "{v:#}");
}
