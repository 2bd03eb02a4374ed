//! Where findings and heartbeats from agents arrive — from `saker up`'s
//! in-process agent today, from the gRPC stream of remote agents too — and
//! what happens to them: suppression rules, the store (one transaction per
//! batch; the caller acknowledges only after it returns), coverage, exports.

use crate::App;
use crate::coverage;
use saker_detect::Finding;
use saker_export::FindingState;
use saker_store::{Health, Heartbeat, IngestOutcome, StoreError};
use std::sync::Arc;

/// Store a batch from one agent run (`source`), then export what changed.
pub async fn findings(
    app: &Arc<App>,
    account_id: &str,
    source: &str,
    batch: &[Finding],
) -> Result<Vec<IngestOutcome>, StoreError> {
    let admin = app.admin_account_id().to_owned();
    let suppress = |f: &serde_json::Value| app.suppressed_by(account_id, &admin, f);
    let outcomes = app.store.ingest_findings(account_id, source, batch, &suppress).await?;
    metrics::counter!("saker_server_findings_ingested_total").increment(batch.len() as u64);
    metrics::counter!("saker_server_findings_new_total")
        .increment(outcomes.iter().filter(|o| o.created).count() as u64);
    for (o, f) in outcomes.iter().zip(batch) {
        let state = if o.archived {
            FindingState::Archived
        } else if o.created {
            FindingState::New
        } else if o.changed {
            FindingState::Updated
        } else {
            continue;
        };
        let mut f = f.clone();
        f.account_id = Some(account_id.to_owned());
        app.export(f, state);
    }
    Ok(outcomes)
}

/// Keep a heartbeat and judge the agent's health from it.
pub async fn heartbeat(app: &Arc<App>, account_id: &str, hb: &Heartbeat) -> Result<(), StoreError> {
    let prev = app.store.record_heartbeat(account_id, hb).await?;
    let rules = coverage::Rules {
        heartbeat: chrono::Duration::seconds(app.config.heartbeat_secs.max(1) as i64),
        excluded_clusters: app.settings_now().excluded_ecs_clusters,
        ..coverage::Rules::default()
    };
    let (status, issue) = coverage::judge_heartbeat(prev.as_ref(), hb, &rules);
    let health = Health { status, issue: issue.map(str::to_owned), since: chrono::Utc::now() };
    if let Some(old) = app.store.set_agent_health(account_id, &hb.agent_id, &health).await? {
        tracing::info!(agent = %hb.agent_id, host = %hb.hostname, from = ?old.status, to = ?health.status,
            issue = ?health.issue, "agent health changed");
    }
    Ok(())
}
