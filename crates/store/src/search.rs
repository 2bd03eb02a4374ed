//! Reading findings: search with sort and keyset paging, one finding,
//! archive/unarchive, the severity histogram.
//!
//! Paging is by keyset, not offset: `nextToken` carries the sort key, id
//! and account of the last row returned, and the next page starts strictly
//! after it. Findings inserted or archived meanwhile cannot shift a page, so
//! pages never repeat or skip a row that stays in the result.

use crate::criteria::{Criteria, CriteriaError, err};
use crate::db::{Arg, Sql, col, col_bool, from_json, to_time};
use crate::fields::{Cell, Kind};
use crate::{Scope, Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const DEFAULT_MAX_RESULTS: u32 = 50;
pub const MAX_RESULTS: u32 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SortAttribute {
    #[default]
    #[serde(rename = "updatedAt")]
    UpdatedAt,
    #[serde(rename = "createdAt")]
    CreatedAt,
    #[serde(rename = "severity")]
    Severity,
    #[serde(rename = "count", alias = "service.count")]
    Count,
    #[serde(rename = "type")]
    Type,
}

impl SortAttribute {
    fn column(self) -> &'static str {
        match self {
            SortAttribute::UpdatedAt => "updated_at",
            SortAttribute::CreatedAt => "created_at",
            SortAttribute::Severity => "severity",
            SortAttribute::Count => "count",
            SortAttribute::Type => "type",
        }
    }

    fn kind(self) -> Kind {
        match self {
            SortAttribute::UpdatedAt | SortAttribute::CreatedAt | SortAttribute::Count => Kind::Int,
            SortAttribute::Severity => Kind::Float,
            SortAttribute::Type => Kind::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SortOrder {
    #[serde(rename = "ASC")]
    Asc,
    #[default]
    #[serde(rename = "DESC")]
    Desc,
}

/// GuardDuty's SortCriteria: `{"attributeName": "updatedAt", "orderBy":
/// "DESC"}` (the default). Ties are broken by finding id, then account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sort {
    pub attribute_name: SortAttribute,
    pub order_by: SortOrder,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SortRepr {
    #[serde(default)]
    attribute_name: SortAttribute,
    #[serde(default)]
    order_by: SortOrder,
}

impl Sort {
    /// `null` is the default sort.
    pub fn parse(v: &Value) -> Result<Sort, CriteriaError> {
        if v.is_null() {
            return Ok(Sort::default());
        }
        let r: SortRepr = serde_json::from_value(v.clone()).map_err(|e| err(format!("sortCriteria: {e}")))?;
        Ok(Sort { attribute_name: r.attribute_name, order_by: r.order_by })
    }
}

impl<'de> Deserialize<'de> for Sort {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Sort::parse(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A search: GuardDuty's ListFindings request body deserializes into it
/// (`findingCriteria`, `sortCriteria`, `maxResults`, `nextToken`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingQuery {
    #[serde(rename = "findingCriteria", default)]
    pub criteria: Criteria,
    #[serde(rename = "sortCriteria", default)]
    pub sort: Sort,
    /// 1..=500.
    #[serde(default = "default_max_results")]
    pub max_results: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

fn default_max_results() -> u32 {
    DEFAULT_MAX_RESULTS
}

impl Default for FindingQuery {
    fn default() -> Self {
        FindingQuery {
            criteria: Criteria::default(),
            sort: Sort::default(),
            max_results: DEFAULT_MAX_RESULTS,
            next_token: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingPage {
    pub findings: Vec<Value>,
    /// Present when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// New findings (by `createdAt`) in `[start, start + bucket)`, by severity label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistogramBucket {
    pub start: DateTime<Utc>,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
}

/// Where a page ends: the last row's sort key, id and account.
#[derive(Serialize, Deserialize)]
struct Cursor {
    s: SortAttribute,
    o: SortOrder,
    k: Value,
    i: String,
    a: String,
}

fn bad_token() -> StoreError {
    StoreError::InvalidInput("nextToken is not one this server gave for this sort".into())
}

impl Cursor {
    fn encode(&self) -> Result<String, StoreError> {
        Ok(hex::encode(crate::db::to_json(self)?))
    }

    fn decode(token: &str, sort: &Sort) -> Result<(Cell, String, String), StoreError> {
        let bytes = hex::decode(token).map_err(|_| bad_token())?;
        let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad_token())?;
        if c.s != sort.attribute_name || c.o != sort.order_by {
            return Err(bad_token());
        }
        let key = match (sort.attribute_name.kind(), &c.k) {
            (Kind::Text, Value::String(s)) => Cell::Text(s.clone()),
            (Kind::Float, Value::Number(n)) => Cell::Float(n.as_f64().ok_or_else(bad_token)?),
            (_, Value::Number(n)) => Cell::Int(n.as_i64().ok_or_else(bad_token)?),
            _ => return Err(bad_token()),
        };
        Ok((key, c.i, c.a))
    }
}

/// The stored JSON with the server's state patched in: `service.archived`,
/// and (Saker) `service.archivedBy` — `user:<token id>` or
/// `suppression:<rule>` — while archived.
pub(crate) fn with_state(mut v: Value, archived: bool, archived_by: Option<String>) -> Value {
    if let Some(service) = v.get_mut("service").and_then(Value::as_object_mut) {
        service.insert("archived".into(), Value::Bool(archived));
        match archived_by.filter(|_| archived) {
            Some(by) => service.insert("archivedBy".into(), Value::String(by)),
            None => service.remove("archivedBy"),
        };
    }
    v
}

fn finding_of(row: &sqlx::any::AnyRow) -> Result<Value, StoreError> {
    let body: Value = from_json("finding body", &col::<String>(row, "body")?)?;
    Ok(with_state(body, col_bool(row, "archived")?, col(row, "archived_by")?))
}

impl Store {
    pub async fn search_findings(&self, scope: &Scope, q: &FindingQuery) -> Result<FindingPage, StoreError> {
        if !(1..=MAX_RESULTS).contains(&q.max_results) {
            return Err(StoreError::InvalidInput(format!("maxResults must be 1 to {MAX_RESULTS}")));
        }
        let attr = q.sort.attribute_name;
        let key_col = attr.column();
        let (dir, after) = match q.sort.order_by {
            SortOrder::Asc => (" ASC", " > "),
            SortOrder::Desc => (" DESC", " < "),
        };
        let mut sql = Sql::new("SELECT account_id, id, archived, archived_by, body, ");
        sql.push(key_col).push(" AS sort_key FROM findings WHERE ").scope(scope).push(" AND (");
        q.criteria.push_sql(&mut sql);
        sql.push(")");
        if let Some(token) = &q.next_token {
            let (key, id, account) = Cursor::decode(token, &q.sort)?;
            sql.push(" AND (").push(key_col).push(after).bind(key.clone());
            sql.push(" OR (").push(key_col).push(" = ").bind(key);
            sql.push(" AND (id").push(after).bind(id.clone());
            sql.push(" OR (id = ").bind(id).push(" AND account_id").push(after).bind(account).push("))))");
        }
        sql.push(" ORDER BY ").push(key_col).push(dir).push(", id").push(dir).push(", account_id").push(dir);
        sql.push(" LIMIT ").bind(i64::from(q.max_results) + 1);
        let rows = sql.query().fetch_all(&self.pool).await?;
        let more = rows.len() > q.max_results as usize;
        let rows = &rows[..rows.len().min(q.max_results as usize)];
        let findings = rows.iter().map(finding_of).collect::<Result<Vec<_>, _>>()?;
        let next_token = match rows.last().filter(|_| more) {
            None => None,
            Some(last) => {
                let k = match attr.kind() {
                    Kind::Text => Value::from(col::<String>(last, "sort_key")?),
                    Kind::Float => Value::from(col::<f64>(last, "sort_key")?),
                    _ => Value::from(col::<i64>(last, "sort_key")?),
                };
                let c = Cursor { s: attr, o: q.sort.order_by, k, i: col(last, "id")?, a: col(last, "account_id")? };
                Some(c.encode()?)
            }
        };
        Ok(FindingPage { findings, next_token })
    }

    /// One finding in scope; another account's is `None` (a 404, not a 403).
    pub async fn finding(&self, scope: &Scope, id: &str) -> Result<Option<Value>, StoreError> {
        let mut sql = Sql::new("SELECT archived, archived_by, body FROM findings WHERE ");
        sql.scope(scope).push(" AND id = ").bind(id).push(" ORDER BY account_id LIMIT 1");
        let row = sql.query().fetch_optional(&self.pool).await?;
        row.as_ref().map(finding_of).transpose()
    }

    /// Archive (`by`: `user:<token id>`, `suppression:<rule>`) or unarchive
    /// findings by id; returns how many in scope matched. Ids out of scope
    /// are ignored, as unknown ones are.
    pub async fn set_archived(
        &self,
        scope: &Scope,
        ids: &[String],
        archived: bool,
        by: &str,
    ) -> Result<u64, StoreError> {
        if archived {
            crate::db::check_text("archivedBy", by, 300)?;
        }
        let mut ids: Vec<&String> = ids.iter().collect();
        ids.sort();
        ids.dedup();
        let mut n = 0;
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(100) {
            let mut sql = Sql::new("UPDATE findings SET archived = ");
            sql.bind(i64::from(archived)).push(", archived_by = ");
            sql.bind(if archived { Arg::from(by) } else { Arg::Null(Kind::Text) });
            sql.push(" WHERE ").scope(scope).push(" AND id IN (").bind_list(chunk.iter().copied()).push(")");
            n += sql.query().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Archive every unarchived finding in scope that matches — what
    /// creating an ARCHIVE filter does to findings already stored. Returns
    /// how many were archived.
    pub async fn archive_matching(&self, scope: &Scope, criteria: &Criteria, by: &str) -> Result<u64, StoreError> {
        crate::db::check_text("archivedBy", by, 300)?;
        if criteria.is_empty() {
            return Err(StoreError::InvalidInput("empty criteria would archive every finding".into()));
        }
        let mut sql = Sql::new("UPDATE findings SET archived = 1, archived_by = ");
        sql.bind(by).push(" WHERE ").scope(scope).push(" AND archived = 0 AND (");
        criteria.push_sql(&mut sql);
        sql.push(")");
        let mut tx = self.begin_write().await?;
        let n = sql.query().execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// New findings (by `createdAt`) per bucket and severity label, from
    /// `from` on in steps of `bucket` up to `to`; every bucket is present,
    /// zeros included.
    pub async fn severity_histogram(
        &self,
        scope: &Scope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: Duration,
    ) -> Result<Vec<HistogramBucket>, StoreError> {
        let width = bucket.num_milliseconds();
        let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
        if width <= 0 || to_ms <= from_ms {
            return Err(StoreError::InvalidInput("histogram: need from < to and a positive bucket".into()));
        }
        let n = (to_ms - from_ms + width - 1) / width;
        if n > 10_000 {
            return Err(StoreError::InvalidInput("histogram: more than 10000 buckets; use a wider bucket".into()));
        }
        let mut out: Vec<HistogramBucket> = (0..n)
            .map(|i| HistogramBucket { start: to_time(from_ms + i * width), high: 0, medium: 0, low: 0 })
            .collect();
        // Grouped by exact severity: few distinct values, and the label
        // thresholds stay in one place (SeverityLabel::of).
        let mut sql = Sql::new("SELECT (created_at - ");
        sql.bind(from_ms).push(") / ").bind(width).push(" AS bucket, severity, COUNT(*) AS n FROM findings WHERE ");
        sql.push("created_at >= ").bind(from_ms).push(" AND created_at < ").bind(to_ms);
        sql.push(" AND ").scope(scope).push(" GROUP BY 1, 2");
        for row in sql.query().fetch_all(&self.pool).await? {
            let i = col::<i64>(&row, "bucket")?;
            let count = u64::try_from(col::<i64>(&row, "n")?).unwrap_or(0);
            let Some(b) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) else { continue };
            match saker_detect::SeverityLabel::of(col(&row, "severity")?) {
                saker_detect::SeverityLabel::High => b.high += count,
                saker_detect::SeverityLabel::Medium => b.medium += count,
                saker_detect::SeverityLabel::Low => b.low += count,
            }
        }
        Ok(out)
    }
}
