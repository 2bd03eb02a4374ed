//! Raw telemetry for hunting: the enriched events (`saker_model::Event` as
//! JSON) agents stream when `send_telemetry` is on, kept for a retention
//! period and searchable.
//!
//! - Ingest is idempotent: an event is named by (account, agent run, spool
//!   sequence number) and inserted with `ON CONFLICT DO NOTHING`, so a batch
//!   redelivered after a lost acknowledgement stores nothing twice. One
//!   transaction per batch; an entry that is not an event (bad JSON, no
//!   `kind` or `time`) is skipped and counted, never fails the batch — a
//!   batch refused forever would block the agent's spool.
//! - A few facts are copied out of the JSON into indexed columns (process
//!   name, executable, container, ECS cluster, remote address, DNS name);
//!   search filters on them, on time, kind and agent, and on a substring of
//!   the JSON. Every value is bound. Paging is by keyset, newest first, as
//!   in `search.rs`.
//! - Retention counts from when the server received an event, not from the
//!   event's own time: an agent with a wrong clock neither loses its events
//!   at once nor keeps them for ever.

use crate::db::{Sql, col, from_json, now_ms, to_time};
use crate::{Scope, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const DEFAULT_TELEMETRY_RESULTS: u32 = 100;
pub const MAX_TELEMETRY_RESULTS: u32 = 1000;

/// An extracted fact longer than this is cut (at a character boundary):
/// the values are attacker-controlled, and PostgreSQL refuses index entries
/// beyond about 2.7 KB. An exact-match filter cannot find a longer value;
/// `contains` still can.
const MAX_FACT_CHARS: usize = 512;

/// Rows per INSERT statement: 100 × 16 placeholders stays far below both
/// backends' limits.
const INSERT_CHUNK: usize = 100;

/// Rows per DELETE when pruning: each chunk is its own short transaction, so
/// a large prune never holds SQLite's write lock for long.
const PRUNE_CHUNK: i64 = 5000;

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryIngest {
    /// New rows.
    pub stored: u64,
    /// Already stored (a redelivery, or a sequence number twice in the batch).
    pub duplicate: u64,
    /// Skipped: not JSON, not an object, no `kind`, no RFC 3339 `time`, or a
    /// sequence number beyond BIGINT.
    pub malformed: u64,
}

/// A telemetry search; every filter is optional and they combine with AND.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryQuery {
    /// An event kind (`process.exec`), or a family ending in `.*` (`net.*`).
    pub kind: Option<String>,
    pub agent_id: Option<String>,
    /// Event time, inclusive.
    pub since: Option<DateTime<Utc>>,
    /// Event time, exclusive.
    pub until: Option<DateTime<Utc>>,
    /// The process's executable path or its name (comm), exactly.
    pub executable: Option<String>,
    /// A container id (or a prefix of one, such as Docker's 12-digit short
    /// id) or a container name.
    pub container: Option<String>,
    /// An ECS cluster name.
    pub cluster: Option<String>,
    /// `net.remoteAddress`, exactly.
    pub remote_ip: Option<String>,
    /// The first question's name of a DNS message, exactly.
    pub dns_name: Option<String>,
    /// A substring of the event JSON (case-sensitive).
    pub contains: Option<String>,
    /// 1..=1000.
    pub max_results: u32,
    pub next_token: Option<String>,
}

impl Default for TelemetryQuery {
    fn default() -> Self {
        TelemetryQuery {
            kind: None,
            agent_id: None,
            since: None,
            until: None,
            executable: None,
            container: None,
            cluster: None,
            remote_ip: None,
            dns_name: None,
            contains: None,
            max_results: DEFAULT_TELEMETRY_RESULTS,
            next_token: None,
        }
    }
}

