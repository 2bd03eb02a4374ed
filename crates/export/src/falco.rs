//! Falco's JSON output (`json_output: true`), so falcosidekick and every
//! consumer of Falco alerts can route Saker findings unchanged:
//!
//! ```json
//! { "output": "14:31:07.436871402: Critical Reverse shell (proc.name=sh ...)",
//!   "priority": "Critical", "rule": "Execution:Runtime/ReverseShell",
//!   "time": "2026-11-28T14:31:07.436871402Z", "source": "saker",
//!   "tags": ["saker", "mitre_execution", "container"], "hostname": "ip-10-0-12-34",
//!   "output_fields": { "evt.time": 1795876267436871402, "proc.name": "sh", ... } }
//! ```
//!
//! `rule` is the GuardDuty type name (the stable contract suppression and
//! routing rules key on); `time` and `evt.time` are the latest event's.
//! Falco prints `container.id` `host` for host processes; so does this.

use crate::asff_types::mitre_tag;
use crate::context::{ExportContext, ExportItem};
use crate::facts::{self, rfc3339_ns};
use serde_json::{Map, Value, json};

pub const SOURCE: &str = "saker";

/// Falco priority for a GuardDuty severity: 8 and above Critical, 7–7.9
/// Error, Medium Warning, Low Notice (falcosidekick's `minimumpriority`
/// then filters as for Falco's own rules).
pub fn priority(severity: f64) -> &'static str {
    if severity >= 8.0 {
        "Critical"
    } else if severity >= 7.0 {
        "Error"
    } else if severity >= 4.0 {
        "Warning"
    } else {
        "Notice"
    }
}

/// One finding as a Falco alert.
pub fn alert(item: &ExportItem, ctx: &ExportContext) -> Value {
    let f = &item.finding;
    let fields = output_fields(item, ctx);
    let last = f.service.event_last_seen;
    let priority = priority(f.severity);
    let mut summary = String::new();
    for key in ["proc.name", "proc.cmdline", "user.uid", "container.id", "container.image.repository", "fd.name"] {
        if let Some(v) = fields.get(key).filter(|v| !v.is_null()) {
            let text = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
            summary.push_str(&format!("{}{key}={text}", if summary.is_empty() { "" } else { " " }));
        }
    }
    let output = format!("{}: {priority} {} ({summary})", last.format("%H:%M:%S%.9f"), f.title);
    let mut tags = vec!["saker".to_owned(), "guardduty".to_owned()];
    if let Some(purpose) = f.finding_type.name().split(':').next() {
        tags.push(purpose.to_ascii_lowercase());
    }
    if let Some(m) = mitre_tag(f.finding_type) {
        tags.push(m.to_owned());
    }
    tags.push(if facts::container(f).is_some() { "container" } else { "host" }.to_owned());
    json!({
        "output": output,
        "priority": priority,
        "rule": f.finding_type.name(),
        "time": rfc3339_ns(last),
        "output_fields": fields,
        "source": SOURCE,
        "tags": tags,
        "hostname": facts::hostname(f).unwrap_or(ctx.hostname()),
    })
}

/// Falco field names (`class.field`), plus `saker.*` for what Falco has no
/// field for.
fn output_fields(item: &ExportItem, ctx: &ExportContext) -> Map<String, Value> {
    let f = &item.finding;
    let p = &f.service.runtime_details.process;
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            m.insert(k.to_owned(), v);
        }
    };
    let ns = f.service.event_last_seen.timestamp_nanos_opt().map(Value::from).unwrap_or(Value::Null);
    put("evt.time", ns);
    put("evt.time.iso8601", rfc3339_ns(f.service.event_last_seen).into());
    put("proc.name", p.name.clone().into());
    put("proc.exepath", p.executable_path.clone().into());
    put("proc.cmdline", facts::command_line(p).into());
    put("proc.pid", p.pid.into());
    put("proc.vpid", p.namespace_pid.into());
    put("proc.cwd", p.pwd.clone().into());
    put("proc.sha256", p.executable_sha256.clone().into());
    if let Some(parent) = p.lineage.first() {
        put("proc.pname", parent.name.clone().into());
        put("proc.ppid", parent.pid.into());
        put("proc.pcmdline", facts::command_line(parent).into());
    }
    put("user.uid", p.user_id.into());
    put("user.name", p.user.clone().into());
    match facts::container(f) {
        Some(c) => {
            put("container.id", short_id(&c.id).into());
            put("container.full_id", c.id.clone().into());
            put("container.name", c.name.clone().into());
            if let Some(image) = c.image.as_deref() {
                let (repo, tag) = facts::image_parts(image);
                put("container.image", image.into());
                put("container.image.repository", repo.into());
                put("container.image.tag", tag.into());
            }
        }
        None => put("container.id", "host".into()),
    }
    if let Some(k) = &f.resource.kubernetes_details {
        put("k8s.ns.name", k.kubernetes_workload_details.namespace.clone().into());
        put("k8s.pod.name", k.kubernetes_workload_details.name.clone().into());
        put("k8s.pod.uid", k.kubernetes_workload_details.uid.clone().into());
    }
    if let Some(c) = facts::connection(f) {
        let remote = join_addr(c.remote_ip, c.remote_port);
        let local = join_addr(c.local_ip, c.local_port);
        // Falco writes fd.name as client->server.
        put("fd.name", if c.inbound { format!("{remote}->{local}") } else { format!("{local}->{remote}") }.into());
        put("fd.rip", c.remote_ip.into());
        put("fd.rport", c.remote_port.into());
        put("fd.l4proto", c.protocol.map(str::to_ascii_lowercase).into());
    } else if let Some(d) = facts::dns_request(f) {
        put("fd.name", d.domain.into());
    } else if let Some(path) =
        ["filePath", "threatFilePath", "libraryPath", "releaseAgentPath", "socketPath", "executablePath"]
            .into_iter()
            .find_map(|k| facts::context_str(f, k))
    {
        put("fd.name", path.into());
    }
    put("saker.finding.id", f.id.clone().into());
    put("saker.finding.type", f.finding_type.name().into());
    put("saker.severity", f.severity.into());
    put("saker.count", f.service.count.into());
    put("saker.account", ctx.account_of(f).into());
    put("saker.region", ctx.region_of(f).into());
    m
}

/// Falco reports the first 12 characters of a container id.
fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

fn join_addr(ip: Option<&str>, port: Option<u16>) -> String {
    let ip = ip.unwrap_or("");
    let host = if facts::is_ipv6(ip) { format!("[{ip}]") } else { ip.to_owned() };
    match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}
