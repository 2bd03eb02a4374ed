//! gRPC ingest end to end: a real tonic server on 127.0.0.1 (an ephemeral
//! port) over a real SQLite store in a temp dir, and the real agent uplink
//! (spool, client thread, pinned TLS). Servers run on their own runtime, so
//! "killing" one (dropping the runtime with every connection task) is a
//! crash, not a graceful stop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_agent::DetectionConfig;
use saker_agent::uplink::{Uplink, UplinkConfig, UplinkContext, UplinkStatus};
use saker_agent::{Sink, uplink::UplinkSink};
use saker_detect::Finding;
use saker_proto::{AgentMessage, AgentMsg, AgentServiceClient, FindingBatch, Hello, ServerMsg, TelemetryBatch};
use saker_server::ingest::{self, HookFuture, Ingest, IngestConfig, IngestHooks};
use saker_server::tls::TlsMaterial;
use saker_store::{Heartbeat, IngestOutcome, NewList, Scope, Store, TelemetryQuery, TelemetryRecord, TokenKind};
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[path = "support/finding_fixture.rs"]
mod finding_fixture;
use finding_fixture::finding;

// ---------------------------------------------------------------- fixtures

/// Hooks that record what they are told and can exclude the agent.
struct TestHooks {
    lists: watch::Sender<i64>,
    ingested: AtomicU64,
    heartbeats: AtomicU64,
    monitoring: AtomicBool,
}

impl TestHooks {
    fn new() -> Arc<TestHooks> {
        Arc::new(TestHooks {
            lists: watch::channel(0).0,
            ingested: AtomicU64::new(0),
            heartbeats: AtomicU64::new(0),
            monitoring: AtomicBool::new(true),
        })
    }
}

impl IngestHooks for TestHooks {
    fn suppress(&self, _: &str, finding: &serde_json::Value) -> Option<String> {
        (finding["id"] == "suppressed").then(|| "rule-1".to_owned())
    }

    fn on_ingested(&self, _: &str, outcomes: &[IngestOutcome], findings: &[Finding]) {
        assert_eq!(outcomes.len(), findings.len());
        self.ingested.fetch_add(findings.len() as u64, Ordering::SeqCst);
    }

    fn on_heartbeat<'a>(&'a self, _: &'a str, _: &'a Heartbeat, _: Option<&'a Heartbeat>) -> HookFuture<'a> {
        self.heartbeats.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {})
    }

    fn agent_settings(&self, _: &str, _: &Heartbeat) -> saker_proto::AgentSettings {
        let on = self.monitoring.load(Ordering::SeqCst);
        saker_proto::AgentSettings {
            monitoring_enabled: on,
            reason: if on { String::new() } else { "ECS cluster excluded".into() },
        }
    }

    fn lists_changed(&self) -> watch::Receiver<i64> {
        self.lists.subscribe()
    }
}

/// A store file with an administrator, an agent token and an API token.
struct Fixture {
    dir: tempfile::TempDir,
    db: String,
    account: String,
    agent_token: String,
    api_token: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("saker.db").display());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (account, agent_token, api_token) = rt.block_on(async {
        let store = Store::open(&db).await.unwrap();
        let admin = store.admin_account().await.unwrap();
        let (_, agent) = store.issue_token(&admin.id, TokenKind::Agent, "agent").await.unwrap();
        let (_, api) = store.issue_token(&admin.id, TokenKind::Api, "api").await.unwrap();
        (admin.id, agent, api)
    });
    Fixture { dir, db, account, agent_token, api_token }
}

/// A server on its own runtime.
struct TestServer {
    rt: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    store: Store,
    stop: watch::Sender<bool>,
}

impl TestServer {
    fn start(db: &str, addr: SocketAddr, tls: Option<&TlsMaterial>, hooks: Arc<TestHooks>) -> TestServer {
        let config = IngestConfig { lists_poll: Duration::from_millis(200), ..IngestConfig::default() };
        TestServer::start_with(db, addr, tls, hooks, config)
    }

