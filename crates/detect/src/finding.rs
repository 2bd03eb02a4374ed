//! The finding: GuardDuty's finding JSON for Runtime Monitoring, plus what
//! Saker adds (full argv on the process and every ancestor, the triggering
//! event ids). docs/findings.md documents the shape; field names are public.
//!
//! Every string here may come from an attacker (paths, argv, domains):
//! consumers escape them; nothing here interprets them.

use crate::catalog::{FindingType, SeverityLabel};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const SCHEMA_VERSION: &str = "2.0";

/// One finding, as GuardDuty shapes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub schema_version: String,
    /// Stable for the aggregated activity: the same type, resource and key
    /// context give the same id on every agent restart.
    pub id: String,
    #[serde(rename = "type")]
    pub finding_type: FindingType,
    pub severity: f64,
    pub severity_label: SeverityLabel,
    pub title: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub resource: Resource,
    pub service: Service,
}

impl Finding {
    /// Context fields this finding carries that its type's catalog entry
    /// does not declare. Always empty for findings the detector made; tests
    /// check it so docs/findings.md and `saker findings types` stay true.
    pub fn undeclared_context_fields(&self) -> Vec<&str> {
        let declared = self.finding_type.info().context_fields;
        self.service.runtime_details.context.keys().map(String::as_str).filter(|k| !declared.contains(k)).collect()
    }
}

/// What the finding is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// `Instance`, `ECSCluster`, `EKSCluster` or `Container`.
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_details: Option<InstanceDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_cluster_details: Option<EcsClusterDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_details: Option<ContainerDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_details: Option<KubernetesDetails>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsClusterDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    pub task_details: TaskDetails,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    pub containers: Vec<ContainerDetails>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_runtime: Option<String>,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_prefix: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesDetails {
    pub kubernetes_workload_details: KubernetesWorkloadDetails,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesWorkloadDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub containers: Vec<ContainerDetails>,
}

/// How and when Saker saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub service_name: String,
    /// Always `RuntimeMonitoring`.
    pub feature_name: String,
    pub count: u64,
    pub event_first_seen: DateTime<Utc>,
    pub event_last_seen: DateTime<Utc>,
    pub archived: bool,
    pub resource_role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Value>,
    pub runtime_details: RuntimeDetails,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    pub additional_info: AdditionalInfo,
    /// Saker: the ids of the events behind this finding (the first and the
    /// most recent few).
    #[serde(default)]
    pub event_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDetails {
    pub process: RuntimeProcess,
    /// The type's context fields (`modifyingProcess`, `socketPath`, ...).
    pub context: Map<String, Value>,
}

/// GuardDuty's process details, plus argv (Saker).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeProcess {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable_sha256: Option<String>,
    pub namespace_pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwd: Option<String>,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    pub uuid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub user_id: u32,
    pub euid: u32,
    pub argv: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lineage: Vec<RuntimeProcess>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub threat_intelligence_details: Vec<ThreatIntelligenceDetail>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreatIntelligenceDetail {
    pub threat_list_name: String,
    pub threat_names: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalInfo {
    pub agent_details: AgentDetails,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentDetails {
    pub agent_version: String,
}
