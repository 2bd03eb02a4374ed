//! Ingest: a batch of findings from one agent run, stored in one
//! transaction, idempotently.
//!
//! Agents send a finding's cumulative state as their aggregator sees it.
//! Each (finding, source) — source being the agent's run id — keeps its own
//! last count, raised to `max(old, new)`; the finding's count is the sum
//! over its sources. A redelivered batch therefore changes nothing, a
//! restarted agent (a new run id) adds its own count, and a stale report
//! never lowers one. The stored JSON is the newest report (by `updatedAt`)
//! with the count and the time bounds merged: `createdAt` and
//! `eventFirstSeen` the earliest seen, `updatedAt` and `eventLastSeen` the
//! latest.

use crate::db::{Arg, Sql, col, col_bool, from_json, to_json};
use crate::fields::stored_cells;
use crate::search::with_state;
use crate::{Store, StoreError};
use saker_detect::Finding;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Any, Transaction};

/// What ingest did with one finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestOutcome {
    pub id: String,
    /// First time this finding was stored (for this account).
    pub created: bool,
    /// The stored finding changed (count, times or content); false for a
    /// redelivery.
    pub changed: bool,
    /// Archived now (suppressed on arrival, or archived earlier).
    pub archived: bool,
    /// The suppression rule that archived it on arrival.
    pub suppressed_by: Option<String>,
    /// The finding as stored now, as `Store::finding` returns it (summed
    /// count, merged times, `accountId`, `service.archived`): what exports
    /// should send.
    pub finding: Value,
}

/// A per-source count is capped so that no sum can overflow BIGINT, whatever
/// an agent claims.
const MAX_SOURCE_COUNT: i64 = 1 << 40;

impl Store {
    /// Store a batch from one agent run (`source`, its run id) for
    /// `account_id` (the enrolled agent's account: it replaces the findings'
    /// `accountId`). One transaction: when this returns `Ok`, everything is
    /// committed and the batch can be acknowledged; on `Err` nothing is.
    ///
    /// `suppress` is asked about new findings only (their JSON as they will
    /// be stored): `Some(rule name)` stores the finding archived, with
    /// `archivedBy` `suppression:<rule name>`. Outcomes are in batch order.
    pub async fn ingest_findings(
        &self,
        account_id: &str,
        source: &str,
        findings: &[Finding],
        suppress: &(dyn Fn(&Value) -> Option<String> + Sync),
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        crate::db::check_text("source (run id)", source, 128)?;
        for (i, f) in findings.iter().enumerate() {
            crate::db::check_text(&format!("finding {i}: id"), &f.id, 128)?;
        }
        if self.account(account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("no account {account_id}")));
        }
        // Rows are locked in id order, so two batches touching the same
        // findings cannot deadlock each other (PostgreSQL).
        let mut order: Vec<usize> = (0..findings.len()).collect();
        order.sort_by(|&a, &b| findings[a].id.cmp(&findings[b].id));
        let mut outcomes: Vec<Option<IngestOutcome>> = vec![None; findings.len()];
        let mut tx = self.begin_write().await?;
        for i in order {
            outcomes[i] = Some(self.ingest_one(&mut tx, account_id, source, &findings[i], suppress).await?);
        }
        tx.commit().await?;
        Ok(outcomes.into_iter().flatten().collect())
    }

    async fn ingest_one(
        &self,
        tx: &mut Transaction<'static, Any>,
        account_id: &str,
        source: &str,
        f: &Finding,
        suppress: &(dyn Fn(&Value) -> Option<String> + Sync),
    ) -> Result<IngestOutcome, StoreError> {
        let count = i64::try_from(f.service.count).unwrap_or(i64::MAX).min(MAX_SOURCE_COUNT);
        let mut incoming = f.clone();
        incoming.account_id = Some(account_id.to_owned());
        incoming.service.archived = false;
        incoming.service.count = count as u64;

        let mut stored = self.stored(tx, account_id, &f.id).await?;
        if stored.is_none() {
            let json = serde_json::to_value(&incoming).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let suppressed_by = suppress(&json);
            let archived_by = suppressed_by.as_ref().map(|rule| format!("suppression:{rule}"));
            if insert_finding(tx, account_id, &f.id, &json, archived_by.clone()).await? {
                sqlx::query(
                    "INSERT INTO finding_sources (account_id, finding_id, source, count) VALUES ($1, $2, $3, $4)",
                )
                .bind(account_id)
                .bind(&f.id)
                .bind(source)
                .bind(count)
                .execute(&mut **tx)
                .await?;
                let archived = archived_by.is_some();
                return Ok(IngestOutcome {
                    id: f.id.clone(),
                    created: true,
                    changed: true,
                    archived,
                    suppressed_by,
                    finding: with_state(json, archived, archived_by),
                });
            }
            // Another transaction stored it first: merge into theirs.
            stored = self.stored(tx, account_id, &f.id).await?;
        }
        let Some(stored) = stored else {
            return Err(StoreError::Corrupt(format!("finding {} neither inserted nor found", f.id)));
        };

        sqlx::query(
            "INSERT INTO finding_sources (account_id, finding_id, source, count) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, finding_id, source) DO UPDATE SET count = \
             CASE WHEN finding_sources.count > excluded.count THEN finding_sources.count ELSE excluded.count END",
        )
        .bind(account_id)
        .bind(&f.id)
        .bind(source)
        .bind(count)
        .execute(&mut **tx)
        .await?;
        let total: i64 = col(
            &sqlx::query(
                "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) AS total FROM finding_sources \
                 WHERE account_id = $1 AND finding_id = $2",
            )
            .bind(account_id)
            .bind(&f.id)
            .fetch_one(&mut **tx)
            .await?,
            "total",
        )?;
        let old: Finding = from_json("finding body", &stored.body)?;
        let merged = merge(&old, incoming, total);
        let changed = merged != old;
        let json = serde_json::to_value(&merged).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if changed {
            let mut sql = Sql::new("UPDATE findings SET body = ");
            sql.bind(to_json(&json)?);
            for (column, kind, cell) in stored_cells(&json) {
                sql.push(", ").push(column).push(" = ").bind(cell.map_or(Arg::Null(kind), Arg::from));
            }
            sql.push(" WHERE account_id = ").bind(account_id).push(" AND id = ").bind(&f.id);
            sql.query().execute(&mut **tx).await?;
        }
        Ok(IngestOutcome {
            id: f.id.clone(),
            created: false,
            changed,
            archived: stored.archived,
            suppressed_by: None,
            finding: with_state(json, stored.archived, stored.archived_by),
        })
    }

    /// The stored row, locked for the rest of the transaction.
    async fn stored(
        &self,
        tx: &mut Transaction<'static, Any>,
        account_id: &str,
        id: &str,
    ) -> Result<Option<Stored>, StoreError> {
        let q = format!(
            "SELECT archived, archived_by, body FROM findings WHERE account_id = $1 AND id = $2{}",
            self.for_update()
        );
        let row = sqlx::query(&q).bind(account_id).bind(id).fetch_optional(&mut **tx).await?;
        row.map(|r| {
            Ok(Stored {
                archived: col_bool(&r, "archived")?,
                archived_by: col(&r, "archived_by")?,
                body: col(&r, "body")?,
            })
        })
        .transpose()
    }
}

