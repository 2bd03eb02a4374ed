//! Coverage, GuardDuty's model: every agent is HEALTHY or UNHEALTHY with an
//! issue string, every ECS cluster is HEALTHY when all its agents are, and
//! its coverage is the share of healthy agents.
//!
//! Health is judged from the agent's last heartbeat (and the one before, for
//! "events dropped") and from how long ago it arrived. Pure functions: the
//! ingest path evaluates each heartbeat, a timer re-evaluates silence.

use chrono::{DateTime, Duration, Utc};
use saker_store::{AgentRecord, Health, HealthStatus, Heartbeat};
use serde::Serialize;
use std::collections::BTreeMap;

pub const NOT_REPORTING: &str = "Agent not reporting";
pub const EXITED: &str = "Agent exited";
pub const KERNEL_NOT_SUPPORTED: &str = "Kernel not supported";
pub const EVENTS_DROPPED: &str = "Events dropped";
pub const OVER_BUDGET: &str = "Agent over resource budget";
pub const MONITORING_DISABLED: &str = "Monitoring disabled for this cluster";

/// Thresholds; GuardDuty's agent budget is 10 % CPU and 128 MiB on small hosts.
#[derive(Debug, Clone)]
pub struct Rules {
    pub heartbeat: Duration,
    pub max_cpu_percent: f64,
    pub max_rss_bytes: u64,
    /// ECS clusters the administrator excluded (`GuardDutyManaged=false`).
    pub excluded_clusters: Vec<String>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            heartbeat: Duration::seconds(10),
            max_cpu_percent: 10.0,
            max_rss_bytes: 128 * 1024 * 1024,
            excluded_clusters: Vec::new(),
        }
    }
}

/// The health a heartbeat shows, given the one before it.
pub fn judge_heartbeat(
    prev: Option<&Heartbeat>,
    hb: &Heartbeat,
    rules: &Rules,
) -> (HealthStatus, Option<&'static str>) {
    let issue = if hb.stopping {
        Some(EXITED)
    } else if hb.attached_programs.is_empty() {
        Some(KERNEL_NOT_SUPPORTED)
    } else if prev.is_some_and(|p| p.run_id == hb.run_id && hb.events_lost > p.events_lost) {
        Some(EVENTS_DROPPED)
    } else if hb.mode != "embedded"
        && over_budget(hb, rules)
        && prev.is_some_and(|p| p.run_id == hb.run_id && over_budget(p, rules))
    {
        Some(OVER_BUDGET)
    } else {
        None
    };
    (if issue.is_some() { HealthStatus::Unhealthy } else { HealthStatus::Healthy }, issue)
}

/// Above the CPU or memory budget. Judged over two beats in a row: the
/// first beat's CPU share includes start-up (loading programs, seeding the
/// process table), which is not the agent's steady cost.
fn over_budget(hb: &Heartbeat, rules: &Rules) -> bool {
    hb.cpu_percent > rules.max_cpu_percent || hb.rss_bytes > rules.max_rss_bytes
}

/// An agent silent for three heartbeat intervals is not reporting (unless
/// it said it exited, which is the better explanation).
pub fn judge_silence(last_seen: DateTime<Utc>, current: &Health, now: DateTime<Utc>, rules: &Rules) -> Option<Health> {
    let silent = now - last_seen > rules.heartbeat * 3;
    if silent && current.issue.as_deref() != Some(EXITED) && current.issue.as_deref() != Some(NOT_REPORTING) {
        return Some(Health { status: HealthStatus::Unhealthy, issue: Some(NOT_REPORTING.to_owned()), since: now });
    }
    None
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceView {
    pub agent_id: String,
    pub account_id: String,
    pub hostname: String,
    pub mode: String,
    pub ecs_cluster_name: Option<String>,
    pub ecs_task_arn: Option<String>,
    pub agent_version: String,
    pub kernel: String,
    pub health: &'static str,
    pub issue: Option<String>,
    pub health_since: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub events_total: u64,
    pub events_lost: u64,
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub attached_programs: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    pub name: String,
    pub healthy: usize,
    pub total: usize,
    pub coverage_percent: f64,
    pub health: &'static str,
    pub issue: Option<String>,
    pub managed: bool,
}

pub struct Report {
    pub resources: Vec<ResourceView>,
    pub clusters: Vec<ClusterView>,
}

fn label(s: HealthStatus) -> &'static str {
    match s {
        HealthStatus::Healthy => "HEALTHY",
        HealthStatus::Unhealthy => "UNHEALTHY",
    }
}

