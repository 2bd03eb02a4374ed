//! One pool over SQLite or PostgreSQL (sqlx's `Any` driver), the embedded
//! migrations, and the helpers that make the two backends look alike:
//!
//! - [`Sql`] builds a statement and its arguments together, numbering `$n`
//!   placeholders in order of appearance — the one numbering both backends
//!   agree on (SQLite numbers `$n` by first appearance).
//! - [`Store::begin_write`]: SQLite write transactions start `IMMEDIATE`, so
//!   a transaction that reads before it writes cannot fail to upgrade its
//!   lock; [`Store::for_update`]: PostgreSQL row locks (SQLite's
//!   `IMMEDIATE` transaction already excludes other writers).
//! - SQLite connections get WAL, a busy timeout, foreign keys, and
//!   case-sensitive LIKE (PostgreSQL's LIKE is case-sensitive already).

use crate::accounts::AuthCache;
use crate::fields::{Cell, Kind};
use crate::{Scope, StoreError};
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The server's store. Cheap to clone; clones share the pool and the
/// authentication cache.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    pub(crate) auth: Arc<AuthCache>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// `sqlite:PATH` (the file and its directory are created) or
    /// `postgres://…` / `postgresql://…`; runs the migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, connect_url) = if let Some(path) = url.strip_prefix("sqlite:") {
            (Backend::Sqlite, sqlite_url(path)?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::InvalidInput(
                "database URL: use sqlite:/path/to/saker.db or postgres://user@host/db".into(),
            ));
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        options = match backend {
            // One writer at a time anyway; a few readers alongside (WAL).
            Backend::Sqlite => options.max_connections(8).after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA case_sensitive_like = ON").await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options.max_connections(16),
        };
        let pool = options.connect(&connect_url).await?;
        MIGRATOR.run(&pool).await?;
        tracing::debug!(?backend, "store open");
        Ok(Store { pool, backend, auth: Arc::default() })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Close the pool's connections (waits for borrowed ones).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A transaction that will write.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Appended to a `SELECT` inside a write transaction to lock its rows.
    pub(crate) fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }
}

/// `sqlite:` + a path (`sqlite:///abs`, `sqlite://rel` and `sqlite:/abs`
/// all work) → sqlx's URL, creating the directory.
fn sqlite_url(path: &str) -> Result<String, StoreError> {
    let path = path.strip_prefix("//").unwrap_or(path);
    if path.is_empty() || path.contains(":memory:") {
        return Err(StoreError::InvalidInput(format!("sqlite:{path}: give the path of a database file")));
    }
    if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::InvalidInput(format!("creating {}: {e}", dir.display())))?;
    }
    // sqlx percent-decodes the path and splits off `?query`: keep `%`, `?`
    // and `#` in a file name literal.
    let escaped = path.replace('%', "%25").replace('?', "%3F").replace('#', "%23");
    Ok(format!("sqlite://{escaped}?mode=rwc"))
}

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Float(f64),
    Bytes(Vec<u8>),
    /// A NULL of a column's type (PostgreSQL wants typed NULLs).
    Null(Kind),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Text(s.to_owned())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Text(s)
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Arg {
        Arg::Text(s.clone())
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Arg {
        Arg::Float(v)
    }
}
impl From<Cell> for Arg {
    fn from(c: Cell) -> Arg {
        match c {
            Cell::Text(s) => Arg::Text(s),
            Cell::Int(v) => Arg::Int(v),
            Cell::Float(v) => Arg::Float(v),
        }
    }
}

/// A statement built together with its arguments: `bind` appends the next
/// `$n`, so placeholders are always numbered in order of appearance.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql { text: text.to_owned(), args: Vec::new() }
    }

    /// SQL text: a fixed string or a name from a static whitelist, never a value.
    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    pub fn bind(&mut self, arg: impl Into<Arg>) -> &mut Sql {
        self.args.push(arg.into());
        self.text.push_str(&format!("${}", self.args.len()));
        self
    }

    /// `a, b, c` — each bound.
    pub fn bind_list<A: Into<Arg>>(&mut self, args: impl IntoIterator<Item = A>) -> &mut Sql {
        for (i, a) in args.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(a);
        }
        self
    }

    /// The rows a scope may see: `account_id = $n`, or everything.
    pub fn scope(&mut self, scope: &Scope) -> &mut Sql {
        match scope {
            Scope::All => self.push("1 = 1"),
            Scope::Account(a) => self.push("account_id = ").bind(a),
        }
    }

    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(v) => q.bind(*v),
                Arg::Float(v) => q.bind(*v),
                Arg::Bytes(b) => q.bind(b.clone()),
                Arg::Null(Kind::Text) => q.bind(None::<String>),
                Arg::Null(Kind::Float) => q.bind(None::<f64>),
                Arg::Null(Kind::Int | Kind::Time | Kind::Bool) => q.bind(None::<i64>),
            };
        }
        q
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
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    use sqlx::Row;
    row.try_get(name).map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

pub(crate) fn col_bool(row: &AnyRow, name: &str) -> Result<bool, StoreError> {
    Ok(col::<i64>(row, name)? != 0)
}

/// A unique-constraint violation as a 409 with `message`; anything else as is.
pub(crate) fn conflict_or_db(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(message()),
        _ => StoreError::Database(e),
    }
}

/// A name or label from a caller: non-empty, at most `max` characters, no
/// control characters (which PostgreSQL's TEXT may also refuse: NUL).
pub(crate) fn check_text(what: &str, s: &str, max: usize) -> Result<(), StoreError> {
    if s.trim().is_empty() {
        return Err(StoreError::InvalidInput(format!("{what} is empty")));
    }
    if s.chars().count() > max {
        return Err(StoreError::InvalidInput(format!("{what} is longer than {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput(format!("{what} contains control characters")));
    }
    Ok(())
}

/// JSON for a TEXT column.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("serializing: {e}")))
}

/// JSON from a TEXT column, naming what it is in the error.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}
