//! gRPC ingest: the `saker.agent.v1.AgentService` agents stream to.
//!
//! One long-lived stream per agent. Each stream is authenticated from its
//! metadata (`authorization: Bearer sk_agent_…`; a missing, bad or revoked
//! token is UNAUTHENTICATED, an API token PERMISSION_DENIED), starts with
//! `Hello`, then carries:
//! - `FindingBatch` → each finding parsed (a malformed one is skipped and
//!   counted; the batch still completes), stored in one transaction per
//!   batch (`Store::ingest_findings`, source = the agent run), and only then
//!   acknowledged (`Ack{seq}`). A store failure ends the stream with
//!   UNAVAILABLE and no Ack: the agent sends the batch again, and ingest is
//!   idempotent per run, so nothing is counted twice.
//! - `Heartbeat` → `Store::replace_heartbeat`, then the hooks judge coverage
//!   and say whether the agent should keep monitoring (`AgentSettings`,
//!   sent when that changes: GuardDuty's cluster exclusion).
//! - `TelemetryBatch` → raw events for hunting, stored in one transaction
//!   (`Store::ingest_telemetry`, keyed by agent run and spool seq, so a
//!   redelivered batch inserts nothing twice) and only then acknowledged; a
//!   store failure ends the stream as for findings. Malformed events are
//!   skipped and counted. With telemetry retention 0 the server keeps none:
//!   batches are acknowledged and dropped, counted.
//!
//! The server pushes `ListsUpdate` (every active list that applies to the
//! agent's account: its own and the administrator's) on `Hello` when the
//! store's lists version differs from the agent's, and whenever it moves —
//! told by [`IngestHooks::lists_changed`], and polled every few seconds in
//! case another server process changed the store.
//!
//! The rest of the server (suppression rules, exports, coverage, settings)
//! reaches ingest only through [`IngestHooks`].

use crate::ServerError;
use saker_detect::Finding;
use saker_proto::{
    Ack, AgentMessage, AgentMsg, AgentService, AgentServiceServer, AgentSettings, FindingBatch, ListsUpdate,
    ServerMessage, ServerMsg, TelemetryBatch, ThreatListBlob,
};
use saker_store::{Heartbeat, IngestOutcome, Principal, Scope, Store, TokenKind};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// A boxed future borrowed from the hooks (trait objects cannot have async fns).
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// What ingest asks of the rest of the server.
pub trait IngestHooks: Send + Sync + 'static {
    /// The suppression rule that archives a NEW finding of `account_id` on
    /// arrival (`None`: none matches). Called inside the store transaction:
    /// keep it in memory, no I/O.
    fn suppress(&self, account_id: &str, finding: &serde_json::Value) -> Option<String>;

    /// A batch was committed: `outcomes[i]` is what happened to
    /// `findings[i]` (whose `accountId` is `account_id`). Exports start here.
    /// Must not block (hand work to a queue).
    fn on_ingested(&self, account_id: &str, outcomes: &[IngestOutcome], findings: &[Finding]);

    /// A heartbeat was recorded; `previous` is the agent's one before it.
    /// Coverage judgement goes here.
    fn on_heartbeat<'a>(
        &'a self,
        account_id: &'a str,
        heartbeat: &'a Heartbeat,
        previous: Option<&'a Heartbeat>,
    ) -> HookFuture<'a> {
        let _ = (account_id, heartbeat, previous);
        Box::pin(async {})
    }

    /// Whether this agent should monitor (false: its ECS cluster is
    /// excluded), asked at every heartbeat; sent to the agent when it changes.
    fn agent_settings(&self, account_id: &str, heartbeat: &Heartbeat) -> AgentSettings {
        let _ = (account_id, heartbeat);
        AgentSettings { monitoring_enabled: true, reason: String::new() }
    }

    /// Moves when threat or trusted lists change (the value is the store's
    /// lists version). Streams also poll the store, so a receiver that never
    /// changes is acceptable.
    fn lists_changed(&self) -> watch::Receiver<i64>;
}

/// Hooks that do nothing beyond storing: no suppression, no exports,
/// monitoring always on, lists followed by polling only.
pub struct PlainHooks {
    lists: watch::Sender<i64>,
}

impl PlainHooks {
    pub fn new() -> Arc<PlainHooks> {
        Arc::new(PlainHooks { lists: watch::channel(0).0 })
    }

    /// Tell connected agents that lists changed (sooner than the poll).
    pub fn notify_lists(&self, version: i64) {
        self.lists.send_replace(version);
    }
}

impl IngestHooks for PlainHooks {
    fn suppress(&self, _: &str, _: &serde_json::Value) -> Option<String> {
        None
    }