/// What the coverage page and API show, as of `now`.
pub fn report(agents: &[AgentRecord], now: DateTime<Utc>, rules: &Rules) -> Report {
    let mut resources = Vec::with_capacity(agents.len());
    for a in agents {
        let hb = &a.heartbeat;
        let health = judge_silence(a.last_seen, &a.health, now, rules).unwrap_or_else(|| a.health.clone());
        resources.push(ResourceView {
            agent_id: hb.agent_id.clone(),
            account_id: a.account_id.clone(),
            hostname: hb.hostname.clone(),
            mode: hb.mode.clone(),
            ecs_cluster_name: hb.ecs_cluster.clone(),
            ecs_task_arn: hb.ecs_task_arn.clone(),
            agent_version: hb.agent_version.clone(),
            kernel: hb.kernel.clone(),
            health: label(health.status),
            issue: health.issue.clone(),
            health_since: health.since,
            last_seen: a.last_seen,
            events_total: hb.events_total,
            events_lost: hb.events_lost,
            cpu_percent: hb.cpu_percent,
            rss_bytes: hb.rss_bytes,
            attached_programs: hb.attached_programs.clone(),
        });
    }
    let mut by_cluster: BTreeMap<&str, Vec<&ResourceView>> = BTreeMap::new();
    for r in &resources {
        if let Some(c) = r.ecs_cluster_name.as_deref() {
            by_cluster.entry(c).or_default().push(r);
        }
    }
    let clusters = by_cluster
        .into_iter()
        .map(|(name, members)| {
            let healthy = members.iter().filter(|r| r.health == "HEALTHY").count();
            let total = members.len();
            let managed = !rules.excluded_clusters.iter().any(|c| c == name);
            // The cluster's issue: its unhealthy agents' most common one.
            let mut issues: BTreeMap<&str, usize> = BTreeMap::new();
            for r in members.iter().filter(|r| r.health != "HEALTHY") {
                *issues.entry(r.issue.as_deref().unwrap_or("Unknown")).or_default() += 1;
            }
            let issue = if !managed {
                Some(MONITORING_DISABLED.to_owned())
            } else {
                issues.into_iter().max_by_key(|(_, n)| *n).map(|(i, _)| i.to_owned())
            };
            ClusterView {
                name: name.to_owned(),
                healthy,
                total,
                coverage_percent: if total == 0 {
                    0.0
                } else {
                    (healthy as f64 * 1000.0 / total as f64).round() / 10.0
                },
                health: if healthy == total && managed { "HEALTHY" } else { "UNHEALTHY" },
                issue,
                managed,
            }
        })
        .collect();
    Report { resources, clusters }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saker_store::AgentRecord;

    fn beat(run: &str) -> Heartbeat {
        let t = Utc::now();
        Heartbeat {
            agent_id: "a1".into(),
            run_id: run.into(),
            hostname: "h".into(),
            agent_version: "0.1.0".into(),
            kernel: "6.18".into(),
            mode: "host".into(),
            ecs_cluster: None,
            ecs_task_arn: None,
            attached_programs: vec!["process_exec".into()],
            events_total: 10,
            events_lost: 0,
            cpu_percent: 1.0,
            rss_bytes: 30 << 20,
            started_at: t,
            sent_at: t,
            stopping: false,
        }
    }

    fn issue(prev: Option<&Heartbeat>, hb: &Heartbeat) -> Option<&'static str> {
        judge_heartbeat(prev, hb, &Rules::default()).1
    }

    #[test]
    fn each_issue_from_heartbeats() {
        let ok = beat("r1");
        assert_eq!(judge_heartbeat(None, &ok, &Rules::default()), (HealthStatus::Healthy, None));
        assert_eq!(issue(None, &Heartbeat { stopping: true, ..beat("r1") }), Some(EXITED));
        assert_eq!(issue(None, &Heartbeat { attached_programs: vec![], ..beat("r1") }), Some(KERNEL_NOT_SUPPORTED));
        let lost = Heartbeat { events_lost: 5, ..beat("r1") };
        assert_eq!(issue(Some(&ok), &lost), Some(EVENTS_DROPPED));
        assert_eq!(issue(Some(&lost), &lost), None, "no new loss since the last beat");
        assert_eq!(issue(Some(&beat("r0")), &lost), None, "counters of another run are not compared");
    }

    #[test]
    fn over_budget_only_when_sustained_and_only_for_the_agent_alone() {
        let hot = Heartbeat { cpu_percent: 55.0, ..beat("r1") };
        assert_eq!(issue(None, &hot), None, "a first beat carries start-up");
        assert_eq!(issue(Some(&beat("r1")), &hot), None, "one beat over is a spike");
        assert_eq!(issue(Some(&hot), &hot), Some(OVER_BUDGET));
        let fat = Heartbeat { rss_bytes: 200 << 20, ..beat("r1") };
        assert_eq!(issue(Some(&fat), &fat), Some(OVER_BUDGET));
        assert_eq!(issue(Some(&beat("r0")), &hot), None, "the previous run's beat does not count");
        let embedded = Heartbeat { mode: "embedded".into(), ..hot.clone() };
        assert_eq!(issue(Some(&embedded), &embedded), None, "saker up shares its process with the server");
    }

    #[test]
    fn silence_and_clusters() {
        let rules = Rules { excluded_clusters: vec!["dev".into()], ..Rules::default() };
        let now = Utc::now();
        let healthy = Health { status: HealthStatus::Healthy, issue: None, since: now };
        assert!(judge_silence(now - Duration::seconds(20), &healthy, now, &rules).is_none());
        let h = judge_silence(now - Duration::seconds(31), &healthy, now, &rules).unwrap();
        assert_eq!(h.issue.as_deref(), Some(NOT_REPORTING));
        let exited = Health { status: HealthStatus::Unhealthy, issue: Some(EXITED.into()), since: now };
        assert!(judge_silence(now - Duration::hours(1), &exited, now, &rules).is_none(), "exited says more");

        let agent = |id: &str, cluster: &str, health: &Health| AgentRecord {
            account_id: "111111111111".into(),
            agent_id: id.into(),
            heartbeat: Heartbeat { agent_id: id.into(), ecs_cluster: Some(cluster.into()), ..beat("r") },
            health: health.clone(),
            last_seen: now,
        };
        let sick = Health { status: HealthStatus::Unhealthy, issue: Some(EVENTS_DROPPED.into()), since: now };
        let agents = [agent("a", "prod", &healthy), agent("b", "prod", &sick), agent("c", "dev", &healthy)];
        let r = report(&agents, now, &rules);
        let prod = r.clusters.iter().find(|c| c.name == "prod").unwrap();
        assert_eq!((prod.healthy, prod.total, prod.coverage_percent, prod.health), (1, 2, 50.0, "UNHEALTHY"));
        assert_eq!(prod.issue.as_deref(), Some(EVENTS_DROPPED));
        let dev = r.clusters.iter().find(|c| c.name == "dev").unwrap();
        assert!(!dev.managed && dev.health == "UNHEALTHY");
        assert_eq!(dev.issue.as_deref(), Some(MONITORING_DISABLED));
    }
}
