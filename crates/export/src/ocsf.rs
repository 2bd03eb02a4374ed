//! OCSF 1.1.0 Detection Finding (class 2004, category 2 Findings): the
//! version Amazon Security Lake takes from custom sources.
//!
//! Mapping: the finding is `finding_info` (uid = Saker's activity id, the
//! GuardDuty type as `types` and as the rule-type `analytic`); the process,
//! the connection or DNS query, and the files the type names are
//! `evidences`; the workload is `resources`, the machine is `device`; the AWS
//! account and region are `cloud`. Everything OCSF has no place for (the
//! type's context fields, threat-list names, event ids) is in
//! `unmapped.saker`. tests/schemas/ocsf-detection-finding-2004.json checks
//! the output against the 1.1.0 class definition.

use crate::context::{ExportContext, ExportItem, FindingState};
use crate::facts::{self, Band, band, epoch_ms};
use saker_detect::Finding;
use saker_detect::finding::RuntimeProcess;
use serde_json::{Map, Value, json};

pub const OCSF_VERSION: &str = "1.1.0";
pub const CLASS_UID: u32 = 2004;
pub const CATEGORY_UID: u32 = 2;
/// Parent processes nested under `parent_process`, at most.
const PARENT_DEPTH: usize = 8;

/// One finding as an OCSF Detection Finding event.
pub fn detection_finding(item: &ExportItem, ctx: &ExportContext) -> Value {
    let f = &item.finding;
    let (activity_id, activity) = match (item.archived(), item.state) {
        (true, _) => (3, "Close"),
        (false, FindingState::New) => (1, "Create"),
        (false, _) => (2, "Update"),
    };
    let (severity_id, severity) = severity(f.severity);
    let (status_id, status) = if item.archived() { (3, "Suppressed") } else { (1, "New") };
    let account = ctx.account_of(f);
    let region = ctx.region_of(f);
    let agent_version = &f.service.additional_info.agent_details.agent_version;
    json!({
        "activity_id": activity_id,
        "activity_name": activity,
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": format!("Detection Finding: {activity}"),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        // A Create reports the finding's creation; later activities its last change.
        "time": epoch_ms(if activity_id == 1 { f.created_at } else { f.updated_at }),
        "start_time": epoch_ms(f.service.event_first_seen),
        "end_time": epoch_ms(f.service.event_last_seen),
        "count": f.service.count,
        "message": f.title,
        "finding_info": finding_info(f),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "Saker",
                "vendor_name": "Saker",
                "version": if agent_version.is_empty() { ctx.product_version() } else { agent_version },
                "feature": { "name": f.service.feature_name },
            },
            "profiles": ["cloud"],
            "uid": f.id,
        },
        "cloud": {
            "provider": "AWS",
            "region": region,
            "account": { "uid": account, "type_id": 10, "type": "AWS Account" },
        },
        "device": device(f, region),
        "resources": resources(f, region, ctx.partition_of(f)),
        "evidences": evidences(f),
        "observables": observables(f),
        "unmapped": { "saker": unmapped(f) },
    })
}

/// OCSF severity_id: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical.
fn severity(sev: f64) -> (u8, &'static str) {
    match band(sev) {
        Band::Informational => (1, "Informational"),
        Band::Low => (2, "Low"),
        Band::Medium => (3, "Medium"),
        Band::High => (4, "High"),
        Band::Critical => (5, "Critical"),
    }
}

fn finding_info(f: &Finding) -> Value {
    let info = f.finding_type.info();
    let related: Vec<Value> = f.service.event_ids.iter().map(|id| json!({ "uid": id })).collect();
    let mut out = json!({
        "uid": f.id,
        "title": if f.title.is_empty() { info.title } else { &f.title },
        "desc": f.description,
        "types": [f.finding_type.name()],
        "created_time": epoch_ms(f.created_at),
        "modified_time": epoch_ms(f.updated_at),
        "first_seen_time": epoch_ms(f.service.event_first_seen),
        "last_seen_time": epoch_ms(f.service.event_last_seen),
        // type_id 1: Rule. Saker's detections are rules keyed by type.
        "analytic": { "name": f.finding_type.name(), "type_id": 1, "type": "Rule", "category": format!("{:?}", info.family) },
        "data_sources": ["Saker runtime sensor"],
    });
    if !related.is_empty()
        && let Some(o) = out.as_object_mut()
    {
        o.insert("related_events".into(), related.into());
    }
    out
}

fn device(f: &Finding, region: &str) -> Value {
    let i = f.resource.instance_details.as_ref();
    let instance = i.and_then(|i| i.instance_id.as_deref());
    // type_id 6 Virtual for an EC2 instance, 1 Server otherwise.
    let mut d = json!({
        "type_id": if instance.is_some() { 6 } else { 1 },
        "type": if instance.is_some() { "Virtual" } else { "Server" },
        "os": { "name": "Linux", "type_id": 200, "type": "Linux" },
        "region": region,
    });
    if let Some(o) = d.as_object_mut() {
        if let Some(h) = i.and_then(|i| i.hostname.as_deref()) {
            o.insert("hostname".into(), h.into());
        }
        if let Some(id) = instance {
            o.insert("instance_uid".into(), id.into());
        }
        if let Some(m) = i.and_then(|i| i.machine_id.as_deref()) {
            o.insert("uid".into(), m.into());
        }
    }
    d
}

