//! Issue 5's promise with a real process: `kill -9` the server during
//! ingest, restart it on the same data directory and ports, and nothing
//! acknowledged is lost — every finding the agent produced is stored exactly
//! once.
//!
//! The server is the `saker server` binary on SQLite in a temp dir; the agent
//! side is the real uplink (spool, client thread, TLS pinned to the server's
//! certificate) in this test process, fed through its sink, so no BPF and no
//! root are needed: this test runs everywhere, unprivileged. What is stored
//! is read back through the REST API, as a user would.
//!
//! No timing is asserted: every wait has a generous deadline and says what it
//! was waiting for when it gives up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_agent::Sink;
use saker_agent::uplink::{Uplink, UplinkConfig, UplinkContext, UplinkSink};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[path = "../../server/tests/support/finding_fixture.rs"]
mod finding_fixture;
use finding_fixture::finding;

const SAKER: &str = env!("CARGO_BIN_EXE_saker");
/// Findings the agent produces, each with its own id.
const N: u32 = 2000;
/// Acknowledged findings before the kill: enough that the stream is busy.
const KILL_AFTER_ACKED: u64 = 300;

/// A `saker server` process; killed (SIGKILL) if the test ends early.
struct ServerProcess {
    child: Child,
}

impl ServerProcess {
    /// Start `saker server` and wait until it says it serves. The ports of a
    /// killed server may take a moment to come free: a start that exits
    /// early is retried.
    fn start(data_dir: &Path, http: SocketAddr, grpc: SocketAddr) -> ServerProcess {
        let log = data_dir.join("server.log");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut child = Command::new(SAKER)
                .arg("server")
                .arg("--data-dir")
                .arg(data_dir)
                .args(["--listen", &http.to_string(), "--grpc-listen", &grpc.to_string()])
                .env("RUST_LOG", "info")
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            // Read stdout on a thread (a line may never come) and keep
            // draining it so the server never blocks on a full pipe.
            let stdout = child.stdout.take().unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            let ready = loop {
                match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(line) if line.contains("console and API at") => break true,
                    Ok(_) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break false,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        assert!(
                            Instant::now() < deadline,
                            "saker server did not start within 120 s; its log:\n{}",
                            std::fs::read_to_string(&log).unwrap_or_default()
                        );
                    }
                }
            };
            if ready {
                return ServerProcess { child };
            }
            let status = child.wait().unwrap();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                Instant::now() < deadline && text.contains("in use"),
                "saker server exited ({status}) before serving; its log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `kill -9`: no shutdown path runs, connections die mid-batch.
    fn kill9(mut self) {
        // SAFETY: kill(2) on our own child's pid, which we have not reaped
        // yet, so the pid cannot have been reused.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGKILL) };
        assert_eq!(rc, 0, "kill -9 the server: {}", std::io::Error::last_os_error());
        let status = self.child.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL), "{status}");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `saker server <args> --data-dir DIR`, which prints one line: a token.
