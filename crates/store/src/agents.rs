//! Agents as the server knows them: the last heartbeat, when it arrived
//! (server clock), the health the server judged, and the history of health
//! changes. Judging is the server's (GuardDuty's rules live there); the
//! store keeps the result and notices flips.

use crate::db::{Sql, check_text, col, from_json, now_ms, to_json, to_time};
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
    /// `host`, `sidecar`, or `embedded` (sharing `saker up`'s process with the server).
    pub mode: String,
    #[serde(default)]
    pub ecs_cluster: Option<String>,
    #[serde(default)]
    pub ecs_task_arn: Option<String>,
    #[serde(default)]
    pub attached_programs: Vec<String>,
    /// Cumulative for the run.
    pub events_total: u64,
    /// Cumulative for the run.
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

    fn parse(s: &str) -> Result<HealthStatus, StoreError> {
        match s {
            "HEALTHY" => Ok(HealthStatus::Healthy),
            "UNHEALTHY" => Ok(HealthStatus::Unhealthy),
            other => Err(StoreError::Corrupt(format!("health status {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub status: HealthStatus,
    /// GuardDuty's issue string (`Agent not reporting`, ...) when unhealthy.
    pub issue: Option<String>,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentRecord {
    pub account_id: String,
    pub agent_id: String,
    pub heartbeat: Heartbeat,
    /// When the last heartbeat arrived (server clock).
    pub last_seen: DateTime<Utc>,
    /// HEALTHY from the first heartbeat until the server says otherwise.
    pub health: Health,
}

/// A change of an agent's health (status or issue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthEvent {
    pub account_id: String,
    pub agent_id: String,
    /// `<hostname> (<agent id>)`.
    pub subject: String,
    pub from: HealthStatus,
    pub to: HealthStatus,
    pub issue: Option<String>,
    pub at: DateTime<Utc>,
}

const AGENT_COLUMNS: &str = "account_id, agent_id, heartbeat, last_seen, health_status, health_issue, health_since";

fn record_of(row: &sqlx::any::AnyRow) -> Result<AgentRecord, StoreError> {
    Ok(AgentRecord {
        account_id: col(row, "account_id")?,
        agent_id: col(row, "agent_id")?,
        heartbeat: from_json("heartbeat", &col::<String>(row, "heartbeat")?)?,
        last_seen: to_time(col(row, "last_seen")?),
        health: Health {
            status: HealthStatus::parse(&col::<String>(row, "health_status")?)?,
            issue: col(row, "health_issue")?,
            since: to_time(col(row, "health_since")?),
        },
    })
}

impl Store {
    /// Keep an agent's latest heartbeat (and note when it arrived).
    pub async fn record_heartbeat(&self, account_id: &str, hb: &Heartbeat) -> Result<(), StoreError> {
        self.replace_heartbeat(account_id, hb).await.map(drop)
    }

    /// `record_heartbeat`, returning the heartbeat it replaced — what the
    /// "events dropped since the previous heartbeat" rule compares with.
    pub async fn replace_heartbeat(&self, account_id: &str, hb: &Heartbeat) -> Result<Option<Heartbeat>, StoreError> {
        check_text("agentId", &hb.agent_id, 128)?;
        if !hb.cpu_percent.is_finite() {
            // JSON has no NaN: it would be stored as null and never read back.
            return Err(StoreError::InvalidInput("heartbeat cpuPercent is not a number".into()));
        }
        if self.account(account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("no account {account_id}")));
        }
        let json = to_json(hb)?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let q = format!("SELECT heartbeat FROM agents WHERE account_id = $1 AND agent_id = $2{}", self.for_update());
        let previous: Option<Heartbeat> =
            match sqlx::query(&q).bind(account_id).bind(&hb.agent_id).fetch_optional(&mut *tx).await? {
                Some(row) => Some(from_json("heartbeat", &col::<String>(&row, "heartbeat")?)?),
                None => None,
            };
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
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(previous)
    }

    /// One agent of an account.
    pub async fn agent(&self, account_id: &str, agent_id: &str) -> Result<Option<AgentRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE account_id = $1 AND agent_id = $2"))
            .bind(account_id)
            .bind(agent_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record_of).transpose()
    }

    /// Agents in scope, by account and agent id.
    pub async fn agents(&self, scope: &Scope) -> Result<Vec<AgentRecord>, StoreError> {
        let mut sql = Sql::new(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE "));
        sql.scope(scope).push(" ORDER BY account_id, agent_id");
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(record_of).collect()
    }

    /// Set an agent's health. When status or issue differs from the stored
    /// one (a flip), records a HealthEvent at `health.since` and returns the
    /// previous health; otherwise changes nothing and returns `None`.
    /// `NotFound` for an agent that never sent a heartbeat.
    pub async fn set_agent_health(
        &self,
        account_id: &str,
        agent_id: &str,
        health: &Health,
    ) -> Result<Option<Health>, StoreError> {
        if let Some(issue) = &health.issue {
            check_text("health issue", issue, 200)?;
        }
        let mut tx = self.begin_write().await?;
        let q =
            format!("SELECT {AGENT_COLUMNS} FROM agents WHERE account_id = $1 AND agent_id = $2{}", self.for_update());
        let Some(row) = sqlx::query(&q).bind(account_id).bind(agent_id).fetch_optional(&mut *tx).await? else {
            return Err(StoreError::NotFound(format!("no agent {agent_id} in account {account_id}")));
        };
        let current = record_of(&row)?;
        let old = current.health;
        if old.status == health.status && old.issue == health.issue {
            return Ok(None);
        }
        let since = health.since.timestamp_millis();
        sqlx::query(
            "UPDATE agents SET health_status = $1, health_issue = $2, health_since = $3 \
             WHERE account_id = $4 AND agent_id = $5",
        )
        .bind(health.status.as_str())
        .bind(health.issue.clone())
        .bind(since)
        .bind(account_id)
        .bind(agent_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO health_events (id, account_id, agent_id, subject, from_status, to_status, issue, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(uuid::Uuid::new_v4().simple().to_string())
        .bind(account_id)
        .bind(agent_id)
        .bind(format!("{} ({agent_id})", current.heartbeat.hostname))
        .bind(old.status.as_str())
        .bind(health.status.as_str())
        .bind(health.issue.clone())
        .bind(since)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(old))
    }

    /// Health changes in scope, newest first; at most `limit` (1..=1000).
    pub async fn health_events(&self, scope: &Scope, limit: u32) -> Result<Vec<HealthEvent>, StoreError> {
        let mut sql = Sql::new(
            "SELECT account_id, agent_id, subject, from_status, to_status, issue, at FROM health_events WHERE ",
        );
        sql.scope(scope).push(" ORDER BY at DESC, id DESC LIMIT ").bind(i64::from(limit.clamp(1, 1000)));
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(HealthEvent {
                    account_id: col(r, "account_id")?,
                    agent_id: col(r, "agent_id")?,
                    subject: col(r, "subject")?,
                    from: HealthStatus::parse(&col::<String>(r, "from_status")?)?,
                    to: HealthStatus::parse(&col::<String>(r, "to_status")?)?,
                    issue: col(r, "issue")?,
                    at: to_time(col(r, "at")?),
                })
            })
            .collect()
    }
}
