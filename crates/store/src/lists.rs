//! Threat and trusted lists, as uploaded (the server parses them with
//! saker-detect's loaders first and passes the counts along), and the lists
//! version: a counter that moves with every change, so agents know to
//! re-fetch. The administrator's lists apply to every account.

use crate::db::{Arg, Sql, check_text, col, col_bool, conflict_or_db, from_json, now_ms, to_json, to_time};
use crate::{Scope, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

/// A list to store, already parsed by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewList {
    /// Unique within the account (409 otherwise).
    pub name: String,
    /// `threat` or `trusted`.
    pub kind: String,
    /// The threat category (`c2`, `miner`, ...), for threat lists.
    pub category: Option<String>,
    /// The format the loader used (`auto`, `plain`, `csv`, `stix`, ...).
    pub format: String,
    pub content: Vec<u8>,
    pub ips: u64,
    pub domains: u64,
    pub hashes: u64,
    pub skipped: u64,
    /// The loader's messages (skipped lines and why).
    pub messages: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListInfo {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub kind: String,
    pub category: Option<String>,
    pub format: String,
    pub active: bool,
    pub entries: ListEntries,
    pub messages: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntries {
    pub ips: u64,
    pub domains: u64,
    pub hashes: u64,
    pub skipped: u64,
}

const LIST_COLUMNS: &str =
    "id, account_id, name, kind, category, format, active, ips, domains, hashes, skipped, messages, created_at";

fn list_of(row: &sqlx::any::AnyRow) -> Result<ListInfo, StoreError> {
    let n = |c: &str| col::<i64>(row, c).map(|v| u64::try_from(v).unwrap_or(0));
    Ok(ListInfo {
        id: col(row, "id")?,
        account_id: col(row, "account_id")?,
        name: col(row, "name")?,
        kind: col(row, "kind")?,
        category: col(row, "category")?,
        format: col(row, "format")?,
        active: col_bool(row, "active")?,
        entries: ListEntries { ips: n("ips")?, domains: n("domains")?, hashes: n("hashes")?, skipped: n("skipped")? },
        messages: from_json("list messages", &col::<String>(row, "messages")?)?,
        created_at: to_time(col(row, "created_at")?),
    })
}

async fn bump_version(tx: &mut Transaction<'static, Any>) -> Result<(), StoreError> {
    sqlx::query("UPDATE counters SET value = value + 1 WHERE key = 'lists_version'").execute(&mut **tx).await?;
    Ok(())
}

impl Store {
    /// Store a new, active list for `account_id`.
    pub async fn put_list(&self, account_id: &str, l: &NewList) -> Result<ListInfo, StoreError> {
        check_text("list name", &l.name, 128)?;
        if l.kind != "threat" && l.kind != "trusted" {
            return Err(StoreError::InvalidInput(format!("list kind {:?}: threat or trusted", l.kind)));
        }
        check_text("list format", &l.format, 32)?;
        if let Some(c) = &l.category {
            check_text("list category", c, 64)?;
        }
        if l.messages.iter().any(|m| m.contains('\0')) {
            return Err(StoreError::InvalidInput("list messages contain NUL".into()));
        }
        if self.account(account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("no account {account_id}")));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let mut sql = Sql::new(&format!("INSERT INTO lists ({LIST_COLUMNS}, content) VALUES ("));
        sql.bind(&id).push(", ").bind(account_id).push(", ").bind(&l.name).push(", ").bind(&l.kind).push(", ");
        sql.bind(l.category.clone().map_or(Arg::Null(crate::fields::Kind::Text), Arg::Text)).push(", ");
        sql.bind(&l.format).push(", 1, ");
        sql.bind_list([n(l.ips), n(l.domains), n(l.hashes), n(l.skipped)]).push(", ");
        sql.bind(to_json(&l.messages)?).push(", ").bind(now_ms()).push(", ").bind(Arg::Bytes(l.content.clone()));
        sql.push(")");
        let mut tx = self.begin_write().await?;
        sql.query()
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_or_db(e, || format!("a list named {:?} exists", l.name)))?;
        bump_version(&mut tx).await?;
        let row = sqlx::query(&format!("SELECT {LIST_COLUMNS} FROM lists WHERE id = $1"))
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        list_of(&row)
    }

    /// The scope's lists and the administrator's (which apply to everyone);
    /// every list for `Scope::All`. Oldest first.
    pub async fn lists(&self, scope: &Scope) -> Result<Vec<ListInfo>, StoreError> {
        let mut sql = Sql::new(&format!("SELECT {LIST_COLUMNS} FROM lists WHERE "));
        match scope {
            Scope::All => sql.push("1 = 1"),
            Scope::Account(a) => {
                let admin = self.admin_account().await?.id;
                sql.push("(account_id = ").bind(a).push(" OR account_id = ").bind(admin).push(")")
            }
        };
        sql.push(" ORDER BY created_at, id");
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(list_of).collect()
    }

    /// The uploaded bytes of one of `account_id`'s lists.
    pub async fn list_content(&self, account_id: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT content FROM lists WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| col::<Vec<u8>>(&r, "content")).transpose()
    }

    /// Activate or deactivate a list the scope owns (a member cannot touch
    /// the administrator's). False when there is none.
    pub async fn set_list_active(&self, scope: &Scope, id: &str, active: bool) -> Result<bool, StoreError> {
        let mut sql = Sql::new("UPDATE lists SET active = ");
        sql.bind(i64::from(active)).push(" WHERE id = ").bind(id).push(" AND ").scope(scope);
        self.change_list(sql).await
    }

    /// Delete a list the scope owns. False when there is none.
    pub async fn delete_list(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        let mut sql = Sql::new("DELETE FROM lists WHERE id = ");
        sql.bind(id).push(" AND ").scope(scope);
        self.change_list(sql).await
    }

    async fn change_list(&self, sql: Sql) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = sql.query().execute(&mut *tx).await?.rows_affected() > 0;
        if changed {
            bump_version(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Moves on every list change; agents compare it with the one they have.
    pub async fn lists_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT value FROM counters WHERE key = 'lists_version'").fetch_one(&self.pool).await?;
        col(&row, "value")
    }
}
