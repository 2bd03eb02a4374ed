//! The detector: runs the rules on each event, turns hits into findings, and
//! hands new findings and due updates to the caller.

use crate::aggregate::Aggregator;
use crate::catalog::FindingType;
use crate::finding::{
    AdditionalInfo, AgentDetails, ContainerDetails, EcsClusterDetails, Finding, InstanceDetails, KubernetesDetails,
    KubernetesWorkloadDetails, Resource, RuntimeDetails, RuntimeProcess, SCHEMA_VERSION, Service, TaskDetails,
};
use crate::intel::{IntelHandle, ThreatCategory};
use crate::rules::{self, Hit, RuleCtx};
use crate::state::{State, StateLimits};
use chrono::{DateTime, Utc};
use saker_model::{Event, Kind, Process};
use std::collections::HashSet;
use std::time::Duration;

/// How the detector runs.
#[derive(Debug, Clone)]
pub struct DetectConfig {
    /// Written into every finding (`accountId`, `region`) when known.
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub agent_version: String,
    /// An updated finding (a repeat: count, last seen) goes out at most this
    /// often; new findings go out at once.
    pub update_interval: Duration,
    pub limits: StateLimits,
    /// Findings kept for aggregation (least recently updated evicted).
    pub max_findings: usize,
    /// Types not to report.
    pub disabled: HashSet<FindingType>,
    /// Ask for a malware scan (YARA) of executables that are new: written in
    /// a container after it started, or run from a world-writable directory.
    pub scan_new_executables: bool,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            account_id: None,
            region: None,
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            update_interval: Duration::from_secs(10),
            limits: StateLimits::default(),
            max_findings: 8_192,
            disabled: HashSet::new(),
            scan_new_executables: false,
        }
    }
}

pub struct Detector {
    cfg: DetectConfig,
    intel: IntelHandle,
    state: State,
    agg: Aggregator,
    hits: Vec<Hit>,
    scans: Vec<ScanRequest>,
}

/// An executable worth a malware scan, with the exec event a match will be
/// reported against. The scan itself (file I/O) happens outside detection.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub pid: u32,
    /// The executable's path as the process saw it (container-relative in a
    /// container: read it through `/proc/<pid>/root` or `/proc/<pid>/exe`).
    pub path: String,
    pub event: Event,
}

/// Directories anyone can write: an executable run from one is new by nature.
const WORLD_WRITABLE: &[&str] = &["/tmp/", "/var/tmp/", "/dev/shm/"];

impl Detector {
    pub fn new(cfg: DetectConfig, intel: IntelHandle) -> Self {
        let agg = Aggregator::new(cfg.max_findings, cfg.update_interval);
        Detector { state: State::new(cfg.limits), agg, cfg, intel, hits: Vec::new(), scans: Vec::new() }
    }

    /// The intel handle: swap a new snapshot in at any time.
    pub fn intel(&self) -> &IntelHandle {
        &self.intel
    }

    /// Run every rule on `ev`; new findings (and updates now due) are pushed
    /// to `out`.
    pub fn process(&mut self, ev: &Event, out: &mut Vec<Finding>) {
        if let Some(c) = &ev.container {
            self.state.container_seen(&c.id, ev.time);
        }
        let intel = self.intel.load();
        let hash_lists = ev.kind == Kind::ProcessExec
            && intel
                .lists()
                .any(|(_, c)| matches!(c, ThreatCategory::MaliciousFile | ThreatCategory::CustomMaliciousFile));
        let mut cx = RuleCtx { intel: &intel, hash_lists, state: &mut self.state };
        self.hits.clear();
        rules::evaluate(ev, &mut cx, &mut self.hits);
        if self.cfg.scan_new_executables && ev.kind == Kind::ProcessExec {
            self.request_scan(ev);
        }
        self.record(ev, out);
    }

    fn request_scan(&mut self, ev: &Event) {
        let (Some(x), Some(p)) = (ev.exec(), &ev.process) else { return };
        let Some(path) = x.executable.as_deref() else { return };
        let new_in_container = self.hits.iter().any(|h| h.finding_type == FindingType::NewBinaryExecuted);
        let writable_dir = WORLD_WRITABLE.iter().any(|d| path.starts_with(d));
        if (new_in_container || writable_dir || x.memfd || x.deleted) && self.scans.len() < 1024 {
            self.scans.push(ScanRequest { pid: p.pid, path: path.to_owned(), event: ev.clone() });
        }
    }

    /// Executables to scan, asked for since the last call.
    pub fn take_scan_requests(&mut self) -> Vec<ScanRequest> {
        std::mem::take(&mut self.scans)
    }

