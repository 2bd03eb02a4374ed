//! The README's main command, as a newcomer runs it: `saker up` starts the
//! server, the console and a local agent and prints the console URL and a
//! token; `saker simulate` runs harmless techniques; `saker findings list`
//! and `saker coverage` then show the findings and this host — through the
//! real API, from the real store, and in the console in headless Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)] // the console tests use the rest of the driver
#[path = "../../server/tests/support/browser.rs"]
mod browser;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SAKER: &str = env!("CARGO_BIN_EXE_saker");

struct Up {
    child: Child,
    url: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `saker up` on free ports and read what it prints.
fn up() -> Up {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(SAKER)
        .args(["up", "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut token) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while (url.is_none() || token.is_none()) && Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(u) = line.trim().strip_prefix("console:") {
            url = Some(u.trim().to_owned());
        }
        if let Some(t) = line.trim().strip_prefix("token:") {
            token = t.split_whitespace().next().map(str::to_owned);
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let url = url.expect("saker up printed the console URL");
    let token = token.expect("saker up printed a token");
    assert!(url.ends_with(&format!("/#token={token}")), "the printed link signs in: {url}");
    Up { child, url: url.split("/#").next().unwrap().to_owned(), token, _dir: dir }
}

fn cli(up: &Up, args: &[&str]) -> Value {
    let out =
        Command::new(SAKER).args(args).env("SAKER_SERVER", &up.url).env("SAKER_TOKEN", &up.token).output().unwrap();
    assert!(out.status.success(), "saker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

const SIMULATED: [&str; 4] = [
    "Backdoor:Runtime/C&CActivity.B!DNS",
    "Execution:Runtime/ReverseShell",
    "DefenseEvasion:Runtime/ProcessInjection.Ptrace",
    "Persistence:Runtime/SensitiveFileModified",
];

/// Run `saker simulate`, then wait until the API lists every simulated type.
fn simulate_and_wait(up: &Up) -> Vec<Value> {
    let sim = Command::new(SAKER).arg("simulate").output().unwrap();
    assert!(sim.status.success(), "{}", String::from_utf8_lossy(&sim.stdout));
    let expected = SIMULATED;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = cli(up, &["findings", "list", "--json", "--max", "500"]);
        let findings = page["findings"].as_array().cloned().unwrap_or_default();
        let have = |t: &str| findings.iter().any(|f| f["type"] == t);
        if expected.iter().all(|t| have(t)) {
            return findings;
        }
        assert!(
            Instant::now() < deadline,
            "missing findings; got {:#?}",
            findings.iter().map(|f| &f["type"]).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn up_simulate_and_see_the_findings_through_the_api() {
    if !saker_testkit::privileged() {
        return;
    }
    let up = up();
    let findings = simulate_and_wait(&up);
    // Lineage and resource are there, as the console shows them.
    let shell = findings.iter().find(|f| f["type"] == "Execution:Runtime/ReverseShell").unwrap();
    assert_eq!(shell["resource"]["resourceType"], "Instance");
    assert!(shell["service"]["runtimeDetails"]["process"]["lineage"].as_array().is_some_and(|l| !l.is_empty()));
    let id = shell["id"].as_str().unwrap();
    let one = cli(&up, &["findings", "show", id]);
    assert_eq!(one["id"], id);
    // This host is covered and healthy.
    let cov = cli(&up, &["coverage", "--json"]);
    let hosts = cov["resources"].as_array().unwrap();
    assert_eq!(hosts.len(), 1, "{cov}");
    assert_eq!(hosts[0]["health"], "HEALTHY", "{cov}");
    assert!(hosts[0]["attachedPrograms"].as_array().is_some_and(|p| !p.is_empty()));
}

/// The README's promise: open the printed link, run `saker simulate`, see the
/// findings with lineage and resource in the console.
#[test]
fn up_simulate_and_see_the_findings_in_the_console() {
    if !saker_testkit::privileged() {
        return;
    }
    let up = up();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let Some(b) = browser::Browser::start_or_skip("up_simulate_and_see_the_findings_in_the_console").await else {
            return;
        };
        let findings = tokio::task::block_in_place(|| simulate_and_wait(&up));
        let shell = findings.iter().find(|f| f["type"] == "Execution:Runtime/ReverseShell").unwrap();
        let id = shell["id"].as_str().unwrap().to_owned();
        b.goto(&format!("{}/#token={}", up.url, up.token)).await;
        b.wait_for("[data-view=findings][data-loaded]").await;
        let row = format!("tr[data-id='{id}'] a.finding-link");
        b.wait_for(&row).await;
        let types = b
            .js("return [...document.querySelectorAll('#findings-table tbody tr[data-id]')].map(r => r.textContent)")
            .await;
        for t in SIMULATED {
            assert!(types.as_array().unwrap().iter().any(|r| r.as_str().unwrap().contains(t)), "{t} in {types}");
        }
        b.click(&row).await;
        b.wait_for("[data-view=findings][data-loaded] #lineage").await;
        assert!(b.text("#finding-type").await.contains("Execution:Runtime/ReverseShell"));
        let nodes = b.js("return document.querySelectorAll('#lineage .proc-node').length").await;
        assert!(nodes.as_u64().unwrap() >= 2, "the shell and its ancestors: {nodes}");
        assert!(b.page_text().await.contains("Instance"), "the resource is this host");
        b.finish().await;
    });
}

#[test]
fn a_wrong_token_is_refused_by_the_cli() {
    if !saker_testkit::privileged() {
        return;
    }
    let up = up();
    let out = Command::new(SAKER)
        .args(["findings", "list"])
        .env("SAKER_SERVER", &up.url)
        .env("SAKER_TOKEN", "sk_api_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401") && err.contains("unknown or revoked token"), "{err}");
    let out = Command::new(SAKER)
        .args(["findings", "list"])
        .env("SAKER_SERVER", &up.url)
        .env_remove("SAKER_TOKEN")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no token"), "{}", String::from_utf8_lossy(&out.stderr));
}