/// The workload, as `resource_details` (type names: CloudFormation's where
/// one exists).
fn resources(f: &Finding, region: &str, partition: &str) -> Vec<Value> {
    let r = &f.resource;
    let mut out = Vec::new();
    let mut push = |uid: &str, name: Option<&str>, ty: &str, data: Value| {
        let mut v = json!({ "uid": uid, "type": ty, "region": region, "cloud_partition": partition, "data": data });
        if let (Some(n), Some(o)) = (name, v.as_object_mut()) {
            o.insert("name".into(), n.into());
        }
        out.push(v);
    };
    if let Some(ecs) = &r.ecs_cluster_details {
        let t = &ecs.task_details;
        if let Some(arn) = &t.arn {
            push(
                arn,
                None,
                "AWS::ECS::Task",
                json!({ "clusterArn": ecs.arn, "clusterName": ecs.name, "definition": t.definition_arn,
                        "version": t.version, "launchType": t.launch_type }),
            );
        }
    }
    if let Some(c) = facts::container(f) {
        let (repo, tag) = c.image.as_deref().map(facts::image_parts).unwrap_or(("", None));
        push(
            &c.id,
            c.name.as_deref(),
            "Container",
            json!({ "runtime": c.container_runtime, "image": c.image, "imageRepository": repo, "imageTag": tag }),
        );
    }
    if let Some(k) = &r.kubernetes_details {
        let w = &k.kubernetes_workload_details;
        let uid = w.uid.clone().unwrap_or_else(|| {
            format!("{}/{}", w.namespace.as_deref().unwrap_or("default"), w.name.as_deref().unwrap_or("unknown"))
        });
        push(&uid, w.name.as_deref(), "Kubernetes Pod", json!({ "namespace": w.namespace }));
    }
    if let Some(i) = &r.instance_details {
        let uid = i.instance_id.as_deref().or(i.machine_id.as_deref()).or(i.hostname.as_deref()).unwrap_or("unknown");
        let ty = if i.instance_id.is_some() { "AWS::EC2::Instance" } else { "Host" };
        push(uid, i.hostname.as_deref(), ty, json!({ "machineId": i.machine_id }));
    }
    out
}

/// The process (with its parents), then the network connection or DNS query,
/// then each file the type names.
fn evidences(f: &Finding) -> Vec<Value> {
    let mut first = Map::new();
    first.insert("process".into(), process(&f.service.runtime_details.process, 0));
    if let Some(c) = facts::connection(f) {
        let remote = endpoint(c.remote_ip, c.remote_port);
        let local = endpoint(c.local_ip, c.local_port);
        let (src, dst) = if c.inbound { (remote, local) } else { (local, remote) };
        first.insert("src_endpoint".into(), src);
        first.insert("dst_endpoint".into(), dst);
        let mut conn = json!({
            "direction_id": if c.inbound { 1 } else { 2 },
            "direction": if c.inbound { "Inbound" } else { "Outbound" },
        });
        if let Some(o) = conn.as_object_mut() {
            if let Some(p) = c.protocol {
                o.insert("protocol_name".into(), p.to_ascii_lowercase().into());
            }
            if let Some(n) = c.protocol_number() {
                o.insert("protocol_num".into(), n.into());
            }
            if let Some(ip) = c.remote_ip {
                let v6 = facts::is_ipv6(ip);
                o.insert("protocol_ver_id".into(), if v6 { 6 } else { 4 }.into());
                o.insert(
                    "protocol_ver".into(),
                    if v6 { "Internet Protocol version 6 (IPv6)" } else { "Internet Protocol version 4 (IPv4)" }.into(),
                );
            }
        }
        first.insert("connection_info".into(), conn);
    } else if let Some(d) = facts::dns_request(f) {
        first.insert("query".into(), json!({ "hostname": d.domain }));
        let mut conn = json!({ "direction_id": 2, "direction": "Outbound" });
        if let (Some(p), Some(o)) = (d.protocol, conn.as_object_mut()) {
            o.insert("protocol_name".into(), p.to_ascii_lowercase().into());
        }
        first.insert("connection_info".into(), conn);
    }
    if let Some(e) = &f.service.evidence {
        first.insert("data".into(), json!({ "threatIntelligenceDetails": e.threat_intelligence_details }));
    }
    let mut out = vec![Value::Object(first)];
    // The files a type's context names; a socket is OCSF file type 5.
    const FILE_KEYS: [&str; 8] = [
        "filePath",
        "threatFilePath",
        "libraryPath",
        "releaseAgentPath",
        "runcBinaryPath",
        "moduleFilePath",
        "socketPath",
        "executablePath",
    ];
    for key in FILE_KEYS {
        if let Some(path) = facts::context_str(f, key) {
            let mut file = file(path, if key == "socketPath" { 5 } else { 1 });
            let hash = match key {
                "threatFilePath" => facts::context_str(f, "threatFileSha256"),
                "moduleFilePath" => facts::context_str(f, "moduleSha256"),
                _ => None,
            };
            if let (Some(h), Some(o)) = (hash, file.as_object_mut()) {
                o.insert("hashes".into(), json!([sha256(h)]));
            }
            out.push(json!({ "file": file, "data": { "contextField": key } }));
        }
    }
    out
}