    fn on_ingested(&self, _: &str, _: &[IngestOutcome], _: &[Finding]) {}

    fn lists_changed(&self) -> watch::Receiver<i64> {
        self.lists.subscribe()
    }
}

/// Timings of the ingest service.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// How often each stream checks the store's lists version.
    pub lists_poll: Duration,
    /// A stream without `Hello` this long after it opened is closed.
    pub hello_timeout: Duration,
    /// Store raw telemetry (false: `[server] telemetry_retention_hours = 0`;
    /// batches are acknowledged and dropped).
    pub keep_telemetry: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            lists_poll: Duration::from_secs(5),
            hello_timeout: Duration::from_secs(30),
            keep_telemetry: true,
        }
    }
}

/// The `AgentService` implementation.
#[derive(Clone)]
pub struct Ingest {
    store: Store,
    hooks: Arc<dyn IngestHooks>,
    config: IngestConfig,
    /// Turns true when the server stops: every stream ends (UNAVAILABLE),
    /// so a graceful shutdown does not wait for agents to hang up.
    stop: watch::Receiver<bool>,
    /// Keeps `stop` open when no shutdown signal was given.
    _never: Arc<watch::Sender<bool>>,
}

/// The largest agent message accepted (a batch of findings, a lists push
/// is outbound and not limited here).
pub const MAX_MESSAGE_BYTES: usize = 32 << 20;

impl Ingest {
    pub fn new(store: Store, hooks: Arc<dyn IngestHooks>) -> Ingest {
        let (never, stop) = watch::channel(false);
        Ingest { store, hooks, config: IngestConfig::default(), stop, _never: Arc::new(never) }
    }

    pub fn with_config(mut self, config: IngestConfig) -> Ingest {
        self.config = config;
        self
    }

    /// End every stream when `stop` turns true.
    pub fn with_shutdown(mut self, stop: watch::Receiver<bool>) -> Ingest {
        self.stop = stop;
        self
    }

    /// The tonic service, with the message size limits set.
    pub fn into_server(self) -> AgentServiceServer<Ingest> {
        AgentServiceServer::new(self).max_decoding_message_size(MAX_MESSAGE_BYTES).max_encoding_message_size(usize::MAX)
    }
}

/// The ingest service over `store`, for a tonic server (`add_service`).
pub fn service(store: Store, hooks: Arc<dyn IngestHooks>) -> AgentServiceServer<Ingest> {
    Ingest::new(store, hooks).into_server()
}

/// Bind `addr` and serve ingest until `stop` turns true. TLS with the
/// server certificate when given; plain only on loopback (it carries
/// tokens). Returns the bound address (port 0 resolved).
pub async fn serve(
    addr: SocketAddr,
    tls: Option<&crate::tls::TlsMaterial>,
    ingest: Ingest,
    mut stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), ServerError> {
    if tls.is_none() && !addr.ip().is_loopback() {
        return Err(ServerError::PlaintextOffLoopback("gRPC ingest"));
    }
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| ServerError::Bind { addr, source })?;
    let mut builder = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)));
    if let Some(m) = tls {
        let identity = tonic::transport::Identity::from_pem(&m.cert_pem, &m.key_pem);
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| ServerError::Tls(e.to_string()))?;
    }
    let router = builder.add_service(ingest.with_shutdown(stop.clone()).into_server());
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let task = tokio::spawn(async move {
        let signal = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = router.serve_with_incoming_shutdown(incoming, signal).await {
            tracing::error!(error = %e, "gRPC ingest stopped");
        }
    });
    tracing::info!(addr = %bound, tls = tls.is_some(), "gRPC ingest listening");
    Ok((bound, task))
}

#[tonic::async_trait]
impl AgentService for Ingest {
    type ConnectStream = ReceiverStream<Result<ServerMessage, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let principal = authenticate(&self.store, request.metadata()).await?;
        let (tx, rx) = mpsc::channel(16);
        let stream = AgentStream {
            ingest: self.clone(),
            account: principal.account_id,
            tx,
            agent_id: String::new(),
            run_id: String::new(),
            agent_lists: 0,
            settings_sent: None,
        };
        tokio::spawn(stream.run(request.into_inner()));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// The agent token's principal, or the status that refuses it.
async fn authenticate(store: &Store, md: &tonic::metadata::MetadataMap) -> Result<Principal, Status> {
    let token = md
        .get(saker_proto::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .ok_or_else(|| Status::unauthenticated("missing bearer token (authorization: Bearer sk_agent_…)"))?;
    let principal = store.authenticate(token).await.map_err(|e| {
        tracing::error!(error = %e, "authenticating an agent");
        Status::unavailable("cannot check the token now; retry")
    })?;
    match principal {
        None => {
            metrics::counter!("saker_server_agent_auth_failures_total").increment(1);
            Err(Status::unauthenticated("invalid or revoked token"))
        }
        Some(p) if p.kind != TokenKind::Agent => {
            metrics::counter!("saker_server_agent_auth_failures_total").increment(1);
            Err(Status::permission_denied("an API token cannot ingest; enrol the agent with an agent token"))
        }
        Some(p) => Ok(p),
    }
}

/// Resolves when `stop` turns true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Identifiers agents send: non-empty, short, printable.
fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_graphic())
}

