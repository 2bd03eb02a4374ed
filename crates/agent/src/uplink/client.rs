//! The uplink client: one long-lived gRPC stream to the server at a time,
//! re-established with exponential backoff and jitter when it fails.
//!
//! A session: connect (pinned TLS, or plain to loopback) → `Hello` → then,
//! concurrently, batches from the spool (at most [`WINDOW`] unacknowledged),
//! a heartbeat every interval, and whatever the server sends: `Ack` (the
//! spool forgets what was committed), `ListsUpdate` (new intel swapped into
//! the detector), `AgentSettings` (monitoring on or off). Every new session
//! resends from the last acknowledged record: the server's ingest is
//! idempotent, so a batch whose `Ack` was lost costs only bandwidth.
//!
//! On stop: keep sending what is spooled for up to the shutdown grace, then
//! a last heartbeat with `stopping: true`, then close the stream.

use super::Shared;
use super::heartbeat::HeartbeatSource;
use super::lists::Lists;
use super::spool::RecordKind;
use super::tls;
use saker_proto::{
    AUTHORIZATION, AgentMessage, AgentMsg, AgentServiceClient, FindingBatch, Heartbeat, Hello, ServerMsg,
    TelemetryBatch, bearer,
};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

/// Batches sent and not yet acknowledged, at most.
pub const WINDOW: usize = 8;
/// Records per batch, at most.
pub const BATCH_RECORDS: usize = 500;
/// Bytes of JSON per batch, about (the server accepts far larger messages).
pub const BATCH_BYTES: usize = 2 << 20;

/// What the client task owns besides the shared state.
pub(crate) struct Client {
    pub shared: Arc<Shared>,
    pub heartbeat: HeartbeatSource,
    pub lists: Option<Lists>,
    pub ecs_metadata_uri: Option<String>,
}

/// Why a session ended badly.
#[derive(Debug)]
struct SessionError {
    message: String,
    /// The server refused the token: retrying soon cannot help.
    refused: bool,
    /// The server answered at least once: the link worked.
    progressed: bool,
}

impl SessionError {
    fn new(message: impl Into<String>) -> Self {
        SessionError { message: message.into(), refused: false, progressed: false }
    }
}

impl From<tonic::Status> for SessionError {
    fn from(s: tonic::Status) -> Self {
        let refused = matches!(s.code(), tonic::Code::Unauthenticated | tonic::Code::PermissionDenied);
        SessionError { message: format!("{:?}: {}", s.code(), s.message()), refused, progressed: false }
    }
}

/// Exponential backoff with full jitter in [d/2, d].
struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max: max.max(initial), current: initial }
    }

    fn reset(&mut self) {
        self.current = self.initial;
    }

    fn next(&mut self) -> Duration {
        let d = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = d / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// For a refused token: the longest wait, straight away.
    fn longest(&mut self) -> Duration {
        self.current = self.max;
        self.next()
    }
}

