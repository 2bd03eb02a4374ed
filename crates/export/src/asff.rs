//! AWS Security Finding Format (ASFF), schema version 2018-10-08: what
//! Security Hub's `BatchImportFindings` takes, shaped as GuardDuty's own
//! findings arrive there.
//!
//! Length limits are the API reference's (`AwsSecurityFinding`,
//! `ProcessDetails`, `Network`, `Resource`, `ThreatIntelIndicator`): longer
//! text is cut, never rejected. tests/schemas/asff-2018-10-08.json checks
//! every constraint this module relies on.

use crate::asff_types::asff_types;
use crate::context::{ExportContext, ExportItem};
use crate::facts::{self, Band, band, normalized, rfc3339_ms, truncate};
use saker_detect::{Finding, FindingType};
use serde_json::{Map, Value, json};

pub const SCHEMA_VERSION: &str = "2018-10-08";
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 1024;
const ID_MAX: usize = 512;
const PRODUCT_FIELDS_MAX: usize = 50;
const PRODUCT_FIELD_KEY_MAX: usize = 128;
const PRODUCT_FIELD_VALUE_MAX: usize = 2048;
const OTHER_VALUE_MAX: usize = 1024;

/// One finding in ASFF.
pub fn finding(item: &ExportItem, ctx: &ExportContext) -> Value {
    let f = &item.finding;
    let account = ctx.account_of(f);
    let region = ctx.region_of(f);
    let partition = ctx.partition_of(f);
    let mut out = json!({
        "SchemaVersion": SCHEMA_VERSION,
        "Id": truncate(&format!("saker:{account}:{region}:finding/{}", f.id), ID_MAX),
        "ProductArn": ctx.product_arn(account, region),
        "ProductName": "Saker",
        "CompanyName": "Saker",
        "Region": region,
        "GeneratorId": truncate(&format!("saker/{}", f.finding_type), ID_MAX),
        "AwsAccountId": account,
        "Types": asff_types(f.finding_type),
        "FirstObservedAt": rfc3339_ms(f.service.event_first_seen),
        "LastObservedAt": rfc3339_ms(f.service.event_last_seen),
        "CreatedAt": rfc3339_ms(f.created_at),
        "UpdatedAt": rfc3339_ms(f.updated_at),
        "Severity": severity(f.severity),
        "Title": truncate(non_empty(&f.title, f.finding_type.info().title), TITLE_MAX),
        "Description": truncate(non_empty(&f.description, f.finding_type.info().description), DESCRIPTION_MAX),
        "ProductFields": product_fields(f),
        "Resources": resources(f, account, region, partition),
        "RecordState": if item.archived() { "ARCHIVED" } else { "ACTIVE" },
        "Workflow": { "Status": "NEW" },
    });
    let Some(obj) = out.as_object_mut() else { return out };
    obj.insert("Process".into(), process(f));
    if let Some(n) = network(f) {
        obj.insert("Network".into(), n);
    }
    let indicators = threat_intel_indicators(f);
    if !indicators.is_empty() {
        obj.insert("ThreatIntelIndicators".into(), Value::Array(indicators));
    }
    out
}

fn non_empty<'a>(s: &'a str, fallback: &'a str) -> &'a str {
    if s.trim().is_empty() { fallback } else { s }
}

/// `Label` from the normalized score; `Original` is GuardDuty's number as
/// text, `Product` the number itself (what GuardDuty sends).
fn severity(sev: f64) -> Value {
    let label = match band(sev) {
        Band::Informational => "INFORMATIONAL",
        Band::Low => "LOW",
        Band::Medium => "MEDIUM",
        Band::High => "HIGH",
        Band::Critical => "CRITICAL",
    };
    let product = if sev.is_finite() { sev.clamp(0.0, 10.0) } else { 0.0 };
    json!({ "Label": label, "Normalized": normalized(sev), "Original": format!("{product:.1}"), "Product": product })
}

/// Saker's own facts, as `saker/<name>` strings (ASFF: at most 50 pairs,
/// keys up to 128 and values up to 2048 characters).
fn product_fields(f: &Finding) -> Value {
    let s = &f.service;
    let mut fields = Map::new();
    let mut put = |k: String, v: String| {
        if fields.len() < PRODUCT_FIELDS_MAX && !v.trim().is_empty() {
            fields.insert(truncate(&k, PRODUCT_FIELD_KEY_MAX), Value::String(truncate(&v, PRODUCT_FIELD_VALUE_MAX)));
        }
    };
    put("saker/type".into(), f.finding_type.name().into());
    put("saker/count".into(), s.count.to_string());
    put("saker/archived".into(), s.archived.to_string());
    put("saker/resourceType".into(), f.resource.resource_type.clone());
    put("saker/featureName".into(), s.feature_name.clone());
    put("saker/agentVersion".into(), s.additional_info.agent_details.agent_version.clone());
    if let Some(sha) = &s.runtime_details.process.executable_sha256 {
        put("saker/process/executableSha256".into(), sha.clone());
    }
    put("saker/process/commandLine".into(), facts::command_line(&s.runtime_details.process));
    for (k, v) in &s.runtime_details.context {
        // Keys come from the catalog, but the finding crossed the wire: keep
        // them to a safe alphabet.
        let key: String = k.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        put(format!("saker/context/{key}"), text);
    }
    Value::Object(fields)
}