    /// A malware scan of `req` matched `rules` from the rule set `source`:
    /// `Execution:Runtime/MaliciousFileExecuted.Custom` (the rules are the
    /// user's own).
    pub fn on_scan_match(&mut self, req: &ScanRequest, source: &str, rules: &[String], out: &mut Vec<Finding>) {
        if rules.is_empty() {
            return;
        }
        let mut hit = Hit::new(FindingType::MaliciousFileExecutedCustom, format!("yara:{}", req.path))
            .ctx("threatFilePath", req.path.clone())
            .ctx("yaraRules", rules.to_vec());
        hit.evidence = Some(crate::finding::Evidence {
            threat_intelligence_details: vec![crate::finding::ThreatIntelligenceDetail {
                threat_list_name: source.to_owned(),
                threat_names: rules.to_vec(),
            }],
        });
        self.hits.clear();
        self.hits.push(hit);
        self.record(&req.event, out);
    }

    /// An executable's hash became known after its exec event went out.
    pub fn on_hash(&mut self, pid: u32, sha256: &str, out: &mut Vec<Finding>) {
        let Some(mut ev) = self.state.take_awaiting(pid) else { return };
        // The finding's process carries the hash it was found by.
        if let Some(p) = ev.process_mut() {
            p.executable_sha256.get_or_insert_with(|| sha256.to_ascii_lowercase().into());
        }
        let intel = self.intel.load();
        let mut cx = RuleCtx { intel: &intel, hash_lists: true, state: &mut self.state };
        self.hits.clear();
        rules::on_hash(&ev, sha256, &mut cx, &mut self.hits);
        self.record(&ev, out);
    }

    /// Updates whose interval has passed.
    pub fn tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        self.agg.due(now, out);
    }

    /// Every pending update (at shutdown).
    pub fn flush(&mut self, out: &mut Vec<Finding>) {
        self.agg.flush(out);
    }

    fn record(&mut self, ev: &Event, out: &mut Vec<Finding>) {
        for hit in self.hits.drain(..) {
            if self.cfg.disabled.contains(&hit.finding_type) {
                continue;
            }
            let id = finding_id(hit.finding_type, &resource_key(ev), &hit.key);
            let event_id = event_id(ev);
            let now = Utc::now();
            if let Some(f) = self.agg.repeat(&id, ev.time, now, &event_id) {
                out.extend(f);
                continue;
            }
            let f = build(&self.cfg, id, hit, ev, event_id, now);
            self.agg.insert(f.clone(), now);
            out.push(f);
        }
    }

    /// Sizes of the state tables and the finding count, for metrics.
    pub fn sizes(&self) -> ([usize; 4], usize) {
        (self.state.sizes(), self.agg.len())
    }
}