    fn start_with(
        db: &str,
        addr: SocketAddr,
        tls: Option<&TlsMaterial>,
        hooks: Arc<TestHooks>,
        config: IngestConfig,
    ) -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (stop, stop_rx) = watch::channel(false);
        let (store, addr) = rt.block_on(async {
            let store = Store::open(db).await.unwrap();
            let svc = Ingest::new(store.clone(), hooks).with_config(config);
            // The port of a killed server may take a moment to come free.
            for _ in 0..100 {
                match ingest::serve(addr, tls, svc.clone(), stop_rx.clone()).await {
                    Ok((addr, _task)) => return (store, addr),
                    Err(saker_server::ServerError::Bind { .. }) => tokio::time::sleep(Duration::from_millis(100)).await,
                    Err(e) => panic!("{e}"),
                }
            }
            panic!("{addr} never came free")
        });
        TestServer { rt: Some(rt), addr, store, stop }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.as_ref().unwrap().block_on(f)
    }

    /// A crash: every task, connections included, is dropped mid-flight.
    fn kill(mut self) {
        self.rt.take().unwrap().shutdown_background();
    }

    /// A graceful stop: streams end with UNAVAILABLE, the listener closes.
    fn stop(mut self) {
        self.stop.send_replace(true);
        std::thread::sleep(Duration::from_millis(300));
        self.rt.take().unwrap().shutdown_timeout(Duration::from_secs(5));
    }

    fn count(&self, id: &str) -> Option<u64> {
        let f = self.block_on(self.store.finding(&Scope::All, id)).unwrap()?;
        f["service"]["count"].as_u64()
    }

    /// Every stored telemetry event, newest first (all pages).
    fn telemetry(&self) -> Vec<TelemetryRecord> {
        let mut q = TelemetryQuery { max_results: 3, ..Default::default() };
        let mut out = Vec::new();
        loop {
            let page = self.block_on(self.store.search_telemetry(&Scope::All, &q)).unwrap();
            out.extend(page.events);
            match page.next_token {
                Some(t) => q.next_token = Some(t),
                None => return out,
            }
        }
    }

    fn total(&self) -> usize {
        let q = saker_store::FindingQuery { max_results: 500, ..Default::default() };
        self.block_on(self.store.search_findings(&Scope::All, &q)).unwrap().findings.len()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            self.stop.send_replace(true);
            rt.shutdown_background();
        }
    }
}

/// An address on loopback nobody listens on (yet).
fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn uplink_config(dir: &Path, url: &str, token: &str, pem: Option<&str>) -> UplinkConfig {
    let mut cfg = UplinkConfig::new(url, token, pem.map(str::as_bytes), dir).unwrap();
    cfg.heartbeat = Duration::from_millis(300);
    cfg.backoff_initial = Duration::from_millis(100);
    cfg.backoff_max = Duration::from_millis(800);
    cfg.shutdown_grace = Duration::from_secs(2);
    cfg
}

fn start_agent(cfg: UplinkConfig, detection: Option<DetectionConfig>) -> Uplink {
    let ctx = UplinkContext { mode: "host", attached: vec!["exec_tp".into()], detection, ..UplinkContext::default() };
    Uplink::open(cfg).unwrap().start(ctx).unwrap()
}

fn push(sink: &mut UplinkSink, ids: impl IntoIterator<Item = String>) {
    for id in ids {
        sink.write_finding(&finding(&id, 1)).unwrap();
    }
    sink.flush().unwrap();
}

/// A `process.exit` event as the pipeline hands it to sinks, numbered by
/// its process name (`p<i>`).
fn event_json(i: u32) -> serde_json::Value {
    json!({
        "kind": "process.exit", "time": format!("2026-11-28T10:00:{:02}Z", i % 60), "container": null,
        "process": { "uuid": "5b0c3c2e-0000-4000-8000-000000000001", "pid": 100 + i, "nsPid": 1,
            "name": format!("p{i}"), "executable": "/usr/bin/true", "argv": ["true"],
            "uid": 0, "euid": 0, "gid": 0, "egid": 0 },
        "exit": { "exitCode": 0 }
    })
}