/// One stored event and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryRecord {
    pub account_id: String,
    pub agent_id: String,
    pub run_id: String,
    pub seq: i64,
    pub received_at: DateTime<Utc>,
    /// The event as the agent sent it.
    pub event: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryPage {
    pub events: Vec<TelemetryRecord>,
    /// Present when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Where a page ends: the last row's key (time, account, run, seq).
#[derive(Serialize, Deserialize)]
struct Cursor {
    t: i64,
    a: String,
    r: String,
    q: i64,
}

fn bad_token() -> StoreError {
    StoreError::InvalidInput("nextToken is not one this server gave for telemetry".into())
}

/// One event ready to insert.
struct Row {
    seq: i64,
    time_ms: i64,
    kind: String,
    facts: [Option<String>; 8],
    body: String,
}

/// The fact columns, in the order of [`Row::facts`].
const FACT_COLUMNS: [&str; 8] = [
    "hostname",
    "process_name",
    "executable_path",
    "container_id",
    "container_name",
    "ecs_cluster",
    "remote_ip",
    "dns_name",
];

/// A string fact: control characters dropped (PostgreSQL's TEXT refuses
/// NUL, and they help no search), cut to [`MAX_FACT_CHARS`].
fn fact(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?;
    let s: String = s.chars().filter(|c| !c.is_control()).take(MAX_FACT_CHARS).collect();
    (!s.is_empty()).then_some(s)
}

/// Parse one entry; `None` when it is not an event.
fn row_of(seq: u64, raw: &[u8]) -> Option<Row> {
    let seq = i64::try_from(seq).ok()?;
    let body = std::str::from_utf8(raw).ok()?;
    let v: Value = serde_json::from_str(body).ok()?;
    let kind = fact(v.get("kind"))?;
    let time_ms = DateTime::parse_from_rfc3339(v.get("time")?.as_str()?).ok()?.timestamp_millis();
    let p = |path: &str| fact(v.pointer(path));
    let facts = [
        p("/host/hostname"),
        p("/process/name"),
        p("/process/executable"),
        p("/container/id"),
        p("/container/name"),
        p("/ecs/cluster"),
        p("/net/remoteAddress"),
        p("/dns/questions/0/name"),
    ];
    // The body is kept as sent (it parsed as JSON, so it is UTF-8 without
    // raw NUL bytes: PostgreSQL's TEXT takes it).
    Some(Row { seq, time_ms, kind, facts, body: body.to_owned() })
}

/// `s` as a LIKE pattern that matches it literally (with `ESCAPE '\'`).
fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A filter value from a caller: non-empty, bounded, no control characters.
fn filter_value<'a>(what: &str, v: &'a Option<String>) -> Result<Option<&'a str>, StoreError> {
    match v.as_deref() {
        None => Ok(None),
        Some(s) => {
            crate::db::check_text(what, s, 1024)?;
            Ok(Some(s))
        }
    }
}

fn record_of(row: &sqlx::any::AnyRow) -> Result<TelemetryRecord, StoreError> {
    Ok(TelemetryRecord {
        account_id: col(row, "account_id")?,
        agent_id: col(row, "agent_id")?,
        run_id: col(row, "run_id")?,
        seq: col(row, "seq")?,
        received_at: to_time(col(row, "received_ms")?),
        event: from_json("telemetry body", &col::<String>(row, "body")?)?,
    })
}

