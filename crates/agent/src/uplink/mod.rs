//! The server uplink: findings (and, when enabled, telemetry) go to a Saker
//! server over gRPC, with heartbeats; the server pushes threat lists and
//! settings back.
//!
//! ```text
//! pipeline thread ──UplinkSink──▶ spool (disk) ──client thread (tokio)──▶ server
//!                                    ▲                      │
//!                                    └──── Ack: forget ◀────┘  ListsUpdate → IntelHandle
//!                                                              AgentSettings → monitoring on/off
//! ```
//!
//! The spool is the single path: whatever the pipeline produces is on disk
//! before the network sees it, so a server that is down, slow or restarting
//! costs disk, never findings (up to the spool's bound, and every drop is
//! counted in `agent.loss` under stage `spool`). The pipeline never waits on
//! the network: appending is a local `write(2)`.
//!
//! - `config.rs` — the `[server]` section, validated ([`UplinkConfig`]).
//! - `spool.rs` (+ `spool/record.rs`) — the on-disk queue and its format.
//! - `client.rs` — the gRPC session loop, backoff, acknowledgements.
//! - `tls.rs` — TCP + TLS pinned to the server's certificate.
//! - `heartbeat.rs` — the heartbeat (mirrors `saker_store::Heartbeat`).
//! - `lists.rs` — server lists swapped into the detector's intel.

mod client;
pub mod config;
pub mod heartbeat;
mod lists;
pub mod spool;
mod tls;

pub use config::{ServerSection, ServerUrl, Token, UplinkConfig};
pub use heartbeat::{Heartbeat, Identity};
pub use spool::{Class, RecordKind, Spool, SpoolConfig, SpoolStats};
pub use tls::pinned_client_config;

use crate::pipeline::PipelineCounters;
use crate::{AgentError, DetectionConfig, Sink};
use saker_detect::Finding;
use saker_model::Event;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use tokio::sync::{Notify, watch};

/// What the uplink reports about the link (logs, tests, `saker` status).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UplinkStatus {
    pub connected: bool,
    /// Connection attempts, and streams the server accepted.
    pub attempts: u64,
    pub connects: u64,
    pub last_error: Option<String>,
    /// The last failure was the server refusing the token.
    pub refused: bool,
    /// The highest sequence number the server acknowledged.
    pub acked: u64,
    pub batches_sent: u64,
    pub heartbeats_sent: u64,
    /// The server lists version applied (0: none).
    pub lists_version: u64,
    pub monitoring_enabled: bool,
    /// Findings not reported because the server turned monitoring off.
    pub findings_withheld: u64,
}

/// State shared by the pipeline's sink and the client thread.
pub(crate) struct Shared {
    cfg: UplinkConfig,
    spool: Mutex<spool::Spool>,
    stats: Arc<SpoolStats>,
    /// The pipeline spooled something: send it.
    wake: Notify,
    run_id: String,
    monitoring_enabled: AtomicBool,
    monitoring_reason: Mutex<Option<String>>,
    lists_version: AtomicU64,
    status: Mutex<UplinkStatus>,
}

impl Shared {
    fn spool(&self) -> MutexGuard<'_, spool::Spool> {
        // A panic while holding the lock leaves the spool consistent on disk
        // (every change is a whole-record write or an atomic rename).
        self.spool.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_status(&self, f: impl FnOnce(&mut UplinkStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// What the uplink needs to know about the running agent.
#[derive(Default)]
pub struct UplinkContext {
    /// `host` or `sidecar`.
    pub mode: &'static str,
    pub attached: Vec<String>,
    pub counters: Arc<PipelineCounters>,
    /// Detection's lists and live intel handle: server lists join them.
    /// `None`: detection is off and server lists are ignored.
    pub detection: Option<DetectionConfig>,
    /// The agent's own ECS task metadata endpoint (task-sidecar mode), for
    /// the cluster and task in heartbeats.
    pub ecs_metadata_uri: Option<String>,
}

/// The uplink with its spool open and its identity loaded, not yet
/// connecting (the agent opens it before loading the sensor, so a spool
/// problem stops the start early).
pub struct OpenedUplink {
    cfg: UplinkConfig,
    spool: spool::Spool,
    identity: Identity,
}

impl OpenedUplink {
    pub fn spool_stats(&self) -> Arc<SpoolStats> {
        self.spool.stats()
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Start the client thread.
    pub fn start(self, ctx: UplinkContext) -> Result<Uplink, AgentError> {
        let stats = self.spool.stats();
        let shared = Arc::new(Shared {
            spool: Mutex::new(self.spool),
            stats,
            wake: Notify::new(),
            run_id: self.identity.run_id.clone(),
            monitoring_enabled: AtomicBool::new(true),
            monitoring_reason: Mutex::new(None),
            lists_version: AtomicU64::new(0),
            status: Mutex::new(UplinkStatus { monitoring_enabled: true, ..UplinkStatus::default() }),
            cfg: self.cfg,
        });
        let mode = if ctx.mode.is_empty() { "host" } else { ctx.mode };
        let client = client::Client {
            shared: shared.clone(),
            heartbeat: heartbeat::HeartbeatSource::new(self.identity.clone(), mode, ctx.attached, ctx.counters),
            lists: ctx.detection.map(lists::Lists::new),
            ecs_metadata_uri: ctx.ecs_metadata_uri,
        };
        let (stop, stop_rx) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("saker-uplink".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "uplink: cannot start its runtime; findings stay in the spool");
                        return;
                    }
                };
                rt.block_on(client.run(stop_rx));
            })
            .map_err(|source| AgentError::Thread { name: "saker-uplink", source })?;
        tracing::info!(server = %shared.cfg.url, agent_id = %self.identity.agent_id, run_id = %self.identity.run_id,
            "uplink started");
        Ok(Uplink { shared, identity: self.identity, stop, thread: Some(thread) })
    }
}