fn push_events(sink: &mut UplinkSink, range: std::ops::RangeInclusive<u32>) {
    for i in range {
        // The event type is the sink's (saker_model::Event), inferred.
        sink.write(&serde_json::from_value(event_json(i)).unwrap()).unwrap();
    }
    sink.flush().unwrap();
}

/// Process names of stored telemetry, sorted.
fn names(events: &[TelemetryRecord]) -> Vec<String> {
    let mut v: Vec<String> = events.iter().map(|e| e.event["process"]["name"].as_str().unwrap().to_owned()).collect();
    v.sort();
    v
}

/// One raw stream: Hello, then `msgs`; the acknowledged seqs, waiting for
/// one Ack per message.
fn raw_session(srv: &TestServer, token: &str, msgs: Vec<AgentMsg>) -> Vec<u64> {
    srv.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(srv.url()).unwrap().connect().await.unwrap();
        let mut client = AgentServiceClient::new(channel);
        let (tx, rx) = tokio::sync::mpsc::channel(msgs.len() + 1);
        tx.send(AgentMessage { msg: Some(AgentMsg::Hello(hello())) }).await.unwrap();
        let want = msgs.len();
        for m in msgs {
            tx.send(AgentMessage { msg: Some(m) }).await.unwrap();
        }
        let mut req = tonic::Request::new(tonic::codegen::tokio_stream::wrappers::ReceiverStream::new(rx));
        req.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        let mut inbound = client.connect(req).await.unwrap().into_inner();
        let mut acks = Vec::new();
        while acks.len() < want
            && let Ok(Ok(Some(m))) = tokio::time::timeout(Duration::from_secs(10), inbound.message()).await
        {
            if let Some(ServerMsg::Ack(a)) = m.msg {
                acks.push(a.seq);
            }
        }
        drop(tx);
        acks
    })
}

fn ids(range: std::ops::RangeInclusive<u32>) -> impl Iterator<Item = String> {
    range.map(|i| format!("f{i:04}"))
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < end, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn delivered(agent: &Uplink, seq: u64) -> impl FnMut() -> bool + '_ {
    move || {
        let s: UplinkStatus = agent.status();
        s.acked >= seq && agent.spool_stats().pending.load(Ordering::Relaxed) == 0
    }
}

// ------------------------------------------------------------------ tests

#[test]
fn findings_are_acknowledged_and_stored_exactly_once() {
    let fx = fixture();
    let hooks = TestHooks::new();
    let srv = TestServer::start(&fx.db, "127.0.0.1:0".parse().unwrap(), None, hooks.clone());
    let agent = start_agent(uplink_config(&fx.dir.path().join("agent"), &srv.url(), &fx.agent_token, None), None);
    let mut sink = agent.sink();
    push(&mut sink, ids(1..=5));
    wait_for("5 findings acknowledged", Duration::from_secs(30), delivered(&agent, 5));
    assert_eq!(srv.total(), 5);
    for id in ids(1..=5) {
        assert_eq!(srv.count(&id), Some(1), "{id} stored once");
    }
    let stored = srv.block_on(srv.store.finding(&Scope::All, "f0001")).unwrap().unwrap();
    assert_eq!(stored["accountId"], fx.account.as_str(), "the token's account, set by the server");
    assert_eq!(hooks.ingested.load(Ordering::SeqCst), 5);

    // The aggregator's cumulative count: an update replaces, never adds.
    sink.write_finding(&finding("f0001", 3)).unwrap();
    sink.flush().unwrap();
    wait_for("the update acknowledged", Duration::from_secs(10), delivered(&agent, 6));
    assert_eq!(srv.count("f0001"), Some(3));
    assert_eq!(srv.total(), 5);

    // Suppression through the hooks.
    push(&mut sink, ["suppressed".to_owned()]);
    wait_for("the suppressed finding acknowledged", Duration::from_secs(10), delivered(&agent, 7));
    let f = srv.block_on(srv.store.finding(&Scope::All, "suppressed")).unwrap().unwrap();
    assert_eq!(f["service"]["archived"], true);

    // Heartbeats reach the store with the agent's identity.
    wait_for("a heartbeat", Duration::from_secs(10), || hooks.heartbeats.load(Ordering::SeqCst) > 0);
    let agents = srv.block_on(srv.store.agents(&Scope::All)).unwrap();
    let a = agents.iter().find(|a| a.heartbeat.agent_id == agent.identity().agent_id).expect("agent recorded");
    assert_eq!(a.heartbeat.run_id, agent.identity().run_id);
    assert_eq!(a.heartbeat.attached_programs, vec!["exec_tp".to_owned()]);
    assert!(!a.heartbeat.stopping);

    // A clean shutdown says so in a last heartbeat.
    agent.shutdown();
    let agents = srv.block_on(srv.store.agents(&Scope::All)).unwrap();
    assert!(agents[0].heartbeat.stopping, "the last heartbeat says the agent stops");
    srv.stop();
}

