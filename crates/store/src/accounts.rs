//! Accounts and tokens. Accounts have random 12-digit ids; one of them, made
//! on first use, is the administrator's. A token is
//! `sk_<kind>_<id>_<secret>`: the public id finds the row, argon2id verifies
//! the whole token against the stored PHC hash. The plaintext exists only
//! in the answer to `issue_token`.
//!
//! argon2 is slow on purpose, and the console calls the API several times a
//! second: verified tokens are cached for a minute under the SHA-256 of the
//! token. Revoking drops the token's entries at once, and a verification
//! that raced with a revocation is not cached.

use crate::db::{check_text, col, col_bool, conflict_or_db, now_ms, to_time};
use crate::{Scope, Store, StoreError};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: String,
    pub name: String,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// People, the CLI, the console: the REST API. May not ingest.
    Api,
    /// Enrolled agents: ingest only.
    Agent,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Api => "api",
            TokenKind::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<TokenKind> {
        match s {
            "api" => Some(TokenKind::Api),
            "agent" => Some(TokenKind::Agent),
            _ => None,
        }
    }
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub id: String,
    pub account_id: String,
    pub kind: TokenKind,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    pub account_id: String,
    pub is_admin: bool,
    pub token_id: String,
    pub kind: TokenKind,
}

impl Principal {
    /// Everything for the administrator, the own account for a member.
    pub fn scope(&self) -> Scope {
        if self.is_admin { Scope::All } else { Scope::Account(self.account_id.clone()) }
    }
}

const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_MAX: usize = 10_000;
const LAST_USED_RESOLUTION_MS: i64 = 60_000;
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Default)]
pub(crate) struct AuthCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    entries: HashMap<[u8; 32], (Principal, Instant)>,
    /// Bumped by every revocation.
    revocations: u64,
}

impl AuthCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &[u8; 32]) -> Option<Principal> {
        self.lock().entries.get(key).filter(|(_, at)| at.elapsed() < CACHE_TTL).map(|(p, _)| p.clone())
    }

    fn revocations(&self) -> u64 {
        self.lock().revocations
    }

    /// Cache unless a revocation happened since `revocations` was read.
    fn put(&self, key: [u8; 32], p: Principal, revocations: u64) {
        let mut inner = self.lock();
        if inner.revocations != revocations {
            return;
        }
        if inner.entries.len() >= CACHE_MAX {
            inner.entries.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if inner.entries.len() >= CACHE_MAX {
                inner.entries.clear();
            }
        }
        inner.entries.insert(key, (p, Instant::now()));
    }

    fn forget_token(&self, token_id: &str) {
        let mut inner = self.lock();
        inner.revocations += 1;
        inner.entries.retain(|_, (p, _)| p.token_id != token_id);
    }
}

fn account_of(row: &sqlx::any::AnyRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: col(row, "id")?,
        name: col(row, "name")?,
        is_admin: col_bool(row, "is_admin")?,
        created_at: to_time(col(row, "created_at")?),
    })
}

fn token_of(row: &sqlx::any::AnyRow) -> Result<TokenInfo, StoreError> {
    let kind: String = col(row, "kind")?;
    Ok(TokenInfo {
        id: col(row, "id")?,
        account_id: col(row, "account_id")?,
        kind: TokenKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("token kind {kind:?}")))?,
        name: col(row, "name")?,
        created_at: to_time(col(row, "created_at")?),
        last_used_at: col::<Option<i64>>(row, "last_used_at")?.map(to_time),
        revoked: col_bool(row, "revoked")?,
    })
}

const ACCOUNT_COLUMNS: &str = "id, name, is_admin, created_at";
const TOKEN_COLUMNS: &str = "id, account_id, kind, name, created_at, last_used_at, revoked";