impl Client {
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        if let Some(uri) = self.ecs_metadata_uri.take() {
            let ecs = tokio::task::spawn_blocking(move || super::heartbeat::own_ecs_identity(&uri)).await;
            if let Ok(Some((cluster, task))) = ecs {
                self.heartbeat.ecs_cluster = cluster;
                self.heartbeat.ecs_task_arn = task;
            }
        } else if self.heartbeat.mode != "sidecar"
            && let Some(url) = &self.shared.cfg.ecs_agent_introspection_url
        {
            // A host agent, maybe on an ECS container instance.
            self.heartbeat.watch_ecs_agent(url);
        }
        let cfg = self.shared.cfg.clone();
        let mut backoff = Backoff::new(cfg.backoff_initial, cfg.backoff_max);
        let mut last_error = String::new();
        loop {
            let stopping = *stop.borrow();
            let result = if stopping {
                // One last try to hand over what is spooled and say goodbye.
                match tokio::time::timeout(cfg.shutdown_grace, self.session(&mut stop)).await {
                    Ok(r) => r,
                    Err(_) => Err(SessionError::new("shutdown grace elapsed")),
                }
            } else {
                self.session(&mut stop).await
            };
            self.shared.set_status(|s| s.connected = false);
            let delay = match result {
                Ok(()) => return,
                Err(e) => {
                    if e.message != last_error {
                        tracing::warn!(server = %cfg.url, error = %e.message, "uplink: connection failed or lost");
                        last_error.clone_from(&e.message);
                    } else {
                        tracing::debug!(server = %cfg.url, error = %e.message, "uplink: still failing");
                    }
                    self.shared.set_status(|s| {
                        s.last_error = Some(e.message.clone());
                        s.refused = e.refused;
                    });
                    if stopping {
                        return;
                    }
                    if e.progressed {
                        last_error.clear();
                        backoff.reset();
                    }
                    if e.refused { backoff.longest() } else { backoff.next() }
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One stream, until it fails or (when stopping) everything is handed over.
    async fn session(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), SessionError> {
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        shared.set_status(|s| s.attempts += 1);
        let channel = tls::connect(cfg).await.map_err(|e| SessionError::new(format!("connecting: {}", chain(&*e))))?;
        let mut client = AgentServiceClient::new(channel).max_decoding_message_size(256 << 20);
        let (tx, rx) = mpsc::channel::<AgentMessage>(WINDOW * 2 + 8);
        let hello = Hello {
            agent_id: self.heartbeat.identity.agent_id.clone(),
            run_id: self.heartbeat.identity.run_id.clone(),
            agent_version: self.heartbeat.identity.version.clone(),
            hostname: self.heartbeat.identity.hostname.clone(),
            lists_version: shared.lists_version.load(Ordering::Relaxed),
        };
        let _ = tx.try_send(AgentMessage { msg: Some(AgentMsg::Hello(hello)) });
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        let auth = bearer(shared.cfg.token.expose())
            .parse()
            .map_err(|_| SessionError { refused: true, ..SessionError::new("the token cannot be sent as a header") })?;
        request.metadata_mut().insert(AUTHORIZATION, auth);
        let mut inbound = client.connect(request).await?.into_inner();
        shared.set_status(|s| {
            s.connected = true;
            s.connects += 1;
            s.last_error = None;
            s.refused = false;
        });
        tracing::info!(server = %cfg.url, "uplink: connected");

        let mut progressed = false;
        let lost = |progressed: bool, message: String| SessionError { message, refused: false, progressed };
        let mut sent = shared.spool().acked();
        let mut in_flight: VecDeque<(u64, Instant)> = VecDeque::new();
        let mut beats = tokio::time::interval(cfg.heartbeat);
        beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut check = tokio::time::interval(Duration::from_secs(1));
        let mut beat_seq = 0u64;
        let mut stopping = *stop.borrow();
        let mut deadline = Instant::now() + cfg.shutdown_grace;
        loop {
            if let Err(e) = self.fill(&tx, &mut sent, &mut in_flight) {
                return Err(lost(progressed, e));
            }
            if stopping && (in_flight.is_empty() || Instant::now() >= deadline) {
                return self.goodbye(tx, &mut inbound, beat_seq + 1, deadline).await;
            }
            tokio::select! {
                m = inbound.message() => match m {
                    Ok(Some(m)) => {
                        progressed = true;
                        self.handle(m.msg, &mut in_flight);
                    }
                    Ok(None) => return Err(lost(progressed, "the server closed the stream".into())),
                    Err(s) => {
                        let mut e = SessionError::from(s);
                        e.progressed = progressed;
                        return Err(e);
                    }
                },
                _ = beats.tick() => {
                    beat_seq += 1;
                    let _ = tx.try_send(self.heartbeat_message(beat_seq, false)); // a full queue skips one beat
                    shared.set_status(|s| s.heartbeats_sent += 1);
                }
                _ = shared.wake.notified() => {}
                _ = stop.changed(), if !stopping => {
                    stopping = true;
                    deadline = Instant::now() + cfg.shutdown_grace;
                }
                _ = check.tick() => {
                    if let Some((seq, at)) = in_flight.front()
                        && at.elapsed() > cfg.ack_timeout
                    {
                        return Err(lost(progressed, format!("no acknowledgement of batch {seq} for {:?}", cfg.ack_timeout)));
                    }
                }
                _ = tokio::time::sleep_until(deadline), if stopping => {}
            }
        }
    }

    /// Send spooled batches while the window has room.
    fn fill(
        &self,
        tx: &mpsc::Sender<AgentMessage>,
        sent: &mut u64,
        in_flight: &mut VecDeque<(u64, Instant)>,
    ) -> Result<(), String> {
        let own_run = &self.heartbeat.identity.run_id;
        while in_flight.len() < WINDOW {
            let Some(b) = self.shared.spool().next_batch(*sent, BATCH_RECORDS, BATCH_BYTES) else { break };
            let seq = b.last_seq;
            // A record of this run goes with an empty run id: the server
            // takes the stream's (Hello.run_id).
            let run_id = if &b.run_id == own_run { String::new() } else { b.run_id };
            let msg = match b.kind {
                RecordKind::Finding => AgentMsg::Findings(FindingBatch { seq, findings_json: b.bodies, run_id }),
                RecordKind::Telemetry => {
                    AgentMsg::Telemetry(TelemetryBatch { seq, events_json: b.bodies, run_id, seqs: b.seqs })
                }
            };
            match tx.try_send(AgentMessage { msg: Some(msg) }) {
                Ok(()) => {
                    *sent = seq;
                    in_flight.push_back((seq, Instant::now()));
                    self.shared.set_status(|s| s.batches_sent += 1);
                }
                Err(mpsc::error::TrySendError::Full(_)) => break,
                Err(mpsc::error::TrySendError::Closed(_)) => return Err("the request stream closed".into()),
            }
        }
        Ok(())
    }

    fn handle(&mut self, msg: Option<ServerMsg>, in_flight: &mut VecDeque<(u64, Instant)>) {
        match msg {
            Some(ServerMsg::Ack(ack)) => {
                if let Err(e) = self.shared.spool().ack(ack.seq) {
                    tracing::warn!(error = %e, "uplink: recording an acknowledgement");
                }
                while in_flight.front().is_some_and(|(s, _)| *s <= ack.seq) {
                    in_flight.pop_front();
                }
                self.shared.set_status(|s| s.acked = s.acked.max(ack.seq));
            }
            Some(ServerMsg::Lists(update)) => {
                let Some(lists) = &mut self.lists else {
                    tracing::info!(version = update.version, "uplink: server lists ignored (detection is off)");
                    self.shared.lists_version.store(update.version, Ordering::Relaxed);
                    return;
                };
                match lists.apply(&update) {
                    Ok(a) => {
                        tracing::info!(
                            version = update.version,
                            threat = a.threat,
                            trusted = a.trusted,
                            rejected = a.rejected.len(),
                            "uplink: server lists applied"
                        );
                        self.shared.lists_version.store(update.version, Ordering::Relaxed);
                        self.shared.set_status(|s| s.lists_version = update.version);
                    }
                    Err(e) => tracing::error!(version = update.version, error = %e, "uplink: server lists not applied"),
                }
            }
            Some(ServerMsg::Settings(s)) => {
                let reason = (!s.reason.is_empty()).then(|| s.reason.clone());
                let was = self.shared.monitoring_enabled.swap(s.monitoring_enabled, Ordering::SeqCst);
                *self.shared.monitoring_reason.lock().unwrap_or_else(|p| p.into_inner()) = reason;
                if was != s.monitoring_enabled {
                    if s.monitoring_enabled {
                        tracing::info!("uplink: the server turned monitoring back on");
                    } else {
                        tracing::warn!(reason = %s.reason, "uplink: the server turned monitoring off; findings are not reported");
                    }
                }
                self.shared.set_status(|st| st.monitoring_enabled = s.monitoring_enabled);
            }
            None => {}
        }
    }

    fn heartbeat_message(&mut self, seq: u64, stopping: bool) -> AgentMessage {
        let monitoring = (
            self.shared.monitoring_enabled.load(Ordering::SeqCst),
            self.shared.monitoring_reason.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        );
        let stats = &self.shared.stats;
        let spool = (stats.pending.load(Ordering::Relaxed), stats.bytes.load(Ordering::Relaxed));
        let hb = self.heartbeat.next(stopping, monitoring, spool);
        let heartbeat_json = serde_json::to_vec(&hb).unwrap_or_default();
        AgentMessage { msg: Some(AgentMsg::Heartbeat(Heartbeat { seq, heartbeat_json })) }
    }

    /// The last heartbeat, then close our side and wait (until `deadline`)
    /// for the server to close its: it has then read everything.
    async fn goodbye(
        &mut self,
        tx: mpsc::Sender<AgentMessage>,
        inbound: &mut tonic::Streaming<saker_proto::ServerMessage>,
        seq: u64,
        deadline: Instant,
    ) -> Result<(), SessionError> {
        let _ = tx.try_send(self.heartbeat_message(seq, true));
        drop(tx);
        let deadline = deadline.max(Instant::now() + Duration::from_millis(500));
        let mut in_flight = VecDeque::new();
        while let Ok(Ok(Some(m))) = tokio::time::timeout_at(deadline, inbound.message()).await {
            self.handle(m.msg, &mut in_flight);
        }
        tracing::info!(pending = self.shared.spool().pending(), "uplink: closed");
        Ok(())
    }
}

/// An error and its sources, one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let d: Vec<Duration> = (0..6).map(|_| b.next()).collect();
        assert!(d[0] >= Duration::from_millis(50) && d[0] <= Duration::from_millis(100), "{d:?}");
        assert!(d[3] >= Duration::from_millis(400) && d[3] <= Duration::from_millis(800), "{d:?}");
        assert!(d[5] >= Duration::from_millis(500) && d[5] <= Duration::from_secs(1), "{d:?}");
        b.reset();
        assert!(b.next() <= Duration::from_millis(100));
        assert!(b.longest() >= Duration::from_millis(500));
    }
}