fn process(f: &Finding) -> Value {
    let p = &f.service.runtime_details.process;
    let mut out = Map::new();
    if !p.name.trim().is_empty() {
        out.insert("Name".into(), truncate(&p.name, 64).into()); // ProcessDetails.Name: 1..64
    }
    if let Some(path) = p.executable_path.as_deref().filter(|s| !s.trim().is_empty()) {
        out.insert("Path".into(), truncate(path, 512).into()); // ProcessDetails.Path: 1..512
    }
    out.insert("Pid".into(), pid(p.pid));
    if let Some(parent) = p.lineage.first() {
        out.insert("ParentPid".into(), pid(parent.pid));
    }
    if let Some(t) = p.start_time {
        out.insert("LaunchedAt".into(), rfc3339_ms(t).into());
    }
    Value::Object(out)
}

/// ProcessDetails pids: 0 to 2147483647.
fn pid(p: u32) -> Value {
    Value::from(p.min(i32::MAX as u32))
}

fn network(f: &Finding) -> Option<Value> {
    let mut out = Map::new();
    if let Some(c) = facts::connection(f) {
        let (src_ip, src_port, dst_ip, dst_port) = if c.inbound {
            (c.remote_ip, c.remote_port, c.local_ip, c.local_port)
        } else {
            (c.local_ip, c.local_port, c.remote_ip, c.remote_port)
        };
        out.insert("Direction".into(), if c.inbound { "IN" } else { "OUT" }.into());
        if let Some(p) = c.protocol.filter(|p| !p.is_empty()) {
            out.insert("Protocol".into(), truncate(p, 16).into()); // Network.Protocol: 1..16
        }
        if let Some(ip) = src_ip {
            out.insert(if facts::is_ipv6(ip) { "SourceIpV6" } else { "SourceIpV4" }.into(), ip.into());
        }
        if let Some(p) = src_port {
            out.insert("SourcePort".into(), p.into());
        }
        if let Some(ip) = dst_ip {
            out.insert(if facts::is_ipv6(ip) { "DestinationIpV6" } else { "DestinationIpV4" }.into(), ip.into());
        }
        if let Some(p) = dst_port {
            out.insert("DestinationPort".into(), p.into());
        }
    } else if let Some(d) = facts::dns_request(f) {
        out.insert("Direction".into(), "OUT".into());
        if let Some(p) = d.protocol.filter(|p| !p.is_empty()) {
            out.insert("Protocol".into(), truncate(p, 16).into());
        }
        // Network.DestinationDomain: 1..128; a cut domain would name another
        // host, so a longer one is only in ThreatIntelIndicators.
        if d.domain.chars().count() <= 128 {
            out.insert("DestinationDomain".into(), d.domain.into());
        }
        out.insert("DestinationPort".into(), 53.into());
    } else {
        return None;
    }
    Some(Value::Object(out))
}

/// The matched indicator of threat-list findings: the remote address, the
/// domain, or the file hash, with the list that named it.
fn threat_intel_indicators(f: &Finding) -> Vec<Value> {
    let Some(evidence) = &f.service.evidence else { return Vec::new() };
    let (kind, value) = if let Some(ip) = facts::connection(f).and_then(|c| c.remote_ip) {
        (if facts::is_ipv6(ip) { "IPV6_ADDRESS" } else { "IPV4_ADDRESS" }, ip.to_owned())
    } else if let Some(d) = facts::dns_request(f) {
        ("DOMAIN", d.domain.to_owned())
    } else if let Some(h) =
        facts::context_str(f, "threatFileSha256").or(f.service.runtime_details.process.executable_sha256.as_deref())
    {
        ("HASH_SHA256", h.to_owned())
    } else {
        return Vec::new();
    };
    evidence
        .threat_intelligence_details
        .iter()
        .take(5)
        .map(|d| {
            let mut i = json!({
                "Type": kind,
                "Value": truncate(&value, 512),
                "LastObservedAt": rfc3339_ms(f.service.event_last_seen),
            });
            if let Some(o) = i.as_object_mut() {
                if !d.threat_list_name.trim().is_empty() {
                    o.insert("Source".into(), truncate(&d.threat_list_name, 64).into());
                }
                if let Some(c) = indicator_category(f.finding_type) {
                    o.insert("Category".into(), c.into());
                }
            }
            i
        })
        .collect()
}

/// ThreatIntelIndicator.Category, where one of ASFF's six fits the type.
fn indicator_category(t: FindingType) -> Option<&'static str> {
    use FindingType::*;
    match t {
        CommandAndControl | CommandAndControlDns => Some("COMMAND_AND_CONTROL"),
        DropPoint | DropPointDns => Some("DROP_SITE"),
        DriveBySourceTraffic => Some("EXPLOIT_SITE"),
        _ => None,
    }
}