impl Store {
    /// The administrator account (named `admin`), created on first call.
    pub async fn admin_account(&self) -> Result<Account, StoreError> {
        let select = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE admin_slot = 1");
        if let Some(row) = sqlx::query(&select).fetch_optional(&self.pool).await? {
            return account_of(&row);
        }
        // Concurrent first calls: the unique admin_slot lets one insert win.
        for _ in 0..5 {
            sqlx::query(
                "INSERT INTO accounts (id, name, is_admin, admin_slot, created_at) VALUES ($1, 'admin', 1, 1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(random_account_id()?)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
            if let Some(row) = sqlx::query(&select).fetch_optional(&self.pool).await? {
                return account_of(&row);
            }
        }
        Err(StoreError::Conflict("cannot create the administrator account: the name \"admin\" is taken".into()))
    }

    /// A member account. Names are unique (409 otherwise); "admin" is the
    /// administrator's.
    pub async fn create_account(&self, name: &str) -> Result<Account, StoreError> {
        check_text("account name", name, 64)?;
        self.admin_account().await?;
        let exists = || format!("an account named {name:?} exists");
        if sqlx::query("SELECT id FROM accounts WHERE name = $1").bind(name).fetch_optional(&self.pool).await?.is_some()
        {
            return Err(StoreError::Conflict(exists()));
        }
        for _ in 0..5 {
            let id = random_account_id()?;
            let now = now_ms();
            let inserted = sqlx::query(
                "INSERT INTO accounts (id, name, is_admin, admin_slot, created_at) VALUES ($1, $2, 0, NULL, $3) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_or_db(e, exists))?
            .rows_affected();
            if inserted == 1 {
                return Ok(Account { id, name: name.to_owned(), is_admin: false, created_at: to_time(now) });
            }
        }
        Err(StoreError::Conflict("no free account id after 5 tries".into()))
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(account_of).collect()
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_of).transpose()
    }

    /// Issue a token for an account; the plaintext is in the answer and
    /// nowhere else.
    pub async fn issue_token(
        &self,
        account_id: &str,
        kind: TokenKind,
        name: &str,
    ) -> Result<(TokenInfo, String), StoreError> {
        check_text("token name", name, 100)?;
        if self.account(account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("no account {account_id}")));
        }
        let id = hex::encode(random_bytes::<8>()?);
        let token = format!("sk_{}_{id}_{}", kind.as_str(), random_secret()?);
        let hash = {
            let token = token.clone();
            tokio::task::spawn_blocking(move || hash_token(&token))
                .await
                .map_err(|e| StoreError::Hash(e.to_string()))??
        };
        let now = now_ms();
        sqlx::query(
            "INSERT INTO tokens (id, account_id, kind, name, hash, created_at, last_used_at, revoked) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, 0)",
        )
        .bind(&id)
        .bind(account_id)
        .bind(kind.as_str())
        .bind(name)
        .bind(&hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        let info = TokenInfo {
            id,
            account_id: account_id.to_owned(),
            kind,
            name: name.to_owned(),
            created_at: to_time(now),
            last_used_at: None,
            revoked: false,
        };
        Ok((info, token))
    }

