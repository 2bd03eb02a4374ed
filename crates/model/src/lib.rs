//! The enriched event: what every layer above the sensor speaks.
//!
//! One [`Event`] is one line of `saker agent --events-out` NDJSON. The JSON
//! field names (camelCase) are a public format documented in docs/events.md;
//! change them only together with that document.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

mod kind;
mod payload;

pub use kind::Kind;
pub use payload::*;

/// One observed action of one process, with its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub kind: Kind,
    /// When the kernel saw it (RFC 3339, UTC).
    pub time: DateTime<Utc>,
    /// The syscall's return value where there is one: failures are reported too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<i64>,
    /// The acting process. For `agent.loss` this is the agent itself.
    /// Shared (`Arc`) with the process table's snapshot: an event costs a
    /// reference count, not a copy of argv and paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Arc<Process>>,
    /// Ancestors of `process`, parent first, up to init. Shared like
    /// `process`: every event of a process carries the same lineage.
    #[serde(default, skip_serializing_if = "lineage_is_empty")]
    pub lineage: Lineage,
    /// The container the process runs in; null for host processes. Shared
    /// (`Arc`) by every event of the container: no per-event copy.
    pub container: Option<Arc<Container>>,
    /// The ECS task of the container, when it belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs: Option<Arc<Ecs>>,
    /// The Kubernetes pod of the container, when it belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<Arc<Kubernetes>>,
    /// The machine the agent runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Arc<Host>>,
    /// Kernel identity of the acting task's context (for DNS: of the
    /// socket's creator, with the packet's cgroup id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskContext>,
    /// The kind-specific part, one key named after the payload (`exec`, `file`, ...).
    #[serde(flatten)]
    pub payload: Payload,
}

impl Event {
    /// The exec payload, for `process.exec` events.
    pub fn exec(&self) -> Option<&ExecInfo> {
        match &self.payload {
            Payload::Exec(x) => Some(x),
            _ => None,
        }
    }

    /// The file payload, for `file.*` events.
    pub fn file(&self) -> Option<&FileInfo> {
        match &self.payload {
            Payload::File(f) => Some(f),
            _ => None,
        }
    }

    /// The network payload, for `net.*` events.
    pub fn net(&self) -> Option<&NetInfo> {
        match &self.payload {
            Payload::Net(n) => Some(n),
            _ => None,
        }
    }

    /// The acting process, to change: copied first if another event shares
    /// it (copy-on-write).
    pub fn process_mut(&mut self) -> Option<&mut Process> {
        self.process.as_mut().map(Arc::make_mut)
    }

    /// The pid of the acting process, when known.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }
}

/// A process's ancestors, parent first: shared by every event of the process
/// until one of them changes.
pub type Lineage = Arc<[Arc<Process>]>;

/// A lineage built from owned processes (tests, decoders of stored events).
pub fn lineage_of(processes: impl IntoIterator<Item = Process>) -> Lineage {
    processes.into_iter().map(Arc::new).collect()
}

fn lineage_is_empty(l: &Lineage) -> bool {
    l.is_empty()
}

/// Immutable shared text: a process's strings are made once (at exec) and
/// then shared by the process table, every event and every finding of the
/// process. Serializes as a plain string.
pub type Text = Arc<str>;

/// Immutable shared argument vector (see [`Text`]). Serializes as a list.
pub type Argv = Arc<[String]>;

/// A process as Saker knows it: one entry of the process table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    /// Stable for the life of the process: derived from boot id, pid and start time.
    pub uuid: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_uuid: Option<Uuid>,
    pub pid: u32,
    /// The pid as seen inside the process's own pid namespace.
    pub ns_pid: u32,
    /// The kernel's `comm` (at most 15 bytes).
    pub name: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable_sha256: Option<Text>,
    #[serde(default)]
    pub argv: Argv,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<Text>,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
}

/// Kernel context of the task that acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TaskContext {
    pub tid: u32,
    pub ppid: u32,
    /// cgroup v2 id (the inode number of the cgroup2 directory).
    pub cgroup_id: u64,
    /// Mount namespace inode number.
    pub mnt_ns: u32,
    /// Pid namespace inode number.
    pub pid_ns: u32,
    /// The kernel's comm of the acting thread.
    pub comm: String,
}

/// The container a process runs in, as its runtime describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// The runtime's container id (64 hex digits for Docker/containerd/CRI-O).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `docker`, `containerd`, `cri-o`, `podman`, `runc`, `ecs`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Image id or digest (`sha256:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// Labels and OCI annotations.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// ECS task identity of a container (GuardDuty's `ecsClusterDetails` /
/// `taskDetails`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Ecs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_revision: Option<String>,
    /// `EC2`, `FARGATE`, `EXTERNAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

/// Kubernetes identity of a container, from the CRI labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Kubernetes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// The machine the agent runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// When the EC2 instance identity document is reachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec2_instance_id: Option<String>,
}
