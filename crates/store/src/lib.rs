//! The server's state: accounts and tokens, findings (aggregated across
//! agents, idempotently), suppression rules, threat lists, agents and their
//! health, settings — in SQLite (embedded, the default) or PostgreSQL,
//! through one set of SQL.
//!
//! - `db.rs` — opening either backend, the schema, SQL helpers.
//! - `accounts.rs` — accounts, tokens (argon2id at rest), authentication.
//! - `criteria.rs` — GuardDuty-style finding criteria: parsed once, rendered
//!   as SQL with bound values, or evaluated on a finding in memory.
//! - `findings.rs` — ingest (per-source counts: redelivery never double
//!   counts), search, archive, the severity histogram.
//! - `admin.rs` — suppression rules, threat lists, settings.
//! - `agents.rs` — heartbeats, health and health changes.
//!
//! Values are always bound; column names come only from static tables.

mod accounts;
mod admin;
mod agents;
pub mod criteria;
mod db;
mod findings;

pub use accounts::{Account, Principal, TokenInfo, TokenKind};
pub use admin::{Filter, FilterAction, ListInfo, NewList};
pub use agents::{AgentRecord, Health, HealthEvent, HealthStatus, Heartbeat};
pub use criteria::{Criteria, CriteriaError, Sort};
pub use db::{Backend, Store};
pub use findings::{FindingPage, FindingQuery, HistogramBucket, IngestOutcome};

/// What the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The administrator: every account.
    All,
    Account(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The caller's mistake (a 400).
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NotFound(String),
    /// A name that exists already (a 409).
    #[error("{0}")]
    Conflict(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("hashing a token: {0}")]
    Hash(String),
}

impl From<CriteriaError> for StoreError {
    fn from(e: CriteriaError) -> Self {
        StoreError::InvalidInput(e.to_string())
    }
}
