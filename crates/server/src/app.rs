//! The server's shared state — the store, caches of what ingest consults on
//! every batch (suppression rules, settings), change notifications for the
//! agents — and the settings an administrator can change at run time.

use crate::api::error::ApiError;
use crate::config::ServerConfig;
use crate::coverage;
use saker_store::{Filter, FilterAction, Scope, Store};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// Server-wide settings (administrator only), kept in the store.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// ECS clusters whose agents stop reporting (GuardDuty's
    /// `GuardDutyManaged=false` tag).
    #[serde(default)]
    pub excluded_ecs_clusters: Vec<String>,
    /// How often updates of an existing finding are exported.
    #[serde(default = "default_interval")]
    pub update_export_interval: String,
}

fn default_interval() -> String {
    "FIFTEEN_MINUTES".into()
}

pub const EXPORT_INTERVALS: &[&str] = &["FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"];
const SETTINGS_KEY: &str = "settings";

pub struct App {
    pub store: Store,
    pub config: ServerConfig,
    /// Every account's filters, by rank: ingest matches new findings against
    /// them without a query per finding.
    filters: RwLock<Arc<Vec<Filter>>>,
    settings: RwLock<Settings>,
    /// The store's lists version; agents are pushed new lists when it moves.
    lists_version: watch::Sender<i64>,
    admin_account: String,
    /// Where findings go; `None` when no destination is configured (or
    /// after shutdown).
    exports: std::sync::Mutex<Option<saker_export::ExportHandle>>,
}

impl App {
    pub async fn new(
        store: Store,
        config: ServerConfig,
        exports: Option<saker_export::ExportHandle>,
    ) -> Result<Arc<App>, saker_store::StoreError> {
        let version = store.lists_version().await?;
        let admin_account = store.admin_account().await?.id;
        let app = Arc::new(App {
            store,
            config,
            filters: RwLock::new(Arc::new(Vec::new())),
            settings: RwLock::new(Settings { update_export_interval: default_interval(), ..Settings::default() }),
            lists_version: watch::channel(version).0,
            admin_account,
            exports: std::sync::Mutex::new(exports),
        });
        app.reload_filters().await?;
        let s = app.load_settings().await?;
        *app.settings.write().unwrap_or_else(|p| p.into_inner()) = s;
        Ok(app)
    }

    async fn load_settings(&self) -> Result<Settings, saker_store::StoreError> {
        Ok(match self.store.setting(SETTINGS_KEY).await? {
            Some(v) => serde_json::from_value(v).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "stored settings unreadable; using defaults");
                Settings { update_export_interval: default_interval(), ..Settings::default() }
            }),
            None => Settings { update_export_interval: default_interval(), ..Settings::default() },
        })
    }

    pub async fn settings(&self) -> Result<Settings, ApiError> {
        Ok(self.settings.read().unwrap_or_else(|p| p.into_inner()).clone())
    }

    pub async fn put_settings(&self, s: &Settings) -> Result<(), ApiError> {
        if !EXPORT_INTERVALS.contains(&s.update_export_interval.as_str()) {
            return Err(ApiError::bad_request(format!(
                "updateExportInterval must be one of {}",
                EXPORT_INTERVALS.join(", ")
            )));
        }
        let v = serde_json::to_value(s).map_err(|e| ApiError::internal(e.to_string()))?;
        self.store.put_setting(SETTINGS_KEY, &v).await?;
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = s.clone();
        // The running exporter takes the new interval at once (checked
        // above, so it parses).
        if let Ok(interval) = serde_json::from_value(serde_json::Value::String(s.update_export_interval.clone()))
            && let Some(h) = self.exports.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
        {
            h.set_update_interval(interval);
        }
        Ok(())
    }

    pub fn admin_account_id(&self) -> &str {
        &self.admin_account
    }

    /// Hand a finding to the exporter; a full queue is counted, never waited on.
    pub fn export(&self, finding: saker_detect::Finding, state: saker_export::FindingState) {
        let guard = self.exports.lock().unwrap_or_else(|p| p.into_inner());
        let Some(h) = guard.as_ref() else { return };
        if let Err(e) = h.offer(finding, state) {
            metrics::counter!("saker_server_exports_dropped_total").increment(1);
            tracing::warn!(error = %e, "export queue");
        }
    }

    /// Stop exporting: send what waits, close the files.
    pub async fn shutdown_exports(&self) {
        let handle = self.exports.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            h.shutdown().await;
        }
    }

    pub fn settings_now(&self) -> Settings {
        self.settings.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub async fn coverage_rules(&self) -> Result<coverage::Rules, ApiError> {
        Ok(self.coverage_rules_now())
    }

    /// How agents are judged: the heartbeat interval and the excluded clusters.
    pub fn coverage_rules_now(&self) -> coverage::Rules {
        coverage::Rules {
            heartbeat: chrono::Duration::seconds(self.config.heartbeat_secs.max(1) as i64),
            excluded_clusters: self.settings_now().excluded_ecs_clusters,
            ..coverage::Rules::default()
        }
    }

    pub async fn reload_filters(&self) -> Result<(), saker_store::StoreError> {
        let mut all = self.store.filters(&Scope::All).await?;
        all.sort_by_key(|f| f.rank);
        *self.filters.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(all);
        Ok(())
    }

    /// A filter was created, changed or deleted.
    pub fn filters_changed(self: &Arc<Self>) {
        let app = self.clone();
        tokio::spawn(async move {
            if let Err(e) = app.reload_filters().await {
                tracing::warn!(error = %e, "reloading suppression rules");
            }
        });
    }

    /// The first ARCHIVE rule (by rank) that applies to `account_id` — its
    /// own or the administrator's — and matches the finding.
    pub fn suppressed_by(&self, account_id: &str, admin_account: &str, finding: &serde_json::Value) -> Option<String> {
        let filters = self.filters.read().unwrap_or_else(|p| p.into_inner()).clone();
        filters
            .iter()
            .filter(|f| f.action == FilterAction::Archive)
            .filter(|f| f.account_id == account_id || f.account_id == admin_account)
            .find(|f| f.criteria.matches(finding))
            .map(|f| f.name.clone())
    }

    /// Lists changed: tell every connected agent.
    pub async fn lists_changed(&self) {
        match self.store.lists_version().await {
            Ok(v) => {
                self.lists_version.send_replace(v);
            }
            Err(e) => tracing::warn!(error = %e, "reading the lists version"),
        }
    }

    pub fn lists_version(&self) -> watch::Receiver<i64> {
        self.lists_version.subscribe()
    }
}
