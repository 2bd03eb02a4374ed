//! What the agent tells the server about itself every few seconds: who it
//! is, what it watches, whether it keeps up (events, loss), what it costs
//! (CPU, memory), and — in its last heartbeat — that it is stopping.
//!
//! The JSON mirrors `saker_store::Heartbeat` field for field (camelCase):
//! the agent never depends on server-side crates, and the store reads this
//! JSON. Fields after `stopping` are Saker agent additions the store may
//! ignore.

use crate::pipeline::PipelineCounters;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The heartbeat as sent (see the module doc).
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
    pub ecs_cluster: Option<String>,
    pub ecs_task_arn: Option<String>,
    pub attached_programs: Vec<String>,
    /// Events the pipeline processed since the agent started.
    pub events_total: u64,
    /// Events lost (kernel ring, user space) since the agent started.
    pub events_lost: u64,
    /// The agent process's CPU use since the previous heartbeat (100 = one core).
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub started_at: DateTime<Utc>,
    pub sent_at: DateTime<Utc>,
    /// The agent is exiting: this is its last heartbeat.
    pub stopping: bool,
    /// False while the server has turned monitoring off for this agent
    /// (its ECS cluster is excluded): findings are not reported then.
    pub monitoring_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring_reason: Option<String>,
    /// Records waiting in the spool, and the bytes they take.
    pub spool_pending: u64,
    pub spool_bytes: u64,
}

/// Who the agent is: fixed for the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Persisted in the data directory: the same across restarts.
    pub agent_id: String,
    /// New at every start.
    pub run_id: String,
    pub hostname: String,
    pub version: String,
    pub kernel: String,
}

impl Identity {
    /// Load (or create) the agent id in `data_dir` and describe this host.
    pub fn load(data_dir: &Path) -> Result<Identity, crate::AgentError> {
        Ok(Identity {
            agent_id: agent_id(data_dir)?,
            run_id: uuid::Uuid::new_v4().to_string(),
            hostname: saker_workload::host::read_hostname(Path::new("/proc")),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".into()),
        })
    }
}

/// The agent id in `<data_dir>/agent-id`, created on first use.
fn agent_id(data_dir: &Path) -> Result<String, crate::AgentError> {
    let path = data_dir.join("agent-id");
    let io = |what| {
        let path = path.clone();
        move |source| crate::AgentError::State { what, path, source }
    };
    if let Ok(s) = std::fs::read_to_string(&path)
        && let Ok(id) = uuid::Uuid::parse_str(s.trim())
    {
        return Ok(id.to_string());
    }
    std::fs::create_dir_all(data_dir).map_err(io("creating the agent data directory"))?;
    let id = uuid::Uuid::new_v4().to_string();
    let tmp = data_dir.join("agent-id.tmp");
    std::fs::write(&tmp, format!("{id}\n")).map_err(io("writing the agent id"))?;
    std::fs::rename(&tmp, &path).map_err(io("writing the agent id"))?;
    tracing::info!(agent_id = %id, path = %path.display(), "new agent id");
    Ok(id)
}

/// Builds heartbeats; keeps what CPU accounting needs between two.
pub struct HeartbeatSource {
    pub identity: Identity,
    pub mode: &'static str,
    pub ecs_cluster: Option<String>,
    pub ecs_task_arn: Option<String>,
    pub attached: Vec<String>,
    pub counters: Arc<PipelineCounters>,
    started_at: DateTime<Utc>,
    last_cpu: Option<(u64, Instant)>,
}

/// Linux reports process CPU times in USER_HZ, 100 on every architecture
/// Saker supports (it is part of the user ABI, unlike the kernel's HZ).
const USER_HZ: f64 = 100.0;

impl HeartbeatSource {
    pub fn new(identity: Identity, mode: &'static str, attached: Vec<String>, counters: Arc<PipelineCounters>) -> Self {
        HeartbeatSource {
            identity,
            mode,
            ecs_cluster: None,
            ecs_task_arn: None,
            attached,
            counters,
            started_at: Utc::now(),
            last_cpu: cpu_ticks().map(|t| (t, Instant::now())),
        }
    }

