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
fn an_agent_with_no_output_is_a_clear_error() {
    let out = Command::new(SAKER).args(["agent"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--events-out, --findings-out, or a [server] section"), "{err}");
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
        // A debug build on a busy CI machine can exceed the default 5 % CPU
        // budget and shed file.write: this test is about filtering, not budget.
        .args(["--log-format", "json", "agent", "--budget-cpu-percent", "100", "--kinds", "process.exec,file.write"])
        .arg("--events-out")
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

#[test]
fn findings_types_lists_the_catalog() {
    let out = Command::new(SAKER).args(["findings", "types"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Execution:Runtime/ReverseShell") && text.contains("High"), "{text}");
    assert!(text.contains("46 types"), "{text}");
    let out = Command::new(SAKER).args(["findings", "types", "--json"]).output().unwrap();
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 46);
    assert!(lines.iter().all(|t| t["type"].as_str().unwrap().contains(":Runtime/") && t["severity"].is_number()));
}

#[test]
fn findings_categories_name_the_types_each_leads_to() {
    let out = Command::new(SAKER).args(["findings", "categories"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |category: &str| text.lines().find(|l| l.split_whitespace().next() == Some(category)).unwrap_or("");
    assert!(line("c2").contains("Backdoor:Runtime/C&CActivity.B!DNS"), "{text}");
    assert!(line("tor-client").contains("UnauthorizedAccess:Runtime/TorClient"), "{text}");
    assert!(!line("tor-client").contains("!DNS"), "Tor lists are addresses: {text}");
    assert!(line("custom-malicious-file").contains("MaliciousFileExecuted.Custom"), "{text}");
}

#[test]
fn bad_threat_lists_are_clear_errors() {
    let out = Command::new(SAKER).args(["agent", "--findings-out", "-", "--threat-list", "nonsense"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--threat-list nonsense") && err.contains("NAME=CATEGORY:PATH"), "{err}");
    let out =
        Command::new(SAKER).args(["agent", "--findings-out", "-", "--threat-list", "x=evil:/tmp/x"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("evil") && err.contains("c2"), "lists the categories: {err}");
    if skip_unless_root() {
        return;
    }
    let out = Command::new(SAKER)
        .args(["agent", "--findings-out", "-", "--threat-list", "x=c2:/nonexistent/list.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/list.txt"), "{err}");
}

#[test]
fn findings_out_prints_a_guardduty_finding_for_a_real_technique() {
    if skip_unless_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let findings = dir.path().join("findings.ndjson");
    let mut agent =
        Command::new(SAKER).arg("agent").arg("--findings-out").arg(&findings).stderr(Stdio::null()).spawn().unwrap();
    // A program named like a miner: Impact:Runtime/CryptoMinerExecuted.
    let miner = dir.path().join("xmrig");
    std::fs::copy("/bin/true", &miner).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let finding = loop {
        Command::new(&miner).status().unwrap();
        let text = std::fs::read_to_string(&findings).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("CryptoMinerExecuted")) {
            break serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
        assert!(Instant::now() < deadline, "no finding; file has: {text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    // SAFETY: signalling our own child.
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    assert!(agent.wait().unwrap().success());
    assert_eq!(finding["type"], "Impact:Runtime/CryptoMinerExecuted");
    assert_eq!(finding["severityLabel"], "High");
    assert_eq!(finding["resource"]["resourceType"], "Instance");
    assert_eq!(finding["service"]["featureName"], "RuntimeMonitoring");
    assert_eq!(finding["service"]["runtimeDetails"]["process"]["executablePath"], miner.display().to_string());
    assert!(finding["service"]["runtimeDetails"]["process"]["lineage"].as_array().is_some_and(|l| !l.is_empty()));
}

#[test]
fn yara_rules_scan_new_executables() {
    if skip_unless_root() {
        return;
    }
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let bad = dir.path().join("bad.yar");
    std::fs::write(&bad, "rule broken { condition: nonsense( }").unwrap();
    let out = Command::new(SAKER).args(["agent", "--findings-out", "-", "--yara"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yar"), "names the rule file: {err}");

    let rules = dir.path().join("saker-test.yar");
    std::fs::write(&rules, "rule saker_test_marker { strings: $m = \"SAKER-YARA-TEST-MARKER\" condition: $m }\n")
        .unwrap();
    let findings = dir.path().join("findings.ndjson");
    let mut agent = Command::new(SAKER)
        .arg("agent")
        .arg("--findings-out")
        .arg(&findings)
        .arg("--yara")
        .arg(&rules)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A real executable carrying the marker, run from /tmp (new by nature).
    let marked = dir.path().join("marked");
    let mut bytes = std::fs::read("/bin/sleep").unwrap();
    bytes.extend_from_slice(b"SAKER-YARA-TEST-MARKER");
    std::fs::write(&marked, bytes).unwrap();
    std::fs::set_permissions(&marked, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let finding = loop {
        // Still running while scanned: /proc/<pid>/exe is read.
        Command::new(&marked).arg("0.3").status().unwrap();
        let text = std::fs::read_to_string(&findings).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("MaliciousFileExecuted.Custom")) {
            break serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
        assert!(Instant::now() < deadline, "no YARA finding; file has: {text}");
    };
    // SAFETY: signalling our own child.
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    assert!(agent.wait().unwrap().success());
    let context = &finding["service"]["runtimeDetails"]["context"];
    assert_eq!(context["threatFilePath"], marked.display().to_string());
    assert_eq!(context["yaraRules"][0], "saker_test_marker");
    let evidence = &finding["service"]["evidence"]["threatIntelligenceDetails"][0];
    assert!(evidence["threatListName"].as_str().unwrap().starts_with("yara:"), "{evidence}");
}
