//! Suppression rules — GuardDuty's "filters": named criteria with an action
//! and a rank. The administrator's apply to every account, a member's to its
//! own findings; the server evaluates them at ingest, in rank order.

use crate::criteria::Criteria;
use crate::db::{Sql, check_text, col, from_json, now_ms, to_json};
use crate::{Scope, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FilterAction {
    /// Matching findings are archived as they arrive (still stored, never
    /// exported).
    Archive,
    /// A saved search only.
    Noop,
}

impl FilterAction {
    fn as_str(self) -> &'static str {
        match self {
            FilterAction::Archive => "ARCHIVE",
            FilterAction::Noop => "NOOP",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// 3 to 64 characters: letters, digits, `-`, `_`, `.`.
    pub name: String,
    pub description: String,
    pub action: FilterAction,
    /// Lower ranks are evaluated first.
    pub rank: u32,
    #[serde(rename = "findingCriteria")]
    pub criteria: Criteria,
    /// The owner. Set by the store from `put_filter`'s `account_id`.
    #[serde(default)]
    pub account_id: String,
}

fn filter_of(row: &sqlx::any::AnyRow) -> Result<Filter, StoreError> {
    let action: String = col(row, "action")?;
    let criteria: Value = from_json("filter criteria", &col::<String>(row, "criteria")?)?;
    Ok(Filter {
        name: col(row, "name")?,
        description: col(row, "description")?,
        action: match action.as_str() {
            "ARCHIVE" => FilterAction::Archive,
            "NOOP" => FilterAction::Noop,
            other => return Err(StoreError::Corrupt(format!("filter action {other:?}"))),
        },
        rank: u32::try_from(col::<i64>(row, "rank")?).unwrap_or(u32::MAX),
        criteria: Criteria::parse(&criteria).map_err(|e| StoreError::Corrupt(format!("filter criteria: {e}")))?,
        account_id: col(row, "account_id")?,
    })
}

fn check_filter_name(name: &str) -> Result<(), StoreError> {
    let ok = (3..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidInput(format!(
            "filter name {name:?}: 3 to 64 characters, letters, digits, '-', '_' or '.'"
        )))
    }
}

impl Store {
    /// The scope's own filters and the administrator's (which apply to
    /// everyone); every filter for `Scope::All`. By rank, then name.
    pub async fn filters(&self, scope: &Scope) -> Result<Vec<Filter>, StoreError> {
        let mut sql = Sql::new("SELECT account_id, name, description, action, rank, criteria FROM filters WHERE ");
        match scope {
            Scope::All => sql.push("1 = 1"),
            Scope::Account(a) => {
                let admin = self.admin_account().await?.id;
                sql.push("(account_id = ").bind(a).push(" OR account_id = ").bind(admin).push(")")
            }
        };
        sql.push(" ORDER BY rank, name, account_id");
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(filter_of).collect()
    }

    /// Create or replace (by name) one of `account_id`'s filters. Its
    /// criteria must not be empty.
    pub async fn put_filter(&self, account_id: &str, f: &Filter) -> Result<(), StoreError> {
        check_filter_name(&f.name)?;
        if f.description.chars().count() > 512 || f.description.contains('\0') {
            return Err(StoreError::InvalidInput("filter description: at most 512 characters, no NUL".into()));
        }
        if f.criteria.is_empty() {
            return Err(StoreError::InvalidInput("a filter needs findingCriteria with at least one field".into()));
        }
        if self.account(account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("no account {account_id}")));
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO filters (account_id, name, description, action, rank, criteria, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (account_id, name) DO UPDATE SET \
             description = excluded.description, action = excluded.action, rank = excluded.rank, \
             criteria = excluded.criteria, updated_at = excluded.updated_at",
        )
        .bind(account_id)
        .bind(&f.name)
        .bind(&f.description)
        .bind(f.action.as_str())
        .bind(i64::from(f.rank))
        .bind(to_json(&f.criteria)?)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// False when `account_id` has no filter of that name.
    pub async fn delete_filter(&self, account_id: &str, name: &str) -> Result<bool, StoreError> {
        check_text("filter name", name, 64)?;
        let r = sqlx::query("DELETE FROM filters WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}
