//! Findings: ingest (idempotent aggregation), search, archive, histogram.
//!
//! Each agent run (`source`) reports a finding's cumulative count as its
//! aggregator sees it; the store keeps each source's latest count and the
//! finding's count is their sum. A redelivered batch sets a source's count
//! to what it already is, so nothing is counted twice; a restarted agent is
//! a new source and adds.

use crate::criteria::{Criteria, Scalar, Sort};
use crate::db::{col, to_time};
use crate::{Scope, Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use saker_detect::Finding;
use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row};

/// What ingest did with one finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestOutcome {
    pub id: String,
    /// First time this finding was stored.
    pub created: bool,
    /// Count or content changed.
    pub changed: bool,
    pub archived: bool,
    /// The suppression rule that archived it on arrival.
    pub suppressed_by: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct FindingQuery {
    pub criteria: Criteria,
    pub sort: Sort,
    pub max_results: u32,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingPage {
    pub findings: Vec<Value>,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistogramBucket {
    pub start: DateTime<Utc>,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
}

/// The searchable facts of a finding, as columns.
struct Columns {
    resource_type: String,
    instance_id: Option<String>,
    hostname: Option<String>,
    ecs_cluster: Option<String>,
    task_arn: Option<String>,
    container_id: Option<String>,
    container_name: Option<String>,
    container_image: Option<String>,
    k8s_workload: Option<String>,
    k8s_namespace: Option<String>,
}

fn columns(f: &Finding) -> Columns {
    let r = &f.resource;
    let task_container = r.ecs_cluster_details.as_ref().and_then(|e| e.task_details.containers.first());
    let container = r.container_details.as_ref().or(task_container);
    let k8s = r.kubernetes_details.as_ref().map(|k| &k.kubernetes_workload_details);
    Columns {
        resource_type: r.resource_type.clone(),
        instance_id: r.instance_details.as_ref().and_then(|i| i.instance_id.clone()),
        hostname: r.instance_details.as_ref().and_then(|i| i.hostname.clone()),
        ecs_cluster: r.ecs_cluster_details.as_ref().and_then(|e| e.name.clone()),
        task_arn: r.ecs_cluster_details.as_ref().and_then(|e| e.task_details.arn.clone()),
        container_id: container.map(|c| c.id.clone()),
        container_name: container.and_then(|c| c.name.clone()),
        container_image: container.and_then(|c| c.image.clone()),
        k8s_workload: k8s.and_then(|k| k.name.clone()),
        k8s_namespace: k8s.and_then(|k| k.namespace.clone()),
    }
}

pub(crate) fn bind_scalar<'q>(q: Query<'q, Any, AnyArguments<'q>>, v: &Scalar) -> Query<'q, Any, AnyArguments<'q>> {
    match v {
        Scalar::Text(s) => q.bind(s.clone()),
        Scalar::Number(n) => q.bind(*n),
    }
}

/// The stored JSON with the server's view patched in.
fn with_state(row: &sqlx::any::AnyRow) -> Result<Value, StoreError> {
    let body: String = col(row, "body")?;
    let mut v: Value = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(format!("finding body: {e}")))?;
    v["service"]["count"] = Value::from(col::<i64>(row, "count")?);
    let archived = col::<i64>(row, "archived")? != 0;
    v["service"]["archived"] = Value::from(archived);
    // Saker: who archived it — `user:<token id>` or `suppression:<rule>`.
    if archived && let Some(by) = col::<Option<String>>(row, "archived_by")? {
        v["service"]["archivedBy"] = Value::from(by);
    }
    Ok(v)
}