#[test]
fn spooled_while_the_server_is_down_then_delivered_once_even_when_sent_again() {
    let fx = fixture();
    let addr = free_addr();
    let agent_dir = fx.dir.path().join("agent");
    let agent = start_agent(uplink_config(&agent_dir, &format!("http://{addr}"), &fx.agent_token, None), None);
    let mut sink = agent.sink();
    push(&mut sink, ids(1..=10));
    wait_for("connection attempts", Duration::from_secs(10), || agent.status().attempts >= 2);
    let s = agent.status();
    assert!(!s.connected && s.acked == 0 && s.last_error.is_some(), "{s:?}");
    assert_eq!(agent.spool_stats().pending.load(Ordering::Relaxed), 10, "everything waits in the spool");
    // What a crash right after delivery (acks lost) would leave on disk.
    let before = copy_dir(&agent_dir.join("spool"), &fx.dir.path().join("spool-copy"));

    let srv = TestServer::start(&fx.db, addr, None, TestHooks::new());
    wait_for("the backlog delivered", Duration::from_secs(30), delivered(&agent, 10));
    assert_eq!(srv.total(), 10);
    agent.shutdown();

    // A new agent run finds the old run's records (their acks "lost") and
    // sends them again: they keep their run, so nothing is counted twice.
    std::fs::remove_dir_all(agent_dir.join("spool")).unwrap();
    copy_dir(&before, &agent_dir.join("spool"));
    let agent = start_agent(uplink_config(&agent_dir, &srv.url(), &fx.agent_token, None), None);
    assert_eq!(agent.spool_stats().pending.load(Ordering::Relaxed), 10);
    wait_for("the redelivery acknowledged", Duration::from_secs(30), delivered(&agent, 10));
    assert_eq!(srv.total(), 10);
    for id in ids(1..=10) {
        assert_eq!(srv.count(&id), Some(1), "{id}: redelivery never double counts");
    }
    // The new run's own findings are a new source.
    push(&mut agent.sink(), ["f0001".to_owned()]);
    wait_for("the new run's finding", Duration::from_secs(10), delivered(&agent, 11));
    assert_eq!(srv.count("f0001"), Some(2), "one per run");
    agent.shutdown();
    srv.stop();
}

