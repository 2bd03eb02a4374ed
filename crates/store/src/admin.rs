//! What administrators configure: suppression rules (GuardDuty's filters),
//! threat and trusted lists, server settings.

use crate::criteria::Criteria;
use crate::db::{col, now_ms, to_time};
use crate::{Scope, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FilterAction {
    /// Matching findings are archived as they arrive (still stored, never exported).
    Archive,
    /// A saved search only.
    Noop,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub name: String,
    pub description: String,
    pub action: FilterAction,
    pub rank: u32,
    #[serde(rename = "findingCriteria")]
    pub criteria: Criteria,
    pub account_id: String,
}

/// A list to store, already parsed by the caller (the counts it found).
#[derive(Debug, Clone)]
pub struct NewList {
    pub name: String,
    pub kind: String,
    pub category: Option<String>,
    pub format: String,
    pub content: Vec<u8>,
    pub ips: u64,
    pub domains: u64,
    pub hashes: u64,
    pub skipped: u64,
    pub messages: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListInfo {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub kind: String,
    pub category: Option<String>,
    pub format: String,
    pub active: bool,
    pub entries: ListCounts,
    pub messages: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListCounts {
    pub ips: u64,
    pub domains: u64,
    pub hashes: u64,
    pub skipped: u64,
}

fn filter_of(row: &sqlx::any::AnyRow) -> Result<Filter, StoreError> {
    let action: String = col(row, "action")?;
    let criteria: String = col(row, "criteria")?;
    let criteria: Value = serde_json::from_str(&criteria).map_err(|e| StoreError::Corrupt(format!("filter: {e}")))?;
    Ok(Filter {
        name: col(row, "name")?,
        description: col(row, "description")?,
        action: if action == "ARCHIVE" { FilterAction::Archive } else { FilterAction::Noop },
        rank: u32::try_from(col::<i64>(row, "rank")?).unwrap_or(u32::MAX),
        criteria: Criteria::parse(&criteria).map_err(|e| StoreError::Corrupt(format!("filter criteria: {e}")))?,
        account_id: col(row, "account_id")?,
    })
}

fn list_of(row: &sqlx::any::AnyRow) -> Result<ListInfo, StoreError> {
    let n = |c: &str| col::<i64>(row, c).map(|v| v.max(0) as u64);
    let messages: String = col(row, "messages")?;
    Ok(ListInfo {
        id: col(row, "id")?,
        account_id: col(row, "account_id")?,
        name: col(row, "name")?,
        kind: col(row, "kind")?,
        category: col(row, "category")?,
        format: col(row, "format")?,
        active: col::<i64>(row, "active")? != 0,
        entries: ListCounts { ips: n("ips")?, domains: n("domains")?, hashes: n("hashes")?, skipped: n("skipped")? },
        messages: serde_json::from_str(&messages).unwrap_or_default(),
        created_at: to_time(col(row, "created_at")?),
    })
}

const LIST_COLUMNS: &str =
    "id, account_id, name, kind, category, format, active, ips, domains, hashes, skipped, messages, created_at";

impl Store {
    /// The scope's own filters and the administrator's, by rank.
    pub async fn filters(&self, scope: &Scope) -> Result<Vec<Filter>, StoreError> {
        let base = "SELECT account_id, name, description, action, rank, criteria FROM filters";
        let rows = match scope {
            Scope::All => sqlx::query(&format!("{base} ORDER BY rank, name")).fetch_all(&self.pool).await?,
            Scope::Account(a) => {
                let admin = self.admin_account().await?;
                sqlx::query(&format!("{base} WHERE account_id = $1 OR account_id = $2 ORDER BY rank, name"))
                    .bind(a)
                    .bind(admin.id)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(filter_of).collect()
    }

    pub async fn put_filter(&self, account_id: &str, f: &Filter) -> Result<(), StoreError> {
        let criteria = serde_json::to_string(&f.criteria).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO filters (account_id, name, description, action, rank, criteria, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, name) DO UPDATE SET \
             description = excluded.description, action = excluded.action, rank = excluded.rank, \
             criteria = excluded.criteria, updated_at = excluded.updated_at",
        )
        .bind(account_id)
        .bind(&f.name)
        .bind(&f.description)
        .bind(if f.action == FilterAction::Archive { "ARCHIVE" } else { "NOOP" })
        .bind(i64::from(f.rank))
        .bind(criteria)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_filter(&self, account_id: &str, name: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM filters WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    pub async fn put_list(&self, account_id: &str, l: &NewList) -> Result<ListInfo, StoreError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let messages = serde_json::to_string(&l.messages).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        sqlx::query(&format!(
            "INSERT INTO lists ({LIST_COLUMNS}, content) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&id)
        .bind(account_id)
        .bind(&l.name)
        .bind(&l.kind)
        .bind(l.category.clone())
        .bind(&l.format)
        .bind(n(l.ips))
        .bind(n(l.domains))
        .bind(n(l.hashes))
        .bind(n(l.skipped))
        .bind(messages)
        .bind(now_ms())
        .bind(String::from_utf8_lossy(&l.content).into_owned())
        .execute(&self.pool)
        .await?;
        self.bump_lists_version().await?;
        let row = sqlx::query(&format!("SELECT {LIST_COLUMNS} FROM lists WHERE id = $1"))
            .bind(&id)
            .fetch_one(&self.pool)
            .await?;
        list_of(&row)
    }

    /// The scope's lists and the administrator's (which apply to everyone).
    pub async fn lists(&self, scope: &Scope) -> Result<Vec<ListInfo>, StoreError> {
        let rows = match scope {
            Scope::All => {
                sqlx::query(&format!("SELECT {LIST_COLUMNS} FROM lists ORDER BY created_at, id"))
                    .fetch_all(&self.pool)
                    .await?
            }
            Scope::Account(a) => {
                let admin = self.admin_account().await?;
                sqlx::query(&format!(
                    "SELECT {LIST_COLUMNS} FROM lists WHERE account_id = $1 OR account_id = $2 ORDER BY created_at, id"
                ))
                .bind(a)
                .bind(admin.id)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(list_of).collect()
    }

    pub async fn list_content(&self, account_id: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT content FROM lists WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| col::<String>(&r, "content").map(String::into_bytes)).transpose()
    }

    pub async fn set_list_active(&self, scope: &Scope, id: &str, active: bool) -> Result<bool, StoreError> {
        let r = match scope {
            Scope::All => {
                sqlx::query("UPDATE lists SET active = $1 WHERE id = $2")
                    .bind(i64::from(active))
                    .bind(id)
                    .execute(&self.pool)
                    .await?
            }
            Scope::Account(a) => {
                sqlx::query("UPDATE lists SET active = $1 WHERE id = $2 AND account_id = $3")
                    .bind(i64::from(active))
                    .bind(id)
                    .bind(a)
                    .execute(&self.pool)
                    .await?
            }
        };
        self.bump_lists_version().await?;
        Ok(r.rows_affected() > 0)
    }

    pub async fn delete_list(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        let r = match scope {
            Scope::All => sqlx::query("DELETE FROM lists WHERE id = $1").bind(id).execute(&self.pool).await?,
            Scope::Account(a) => {
                sqlx::query("DELETE FROM lists WHERE id = $1 AND account_id = $2")
                    .bind(id)
                    .bind(a)
                    .execute(&self.pool)
                    .await?
            }
        };
        self.bump_lists_version().await?;
        Ok(r.rows_affected() > 0)
    }

    /// Moves on every list change: agents compare it with theirs.
    pub async fn lists_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT value FROM counters WHERE key = 'lists'").fetch_optional(&self.pool).await?;
        row.map(|r| col(&r, "value")).transpose().map(|v| v.unwrap_or(0))
    }

    async fn bump_lists_version(&self) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO counters (key, value) VALUES ('lists', 1) \
             ON CONFLICT (key) DO UPDATE SET value = counters.value + 1",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn setting(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&self.pool).await?;
        row.map(|r| {
            let s: String = col(&r, "value")?;
            serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("setting {key}: {e}")))
        })
        .transpose()
    }

    pub async fn put_setting(&self, key: &str, v: &Value) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(v.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