impl Store {
    /// Store a batch from one agent run in one transaction. `suppress` is
    /// asked about new findings only: `Some(rule)` stores it archived.
    pub async fn ingest_findings(
        &self,
        account_id: &str,
        source: &str,
        findings: &[Finding],
        suppress: &(dyn Fn(&Value) -> Option<String> + Send + Sync),
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(findings.len());
        for f in findings {
            let mut f = f.clone();
            f.account_id = Some(account_id.to_owned());
            let new_count = i64::try_from(f.service.count).unwrap_or(i64::MAX);
            sqlx::query(
                "INSERT INTO finding_sources (account_id, finding_id, source, count) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (account_id, finding_id, source) DO UPDATE SET count = \
                 CASE WHEN finding_sources.count > excluded.count THEN finding_sources.count ELSE excluded.count END",
            )
            .bind(account_id)
            .bind(&f.id)
            .bind(source)
            .bind(new_count)
            .execute(&mut *tx)
            .await?;
            let total: i64 = sqlx::query(
                "SELECT CAST(SUM(count) AS BIGINT) AS total FROM finding_sources WHERE account_id = $1 AND finding_id = $2",
            )
            .bind(account_id)
            .bind(&f.id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("total")
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let existing = sqlx::query(
                "SELECT count, created_at, updated_at, archived, body FROM findings WHERE account_id = $1 AND id = $2",
            )
            .bind(account_id)
            .bind(&f.id)
            .fetch_optional(&mut *tx)
            .await?;
            let updated_ms = f.updated_at.timestamp_millis();
            let created_ms = f.created_at.timestamp_millis();
            let outcome = match existing {
                None => {
                    f.service.count = total as u64;
                    let body = serde_json::to_string(&f).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let json: Value = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let suppressed_by = suppress(&json);
                    let archived = suppressed_by.is_some();
                    let c = columns(&f);
                    sqlx::query(
                        "INSERT INTO findings (account_id, id, type, severity, region, resource_type, instance_id, hostname, \
                         ecs_cluster, task_arn, container_id, container_name, container_image, k8s_workload, k8s_namespace, \
                         process_name, executable_path, executable_sha256, agent_version, count, created_at, updated_at, \
                         archived, archived_by, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
                         $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)",
                    )
                    .bind(account_id)
                    .bind(&f.id)
                    .bind(f.finding_type.name())
                    .bind(f.severity)
                    .bind(f.region.clone())
                    .bind(c.resource_type)
                    .bind(c.instance_id)
                    .bind(c.hostname)
                    .bind(c.ecs_cluster)
                    .bind(c.task_arn)
                    .bind(c.container_id)
                    .bind(c.container_name)
                    .bind(c.container_image)
                    .bind(c.k8s_workload)
                    .bind(c.k8s_namespace)
                    .bind(f.service.runtime_details.process.name.clone())
                    .bind(f.service.runtime_details.process.executable_path.clone())
                    .bind(f.service.runtime_details.process.executable_sha256.clone())
                    .bind(f.service.additional_info.agent_details.agent_version.clone())
                    .bind(total)
                    .bind(created_ms)
                    .bind(updated_ms)
                    .bind(i64::from(archived))
                    .bind(suppressed_by.as_ref().map(|r| format!("suppression:{r}")))
                    .bind(body)
                    .execute(&mut *tx)
                    .await?;
                    IngestOutcome { id: f.id.clone(), created: true, changed: true, archived, suppressed_by }
                }
                Some(row) => {
                    let old_count: i64 = col(&row, "count")?;
                    let old_updated: i64 = col(&row, "updated_at")?;
                    let old_created: i64 = col(&row, "created_at")?;
                    let archived = col::<i64>(&row, "archived")? != 0;
                    let newer = updated_ms > old_updated;
                    // The newest report's content; the earliest creation and
                    // first sighting; the summed count.
                    let body = if newer {
                        let old: Finding = serde_json::from_str(&col::<String>(&row, "body")?)
                            .map_err(|e| StoreError::Corrupt(format!("finding body: {e}")))?;
                        f.created_at = f.created_at.min(old.created_at);
                        f.service.event_first_seen = f.service.event_first_seen.min(old.service.event_first_seen);
                        f.service.count = total as u64;
                        Some(serde_json::to_string(&f).map_err(|e| StoreError::Corrupt(e.to_string()))?)
                    } else {
                        None
                    };
                    let changed = newer || total != old_count;
                    if changed {
                        sqlx::query(
                            "UPDATE findings SET count = $1, updated_at = $2, created_at = $3, severity = $4, \
                             body = COALESCE($5, body) WHERE account_id = $6 AND id = $7",
                        )
                        .bind(total)
                        .bind(old_updated.max(updated_ms))
                        .bind(old_created.min(created_ms))
                        .bind(f.severity)
                        .bind(body)
                        .bind(account_id)
                        .bind(&f.id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    IngestOutcome { id: f.id.clone(), created: false, changed, archived, suppressed_by: None }
                }
            };
            out.push(outcome);
        }
        tx.commit().await?;
        Ok(out)
    }

    pub async fn search_findings(&self, scope: &Scope, q: &FindingQuery) -> Result<FindingPage, StoreError> {
        let offset: i64 = match &q.next_token {
            Some(t) => t
                .parse()
                .ok()
                .filter(|o| *o >= 0)
                .ok_or_else(|| StoreError::InvalidInput("nextToken is not one this server gave".into()))?,
            None => 0,
        };
        let limit = i64::from(q.max_results.clamp(1, 500));
        let (mut sql, scope_arg) = scope_sql(scope);
        let (crit, args) = q.criteria.to_sql(if scope_arg.is_some() { 2 } else { 1 });
        let order = if q.sort.descending { "DESC" } else { "ASC" };
        sql.push_str(&format!(
            " AND {crit} ORDER BY {col} {order}, id {order} LIMIT {lim} OFFSET {off}",
            col = q.sort.column,
            lim = limit + 1,
            off = offset
        ));
        let select = format!("SELECT count, archived, archived_by, body FROM findings WHERE {sql}");
        let mut query = sqlx::query(&select);
        if let Some(a) = &scope_arg {
            query = query.bind(a.clone());
        }
        for a in &args {
            query = bind_scalar(query, a);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let more = rows.len() as i64 > limit;
        let mut findings = Vec::with_capacity(rows.len());
        for row in rows.iter().take(limit as usize) {
            findings.push(with_state(row)?);
        }
        Ok(FindingPage { findings, next_token: more.then(|| (offset + limit).to_string()) })
    }

    /// One finding in scope; another account's is `None` (a 404, not a 403).
    pub async fn finding(&self, scope: &Scope, id: &str) -> Result<Option<Value>, StoreError> {
        let (sql, scope_arg) = scope_sql(scope);
        let n = if scope_arg.is_some() { 2 } else { 1 };
        let select = format!("SELECT count, archived, archived_by, body FROM findings WHERE {sql} AND id = ${n}");
        let mut query = sqlx::query(&select);
        if let Some(a) = &scope_arg {
            query = query.bind(a.clone());
        }
        let row = query.bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| with_state(&r)).transpose()
    }

    pub async fn set_archived(
        &self,
        scope: &Scope,
        ids: &[String],
        archived: bool,
        by: &str,
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        let mut tx = self.pool.begin().await?;
        for id in ids {
            let r = match scope {
                Scope::All => {
                    sqlx::query("UPDATE findings SET archived = $1, archived_by = $2 WHERE id = $3")
                        .bind(i64::from(archived))
                        .bind(archived.then(|| by.to_owned()))
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                }
                Scope::Account(a) => {
                    sqlx::query("UPDATE findings SET archived = $1, archived_by = $2 WHERE account_id = $3 AND id = $4")
                        .bind(i64::from(archived))
                        .bind(archived.then(|| by.to_owned()))
                        .bind(a)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                }
            };
            n += r.rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// New findings per bucket and severity label, zero-filled.
    pub async fn severity_histogram(
        &self,
        scope: &Scope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: Duration,
    ) -> Result<Vec<HistogramBucket>, StoreError> {
        let width = bucket.num_milliseconds().max(1);
        let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
        let n = ((to_ms - from_ms + width - 1) / width).clamp(0, 10_000) as usize;
        let mut out: Vec<HistogramBucket> = (0..n)
            .map(|i| HistogramBucket { start: to_time(from_ms + i as i64 * width), high: 0, medium: 0, low: 0 })
            .collect();
        let (sql, scope_arg) = scope_sql(scope);
        let k = if scope_arg.is_some() { 2 } else { 1 };
        let select = format!(
            "SELECT created_at, severity FROM findings WHERE {sql} AND created_at >= ${k} AND created_at < ${}",
            k + 1
        );
        let mut query = sqlx::query(&select);
        if let Some(a) = &scope_arg {
            query = query.bind(a.clone());
        }
        for row in query.bind(from_ms).bind(to_ms).fetch_all(&self.pool).await? {
            let at: i64 = col(&row, "created_at")?;
            let sev: f64 = col(&row, "severity")?;
            let Some(b) = out.get_mut(((at - from_ms) / width) as usize) else { continue };
            match saker_detect::SeverityLabel::of(sev) {
                saker_detect::SeverityLabel::High => b.high += 1,
                saker_detect::SeverityLabel::Medium => b.medium += 1,
                saker_detect::SeverityLabel::Low => b.low += 1,
            }
        }
        Ok(out)
    }
}

/// The scope as a WHERE fragment; its argument (if any) is `$1`.
fn scope_sql(scope: &Scope) -> (String, Option<String>) {
    let (s, a) = crate::db::scope_clause(scope);
    (s, a)
}