    /// Tokens in scope, revoked ones included, oldest first.
    pub async fn tokens(&self, scope: &Scope) -> Result<Vec<TokenInfo>, StoreError> {
        let mut sql = crate::db::Sql::new(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE "));
        sql.scope(scope).push(" ORDER BY created_at, id");
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(token_of).collect()
    }

    /// Revoke a token in scope; it stops working at once. False when there
    /// is no such token in scope.
    pub async fn revoke_token(&self, scope: &Scope, token_id: &str) -> Result<bool, StoreError> {
        let mut sql = crate::db::Sql::new("UPDATE tokens SET revoked = 1 WHERE id = ");
        sql.bind(token_id).push(" AND ").scope(scope);
        let n = sql.query().execute(&self.pool).await?.rows_affected();
        self.auth.forget_token(token_id);
        Ok(n > 0)
    }

    /// The principal a token stands for; `None` for anything unknown,
    /// malformed, wrong, of another kind than its row, or revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let Some((kind, id)) = parse_token(token) else { return Ok(None) };
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(p) = self.auth.get(&key) {
            return Ok(Some(p));
        }
        let revocations = self.auth.revocations();
        let row = sqlx::query(
            "SELECT t.hash, t.kind, t.account_id, t.revoked, t.last_used_at, a.is_admin \
             FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        if col_bool(&row, "revoked")? || col::<String>(&row, "kind")? != kind.as_str() {
            return Ok(None);
        }
        let hash: String = col(&row, "hash")?;
        let candidate = token.to_owned();
        let verified = tokio::task::spawn_blocking(move || verify_token(&candidate, &hash))
            .await
            .map_err(|e| StoreError::Hash(e.to_string()))??;
        if !verified {
            return Ok(None);
        }
        let p = Principal {
            account_id: col(&row, "account_id")?,
            is_admin: col_bool(&row, "is_admin")?,
            token_id: id.to_owned(),
            kind,
        };
        // Last use to the minute: enough to spot stale tokens, cheap.
        let now = now_ms();
        if col::<Option<i64>>(&row, "last_used_at")?.is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS) {
            sqlx::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        self.auth.put(key, p.clone(), revocations);
        Ok(Some(p))
    }
}

/// `sk_<kind>_<16 hex>_<32 alphanumerics>` → (kind, id).
fn parse_token(token: &str) -> Option<(TokenKind, &str)> {
    let rest = token.strip_prefix("sk_")?;
    let (kind, rest) = rest.split_once('_')?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed = id.len() == 16
        && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && secret.len() == 32
        && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    if !well_formed {
        return None;
    }
    Some((TokenKind::parse(kind)?, id))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    OsRng.try_fill_bytes(&mut buf).map_err(|e| StoreError::Hash(format!("OS random numbers: {e}")))?;
    Ok(buf)
}

/// `n` characters from `alphabet`, uniformly (rejection sampling).
fn random_string(alphabet: &[u8], n: usize) -> Result<String, StoreError> {
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random_bytes::<64>()? {
            if usize::from(b) < limit && out.len() < n {
                out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
            }
        }
    }
    Ok(out)
}

fn random_secret() -> Result<String, StoreError> {
    random_string(ALNUM, 32)
}

fn random_account_id() -> Result<String, StoreError> {
    random_string(b"0123456789", 12)
}

fn hash_token(token: &str) -> Result<String, StoreError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?).map_err(|e| StoreError::Hash(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(token.as_bytes(), &salt)
        .map_err(|e| StoreError::Hash(e.to_string()))?
        .to_string())
}

fn verify_token(token: &str, hash: &str) -> Result<bool, StoreError> {
    let parsed = PasswordHash::new(hash).map_err(|e| StoreError::Corrupt(format!("token hash: {e}")))?;
    Ok(Argon2::default().verify_password(token.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn token_shapes() {
        let id = "0123456789abcdef";
        let secret = "A".repeat(32);
        assert_eq!(parse_token(&format!("sk_api_{id}_{secret}")), Some((TokenKind::Api, id)));
        assert_eq!(parse_token(&format!("sk_agent_{id}_{secret}")), Some((TokenKind::Agent, id)));
        assert!(parse_token(&format!("sk_root_{id}_{secret}")).is_none());
        assert!(parse_token(&format!("sk_api_{id}_{}", "A".repeat(31))).is_none());
        assert!(parse_token(&format!("sk_api_0123456789ABCDEF_{secret}")).is_none());
        assert!(parse_token(&format!("sk_api_{id}_{}-", "A".repeat(31))).is_none());
        assert!(parse_token("Bearer x").is_none());
    }

    #[test]
    fn random_strings_have_the_shape() {
        let s = random_secret().unwrap();
        assert!(s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric()));
        let id = random_account_id().unwrap();
        assert!(id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(random_secret().unwrap(), s);
    }

    #[test]
    fn argon2id_round_trip() {
        let h = hash_token("sk_api_x").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_token("sk_api_x", &h).unwrap());
        assert!(!verify_token("sk_api_y", &h).unwrap());
    }
}
