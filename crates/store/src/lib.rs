//! The server's state: accounts and tokens, findings (aggregated across
//! agents, idempotently), suppression rules, threat lists, agents and their
//! health, settings, raw telemetry — in SQLite (embedded, the default) or PostgreSQL,
//! through one set of SQL and one set of migrations (`migrations/`).
//!
//! - `db.rs` — opening either backend, migrations, the SQL builder that
//!   numbers placeholders, the few places where the backends differ.
//! - `accounts.rs` — accounts, tokens (argon2id at rest), authentication
//!   with a one-minute cache.
//! - `criteria.rs` — GuardDuty-style finding criteria: parsed once, rendered
//!   as SQL with bound values, or evaluated on a finding in memory; sorting.
//! - `findings.rs` — ingest (per-source counts: redelivery never double
//!   counts); `search.rs` — search with keyset paging, archive, histogram.
//! - `telemetry.rs` — raw events for hunting: idempotent ingest per (agent
//!   run, spool seq), search with keyset paging, retention pruning.
//! - `filters.rs`, `lists.rs`, `agents.rs`, `settings.rs`.
//!
//! Values are always bound; column names come only from static tables.
//! Every read the API makes takes a [`Scope`]: a member's view of another
//! account's data is "not found".

mod accounts;
mod agents;
pub mod criteria;
mod db;
mod fields;
mod filters;
mod findings;
mod lists;
mod search;
mod settings;
mod telemetry;

pub use accounts::{Account, Principal, TokenInfo, TokenKind};
pub use agents::{AgentRecord, Health, HealthEvent, HealthStatus, Heartbeat};
pub use criteria::{Criteria, CriteriaError};
pub use db::{Backend, Store};
pub use filters::{Filter, FilterAction};
pub use findings::IngestOutcome;
pub use lists::{ListEntries, ListInfo, NewList};
pub use search::{
    DEFAULT_MAX_RESULTS, FindingPage, FindingQuery, HistogramBucket, MAX_RESULTS, Sort, SortAttribute, SortOrder,
};
pub use telemetry::{
    DEFAULT_TELEMETRY_RESULTS, MAX_TELEMETRY_RESULTS, TelemetryIngest, TelemetryPage, TelemetryQuery, TelemetryRecord,
};

/// What the caller may see.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The administrator: every account.
    All,
    /// A member: its own account only.
    Account(String),
}

/// Everything that can go wrong. The API maps `InvalidInput` to 400,
/// `NotFound` to 404, `Conflict` to 409 and the rest to 500 (see
/// [`StoreError::is_client_error`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The caller's mistake: bad criteria, sort, paging token, name, ... The
    /// message says what is wrong and is safe to show.
    #[error("{0}")]
    InvalidInput(String),
    /// A thing the request names does not exist (in the caller's scope).
    #[error("{0}")]
    NotFound(String),
    /// A name that exists already.
    #[error("{0}")]
    Conflict(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored data the store cannot read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Randomness or hashing failed (the OS RNG, argon2, a worker thread).
    #[error("hashing a token: {0}")]
    Hash(String),
}

impl StoreError {
    /// 4xx rather than 500: the message can be shown to the caller as is.
    pub fn is_client_error(&self) -> bool {
        matches!(self, StoreError::InvalidInput(_) | StoreError::NotFound(_) | StoreError::Conflict(_))
    }
}

impl From<CriteriaError> for StoreError {
    fn from(e: CriteriaError) -> Self {
        StoreError::InvalidInput(e.to_string())
    }
}
