//! Agents as the server knows them: the last heartbeat, when it arrived,
//! the health judged from it, and a history of health changes.

use crate::db::{col, now_ms, to_time};
use crate::{Scope, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an agent reports every few seconds (JSON over the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    pub agent_id: String,
    pub run_id: String,
    pub hostname: String,
    pub agent_version: String,
    pub kernel: String,
    /// `host` or `sidecar`.
    pub mode: String,
    #[serde(default)]
    pub ecs_cluster: Option<String>,
    #[serde(default)]
    pub ecs_task_arn: Option<String>,
    #[serde(default)]
    pub attached_programs: Vec<String>,
    pub events_total: u64,
    pub events_lost: u64,
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub started_at: DateTime<Utc>,
    pub sent_at: DateTime<Utc>,
    /// The agent says it is exiting.
    #[serde(default)]
    pub stopping: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthStatus {
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "HEALTHY",
            HealthStatus::Unhealthy => "UNHEALTHY",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub status: HealthStatus,
    pub issue: Option<String>,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentRecord {
    pub account_id: String,
    pub heartbeat: Heartbeat,
    pub last_seen: DateTime<Utc>,
    pub health: Health,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthEvent {
    pub account_id: String,
    pub subject: String,
    pub from: String,
    pub to: String,
    pub issue: Option<String>,
    pub at: DateTime<Utc>,
}

fn record_of(row: &sqlx::any::AnyRow) -> Result<AgentRecord, StoreError> {
    let hb: String = col(row, "heartbeat")?;
    let status: String = col(row, "health_status")?;
    Ok(AgentRecord {
        account_id: col(row, "account_id")?,
        heartbeat: serde_json::from_str(&hb).map_err(|e| StoreError::Corrupt(format!("heartbeat: {e}")))?,
        last_seen: to_time(col(row, "last_seen")?),
        health: Health {
            status: if status == "HEALTHY" { HealthStatus::Healthy } else { HealthStatus::Unhealthy },
            issue: col(row, "health_issue")?,
            since: to_time(col(row, "health_since")?),
        },
    })
}

impl Store {
    /// Keep the heartbeat; returns the one before it (for "events dropped").
    pub async fn record_heartbeat(&self, account_id: &str, hb: &Heartbeat) -> Result<Option<Heartbeat>, StoreError> {
        let json = serde_json::to_string(hb).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let prev = self.agent(account_id, &hb.agent_id).await?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO agents (account_id, agent_id, heartbeat, last_seen, health_status, health_issue, health_since) \
             VALUES ($1, $2, $3, $4, 'HEALTHY', NULL, $5) ON CONFLICT (account_id, agent_id) DO UPDATE SET \
             heartbeat = excluded.heartbeat, last_seen = excluded.last_seen",
        )
        .bind(account_id)
        .bind(&hb.agent_id)
        .bind(json)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(prev.map(|p| p.heartbeat))
    }

    async fn agent(&self, account_id: &str, agent_id: &str) -> Result<Option<AgentRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT account_id, heartbeat, last_seen, health_status, health_issue, health_since FROM agents \
             WHERE account_id = $1 AND agent_id = $2",
        )
        .bind(account_id)
        .bind(agent_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(record_of).transpose()
    }

    pub async fn agents(&self, scope: &Scope) -> Result<Vec<AgentRecord>, StoreError> {
        let base = "SELECT account_id, heartbeat, last_seen, health_status, health_issue, health_since FROM agents";
        let rows = match scope {
            Scope::All => sqlx::query(&format!("{base} ORDER BY account_id, agent_id")).fetch_all(&self.pool).await?,
            Scope::Account(a) => {
                sqlx::query(&format!("{base} WHERE account_id = $1 ORDER BY agent_id"))
                    .bind(a)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(record_of).collect()
    }

    /// Set an agent's health; when status or issue changed, record the
    /// change and return the previous health.
    pub async fn set_agent_health(
        &self,
        account_id: &str,
        agent_id: &str,
        health: &Health,
    ) -> Result<Option<Health>, StoreError> {
        let Some(current) = self.agent(account_id, agent_id).await? else { return Ok(None) };
        let old = current.health;
        if old.status == health.status && old.issue == health.issue {
            return Ok(None);
        }
        sqlx::query(
            "UPDATE agents SET health_status = $1, health_issue = $2, health_since = $3 WHERE account_id = $4 AND agent_id = $5",
        )
        .bind(health.status.as_str())
        .bind(health.issue.clone())
        .bind(health.since.timestamp_millis())
        .bind(account_id)
        .bind(agent_id)
        .execute(&self.pool)
        .await?;
        let subject = current.heartbeat.hostname.clone() + " (" + agent_id + ")";
        sqlx::query(
            "INSERT INTO health_events (id, account_id, subject, from_status, to_status, issue, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(uuid::Uuid::new_v4().simple().to_string())
        .bind(account_id)
        .bind(subject)
        .bind(old.status.as_str())
        .bind(health.status.as_str())
        .bind(health.issue.clone())
        .bind(health.since.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(Some(old))
    }

    pub async fn health_events(&self, scope: &Scope, limit: u32) -> Result<Vec<HealthEvent>, StoreError> {
        let base = "SELECT account_id, subject, from_status, to_status, issue, at FROM health_events";
        let lim = limit.clamp(1, 1000);
        let rows = match scope {
            Scope::All => sqlx::query(&format!("{base} ORDER BY at DESC LIMIT {lim}")).fetch_all(&self.pool).await?,
            Scope::Account(a) => {
                sqlx::query(&format!("{base} WHERE account_id = $1 ORDER BY at DESC LIMIT {lim}"))
                    .bind(a)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(HealthEvent {
                    account_id: col(r, "account_id")?,
                    subject: col(r, "subject")?,
                    from: col(r, "from_status")?,
                    to: col(r, "to_status")?,
                    issue: col(r, "issue")?,
                    at: to_time(col(r, "at")?),
                })
            })
            .collect()
    }
}