/// One agent's stream.
struct AgentStream {
    ingest: Ingest,
    account: String,
    tx: mpsc::Sender<Result<ServerMessage, Status>>,
    agent_id: String,
    run_id: String,
    /// The lists version the agent holds.
    agent_lists: i64,
    /// The last settings sent (`None`: none yet, the agent assumes on).
    settings_sent: Option<AgentSettings>,
}

/// The stream ends (the agent went away, or we end it).
struct Closed;

impl AgentStream {
    async fn run(mut self, mut inbound: Streaming<AgentMessage>) {
        metrics::gauge!("saker_server_agent_streams").increment(1.0);
        if self.hello(&mut inbound).await.is_ok() {
            tracing::info!(account = %self.account, agent = %self.agent_id, run = %self.run_id, "agent connected");
            let _ = self.serve(&mut inbound).await;
            tracing::info!(account = %self.account, agent = %self.agent_id, "agent stream ended");
        }
        metrics::gauge!("saker_server_agent_streams").decrement(1.0);
    }

    async fn hello(&mut self, inbound: &mut Streaming<AgentMessage>) -> Result<(), Closed> {
        let first = tokio::time::timeout(self.ingest.config.hello_timeout, inbound.message()).await;
        let hello = match first {
            Ok(Ok(Some(AgentMessage { msg: Some(AgentMsg::Hello(h)) }))) => h,
            Ok(Ok(Some(_))) => return self.fail(Status::invalid_argument("the first message must be Hello")).await,
            Ok(Ok(None)) | Ok(Err(_)) => return Err(Closed),
            Err(_) => return self.fail(Status::deadline_exceeded("no Hello")).await,
        };
        if !valid_id(&hello.agent_id) || !valid_id(&hello.run_id) {
            return self.fail(Status::invalid_argument("Hello needs an agent_id and a run_id (printable, ≤128)")).await;
        }
        self.agent_id = hello.agent_id;
        self.run_id = hello.run_id;
        self.agent_lists = i64::try_from(hello.lists_version).unwrap_or(i64::MAX);
        Ok(())
    }

