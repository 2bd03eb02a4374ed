//! How the rest of the server meets gRPC ingest: the [`IngestHooks`] of
//! [`App`]. Suppression rules archive new findings on arrival, committed
//! findings go to the exporter, heartbeats are judged for coverage, and an
//! agent of an excluded ECS cluster is told to stop monitoring.

use crate::App;
use crate::coverage;
use crate::ingest::{HookFuture, IngestHooks};
use saker_detect::Finding;
use saker_export::FindingState;
use saker_proto::AgentSettings;
use saker_store::{Health, Heartbeat, IngestOutcome};
use tokio::sync::watch;

impl IngestHooks for App {
    fn suppress(&self, account_id: &str, finding: &serde_json::Value) -> Option<String> {
        self.suppressed_by(account_id, self.admin_account_id(), finding)
    }

    fn on_ingested(&self, _account_id: &str, outcomes: &[IngestOutcome], findings: &[Finding]) {
        metrics::counter!("saker_server_findings_ingested_total").increment(findings.len() as u64);
        metrics::counter!("saker_server_findings_new_total")
            .increment(outcomes.iter().filter(|o| o.created).count() as u64);
        for o in outcomes {
            // GuardDuty's policy: new at once, updates batched, archived never
            // (the exporter applies it; it needs to know which is which).
            let state = if o.archived {
                FindingState::Archived
            } else if o.created {
                FindingState::New
            } else if o.changed {
                FindingState::Updated
            } else {
                continue; // a redelivery: nothing new to say
            };
            match serde_json::from_value::<Finding>(o.finding.clone()) {
                Ok(f) => self.export(f, state),
                Err(e) => tracing::warn!(id = %o.id, error = %e, "stored finding unreadable; not exported"),
            }
        }
    }

    fn on_heartbeat<'a>(
        &'a self,
        account_id: &'a str,
        hb: &'a Heartbeat,
        previous: Option<&'a Heartbeat>,
    ) -> HookFuture<'a> {
        Box::pin(async move {
            let rules = self.coverage_rules_now();
            let (status, issue) = coverage::judge_heartbeat(previous, hb, &rules);
            let health = Health { status, issue: issue.map(str::to_owned), since: chrono::Utc::now() };
            match self.store.set_agent_health(account_id, &hb.agent_id, &health).await {
                Ok(Some(old)) => tracing::info!(agent = %hb.agent_id, host = %hb.hostname, from = ?old.status,
                    to = ?health.status, issue = ?health.issue, "agent health changed"),
                Ok(None) => {}
                Err(e) => tracing::warn!(agent = %hb.agent_id, error = %e, "recording agent health"),
            }
        })
    }

    fn agent_settings(&self, _account_id: &str, hb: &Heartbeat) -> AgentSettings {
        let excluded = self.settings_now().excluded_ecs_clusters;
        match hb.ecs_cluster.as_deref() {
            Some(c) if excluded.iter().any(|x| x == c) => AgentSettings {
                monitoring_enabled: false,
                reason: format!("ECS cluster {c} is excluded from monitoring (GuardDutyManaged=false)"),
            },
            _ => AgentSettings { monitoring_enabled: true, reason: String::new() },
        }
    }

    fn lists_changed(&self) -> watch::Receiver<i64> {
        self.lists_version()
    }
}