    /// The next heartbeat; `stopping` in the last one.
    pub fn next(&mut self, stopping: bool, monitoring: (bool, Option<String>), spool: (u64, u64)) -> Heartbeat {
        let cpu_percent = match (cpu_ticks(), self.last_cpu) {
            (Some(now), Some((before, at))) => {
                let secs = at.elapsed().as_secs_f64();
                self.last_cpu = Some((now, Instant::now()));
                if secs > 0.0 { (now.saturating_sub(before) as f64 / USER_HZ) / secs * 100.0 } else { 0.0 }
            }
            (now, _) => {
                self.last_cpu = now.map(|t| (t, Instant::now()));
                0.0
            }
        };
        let id = &self.identity;
        Heartbeat {
            agent_id: id.agent_id.clone(),
            run_id: id.run_id.clone(),
            hostname: id.hostname.clone(),
            agent_version: id.version.clone(),
            kernel: id.kernel.clone(),
            mode: self.mode.to_owned(),
            ecs_cluster: self.ecs_cluster.clone(),
            ecs_task_arn: self.ecs_task_arn.clone(),
            attached_programs: self.attached.clone(),
            events_total: self.counters.events.load(Ordering::Relaxed),
            events_lost: self.counters.lost.load(Ordering::Relaxed),
            cpu_percent: (cpu_percent * 100.0).round() / 100.0,
            rss_bytes: rss_bytes().unwrap_or(0),
            started_at: self.started_at,
            sent_at: Utc::now(),
            stopping,
            monitoring_enabled: monitoring.0,
            monitoring_reason: monitoring.1,
            spool_pending: spool.0,
            spool_bytes: spool.1,
        }
    }
}

/// User + system CPU time of this process, in USER_HZ ticks.
fn cpu_ticks() -> Option<u64> {
    parse_stat_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// utime + stime from a `/proc/<pid>/stat` line. The command name (field
/// 2) may contain spaces and parentheses: fields are counted after the last `)`.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first after ')'
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory of this process (`VmRSS`).
fn rss_bytes() -> Option<u64> {
    parse_vm_rss(&std::fs::read_to_string("/proc/self/status").ok()?)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// The ECS cluster and task of the agent's own task, from its metadata
/// endpoint (task-sidecar mode on ECS). Blocks up to a couple of seconds.
pub fn own_ecs_identity(metadata_uri: &str) -> Option<(Option<String>, Option<String>)> {
    match saker_workload::ecs_metadata::fetch_task(metadata_uri) {
        Ok(task) => {
            let ecs = task.ecs_for(None);
            Some((ecs.cluster, ecs.task_arn))
        }
        Err(e) => {
            tracing::debug!(error = %e, "own ECS task metadata");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_parsing() {
        let stat = "1234 (we (ird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 5 1000 200";
        assert_eq!(parse_stat_ticks(stat), Some(325));
        assert_eq!(parse_vm_rss("Name:\tsaker\nVmRSS:\t   2048 kB\nThreads: 3\n"), Some(2 << 20));
        assert!(cpu_ticks().is_some() && rss_bytes().is_some_and(|r| r > 0));
    }

    #[test]
    fn agent_id_persists_and_heartbeat_is_camel_case() {
        let dir = tempfile::tempdir().unwrap();
        let a = Identity::load(dir.path()).unwrap();
        let b = Identity::load(dir.path()).unwrap();
        assert_eq!(a.agent_id, b.agent_id, "the agent id survives a restart");
        assert_ne!(a.run_id, b.run_id, "each start is a new run");
        let mut src = HeartbeatSource::new(a, "host", vec!["p1".into()], Arc::default());
        src.counters.events.store(5, Ordering::Relaxed);
        let hb = src.next(true, (false, Some("excluded".into())), (3, 4096));
        let v = serde_json::to_value(&hb).unwrap();
        for key in [
            "agentId",
            "runId",
            "hostname",
            "agentVersion",
            "kernel",
            "mode",
            "ecsCluster",
            "ecsTaskArn",
            "attachedPrograms",
            "eventsTotal",
            "eventsLost",
            "cpuPercent",
            "rssBytes",
            "startedAt",
            "sentAt",
            "stopping",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
        assert_eq!(v["eventsTotal"], 5);
        assert_eq!(v["stopping"], true);
        assert_eq!(v["monitoringEnabled"], false);
    }
}