fn endpoint(ip: Option<&str>, port: Option<u16>) -> Value {
    let mut e = Map::new();
    if let Some(ip) = ip {
        e.insert("ip".into(), ip.into());
    }
    if let Some(p) = port {
        e.insert("port".into(), p.into());
    }
    Value::Object(e)
}

/// OCSF file object: `name` and `type_id` are required.
fn file(path: &str, type_id: u8) -> Value {
    let name = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path);
    let ty = if type_id == 5 { "Local Socket" } else { "Regular File" };
    json!({ "name": name, "path": path, "type_id": type_id, "type": ty })
}

fn sha256(hex: &str) -> Value {
    json!({ "algorithm_id": 3, "algorithm": "SHA-256", "value": hex })
}

fn process(p: &RuntimeProcess, depth: usize) -> Value {
    let mut out = json!({
        "name": p.name,
        "pid": p.pid,
        "uid": p.uuid,
        "cmd_line": facts::command_line(p),
        "user": { "uid": p.user_id.to_string() },
    });
    let Some(o) = out.as_object_mut() else { return out };
    if let (Some(name), Some(u)) = (&p.user, o.get_mut("user").and_then(Value::as_object_mut)) {
        u.insert("name".into(), name.as_str().into());
    }
    if let Some(path) = &p.executable_path {
        let mut exe = file(path, 1);
        if let (Some(h), Some(x)) = (&p.executable_sha256, exe.as_object_mut()) {
            x.insert("hashes".into(), json!([sha256(h)]));
        }
        o.insert("file".into(), exe);
    }
    if let Some(t) = p.start_time {
        o.insert("created_time".into(), epoch_ms(t).into());
    }
    if depth == 0 && !p.lineage.is_empty() {
        let paths: Vec<&str> =
            p.lineage.iter().map(|a| a.executable_path.as_deref().unwrap_or(a.name.as_str())).collect();
        o.insert("lineage".into(), paths.into());
    }
    // The parents nest: lineage[0] is the parent, lineage[1] its parent, ...
    if depth == 0 {
        let mut parent: Option<Value> = None;
        for ancestor in p.lineage.iter().take(PARENT_DEPTH).rev() {
            let mut a = process(ancestor, 1);
            if let (Some(prev), Some(ao)) = (parent.take(), a.as_object_mut()) {
                ao.insert("parent_process".into(), prev);
            }
            parent = Some(a);
        }
        if let Some(parent) = parent {
            o.insert("parent_process".into(), parent);
        }
    }
    out
}

/// Indicators a SIEM can pivot on: OCSF observable type 1 Hostname, 2 IP
/// Address, 8 Hash, 9 Process Name.
fn observables(f: &Finding) -> Vec<Value> {
    let mut out = Vec::new();
    let p = &f.service.runtime_details.process;
    out.push(json!({ "name": "evidences[0].process.name", "type_id": 9, "type": "Process Name", "value": p.name }));
    if let Some(h) = &p.executable_sha256 {
        out.push(
            json!({ "name": "evidences[0].process.file.hashes[0].value", "type_id": 8, "type": "Hash", "value": h }),
        );
    }
    if let Some(c) = facts::connection(f)
        && let Some(ip) = c.remote_ip
    {
        let at = if c.inbound { "src_endpoint" } else { "dst_endpoint" };
        out.push(json!({ "name": format!("evidences[0].{at}.ip"), "type_id": 2, "type": "IP Address", "value": ip }));
    }
    if let Some(d) = facts::dns_request(f) {
        out.push(json!({ "name": "evidences[0].query.hostname", "type_id": 1, "type": "Hostname", "value": d.domain }));
    }
    if let Some(h) = facts::hostname(f) {
        out.push(json!({ "name": "device.hostname", "type_id": 1, "type": "Hostname", "value": h }));
    }
    out
}

/// What OCSF has no attribute for, under the finding's own field names.
fn unmapped(f: &Finding) -> Value {
    let s = &f.service;
    json!({
        "schemaVersion": f.schema_version,
        "type": f.finding_type.name(),
        "severity": f.severity,
        "resourceType": f.resource.resource_type,
        "count": s.count,
        "archived": s.archived,
        "context": s.runtime_details.context,
        "evidence": s.evidence,
        "eventIds": s.event_ids,
        "agentVersion": s.additional_info.agent_details.agent_version,
    })
}