/// The affected resources, most specific first: the ECS task (and its
/// cluster), the container, a Kubernetes pod, then the host.
fn resources(f: &Finding, account: &str, region: &str, partition: &str) -> Vec<Value> {
    let r = &f.resource;
    let base = |ty: &str, id: &str, details: Value| json!({ "Type": ty, "Id": id, "Partition": partition, "Region": region, "Details": details });
    let mut out = Vec::new();
    if let Some(ecs) = &r.ecs_cluster_details {
        let task = &ecs.task_details;
        if let Some(task_arn) = task.arn.as_deref().filter(|a| !a.is_empty()) {
            let mut d = Map::new();
            if let Some(c) = &ecs.arn {
                d.insert("ClusterArn".into(), c.as_str().into());
            }
            if let Some(def) = &task.definition_arn {
                d.insert("TaskDefinitionArn".into(), task_definition_arn(def, partition, region, account).into());
            }
            let containers: Vec<Value> = task
                .containers
                .iter()
                .map(|c| json!({ "Name": c.name.as_deref().unwrap_or(&c.id), "Image": c.image.as_deref().unwrap_or("") }))
                .collect();
            d.insert("Containers".into(), containers.into());
            out.push(base("AwsEcsTask", task_arn, json!({ "AwsEcsTask": d })));
        }
        if let Some(id) = ecs.arn.as_deref().or(ecs.name.as_deref()).filter(|s| !s.is_empty()) {
            let mut d = Map::new();
            if let Some(a) = &ecs.arn {
                d.insert("ClusterArn".into(), a.as_str().into());
            }
            if let Some(n) = &ecs.name {
                d.insert("ClusterName".into(), n.as_str().into());
            }
            out.push(base("AwsEcsCluster", id, json!({ "AwsEcsCluster": d })));
        }
    }
    if let Some(c) = facts::container(f).filter(|c| !c.id.is_empty()) {
        let mut d = Map::new();
        if let Some(rt) = &c.container_runtime {
            d.insert("ContainerRuntime".into(), rt.as_str().into());
        }
        if let Some(n) = &c.name {
            d.insert("Name".into(), n.as_str().into());
        }
        if let Some(i) = &c.image {
            d.insert("ImageName".into(), i.as_str().into());
        }
        out.push(base("Container", &c.id, json!({ "Container": d })));
    }
    if let Some(k) = &r.kubernetes_details {
        // Saker does not know the EKS cluster (docs/findings.md §2.3), so the
        // pod is an `Other` resource rather than an AwsEksCluster with a
        // made-up ARN.
        let w = &k.kubernetes_workload_details;
        let ns = w.namespace.as_deref().unwrap_or("default");
        let name = w.name.as_deref().unwrap_or("unknown");
        let mut other = Map::new();
        other.insert("KubernetesNamespace".into(), ns.into());
        other.insert("KubernetesPodName".into(), truncate(name, OTHER_VALUE_MAX).into());
        if let Some(uid) = &w.uid {
            other.insert("KubernetesPodUid".into(), uid.as_str().into());
        }
        out.push(base("Other", &format!("kubernetes/pod/{ns}/{name}"), json!({ "Other": other })));
    }
    out.push(host(f, account, region, partition));
    out
}

/// The machine: an EC2 instance when its id is known, else `Other`.
fn host(f: &Finding, account: &str, region: &str, partition: &str) -> Value {
    let i = f.resource.instance_details.as_ref();
    if let Some(id) = i.and_then(|i| i.instance_id.as_deref()).filter(|s| !s.is_empty()) {
        return json!({
            "Type": "AwsEc2Instance",
            "Id": format!("arn:{partition}:ec2:{region}:{account}:instance/{id}"),
            "Partition": partition,
            "Region": region,
            "Details": { "AwsEc2Instance": {} },
        });
    }
    let hostname = i.and_then(|i| i.hostname.as_deref()).filter(|s| !s.is_empty());
    let machine = i.and_then(|i| i.machine_id.as_deref()).filter(|s| !s.is_empty());
    let mut other = Map::new();
    if let Some(h) = hostname {
        other.insert("Hostname".into(), truncate(h, OTHER_VALUE_MAX).into());
    }
    if let Some(m) = machine {
        other.insert("MachineId".into(), truncate(m, OTHER_VALUE_MAX).into());
    }
    let id = format!("host/{}", machine.or(hostname).unwrap_or("unknown"));
    json!({ "Type": "Other", "Id": id, "Partition": partition, "Region": region, "Details": { "Other": other } })
}

/// Saker knows the task definition as `family:revision` (container labels do
/// not carry the ARN); the ARN follows from the task's account and region.
fn task_definition_arn(def: &str, partition: &str, region: &str, account: &str) -> String {
    if def.starts_with("arn:") {
        def.to_owned()
    } else {
        format!("arn:{partition}:ecs:{region}:{account}:task-definition/{def}")
    }
}