fn server_tool(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(SAKER).arg("server").args(args).arg("--data-dir").arg(data_dir).output().unwrap();
    assert!(out.status.success(), "saker server {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A loopback address nobody listens on (yet).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn id(i: u32) -> String {
    format!("crash-{i:05}")
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < end, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every stored finding's `service.count`, by id, through the REST API
/// (all pages).
fn stored_counts(http: SocketAddr, token: &str) -> HashMap<String, u64> {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let mut counts = HashMap::new();
    let mut next: Option<String> = None;
    loop {
        let body = json!({ "maxResults": 500, "nextToken": next });
        let resp = client
            .post(format!("http://{http}/api/v1/findings/search"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        let status = resp.status();
        let text = resp.text().unwrap();
        assert!(status.is_success(), "findings search: {status}: {text}");
        let page: Value = serde_json::from_str(&text).unwrap();
        for f in page["findings"].as_array().expect("a findings array") {
            let id = f["id"].as_str().expect("an id").to_owned();
            let count = f["service"]["count"].as_u64().expect("a count");
            assert!(counts.insert(id.clone(), count).is_none(), "{id} listed twice");
        }
        match page["nextToken"].as_str() {
            Some(t) => next = Some(t.to_owned()),
            None => return counts,
        }
    }
}

fn push_all(mut sink: UplinkSink) {
    // Small chunks with a pause: the pipeline's rhythm, so batches keep
    // flowing while the server dies and comes back.
    for chunk in 0..N / 5 {
        for i in chunk * 5 + 1..=chunk * 5 + 5 {
            sink.write_finding(&finding(&id(i), 1)).unwrap();
        }
        sink.flush().unwrap();
        std::thread::sleep(Duration::from_millis(3));
    }
}

#[test]
fn kill_9_the_server_during_ingest_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir: PathBuf = dir.path().join("server");
    let (http, grpc) = (free_addr(), free_addr());
    // The offline tools create the store and the administrator account.
    let agent_token = server_tool(&data_dir, &["enroll", "--account", "admin", "--name", "crash-test"]);
    let api_token = server_tool(&data_dir, &["token", "--account", "admin", "--name", "crash-test"]);

    let server = ServerProcess::start(&data_dir, http, grpc);
    let pem = std::fs::read(data_dir.join("tls/server.crt")).unwrap();
    let mut cfg =
        UplinkConfig::new(&format!("https://{grpc}"), &agent_token, Some(&pem), dir.path().join("agent")).unwrap();
    cfg.heartbeat = Duration::from_millis(500);
    cfg.backoff_initial = Duration::from_millis(100);
    cfg.backoff_max = Duration::from_secs(1);
    cfg.shutdown_grace = Duration::from_secs(2);
    let ctx = UplinkContext { mode: "host", ..UplinkContext::default() };
    let agent = Uplink::open(cfg).unwrap().start(ctx).unwrap();
    wait_for("the agent's stream", Duration::from_secs(60), || agent.status().connects == 1);

    let producer = {
        let sink = agent.sink();
        std::thread::spawn(move || push_all(sink))
    };
    wait_for("acknowledgements before the kill", Duration::from_secs(120), || agent.status().acked >= KILL_AFTER_ACKED);
    let pending = agent.spool_stats().pending.load(Ordering::Relaxed);
    server.kill9();
    // Once the process is gone no acknowledgement can come, and the client
    // forgets a record only on one: every record up to `acked` was
    // committed by the killed server, and will never be sent again.
    let acked = agent.status().acked;
    eprintln!("killed the server with {acked} findings acknowledged and {pending} spooled before the kill");
    assert!(acked >= KILL_AFTER_ACKED);
    wait_for("the agent to notice the dead server", Duration::from_secs(60), || !agent.status().connected);

    let server = ServerProcess::start(&data_dir, http, grpc);
    producer.join().unwrap();
    wait_for("every finding acknowledged after the restart", Duration::from_secs(180), || {
        agent.status().acked >= u64::from(N) && agent.spool_stats().pending.load(Ordering::Relaxed) == 0
    });
    let s = agent.status();
    assert!(s.connects >= 2, "the agent reconnected to the restarted server: {s:?}");

    let counts = stored_counts(http, &api_token);
    // The spool numbers records 1, 2, … in the order written: finding i is
    // record i, so `acked` names the findings acknowledged before the kill.
    let acked = u32::try_from(acked).unwrap();
    for i in 1..=acked {
        assert_eq!(counts.get(&id(i)), Some(&1), "{} was acknowledged before the kill: stored once", id(i));
    }
    for i in acked + 1..=N {
        assert_eq!(counts.get(&id(i)), Some(&1), "{}: delivered after the restart, stored once", id(i));
    }
    assert_eq!(counts.len(), N as usize, "nothing else stored");
    agent.shutdown();
    drop(server);
}