    async fn serve(&mut self, inbound: &mut Streaming<AgentMessage>) -> Result<(), Closed> {
        let mut lists = self.ingest.hooks.lists_changed();
        let mut lists_open = true;
        let mut stop = self.ingest.stop.clone();
        let mut poll = tokio::time::interval(self.ingest.config.lists_poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: that is the check on Hello.
        loop {
            tokio::select! {
                m = inbound.message() => match m {
                    Ok(Some(m)) => self.message(m).await?,
                    Ok(None) => return Ok(()),
                    Err(e) => {
                        tracing::debug!(agent = %self.agent_id, error = %e, "agent stream error");
                        return Err(Closed);
                    }
                },
                r = lists.changed(), if lists_open => {
                    if r.is_err() {
                        lists_open = false; // polling still covers it
                    } else {
                        self.push_lists().await?;
                    }
                }
                _ = poll.tick() => self.push_lists().await?,
                // A dropped sender stops the server too (see `serve`).
                () = stopped(&mut stop) => return self.fail(Status::unavailable("the server is shutting down")).await,
            }
        }
    }

    async fn message(&mut self, m: AgentMessage) -> Result<(), Closed> {
        match m.msg {
            Some(AgentMsg::Findings(batch)) => self.findings(batch).await,
            Some(AgentMsg::Heartbeat(hb)) => self.heartbeat(&hb.heartbeat_json).await,
            Some(AgentMsg::Telemetry(t)) => self.telemetry(t).await,
            Some(AgentMsg::Hello(_)) => self.fail(Status::invalid_argument("Hello twice")).await,
            None => Ok(()),
        }
    }

    async fn findings(&mut self, batch: FindingBatch) -> Result<(), Closed> {
        metrics::counter!("saker_server_findings_batches_total").increment(1);
        let mut findings = Vec::with_capacity(batch.findings_json.len());
        let mut malformed = 0u64;
        for raw in &batch.findings_json {
            match serde_json::from_slice::<Finding>(raw) {
                Ok(mut f) => {
                    f.account_id = Some(self.account.clone());
                    findings.push(f);
                }
                Err(e) => {
                    malformed += 1;
                    tracing::debug!(agent = %self.agent_id, error = %e, "malformed finding");
                }
            }
        }
        if malformed > 0 {
            metrics::counter!("saker_server_findings_malformed_total").increment(malformed);
            tracing::warn!(account = %self.account, agent = %self.agent_id, malformed, "malformed findings skipped");
        }
        // Findings spooled before an agent restart keep the run that
        // produced them: their counts are that run's.
        let source = if valid_id(&batch.run_id) { batch.run_id.as_str() } else { self.run_id.as_str() };
        if !findings.is_empty() {
            match self.store_findings(source, &findings).await {
                Ok(()) => {}
                Err(e) => {
                    metrics::counter!("saker_server_ingest_errors_total").increment(1);
                    tracing::error!(account = %self.account, agent = %self.agent_id, error = %e, "storing findings");
                    return self.fail(Status::unavailable("storing the findings failed; send them again")).await;
                }
            }
        }
        self.send(ServerMsg::Ack(Ack { seq: batch.seq })).await
    }

    /// One transaction for the batch. A batch the store refuses as invalid
    /// (one finding with an impossible id, say) would be refused forever and
    /// block the agent's spool: its findings are then stored one by one and
    /// the refused ones skipped and counted as malformed.
    async fn store_findings(&self, source: &str, findings: &[Finding]) -> Result<(), saker_store::StoreError> {
        let hooks = &self.ingest.hooks;
        let account = self.account.as_str();
        let suppress = |f: &serde_json::Value| hooks.suppress(account, f);
        let store = &self.ingest.store;
        match store.ingest_findings(account, source, findings, &suppress).await {
            Ok(outcomes) => {
                metrics::counter!("saker_server_findings_ingested_total").increment(findings.len() as u64);
                hooks.on_ingested(account, &outcomes, findings);
                Ok(())
            }
            Err(e) if e.is_client_error() => {
                tracing::warn!(account, agent = %self.agent_id, error = %e, "batch refused; storing its findings one by one");
                for f in findings {
                    let one = std::slice::from_ref(f);
                    match store.ingest_findings(account, source, one, &suppress).await {
                        Ok(outcomes) => {
                            metrics::counter!("saker_server_findings_ingested_total").increment(1);
                            hooks.on_ingested(account, &outcomes, one);
                        }
                        Err(e) if e.is_client_error() => {
                            metrics::counter!("saker_server_findings_malformed_total").increment(1);
                            tracing::warn!(account, agent = %self.agent_id, error = %e, "finding refused");
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn telemetry(&mut self, t: TelemetryBatch) -> Result<(), Closed> {
        let n = t.events_json.len();
        metrics::counter!("saker_server_telemetry_events_total").increment(n as u64);
        let dropped = |reason: &'static str, count: usize| {
            metrics::counter!("saker_server_telemetry_dropped_total", "reason" => reason).increment(count as u64);
        };
        if !self.ingest.config.keep_telemetry {
            dropped("retention_off", n);
            return self.send(ServerMsg::Ack(Ack { seq: t.seq })).await;
        }
        // Each event's spool seq names it. An agent from before `seqs`
        // sends none: count back from the batch's last seq (exact unless
        // the spool evicted records inside the batch).
        let seqs: Vec<Option<u64>> = if t.seqs.len() == n {
            t.seqs.iter().copied().map(Some).collect()
        } else if t.seqs.is_empty() {
            (0..n).map(|i| t.seq.checked_sub((n - 1 - i) as u64)).collect()
        } else {
            // Not parallel: which event has which seq is unknowable, and
            // refusing would block the agent's spool for ever.
            dropped("malformed", n);
            tracing::warn!(agent = %self.agent_id, events = n, seqs = t.seqs.len(),
                "telemetry batch with mismatched seqs dropped");
            return self.send(ServerMsg::Ack(Ack { seq: t.seq })).await;
        };
        let mut malformed = seqs.iter().filter(|s| s.is_none()).count();
        let events: Vec<(u64, &[u8])> =
            seqs.iter().zip(&t.events_json).filter_map(|(s, e)| Some(((*s)?, e.as_slice()))).collect();
        // Events spooled before an agent restart keep the run that made them.
        let run = if valid_id(&t.run_id) { t.run_id.as_str() } else { self.run_id.as_str() };
        let store = &self.ingest.store;
        match store.ingest_telemetry(&self.account, &self.agent_id, run, &events).await {
            Ok(r) => {
                metrics::counter!("saker_server_telemetry_stored_total").increment(r.stored);
                metrics::counter!("saker_server_telemetry_duplicates_total").increment(r.duplicate);
                malformed += usize::try_from(r.malformed).unwrap_or(usize::MAX);
            }
            // The store refuses this batch as such (its account is gone):
            // it would refuse it again at every redelivery.
            Err(e) if e.is_client_error() => {
                dropped("refused", events.len());
                tracing::warn!(account = %self.account, agent = %self.agent_id, error = %e, "telemetry batch refused");
            }
            Err(e) => {
                metrics::counter!("saker_server_ingest_errors_total").increment(1);
                tracing::error!(account = %self.account, agent = %self.agent_id, error = %e, "storing telemetry");
                return self.fail(Status::unavailable("storing the telemetry failed; send it again")).await;
            }
        }
        if malformed > 0 {
            dropped("malformed", malformed);
            tracing::debug!(agent = %self.agent_id, malformed, "malformed telemetry events skipped");
        }
        self.send(ServerMsg::Ack(Ack { seq: t.seq })).await
    }

    async fn heartbeat(&mut self, json: &[u8]) -> Result<(), Closed> {
        let mut hb: Heartbeat = match serde_json::from_slice(json) {
            Ok(hb) => hb,
            Err(e) => {
                metrics::counter!("saker_server_heartbeats_malformed_total").increment(1);
                tracing::warn!(agent = %self.agent_id, error = %e, "malformed heartbeat ignored");
                return Ok(());
            }
        };
        // The stream's identity is the Hello's.
        hb.agent_id.clone_from(&self.agent_id);
        hb.run_id.clone_from(&self.run_id);
        metrics::counter!("saker_server_heartbeats_total").increment(1);
        match self.ingest.store.replace_heartbeat(&self.account, &hb).await {
            Ok(previous) => self.ingest.hooks.on_heartbeat(&self.account, &hb, previous.as_ref()).await,
            Err(e) => tracing::warn!(agent = %self.agent_id, error = %e, "recording a heartbeat"),
        }
        let settings = self.ingest.hooks.agent_settings(&self.account, &hb);
        let changed = match &self.settings_sent {
            Some(s) => *s != settings,
            None => !settings.monitoring_enabled,
        };
        if changed {
            tracing::info!(agent = %self.agent_id, monitoring = settings.monitoring_enabled, reason = %settings.reason,
                "agent settings sent");
            self.settings_sent = Some(settings.clone());
            self.send(ServerMsg::Settings(settings)).await?;
        }
        Ok(())
    }

    /// Send the account's lists when the store's version differs from the
    /// agent's. A store error is logged; the next poll tries again.
    async fn push_lists(&mut self) -> Result<(), Closed> {
        let store = &self.ingest.store;
        let version = match store.lists_version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "reading the lists version");
                return Ok(());
            }
        };
        // Differs, not only newer: a store that was reset starts over at 0,
        // and the agent must drop the lists it no longer has.
        if version == self.agent_lists {
            return Ok(());
        }
        let update = match lists_update(store, &self.account, version).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "reading lists for an agent");
                return Ok(());
            }
        };
        tracing::info!(agent = %self.agent_id, version, lists = update.lists.len(), "lists pushed");
        self.agent_lists = version;
        self.send(ServerMsg::Lists(update)).await
    }

    async fn send(&self, msg: ServerMsg) -> Result<(), Closed> {
        self.tx.send(Ok(ServerMessage { msg: Some(msg) })).await.map_err(|_| Closed)
    }

    /// End the stream with `status`.
    async fn fail(&self, status: Status) -> Result<(), Closed> {
        let _ = self.tx.send(Err(status)).await;
        Err(Closed)
    }
}

/// Every active list that applies to `account` (its own and the
/// administrator's), with content.
async fn lists_update(store: &Store, account: &str, version: i64) -> Result<ListsUpdate, saker_store::StoreError> {
    let mut lists = Vec::new();
    for l in store.lists(&Scope::Account(account.to_owned())).await? {
        if !l.active {
            continue;
        }
        let Some(content) = store.list_content(&l.account_id, &l.id).await? else { continue };
        lists.push(ThreatListBlob {
            name: l.name,
            kind: l.kind,
            category: l.category.unwrap_or_default(),
            format: l.format,
            content,
        });
    }
    Ok(ListsUpdate { version: u64::try_from(version).unwrap_or(0), lists })
}
