//! The Saker server: agents stream findings and heartbeats to it over gRPC
//! (`ingest.rs`, which reaches the rest only through `hooks.rs`); it stores them (`saker-store`), applies suppression rules,
//! judges coverage (`coverage.rs`), serves the REST API (`api/`) and the web
//! console (`console.rs`), and exports findings (`saker-export`).
//!
//! [`start`] brings everything up and returns a [`Running`] server; the
//! `saker server` and `saker up` commands are thin layers over it.

pub mod api;
pub mod app;
pub mod config;
pub mod console;
pub mod coverage;
mod error;
mod hooks;
pub mod http;
pub mod ingest;
pub mod tls;

pub use app::App;
pub use config::ServerConfig;
pub use error::ServerError;

use saker_store::{Scope, Store, TokenKind};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A started server.
pub struct Running {
    pub app: Arc<App>,
    /// Where the console and API listen (the bound address: port 0 resolved).
    pub http_addr: SocketAddr,
    pub http_url: String,
    /// Where agents connect.
    pub grpc_addr: SocketAddr,
    /// The certificate agents pin (PEM).
    pub cert_pem: String,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stop accepting, finish in-flight requests, stop background work.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.app.shutdown_exports().await;
    }

    /// Issue a fresh token of `kind` for the administrator account, revoking
    /// earlier ones of the same `name` (what `saker up` prints each start:
    /// tokens are only ever stored hashed, so a lost one is replaced, not
    /// recovered).
    pub async fn fresh_admin_token(&self, kind: TokenKind, name: &str) -> Result<String, ServerError> {
        let store = &self.app.store;
        let admin = store.admin_account().await?;
        let scope = Scope::Account(admin.id.clone());
        for t in store.tokens(&scope).await? {
            if t.name == name && !t.revoked {
                store.revoke_token(&scope, &t.id).await?;
            }
        }
        let (_, token) = store.issue_token(&admin.id, kind, name).await?;
        Ok(token)
    }
}

/// Open the store, make sure the administrator account and the certificate
/// exist, and serve.
pub async fn start(config: ServerConfig) -> Result<Running, ServerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::Io {
        what: "creating the data directory",
        path: config.data_dir.clone(),
        source,
    })?;
    let tls = tls::ensure_certificate(&config.data_dir.join("tls"))?;
    let store = Store::open(&config.database_url()).await?;
    let admin = store.admin_account().await?;
    tracing::info!(account = %admin.id, backend = ?store.backend(), "store ready");
    let exports = start_exports(&store, &config).await?;
    let app = App::new(store, config.clone(), exports).await?;
    let (shutdown, stop) = watch::channel(false);
    let mut tasks = Vec::new();

    let (http_addr, task) = http::serve(app.clone(), &config, &tls, stop.clone()).await?;
    tasks.push(task);
    let http_url = format!("{}://{http_addr}", if config.http_tls() { "https" } else { "http" });
    // Agents always meet TLS: the certificate is the one they pin.
    let keep_telemetry = config.telemetry_retention_hours > 0;
    let ingest = ingest::Ingest::new(app.store.clone(), app.clone())
        .with_config(ingest::IngestConfig { keep_telemetry, ..ingest::IngestConfig::default() });
    let (grpc_addr, task) = ingest::serve(config.grpc_listen, Some(&tls), ingest, stop.clone()).await?;
    tasks.push(task);
    tasks.push(tokio::spawn(coverage_task(app.clone(), stop.clone())));
    tasks.push(tokio::spawn(telemetry_retention_task(
        app.store.clone(),
        config.telemetry_retention_hours,
        stop.clone(),
    )));
    tracing::info!(%http_url, "server listening");
    Ok(Running { app, http_addr, http_url, grpc_addr, cert_pem: tls.cert_pem, shutdown, tasks })
}

/// The exporter, when `[exports]` names destinations. The update interval
/// stored in the settings (API) wins over the file's.
async fn start_exports(
    store: &Store,
    config: &ServerConfig,
) -> Result<Option<saker_export::ExportHandle>, ServerError> {
    if config.exports.destinations.is_empty() {
        return Ok(None);
    }
    let admin = store.admin_account().await?;
    let ctx = saker_export::ExportContext::new(&admin.id, &config.region)
        .map_err(|e| ServerError::Serve(format!("exports: {e}")))?;
    let mut exports = config.exports.clone();
    if let Some(v) = store.setting("settings").await?
        && let Some(i) = v.get("updateExportInterval").cloned()
        && let Ok(i) = serde_json::from_value(i)
    {
        exports.update_interval = i;
    }
    let clock: Arc<dyn saker_export::Clock> = Arc::new(saker_export::SystemClock);
    let exporter = saker_export::Exporter::from_config(&exports, &ctx, &config.data_dir, clock)
        .map_err(|e| ServerError::Serve(format!("exports: {e}")))?;
    let handle = exporter.spawn(exports.queue_capacity, std::time::Duration::from_secs(5), |r| {
        metrics::counter!("saker_server_exports_delivered_total", "destination" => r.destination.clone())
            .increment(r.delivered as u64);
        if r.failed > 0 {
            metrics::counter!("saker_server_exports_failed_total", "destination" => r.destination.clone())
                .increment(r.failed as u64);
            tracing::warn!(destination = %r.destination, failed = r.failed, error = ?r.last_error, "export failed");
        }
    });
    tracing::info!(destinations = exports.destinations.len(), "exports started");
    Ok(Some(handle))
}

/// Re-judge silent agents every heartbeat interval: an agent that stops
/// sending is "not reporting" without any message from it.
async fn coverage_task(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let every = std::time::Duration::from_secs(app.config.heartbeat_secs.max(1));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = check_silence(&app).await {
            tracing::warn!(error = %e, "coverage check");
        }
    }
}

/// Delete raw telemetry older than the retention (`hours` after its
/// arrival) at start and then hourly. With 0 the first run deletes whatever
/// an earlier configuration kept.
async fn telemetry_retention_task(store: Store, hours: u64, mut stop: watch::Receiver<bool>) {
    // Hours beyond chrono's range mean "keep for ever".
    let Some(keep) = i64::try_from(hours).ok().and_then(chrono::Duration::try_hours) else { return };
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = every.tick() => {}
        }
        let Some(cutoff) = chrono::Utc::now().checked_sub_signed(keep) else { continue };
        match store.prune_telemetry(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, retention_hours = hours, "telemetry pruned"),
            Err(e) => tracing::warn!(error = %e, "pruning telemetry"),
        }
    }
}

async fn check_silence(app: &App) -> Result<(), ServerError> {
    let rules = app.coverage_rules().await.map_err(|e| ServerError::Serve(e.message))?;
    let now = chrono::Utc::now();
    for a in app.store.agents(&Scope::All).await? {
        if let Some(h) = coverage::judge_silence(a.last_seen, &a.health, now, &rules) {
            app.store.set_agent_health(&a.account_id, &a.heartbeat.agent_id, &h).await?;
        }
    }
    Ok(())
}