/// A running uplink. [`Uplink::shutdown`] hands over what it can and stops.
pub struct Uplink {
    shared: Arc<Shared>,
    identity: Identity,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Uplink {
    /// Open the spool and load the agent's identity.
    pub fn open(cfg: UplinkConfig) -> Result<OpenedUplink, AgentError> {
        let identity = Identity::load(&cfg.data_dir)?;
        let spool = spool::Spool::open(cfg.spool.clone())?;
        Ok(OpenedUplink { cfg, spool, identity })
    }

    /// The pipeline's way in: findings (and telemetry) into the spool.
    pub fn sink(&self) -> UplinkSink {
        UplinkSink { shared: self.shared.clone(), wrote: false, failures: 0 }
    }

    pub fn status(&self) -> UplinkStatus {
        self.shared.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn spool_stats(&self) -> Arc<SpoolStats> {
        self.shared.stats.clone()
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Send what is spooled (for up to the shutdown grace), then a last
    /// heartbeat saying the agent stops, and end the client thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.shared.spool().sync();
        self.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop_and_join();
        }
    }
}

/// The pipeline's sink into the spool. Never fails the pipeline: a spool
/// that cannot be written is logged and counted (`agent.loss`, stage
/// `spool`, "write failed"), and detection goes on.
pub struct UplinkSink {
    shared: Arc<Shared>,
    wrote: bool,
    failures: u64,
}

impl UplinkSink {
    fn append(&mut self, kind: RecordKind, class: Class, body: &[u8]) {
        let result = self.shared.spool().append(kind, class, &self.shared.run_id, body);
        match result {
            Ok(_) => self.wrote = true,
            Err(e) => {
                self.failures += 1;
                // The first failure and then one in a thousand.
                if self.failures % 1000 == 1 {
                    tracing::error!(error = %e, failures = self.failures, "uplink: cannot write to the spool");
                }
            }
        }
    }
}

impl Sink for UplinkSink {
    fn write(&mut self, event: &Event) -> Result<(), AgentError> {
        if self.shared.cfg.send_telemetry
            && let Ok(body) = serde_json::to_vec(event)
        {
            self.append(RecordKind::Telemetry, Class::Telemetry, &body);
        }
        Ok(())
    }

    fn write_finding(&mut self, finding: &Finding) -> Result<(), AgentError> {
        if !self.shared.monitoring_enabled.load(Ordering::SeqCst) {
            self.shared.set_status(|s| s.findings_withheld += 1);
            return Ok(());
        }
        match serde_json::to_vec(finding) {
            Ok(body) => self.append(RecordKind::Finding, Class::of_severity(finding.severity), &body),
            Err(e) => tracing::error!(error = %e, id = %finding.id, "uplink: finding not serializable"),
        }
        Ok(())
    }

    /// After every pipeline batch and tick: sync per the spool's policy
    /// (appends since the last sync may still be waiting for the interval),
    /// and wake the client when there is something new to send.
    fn flush(&mut self) -> Result<(), AgentError> {
        if let Err(e) = self.shared.spool().flush() {
            tracing::warn!(error = %e, "uplink: syncing the spool");
        }
        if std::mem::take(&mut self.wrote) {
            self.shared.wake.notify_one();
        }
        Ok(())
    }
}
