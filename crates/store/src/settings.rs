//! Server-wide settings (administrator only): JSON values by key.

use crate::db::{check_text, col, from_json, now_ms, to_json};
use crate::{Store, StoreError};
use serde_json::Value;

impl Store {
    pub async fn setting(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&self.pool).await?;
        row.map(|r| from_json(&format!("setting {key}"), &col::<String>(&r, "value")?)).transpose()
    }

    pub async fn put_setting(&self, key: &str, v: &Value) -> Result<(), StoreError> {
        check_text("setting key", key, 128)?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(to_json(v)?)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
