//! One pool over SQLite or PostgreSQL (sqlx's `Any` driver), the schema, and
//! the few places where the two differ. SQL uses `$1, $2, …` in order of
//! appearance, which both backends number the same way.

use crate::StoreError;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The server's store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    pub(crate) auth_cache: Arc<crate::accounts::AuthCache>,
}

/// Portable DDL: BIGINT for integers and booleans (0/1) and epoch
/// milliseconds, DOUBLE PRECISION, TEXT (JSON as text).
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL, is_admin BIGINT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, created_at BIGINT NOT NULL, last_used_at BIGINT, revoked BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS findings (account_id TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, severity DOUBLE PRECISION NOT NULL, \
     region TEXT, resource_type TEXT, instance_id TEXT, hostname TEXT, ecs_cluster TEXT, task_arn TEXT, container_id TEXT, container_name TEXT, \
     container_image TEXT, k8s_workload TEXT, k8s_namespace TEXT, process_name TEXT, executable_path TEXT, executable_sha256 TEXT, agent_version TEXT, \
     count BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, archived BIGINT NOT NULL, archived_by TEXT, body TEXT NOT NULL, \
     PRIMARY KEY (account_id, id))",
    "CREATE INDEX IF NOT EXISTS findings_updated ON findings (updated_at)",
    "CREATE TABLE IF NOT EXISTS finding_sources (account_id TEXT NOT NULL, finding_id TEXT NOT NULL, source TEXT NOT NULL, count BIGINT NOT NULL, PRIMARY KEY (account_id, finding_id, source))",
    "CREATE TABLE IF NOT EXISTS filters (account_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL, action TEXT NOT NULL, rank BIGINT NOT NULL, criteria TEXT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (account_id, name))",
    "CREATE TABLE IF NOT EXISTS lists (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, category TEXT, format TEXT NOT NULL, content TEXT NOT NULL, \
     active BIGINT NOT NULL, ips BIGINT NOT NULL, domains BIGINT NOT NULL, hashes BIGINT NOT NULL, skipped BIGINT NOT NULL, messages TEXT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS agents (account_id TEXT NOT NULL, agent_id TEXT NOT NULL, heartbeat TEXT NOT NULL, last_seen BIGINT NOT NULL, \
     health_status TEXT NOT NULL, health_issue TEXT, health_since BIGINT NOT NULL, PRIMARY KEY (account_id, agent_id))",
    "CREATE TABLE IF NOT EXISTS health_events (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, subject TEXT NOT NULL, from_status TEXT NOT NULL, to_status TEXT NOT NULL, issue TEXT, at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
];

impl Store {
    /// `sqlite:PATH` (created if missing) or `postgres://…`; creates the
    /// schema if needed.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            if let Some(dir) = std::path::Path::new(path).parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::InvalidInput(format!("creating {}: {e}", dir.display())))?;
            }
            (Backend::Sqlite, format!("sqlite://{path}?mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::InvalidInput(format!(
                "database {url:?}: use sqlite:PATH or postgres://user@host/db"
            )));
        };
        let mut opts = AnyPoolOptions::new().max_connections(if backend == Backend::Sqlite { 4 } else { 16 });
        if backend == Backend::Sqlite {
            // LIKE is case-sensitive in PostgreSQL; make SQLite's the same.
            // WAL lets readers run while a batch commits.
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA case_sensitive_like = ON").await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    Ok(())
                })
            });
        }
        let pool = opts.connect(&url).await?;
        for stmt in SCHEMA {
            pool.execute(*stmt).await?;
        }
        Ok(Store { pool, backend, auth_cache: Arc::default() })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn to_time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Read a column, naming it in the error.
pub(crate) fn col<'r, T>(row: &'r AnyRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get(name).map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// `WHERE` fragment and first argument for a scope: `account_id = $1`, or
/// nothing for the administrator.
pub(crate) fn scope_clause(scope: &crate::Scope) -> (String, Option<String>) {
    match scope {
        crate::Scope::All => ("1 = 1".into(), None),
        crate::Scope::Account(a) => ("account_id = $1".into(), Some(a.clone())),
    }
}