/// Stable id of an aggregated activity: 32 hex digits like GuardDuty's.
pub fn finding_id(t: FindingType, resource: &str, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [t.name(), resource, key] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

/// A reproducible id for an event: uuid v5 of its process, kind, thread and
/// time (events carry no id of their own).
pub fn event_id(ev: &Event) -> String {
    let process = ev.process.as_ref().map(|p| p.uuid).unwrap_or_default();
    let tid = ev.task.as_ref().map_or(0, |t| t.tid);
    let name = format!("{}/{}/{}", ev.kind.as_str(), tid, ev.time.timestamp_nanos_opt().unwrap_or(0));
    uuid::Uuid::new_v5(&process, name.as_bytes()).to_string()
}

/// What a finding is about, for aggregation: the container, else the host.
fn resource_key(ev: &Event) -> String {
    match (&ev.container, &ev.host) {
        (Some(c), _) => format!("container:{}", c.id),
        (None, Some(h)) => format!("host:{}", h.machine_id.as_deref().unwrap_or(&h.hostname)),
        (None, None) => "host".to_owned(),
    }
}

fn build(cfg: &DetectConfig, id: String, hit: Hit, ev: &Event, event_id: String, now: DateTime<Utc>) -> Finding {
    let info = hit.finding_type.info();
    let severity = hit.severity.unwrap_or(info.severity);
    let process = match &ev.process {
        Some(p) => {
            let mut rp = runtime_process(p);
            rp.lineage = ev.lineage.iter().map(|p| runtime_process(p)).collect();
            rp
        }
        None => RuntimeProcess::default(),
    };
    Finding {
        schema_version: SCHEMA_VERSION.to_owned(),
        id,
        finding_type: hit.finding_type,
        severity,
        severity_label: crate::SeverityLabel::of(severity),
        title: info.title.to_owned(),
        description: info.description.to_owned(),
        created_at: now,
        updated_at: now,
        account_id: cfg.account_id.clone().or_else(|| arn_part(ev, 4)),
        region: cfg.region.clone().or_else(|| arn_part(ev, 3)),
        resource: resource(ev),
        service: Service {
            service_name: "saker".to_owned(),
            feature_name: "RuntimeMonitoring".to_owned(),
            count: 1,
            event_first_seen: ev.time,
            event_last_seen: ev.time,
            archived: false,
            resource_role: "TARGET".to_owned(),
            action: hit.action,
            runtime_details: RuntimeDetails { process, context: hit.context },
            evidence: hit.evidence,
            additional_info: AdditionalInfo {
                agent_details: AgentDetails { agent_version: cfg.agent_version.clone() },
            },
            event_ids: vec![event_id],
        },
    }
}

/// A field of the ECS task's (or cluster's) ARN, `arn:aws:ecs:REGION:ACCOUNT:...`:
/// where the finding's account and region come from when not configured.
fn arn_part(ev: &Event, index: usize) -> Option<String> {
    let ecs = ev.ecs.as_ref()?;
    let arn = ecs.task_arn.as_deref().or(ecs.cluster_arn.as_deref())?;
    let part = arn.split(':').nth(index)?;
    (!part.is_empty()).then(|| part.to_owned())
}

/// GuardDuty's process details from Saker's process.
pub fn runtime_process(p: &Process) -> RuntimeProcess {
    RuntimeProcess {
        name: p.name.to_string(),
        executable_path: p.executable.as_deref().map(str::to_owned),
        executable_sha256: p.executable_sha256.as_deref().map(str::to_owned),
        namespace_pid: p.ns_pid,
        pwd: p.cwd.as_deref().map(str::to_owned),
        pid: p.pid,
        start_time: p.start_time,
        uuid: p.uuid.to_string(),
        parent_uuid: p.parent_uuid.map(|u| u.to_string()),
        user: p.user.as_deref().map(str::to_owned),
        user_id: p.uid,
        euid: p.euid,
        argv: p.argv.to_vec(),
        lineage: Default::default(),
    }
}

/// A process as a context value (`modifyingProcess`, ...).
pub fn runtime_process_json(p: &Process) -> serde_json::Value {
    serde_json::to_value(runtime_process(p)).unwrap_or(serde_json::Value::Null)
}

fn container_details(ev: &Event) -> Option<ContainerDetails> {
    let c = ev.container.as_ref()?;
    let name = ev
        .ecs
        .as_ref()
        .and_then(|e| e.container_name.clone())
        .or_else(|| ev.kubernetes.as_ref().and_then(|k| k.container.clone()))
        .or_else(|| c.name.clone());
    Some(ContainerDetails {
        container_runtime: c.runtime.clone(),
        id: c.id.clone(),
        name,
        image: c.image.clone(),
        image_prefix: c.image.as_deref().and_then(|i| i.split_once('/')).map(|(prefix, _)| prefix.to_owned()),
    })
}

fn resource(ev: &Event) -> Resource {
    let container = container_details(ev);
    let instance_details = ev.host.as_ref().map(|h| InstanceDetails {
        instance_id: h.ec2_instance_id.clone(),
        hostname: Some(h.hostname.clone()),
        machine_id: h.machine_id.clone(),
    });
    let mut r = Resource { instance_details, ..Resource::default() };
    if let Some(e) = &ev.ecs {
        r.resource_type = "ECSCluster".to_owned();
        r.ecs_cluster_details = Some(EcsClusterDetails {
            name: e.cluster.clone(),
            arn: e.cluster_arn.clone(),
            task_details: TaskDetails {
                arn: e.task_arn.clone(),
                definition_arn: e.task_family.as_ref().map(|f| match &e.task_revision {
                    Some(rev) => format!("{f}:{rev}"),
                    None => f.clone(),
                }),
                version: e.task_revision.clone(),
                launch_type: e.launch_type.clone(),
                containers: container.iter().cloned().collect(),
            },
        });
    } else if let Some(k) = &ev.kubernetes {
        r.resource_type = "EKSCluster".to_owned();
        r.kubernetes_details = Some(KubernetesDetails {
            kubernetes_workload_details: KubernetesWorkloadDetails {
                name: k.pod.clone(),
                namespace: k.namespace.clone(),
                uid: k.pod_uid.clone(),
                containers: container.iter().cloned().collect(),
            },
        });
    } else if container.is_some() {
        r.resource_type = "Container".to_owned();
    } else {
        r.resource_type = "Instance".to_owned();
    }
    r.container_details = container;
    r
}