struct Stored {
    archived: bool,
    archived_by: Option<String>,
    body: String,
}

/// Insert a new finding unless the row exists; true when inserted.
async fn insert_finding(
    tx: &mut Transaction<'static, Any>,
    account_id: &str,
    id: &str,
    json: &Value,
    archived_by: Option<String>,
) -> Result<bool, StoreError> {
    let cells = stored_cells(json);
    let mut sql = Sql::new("INSERT INTO findings (account_id, id, archived, archived_by, body");
    for (column, _, _) in &cells {
        sql.push(", ").push(column);
    }
    sql.push(") VALUES (").bind(account_id).push(", ").bind(id).push(", ");
    sql.bind(i64::from(archived_by.is_some())).push(", ");
    sql.bind(archived_by.map_or(Arg::Null(crate::fields::Kind::Text), Arg::Text)).push(", ");
    sql.bind(to_json(json)?);
    for (_, kind, cell) in cells {
        sql.push(", ").bind(cell.map_or(Arg::Null(kind), Arg::from));
    }
    sql.push(") ON CONFLICT (account_id, id) DO NOTHING");
    Ok(sql.query().execute(&mut **tx).await?.rows_affected() == 1)
}

/// The newest report's content with the summed count and the widest times.
fn merge(old: &Finding, new: Finding, total: i64) -> Finding {
    let newer = new.updated_at > old.updated_at;
    let mut m = if newer { new.clone() } else { old.clone() };
    m.created_at = old.created_at.min(new.created_at);
    m.updated_at = old.updated_at.max(new.updated_at);
    m.service.event_first_seen = old.service.event_first_seen.min(new.service.event_first_seen);
    m.service.event_last_seen = old.service.event_last_seen.max(new.service.event_last_seen);
    m.service.count = u64::try_from(total).unwrap_or(0);
    m.service.archived = false;
    m.account_id = new.account_id;
    m
}