impl Store {
    /// Store a batch of events from one agent run of `account_id`: each
    /// entry is (spool sequence number, event JSON). One transaction: on
    /// `Ok` everything is committed; on `Err` nothing is. Events already
    /// stored (same account, run and seq) are left as they are.
    pub async fn ingest_telemetry(
        &self,
        account_id: &str,
        agent_id: &str,
        run_id: &str,
        events: &[(u64, &[u8])],
    ) -> Result<TelemetryIngest, StoreError> {
        crate::db::check_text("agent id", agent_id, 128)?;
        crate::db::check_text("run id", run_id, 128)?;
        if self.account(account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("no account {account_id}")));
        }
        let mut out = TelemetryIngest::default();
        let mut rows: Vec<Row> = Vec::with_capacity(events.len());
        for (seq, raw) in events {
            match row_of(*seq, raw) {
                Some(r) => rows.push(r),
                None => out.malformed += 1,
            }
        }
        let received = now_ms();
        let mut tx = self.begin_write().await?;
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut sql =
                Sql::new("INSERT INTO telemetry (account_id, run_id, seq, agent_id, time_ms, received_ms, kind");
            for c in FACT_COLUMNS {
                sql.push(", ").push(c);
            }
            sql.push(", body) VALUES ");
            for (i, r) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" });
                sql.bind(account_id).push(", ").bind(run_id).push(", ").bind(r.seq).push(", ").bind(agent_id);
                sql.push(", ").bind(r.time_ms).push(", ").bind(received).push(", ").bind(r.kind.as_str());
                for f in &r.facts {
                    sql.push(", ").bind(f.clone().map_or(crate::db::Arg::Null(crate::fields::Kind::Text), Into::into));
                }
                sql.push(", ").bind(r.body.as_str()).push(")");
            }
            sql.push(" ON CONFLICT (account_id, run_id, seq) DO NOTHING");
            let inserted = sql.query().execute(&mut *tx).await?.rows_affected();
            out.stored += inserted;
            out.duplicate += (chunk.len() as u64).saturating_sub(inserted);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Events in scope that match, newest first (by event time).
    pub async fn search_telemetry(&self, scope: &Scope, q: &TelemetryQuery) -> Result<TelemetryPage, StoreError> {
        if !(1..=MAX_TELEMETRY_RESULTS).contains(&q.max_results) {
            return Err(StoreError::InvalidInput(format!("maxResults must be 1 to {MAX_TELEMETRY_RESULTS}")));
        }
        let mut sql =
            Sql::new("SELECT account_id, agent_id, run_id, seq, time_ms, received_ms, body FROM telemetry WHERE ");
        sql.scope(scope);
        if let Some(kind) = filter_value("kind", &q.kind)? {
            match kind.strip_suffix(".*") {
                Some(family) => {
                    sql.push(" AND kind LIKE ").bind(format!("{}.%", like_literal(family))).push(" ESCAPE '\\'")
                }
                None => sql.push(" AND kind = ").bind(kind),
            };
        }
        if let Some(agent) = filter_value("agentId", &q.agent_id)? {
            sql.push(" AND agent_id = ").bind(agent);
        }
        if let Some(since) = q.since {
            sql.push(" AND time_ms >= ").bind(since.timestamp_millis());
        }
        if let Some(until) = q.until {
            sql.push(" AND time_ms < ").bind(until.timestamp_millis());
        }
        if let (Some(since), Some(until)) = (q.since, q.until)
            && since >= until
        {
            return Err(StoreError::InvalidInput("since must be before until".into()));
        }
        if let Some(exe) = filter_value("executable", &q.executable)? {
            sql.push(" AND (executable_path = ").bind(exe).push(" OR process_name = ").bind(exe).push(")");
        }
        if let Some(c) = filter_value("container", &q.container)? {
            sql.push(" AND (container_id = ").bind(c);
            sql.push(" OR container_id LIKE ").bind(format!("{}%", like_literal(c))).push(" ESCAPE '\\'");
            sql.push(" OR container_name = ").bind(c).push(")");
        }
        if let Some(cluster) = filter_value("cluster", &q.cluster)? {
            sql.push(" AND ecs_cluster = ").bind(cluster);
        }
        if let Some(ip) = filter_value("remoteIp", &q.remote_ip)? {
            sql.push(" AND remote_ip = ").bind(ip);
        }
        if let Some(name) = filter_value("dnsName", &q.dns_name)? {
            sql.push(" AND dns_name = ").bind(name);
        }
        if let Some(text) = filter_value("contains", &q.contains)? {
            sql.push(" AND body LIKE ").bind(format!("%{}%", like_literal(text))).push(" ESCAPE '\\'");
        }
        if let Some(token) = &q.next_token {
            let c: Cursor =
                hex::decode(token).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(bad_token)?;
            // Strictly after (time, account, run, seq) in descending order.
            sql.push(" AND (time_ms < ").bind(c.t);
            sql.push(" OR (time_ms = ").bind(c.t).push(" AND (account_id < ").bind(c.a.clone());
            sql.push(" OR (account_id = ").bind(c.a).push(" AND (run_id < ").bind(c.r.clone());
            sql.push(" OR (run_id = ").bind(c.r).push(" AND seq < ").bind(c.q).push("))))))");
        }
        sql.push(" ORDER BY time_ms DESC, account_id DESC, run_id DESC, seq DESC LIMIT ");
        sql.bind(i64::from(q.max_results) + 1);
        let rows = sql.query().fetch_all(&self.pool).await?;
        let more = rows.len() > q.max_results as usize;
        let rows = &rows[..rows.len().min(q.max_results as usize)];
        let events = rows.iter().map(record_of).collect::<Result<Vec<_>, _>>()?;
        let next_token = match rows.last().filter(|_| more) {
            None => None,
            Some(last) => {
                let c = Cursor {
                    t: col(last, "time_ms")?,
                    a: col(last, "account_id")?,
                    r: col(last, "run_id")?,
                    q: col(last, "seq")?,
                };
                Some(hex::encode(crate::db::to_json(&c)?))
            }
        };
        Ok(TelemetryPage { events, next_token })
    }

    /// Delete the events received before `older_than` (every account);
    /// returns how many.
    pub async fn prune_telemetry(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = older_than.timestamp_millis();
        let mut total = 0;
        loop {
            let mut tx = self.begin_write().await?;
            let n = sqlx::query(
                "DELETE FROM telemetry WHERE (account_id, run_id, seq) IN \
                 (SELECT account_id, run_id, seq FROM telemetry WHERE received_ms < $1 LIMIT $2)",
            )
            .bind(cutoff)
            .bind(PRUNE_CHUNK)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            total += n;
            if n < PRUNE_CHUNK.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_take_facts_and_refuse_non_events() {
        let ev = json!({"kind": "net.connect", "time": "2026-11-28T12:40:01.123456789Z",
            "process": {"name": "curl", "executable": "/usr/bin/curl"},
            "container": {"id": "abc", "name": "web\u{0}x"}, "ecs": {"cluster": "prod"},
            "host": {"hostname": "h"}, "net": {"remoteAddress": "203.0.113.7"}});
        let r = row_of(7, ev.to_string().as_bytes()).unwrap_or_else(|| panic!("an event"));
        assert_eq!((r.seq, r.kind.as_str(), r.time_ms), (7, "net.connect", 1_795_869_601_123));
        assert_eq!(r.facts[1].as_deref(), Some("curl"));
        assert_eq!(r.facts[4].as_deref(), Some("webx"), "control characters dropped");
        assert_eq!(r.facts[6].as_deref(), Some("203.0.113.7"));
        assert_eq!(r.facts[7], None);
        let long = json!({"kind": "k", "time": "2026-11-28T12:40:01Z", "process": {"executable": "/x".repeat(600)}});
        let r = row_of(1, long.to_string().as_bytes()).unwrap_or_else(|| panic!("an event"));
        assert_eq!(r.facts[2].as_ref().map(|s| s.chars().count()), Some(MAX_FACT_CHARS));
        for bad in [&b"{"[..], b"[]", br#"{"kind":"k"}"#, br#"{"kind":"k","time":"yesterday"}"#, b"\xff"] {
            assert!(row_of(1, bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(row_of(u64::MAX, ev.to_string().as_bytes()).is_none(), "beyond BIGINT");
    }

    #[test]
    fn like_literal_escapes_wildcards() {
        assert_eq!(like_literal(r"50%_a\b"), r"50\%\_a\\b");
    }
}
