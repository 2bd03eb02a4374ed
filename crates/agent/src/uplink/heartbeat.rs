//! What the agent tells the server about itself every few seconds: who it
//! is, what it watches, whether it keeps up (events, loss), what it costs
//! (CPU, memory), and — in its last heartbeat — that it is stopping.
//!
//! The JSON mirrors `saker_store::Heartbeat` field for field (camelCase):
//! the agent never depends on server-side crates, and the store reads this
//! JSON. Fields after `stopping` are Saker agent additions the store may
//! ignore.
//!
//! The ECS cluster comes from the agent's own task metadata in task-sidecar
//! mode, and on an ECS container instance (host mode) from the ECS container
//! agent's introspection API ([`EcsAgentProbe`]): coverage is judged per
//! cluster, and clusters can be excluded.

use crate::pipeline::PipelineCounters;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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
    /// Host mode: where the cluster comes from when `ecs_cluster` is unset.
    ecs_agent: Option<EcsAgentProbe>,
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
            ecs_agent: None,
        }
    }

    /// Host mode: take the ECS cluster from the ECS container agent's
    /// introspection API at `url`. The first question goes out now, in the
    /// background, so the first heartbeat usually has the answer.
    pub fn watch_ecs_agent(&mut self, url: &str) {
        let probe = EcsAgentProbe::new(url);
        probe.cluster();
        self.ecs_agent = Some(probe);
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
            ecs_cluster: self.ecs_cluster.clone().or_else(|| self.ecs_agent.as_ref().and_then(EcsAgentProbe::cluster)),
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
    crate::procfs::stat_cpu_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Resident memory of this process (`VmRSS`).
fn rss_bytes() -> Option<u64> {
    crate::procfs::status_kib(&std::fs::read_to_string("/proc/self/status").ok()?, "VmRSS:").map(|kib| kib * 1024)
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

/// Where the ECS container agent serves its introspection API on a
/// container instance.
pub const DEFAULT_ECS_AGENT_INTROSPECTION_URL: &str = "http://127.0.0.1:51678/v1/metadata";
/// The ECS agent answers from memory on loopback: anything slower is not it.
const ECS_AGENT_TIMEOUT: Duration = Duration::from_secs(1);
/// No ECS agent (most hosts): ask again this rarely, in case one starts.
const ECS_AGENT_RETRY: Duration = Duration::from_secs(5 * 60);
/// A known cluster changes only if the instance registers again (the ECS
/// agent restarted with another `ECS_CLUSTER`): rarely worth a question.
const ECS_AGENT_RECHECK: Duration = Duration::from_secs(60 * 60);
/// The documented answer is three short strings.
const ECS_AGENT_MAX_BODY: usize = 64 * 1024;

/// Why the ECS container agent gave no cluster.
#[derive(Debug, thiserror::Error)]
pub enum EcsAgentError {
    #[error("ECS container agent introspection: {0}")]
    Http(#[from] saker_workload::http::HttpError),
    #[error("ECS container agent introspection at {url}: not the documented JSON: {source}")]
    Json { url: String, source: serde_json::Error },
}

impl EcsAgentError {
    /// Nothing listens there: not an ECS container instance (or its agent is
    /// not running) — the normal case on most hosts, not worth a log line.
    pub fn is_absent(&self) -> bool {
        matches!(self, EcsAgentError::Http(saker_workload::http::HttpError::Connect { .. }))
    }
}

/// `GET /v1/metadata` of the ECS container agent's introspection API, as
/// documented: `{"Cluster": …, "ContainerInstanceArn": …, "Version": …}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IntrospectionMetadata {
    #[serde(default)]
    cluster: Option<String>,
}

/// Ask the ECS container agent at `url` which cluster this container
/// instance belongs to. `Ok(None)`: the agent answered but names no cluster
/// yet (it has not registered). Blocks up to `timeout` (twice: connecting,
/// then the exchange).
pub fn ecs_agent_cluster(url: &str, timeout: Duration) -> Result<Option<String>, EcsAgentError> {
    let body = saker_workload::http::request("GET", url, &[], timeout, ECS_AGENT_MAX_BODY)?;
    let m: IntrospectionMetadata =
        serde_json::from_slice(&body).map_err(|source| EcsAgentError::Json { url: url.to_owned(), source })?;
    Ok(m.cluster.as_deref().and_then(cluster_name))
}

/// The cluster's short name: the ECS agent may report the ARN it was
/// configured with (`arn:aws:ecs:<region>:<account>:cluster/<name>`), and
/// coverage and exclusions compare names.
fn cluster_name(value: &str) -> Option<String> {
    let name = value.trim().rsplit('/').next().unwrap_or_default();
    (!name.is_empty()).then(|| name.to_owned())
}

/// The ECS cluster of this container instance, asked of the ECS container
/// agent in the background — never on the heartbeat's path, which runs on
/// the uplink's event loop — and cached. No agent listening means "not an
/// ECS container instance", asked again every few minutes; a cluster once
/// known is kept through later failures (the ECS agent restarting).
pub struct EcsAgentProbe {
    url: Arc<str>,
    state: Arc<Mutex<ProbeState>>,
}

#[derive(Default)]
struct ProbeState {
    cluster: Option<String>,
    /// When to ask next; `None`: now.
    next: Option<Instant>,
    asking: bool,
}

impl EcsAgentProbe {
    pub fn new(url: &str) -> Self {
        EcsAgentProbe { url: url.into(), state: Arc::default() }
    }

    /// The cluster known so far; starts a question when one is due.
    pub fn cluster(&self) -> Option<String> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !st.asking && st.next.is_none_or(|t| Instant::now() >= t) {
            st.asking = true;
            let (url, state) = (self.url.clone(), self.state.clone());
            let spawned = std::thread::Builder::new().name("saker-ecs-agent".into()).spawn(move || {
                let answer = ecs_agent_cluster(&url, ECS_AGENT_TIMEOUT);
                let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
                st.asking = false;
                st.next = Some(
                    Instant::now()
                        + match answer {
                            Ok(Some(cluster)) => {
                                if st.cluster.as_ref() != Some(&cluster) {
                                    tracing::info!(%cluster, "ECS container instance: cluster from the ECS agent");
                                }
                                st.cluster = Some(cluster);
                                ECS_AGENT_RECHECK
                            }
                            Ok(None) => {
                                tracing::debug!(%url, "the ECS agent names no cluster yet");
                                ECS_AGENT_RETRY
                            }
                            Err(e) if e.is_absent() => {
                                tracing::debug!(error = %e, "no ECS container agent: not an ECS container instance");
                                ECS_AGENT_RETRY
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "cannot read the ECS cluster from the ECS agent");
                                ECS_AGENT_RETRY
                            }
                        },
                );
            });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start the ECS agent question");
                st.asking = false;
                st.next = Some(Instant::now() + ECS_AGENT_RETRY);
            }
        }
        st.cluster.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_proc_entries() {
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

    /// The documented answer of `GET /v1/metadata` on a container instance
    /// (docs.aws.amazon.com, "Amazon ECS container introspection").
    fn introspection_body(cluster: &str) -> String {
        format!(
            "{{\"Cluster\":\"{cluster}\",\"ContainerInstanceArn\":\"arn:aws:ecs:us-west-2:012345678910:\
             container-instance/default/1f73d099-b914-411c-a9ff-81633b7741dd\",\"Version\":\"Amazon ECS Agent - \
             v1.30.0 (02ff320c)\"}}"
        )
    }

    /// A loopback stand-in for the ECS agent (it only exists on ECS
    /// container instances), answering `/v1/metadata` with `body`.
    fn ecs_agent(body: String) -> saker_workload::ecs_metadata::fixture::Server {
        use saker_workload::ecs_metadata::fixture;
        fixture::Server::start(move |req| {
            if req.method == "GET" && req.path == "/v1/metadata" {
                fixture::response(200, "application/json", body.as_bytes())
            } else {
                fixture::response(404, "text/plain", b"404 page not found")
            }
        })
        .unwrap()
    }

    #[test]
    fn the_cluster_comes_from_the_ecs_agent_introspection_api() {
        let agent = ecs_agent(introspection_body("default"));
        let url = format!("{}/v1/metadata", agent.base_url());
        assert_eq!(ecs_agent_cluster(&url, Duration::from_secs(5)).unwrap().as_deref(), Some("default"));

        // A cluster configured by ARN is reported by its name.
        let by_arn = ecs_agent(introspection_body("arn:aws:ecs:us-west-2:012345678910:cluster/prod-east"));
        let url = format!("{}/v1/metadata", by_arn.base_url());
        assert_eq!(ecs_agent_cluster(&url, Duration::from_secs(5)).unwrap().as_deref(), Some("prod-east"));

        // Another path is not the introspection API.
        let e = ecs_agent_cluster(&format!("{}/v1/tasks", agent.base_url()), Duration::from_secs(5)).unwrap_err();
        assert!(!e.is_absent() && e.to_string().contains("404"), "{e}");
    }

    #[test]
    fn host_mode_heartbeats_carry_the_cluster_of_the_container_instance() {
        let agent = ecs_agent(introspection_body("default"));
        let dir = tempfile::tempdir().unwrap();
        let mut src = HeartbeatSource::new(Identity::load(dir.path()).unwrap(), "host", vec![], Arc::default());
        src.watch_ecs_agent(&format!("{}/v1/metadata", agent.base_url()));
        let deadline = Instant::now() + Duration::from_secs(20);
        let hb = loop {
            let hb = src.next(false, (true, None), (0, 0));
            if hb.ecs_cluster.is_some() || Instant::now() > deadline {
                break hb;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(hb.ecs_cluster.as_deref(), Some("default"), "the ECS agent answered within 20 s");
        assert_eq!(hb.ecs_task_arn, None, "a host agent belongs to no task");
        // Cached: later heartbeats do not ask again.
        let asked = agent.requests();
        for _ in 0..5 {
            assert_eq!(src.next(false, (true, None), (0, 0)).ecs_cluster.as_deref(), Some("default"));
        }
        assert_eq!(agent.requests(), asked);
        // The sidecar's own task metadata, when set, wins.
        src.ecs_cluster = Some("from-task-metadata".into());
        assert_eq!(src.next(false, (true, None), (0, 0)).ecs_cluster.as_deref(), Some("from-task-metadata"));
    }

    #[test]
    fn no_ecs_agent_is_quietly_no_cluster_and_asked_again_only_later() {
        // A port nobody listens on: connection refused.
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let url = format!("http://{addr}/v1/metadata");
        let e = ecs_agent_cluster(&url, Duration::from_secs(5)).unwrap_err();
        assert!(e.is_absent(), "refused means no ECS agent: {e}");

        let probe = EcsAgentProbe::new(&url);
        assert_eq!(probe.cluster(), None);
        let deadline = Instant::now() + Duration::from_secs(20);
        while probe.state.lock().unwrap().asking {
            assert!(Instant::now() < deadline, "the question never finished");
            std::thread::sleep(Duration::from_millis(10));
        }
        let st = probe.state.lock().unwrap();
        assert_eq!(st.cluster, None);
        let next = st.next.expect("a retry is scheduled");
        assert!(next > Instant::now() + ECS_AGENT_RETRY - Duration::from_secs(60), "asked again only minutes later");
        drop(st);
        assert_eq!(probe.cluster(), None);
        assert!(!probe.state.lock().unwrap().asking, "not asked again before the retry is due");

        // A heartbeat with no ECS agent simply has no cluster.
        let dir = tempfile::tempdir().unwrap();
        let mut src = HeartbeatSource::new(Identity::load(dir.path()).unwrap(), "host", vec![], Arc::default());
        src.watch_ecs_agent(&url);
        assert_eq!(src.next(false, (true, None), (0, 0)).ecs_cluster, None);
    }

    #[test]
    fn cluster_names() {
        assert_eq!(cluster_name("default").as_deref(), Some("default"));
        assert_eq!(cluster_name("arn:aws:ecs:eu-west-1:123456789012:cluster/prod").as_deref(), Some("prod"));
        assert_eq!(cluster_name(" "), None);
        assert_eq!(cluster_name("arn:aws:ecs:eu-west-1:123456789012:cluster/"), None);
    }
}
