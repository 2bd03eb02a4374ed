//! Accounts and tokens. A token is `sk_<kind>_<id>_<secret>`: the id finds
//! the row, argon2id verifies the whole token against the stored hash. The
//! plaintext exists only in the answer to `issue_token`.

use crate::db::{col, now_ms, to_time};
use crate::{Scope, Store, StoreError};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: String,
    pub name: String,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Api,
    Agent,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Api => "api",
            TokenKind::Agent => "agent",
        }
    }
    fn parse(s: &str) -> Option<TokenKind> {
        match s {
            "api" => Some(TokenKind::Api),
            "agent" => Some(TokenKind::Agent),
            _ => None,
        }
    }
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub is_admin: bool,
    pub token_id: String,
    pub kind: TokenKind,
}

/// Verified tokens, by SHA-256 of the token, for a minute: argon2 is slow on
/// purpose, and the console calls the API several times a second.
#[derive(Default)]
pub(crate) struct AuthCache {
    entries: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
}

const CACHE_TTL: Duration = Duration::from_secs(60);
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl AuthCache {
    fn get(&self, key: &[u8; 32]) -> Option<Principal> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).filter(|(_, at)| at.elapsed() < CACHE_TTL).map(|(p, _)| p.clone())
    }
    fn put(&self, key: [u8; 32], p: Principal) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        map.insert(key, (p, Instant::now()));
    }
    fn forget_token(&self, token_id: &str) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (p, _)| p.token_id != token_id);
    }
}

fn account_of(row: &sqlx::any::AnyRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: col(row, "id")?,
        name: col(row, "name")?,
        is_admin: col::<i64>(row, "is_admin")? != 0,
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
        revoked: col::<i64>(row, "revoked")? != 0,
    })
}

impl Store {
    /// The administrator account, created on first call.
    pub async fn admin_account(&self) -> Result<Account, StoreError> {
        let row = sqlx::query("SELECT id, name, is_admin, created_at FROM accounts WHERE is_admin = 1")
            .fetch_optional(&self.pool)
            .await?;
        if let Some(r) = row {
            return account_of(&r);
        }
        self.insert_account("admin", true).await
    }

    pub async fn create_account(&self, name: &str) -> Result<Account, StoreError> {
        self.insert_account(name, false).await
    }

    async fn insert_account(&self, name: &str, admin: bool) -> Result<Account, StoreError> {
        let id: String = {
            let mut rng = rand::rng();
            (0..12).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
        };
        let now = now_ms();
        sqlx::query("INSERT INTO accounts (id, name, is_admin, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(name)
            .bind(i64::from(admin))
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(Account { id, name: name.to_owned(), is_admin: admin, created_at: to_time(now) })
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let rows = sqlx::query("SELECT id, name, is_admin, created_at FROM accounts ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(account_of).collect()
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT id, name, is_admin, created_at FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_of).transpose()
    }

    /// Issue a token; the plaintext is returned once and never stored.
    pub async fn issue_token(
        &self,
        account_id: &str,
        kind: TokenKind,
        name: &str,
    ) -> Result<(TokenInfo, String), StoreError> {
        if self.account(account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("no account {account_id}")));
        }
        let (id, secret) = {
            let mut rng = rand::rng();
            let id: String = (0..16).map(|_| format!("{:x}", rng.random_range(0..16u8))).collect();
            let secret: String = (0..32).map(|_| char::from(ALNUM[rng.random_range(0..ALNUM.len())])).collect();
            (id, secret)
        };
        let token = format!("sk_{}_{id}_{secret}", kind.as_str());
        let hash = hash_token(&token)?;
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

    pub async fn tokens(&self, scope: &Scope) -> Result<Vec<TokenInfo>, StoreError> {
        let base = "SELECT id, account_id, kind, name, created_at, last_used_at, revoked FROM tokens";
        let rows = match scope {
            Scope::All => sqlx::query(&format!("{base} ORDER BY created_at, id")).fetch_all(&self.pool).await?,
            Scope::Account(a) => {
                sqlx::query(&format!("{base} WHERE account_id = $1 ORDER BY created_at, id"))
                    .bind(a)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(token_of).collect()
    }

    /// Revoke at once: the cached verification goes too.
    pub async fn revoke_token(&self, scope: &Scope, token_id: &str) -> Result<bool, StoreError> {
        let r = match scope {
            Scope::All => {
                sqlx::query("UPDATE tokens SET revoked = 1 WHERE id = $1").bind(token_id).execute(&self.pool).await?
            }
            Scope::Account(a) => {
                sqlx::query("UPDATE tokens SET revoked = 1 WHERE id = $1 AND account_id = $2")
                    .bind(token_id)
                    .bind(a)
                    .execute(&self.pool)
                    .await?
            }
        };
        self.auth_cache.forget_token(token_id);
        Ok(r.rows_affected() > 0)
    }

    /// The principal a token stands for; `None` for anything unknown,
    /// malformed, wrong or revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(p) = self.auth_cache.get(&key) {
            return Ok(Some(p));
        }
        let Some((kind, id)) = parse_token(token) else { return Ok(None) };
        let row = sqlx::query(
            "SELECT t.hash, t.kind, t.account_id, t.revoked, t.last_used_at, a.is_admin \
             FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let hash: String = col(&row, "hash")?;
        let stored_kind: String = col(&row, "kind")?;
        if col::<i64>(&row, "revoked")? != 0 || stored_kind != kind.as_str() {
            return Ok(None);
        }
        let parsed = PasswordHash::new(&hash).map_err(|e| StoreError::Corrupt(format!("token hash: {e}")))?;
        if Argon2::default().verify_password(token.as_bytes(), &parsed).is_err() {
            return Ok(None);
        }
        let p = Principal {
            account_id: col(&row, "account_id")?,
            is_admin: col::<i64>(&row, "is_admin")? != 0,
            token_id: id.to_owned(),
            kind,
        };
        // Last use, to the minute: enough to spot stale tokens, cheap.
        let last: Option<i64> = col(&row, "last_used_at")?;
        if last.is_none_or(|l| now_ms() - l > 60_000) {
            sqlx::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        self.auth_cache.put(key, p.clone());
        Ok(Some(p))
    }
}

/// `sk_<kind>_<16 hex>_<32 alnum>` → (kind, id).
fn parse_token(token: &str) -> Option<(TokenKind, &str)> {
    let rest = token.strip_prefix("sk_")?;
    let (kind, rest) = rest.split_once('_')?;
    let (id, secret) = rest.split_once('_')?;
    let ok = id.len() == 16
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && secret.len() == 32
        && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(())?;
    Some((TokenKind::parse(kind)?, id))
}

fn hash_token(token: &str) -> Result<String, StoreError> {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Hash(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(token.as_bytes(), &salt)
        .map_err(|e| StoreError::Hash(e.to_string()))?
        .to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_shapes() {
        let id = "0123456789abcdef";
        let secret = "A".repeat(32);
        assert!(super::parse_token(&format!("sk_api_{id}_{secret}")).is_some());
        assert!(super::parse_token(&format!("sk_root_{id}_{secret}")).is_none());
        assert!(super::parse_token(&format!("sk_api_{id}_{}", "A".repeat(31))).is_none());
        assert!(super::parse_token("Bearer x").is_none());
    }
}