#[test]
fn a_server_killed_mid_stream_loses_nothing_acknowledged() {
    const N: u32 = 400;
    let fx = fixture();
    let addr = free_addr();
    let srv = TestServer::start(&fx.db, addr, None, TestHooks::new());
    let agent = start_agent(uplink_config(&fx.dir.path().join("agent"), &srv.url(), &fx.agent_token, None), None);
    let t = Instant::now();
    wait_for("the stream", Duration::from_secs(30), || agent.status().connects == 1);
    eprintln!("connected in {:?}", t.elapsed());
    // The pipeline keeps producing while the server dies and comes back.
    let mut sink = agent.sink();
    let producer = std::thread::spawn(move || {
        for chunk in 0..N / 4 {
            push(&mut sink, ids(chunk * 4 + 1..=chunk * 4 + 4));
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    wait_for("some acknowledgements", Duration::from_secs(30), || agent.status().acked >= 40);
    let acked_before_kill = agent.status().acked;
    srv.kill();
    let pending = agent.spool_stats().pending.load(Ordering::Relaxed);
    eprintln!("killed the server with {acked_before_kill} acknowledged and {pending} pending");
    std::thread::sleep(Duration::from_millis(300));

    let srv = TestServer::start(&fx.db, addr, None, TestHooks::new());
    for i in 1..=u32::try_from(acked_before_kill).unwrap() {
        let id = format!("f{i:04}");
        assert_eq!(srv.count(&id), Some(1), "{id} was acknowledged before the crash, so it is in the store");
    }
    producer.join().unwrap();
    wait_for("everything delivered after the restart", Duration::from_secs(60), delivered(&agent, u64::from(N)));
    assert_eq!(srv.total(), N as usize);
    for id in ids(1..=N) {
        assert_eq!(srv.count(&id), Some(1), "{id}: exactly once");
    }
    wait_for("a new stream", Duration::from_secs(10), || agent.status().connects >= 2);
    agent.shutdown();
    srv.stop();
}

#[test]
fn a_bad_token_is_unauthenticated_and_the_client_backs_off() {
    let fx = fixture();
    let srv = TestServer::start(&fx.db, "127.0.0.1:0".parse().unwrap(), None, TestHooks::new());
    let unknown = "sk_agent_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef";
    let mut cfg = uplink_config(&fx.dir.path().join("agent"), &srv.url(), unknown, None);
    cfg.backoff_max = Duration::from_secs(30);
    let agent = start_agent(cfg, None);
    push(&mut agent.sink(), ids(1..=2));
    wait_for("the refusal", Duration::from_secs(20), || agent.status().refused);
    let s = agent.status();
    assert!(s.last_error.as_deref().unwrap_or("").contains("Unauthenticated"), "{s:?}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(agent.status().attempts, 1, "a refused token waits the longest backoff before trying again");
    assert_eq!(srv.total(), 0);
    assert_eq!(agent.spool_stats().pending.load(Ordering::Relaxed), 2, "kept for when the token is fixed");
    drop(agent);
    srv.stop();
}

#[test]
fn an_api_token_is_permission_denied_and_no_token_unauthenticated() {
    let fx = fixture();
    let srv = TestServer::start(&fx.db, "127.0.0.1:0".parse().unwrap(), None, TestHooks::new());
    let e = UplinkConfig::new(&srv.url(), &fx.api_token, None, fx.dir.path()).unwrap_err();
    assert!(e.contains("not an agent token"), "the agent refuses API tokens itself: {e}");
    let code = |token: Option<&str>| {
        srv.block_on(async {
            let channel = tonic::transport::Endpoint::from_shared(srv.url()).unwrap().connect().await.unwrap();
            let mut client = AgentServiceClient::new(channel);
            let hello = AgentMessage { msg: Some(AgentMsg::Hello(hello())) };
            let mut req = tonic::Request::new(tonic::codegen::tokio_stream::iter(vec![hello]));
            if let Some(t) = token {
                req.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            client.connect(req).await.err().map(|s| s.code())
        })
    };
    assert_eq!(code(Some(&fx.api_token)), Some(tonic::Code::PermissionDenied));
    assert_eq!(code(None), Some(tonic::Code::Unauthenticated));
    assert_eq!(code(Some("sk_agent_nonsense")), Some(tonic::Code::Unauthenticated));
    assert_eq!(code(Some(&fx.agent_token)), None, "an agent token is accepted");
    srv.stop();
}

fn hello() -> Hello {
    Hello {
        agent_id: "raw-agent".into(),
        run_id: "raw-run".into(),
        agent_version: "0".into(),
        hostname: "h".into(),
        lists_version: 0,
    }
}

#[test]
fn malformed_findings_are_skipped_and_the_batch_still_acknowledged() {
    let fx = fixture();
    let srv = TestServer::start(&fx.db, "127.0.0.1:0".parse().unwrap(), None, TestHooks::new());
    let acks = srv.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(srv.url()).unwrap().connect().await.unwrap();
        let mut client = AgentServiceClient::new(channel);
        let good = serde_json::to_vec(&finding("good", 1)).unwrap();
        // Valid JSON the store refuses (an id longer than any real one):
        // the rest of the batch is still stored.
        let refused = serde_json::to_vec(&finding(&"x".repeat(300), 1)).unwrap();
        let batch =
            FindingBatch { seq: 7, findings_json: vec![b"{not json".to_vec(), good, refused], run_id: String::new() };
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(AgentMessage { msg: Some(AgentMsg::Hello(hello())) }).await.unwrap();
        tx.send(AgentMessage { msg: Some(AgentMsg::Findings(batch)) }).await.unwrap();
        let mut req = tonic::Request::new(tonic::codegen::tokio_stream::wrappers::ReceiverStream::new(rx));
        req.metadata_mut().insert("authorization", format!("Bearer {}", fx.agent_token).parse().unwrap());
        let mut inbound = client.connect(req).await.unwrap().into_inner();
        let mut acks = Vec::new();
        while let Ok(Ok(Some(m))) = tokio::time::timeout(Duration::from_secs(10), inbound.message()).await {
            if let Some(ServerMsg::Ack(a)) = m.msg {
                acks.push(a.seq);
                break;
            }
        }
        drop(tx);
        acks
    });
    assert_eq!(acks, vec![7]);
    assert_eq!(srv.count("good"), Some(1));
    assert_eq!(srv.total(), 1);
    srv.stop();
}

#[test]
fn telemetry_is_kept_for_hunting_and_a_redelivery_stores_nothing_twice() {
    let fx = fixture();
    let addr = free_addr();
    let agent_dir = fx.dir.path().join("agent");
    let mut cfg = uplink_config(&agent_dir, &format!("http://{addr}"), &fx.agent_token, None);
    cfg.send_telemetry = true;
    let agent = start_agent(cfg, None);
    let first_run = agent.identity().run_id.clone();
    let mut sink = agent.sink();
    push_events(&mut sink, 1..=5);
    push(&mut sink, ["f0001".to_owned()]);
    push_events(&mut sink, 6..=7);
    wait_for("connection attempts", Duration::from_secs(10), || agent.status().attempts >= 2);
    assert_eq!(agent.spool_stats().pending.load(Ordering::Relaxed), 8, "7 events and a finding spooled");
    // What a crash right after delivery (acks lost) would leave on disk.
    let before = copy_dir(&agent_dir.join("spool"), &fx.dir.path().join("spool-copy"));

    let srv = TestServer::start(&fx.db, addr, None, TestHooks::new());
    wait_for("the backlog delivered", Duration::from_secs(30), delivered(&agent, 8));
    let stored = srv.telemetry();
    assert_eq!(names(&stored), ["p1", "p2", "p3", "p4", "p5", "p6", "p7"]);
    let mut seqs: Vec<i64> = stored.iter().map(|e| e.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 7, 8], "each event keyed by its own spool seq (6 is the finding)");
    for e in &stored {
        assert_eq!((e.account_id.as_str(), e.run_id.as_str()), (fx.account.as_str(), first_run.as_str()));
        assert_eq!(e.agent_id, agent.identity().agent_id);
        assert_eq!(e.event["kind"], "process.exit");
    }
    assert_eq!(srv.total(), 1, "the finding went its own way");
    let hunt = TelemetryQuery { executable: Some("p3".into()), ..Default::default() };
    let found = srv.block_on(srv.store.search_telemetry(&Scope::All, &hunt)).unwrap();
    assert_eq!(names(&found.events), ["p3"]);
    agent.shutdown();

    // A new agent run sends the old run's records again: same run, same
    // seqs, so nothing is stored twice.
    std::fs::remove_dir_all(agent_dir.join("spool")).unwrap();
    copy_dir(&before, &agent_dir.join("spool"));
    let agent = start_agent(uplink_config(&agent_dir, &srv.url(), &fx.agent_token, None), None);
    assert_ne!(agent.identity().run_id, first_run);
    wait_for("the redelivery acknowledged", Duration::from_secs(30), delivered(&agent, 8));
    assert_eq!(srv.telemetry().len(), 7, "redelivered telemetry is stored once");
    assert_eq!(srv.count("f0001"), Some(1));
    agent.shutdown();
    srv.stop();
}

#[test]
fn telemetry_batches_from_any_agent_are_idempotent_and_never_block_the_spool() {
    let fx = fixture();
    let srv = TestServer::start(&fx.db, "127.0.0.1:0".parse().unwrap(), None, TestHooks::new());
    let ev = |i: u32| serde_json::to_vec(&event_json(i)).unwrap();
    let batch = TelemetryBatch {
        seq: 3,
        events_json: vec![ev(1), b"{not json".to_vec(), ev(3)],
        run_id: String::new(),
        seqs: vec![1, 2, 3],
    };
    let acks = raw_session(&srv, &fx.agent_token, vec![AgentMsg::Telemetry(batch.clone()), AgentMsg::Telemetry(batch)]);
    assert_eq!(acks, [3, 3], "a batch with a malformed event is still acknowledged");
    let stored = srv.telemetry();
    assert_eq!(names(&stored), ["p1", "p3"], "stored once, the malformed event skipped");
    assert!(stored.iter().all(|e| e.run_id == "raw-run" && e.agent_id == "raw-agent"), "the stream's Hello ids");

    // An agent from before `seqs`: counted back from the batch's seq. A
    // batch whose seqs do not match its events is acknowledged and dropped.
    let old = TelemetryBatch { seq: 6, events_json: vec![ev(5), ev(6)], run_id: String::new(), seqs: vec![] };
    let odd = TelemetryBatch { seq: 8, events_json: vec![ev(7), ev(8)], run_id: "other-run".into(), seqs: vec![8] };
    let acks = raw_session(&srv, &fx.agent_token, vec![AgentMsg::Telemetry(old), AgentMsg::Telemetry(odd)]);
    assert_eq!(acks, [6, 8]);
    let stored = srv.telemetry();
    assert_eq!(names(&stored), ["p1", "p3", "p5", "p6"]);
    let p6 = stored.iter().find(|e| e.event["process"]["name"] == "p6").unwrap();
    assert_eq!(p6.seq, 6);
    srv.stop();

    // Retention 0: acknowledged, not kept.
    let config = IngestConfig { keep_telemetry: false, ..IngestConfig::default() };
    let srv = TestServer::start_with(&fx.db, "127.0.0.1:0".parse().unwrap(), None, TestHooks::new(), config);
    let batch = TelemetryBatch { seq: 10, events_json: vec![ev(10)], run_id: String::new(), seqs: vec![10] };
    assert_eq!(raw_session(&srv, &fx.agent_token, vec![AgentMsg::Telemetry(batch)]), [10]);
    assert_eq!(srv.telemetry().len(), 4, "nothing new stored");
    srv.stop();
}

#[test]
fn tls_with_a_pinned_self_signed_certificate() {
    let fx = fixture();
    let tls = self_signed(&fx.dir.path().join("tls"));
    let srv = TestServer::start(&fx.db, "127.0.0.1:0".parse().unwrap(), Some(&tls), TestHooks::new());
    // The certificate names only "localhost": pinning, not names, decides.
    let url = format!("https://{}", srv.addr);
    let agent = start_agent(uplink_config(&fx.dir.path().join("a1"), &url, &fx.agent_token, Some(&tls.cert_pem)), None);
    push(&mut agent.sink(), ids(1..=3));
    wait_for("delivery over pinned TLS", Duration::from_secs(30), delivered(&agent, 3));
    assert_eq!(srv.total(), 3);
    agent.shutdown();

    // Another certificate pinned: the handshake fails, nothing is sent.
    let other = self_signed(&fx.dir.path().join("other"));
    let agent =
        start_agent(uplink_config(&fx.dir.path().join("a2"), &url, &fx.agent_token, Some(&other.cert_pem)), None);
    push(&mut agent.sink(), ids(4..=4));
    wait_for("a failed handshake", Duration::from_secs(20), || agent.status().last_error.is_some());
    let s = agent.status();
    assert!(s.connects == 0 && s.acked == 0, "{s:?}");
    assert!(s.last_error.as_deref().unwrap_or("").to_lowercase().contains("certificate"), "{s:?}");
    drop(agent);

    // Plain HTTP to the TLS port gets nowhere either.
    let agent = start_agent(
        uplink_config(&fx.dir.path().join("a3"), &format!("http://{}", srv.addr), &fx.agent_token, None),
        None,
    );
    push(&mut agent.sink(), ids(5..=5));
    wait_for("a failed plain attempt", Duration::from_secs(20), || {
        agent.status().attempts >= 1 && agent.status().last_error.is_some()
    });
    assert_eq!(agent.status().connects, 0);
    drop(agent);
    assert_eq!(srv.total(), 3);
    srv.stop();
}

#[test]
fn plain_http_off_loopback_is_refused_by_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let token = "sk_agent_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef";
    for url in ["http://192.0.2.10:8651", "http://saker.example:8651", "http://[2001:db8::1]:8651"] {
        let e = UplinkConfig::new(url, token, None, dir.path()).unwrap_err();
        assert!(e.contains("only allowed to a loopback address"), "{url}: {e}");
    }
    // The server refuses to listen in the clear off loopback (before binding).
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = rt.block_on(async {
        let store = Store::open(&format!("sqlite:{}", dir.path().join("s.db").display())).await.unwrap();
        let svc = Ingest::new(store, TestHooks::new());
        ingest::serve("0.0.0.0:0".parse().unwrap(), None, svc, watch::channel(false).1).await.err()
    });
    assert!(err.map(|e| e.to_string()).unwrap_or_default().contains("TLS off loopback"));
}

#[test]
fn lists_and_settings_reach_the_agent() {
    let fx = fixture();
    let hooks = TestHooks::new();
    let srv = TestServer::start(&fx.db, "127.0.0.1:0".parse().unwrap(), None, hooks.clone());
    let list = |name: &str, ip: &str| NewList {
        name: name.into(),
        kind: "threat".into(),
        category: Some("c2".into()),
        format: "plain".into(),
        content: format!("{ip}\n").into_bytes(),
        ips: 1,
        domains: 0,
        hashes: 0,
        skipped: 0,
        messages: vec![],
    };
    srv.block_on(srv.store.put_list(&fx.account, &list("first", "203.0.113.9"))).unwrap();
    let detection = DetectionConfig::default();
    let intel = detection.intel.clone();
    let agent =
        start_agent(uplink_config(&fx.dir.path().join("agent"), &srv.url(), &fx.agent_token, None), Some(detection));
    let listed = |ip: &str| intel.load().lookup_ip(ip.parse().unwrap()).is_some();
    wait_for("the lists on Hello", Duration::from_secs(20), || listed("203.0.113.9"));
    assert!(intel.load().lookup_domain("c2.guarddutyc2activityb.com").is_some(), "the agent's own lists stay");

    // A list added while connected is pushed (watch or poll).
    srv.block_on(srv.store.put_list(&fx.account, &list("second", "198.51.100.4"))).unwrap();
    hooks.lists.send_replace(2);
    wait_for("the new list", Duration::from_secs(20), || listed("198.51.100.4"));
    assert!(agent.status().lists_version >= 2);

    // Monitoring off (an excluded cluster): findings are withheld.
    hooks.monitoring.store(false, Ordering::SeqCst);
    wait_for("monitoring off", Duration::from_secs(20), || !agent.status().monitoring_enabled);
    push(&mut agent.sink(), ids(1..=2));
    assert_eq!(agent.status().findings_withheld, 2);
    hooks.monitoring.store(true, Ordering::SeqCst);
    wait_for("monitoring back on", Duration::from_secs(20), || agent.status().monitoring_enabled);
    push(&mut agent.sink(), ids(3..=3));
    wait_for("delivery", Duration::from_secs(20), delivered(&agent, 1));
    assert_eq!(srv.total(), 1);
    agent.shutdown();
    srv.stop();
}

// ----------------------------------------------------------------- helpers

fn self_signed(dir: &Path) -> TlsMaterial {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let cert_path = dir.join("server.crt");
    std::fs::write(&cert_path, ck.cert.pem()).unwrap();
    TlsMaterial { cert_pem: ck.cert.pem(), key_pem: ck.signing_key.serialize_pem(), cert_path }
}

fn copy_dir(from: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
    to.to_owned()
}
