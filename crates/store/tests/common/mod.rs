//! Both backends for every test: a SQLite file in a temp dir, and a fresh
//! database on a real PostgreSQL server (scripts/postgres.sh, or
//! SAKER_TEST_POSTGRES_URL).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use saker_detect::Finding;
use saker_store::Store;
use serde_json::json;
use std::sync::OnceLock;

/// The server's base URL (`…/postgres`), started once per test binary.
fn postgres_base() -> Option<String> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(u) = std::env::var("SAKER_TEST_POSTGRES_URL") {
            return Some(u);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/postgres.sh");
        let out = std::process::Command::new("bash").arg(script).arg("start").output().ok()?;
        if !out.status.success() {
            eprintln!("postgres.sh start failed: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    })
    .clone()
}

/// A fresh, empty PostgreSQL database's URL; `None` (after a loud message)
/// when no server can be started — a failure under SAKER_REQUIRE_PRIVILEGED=1.
pub async fn fresh_postgres_database() -> Option<String> {
    let Some(base) = postgres_base() else {
        assert!(
            std::env::var("SAKER_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
            "PostgreSQL could not be started and SAKER_REQUIRE_PRIVILEGED=1"
        );
        eprintln!("\n!!! SKIPPING the PostgreSQL half: no server (scripts/postgres.sh start failed) !!!\n");
        return None;
    };
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base).await.unwrap();
    let name = format!("t_{}", uuid_hex());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
    admin.close().await;
    Some(format!("{}/{name}", base.rsplit_once('/').unwrap().0))
}

/// A new, empty store of each available backend, with a label.
pub async fn stores() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&format!("sqlite:{}", dir.path().join("t.db").display())).await.unwrap();
    let mut v = vec![("sqlite", sqlite, Some(dir))];
    if let Some(url) = fresh_postgres_database().await {
        v.push(("postgres", Store::open(&url).await.unwrap(), None));
    }
    v
}

fn uuid_hex() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let n = n ^ u128::from(SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) << 100;
    format!("{:x}{:x}", n, std::process::id())
}

/// A finding with the given id, type, severity, count and update time.
pub fn finding(id: &str, ty: &str, severity: f64, count: u64, updated: &str) -> Finding {
    let label = saker_detect::SeverityLabel::of(severity).as_str();
    serde_json::from_value(json!({
        "schemaVersion": "2.0", "id": id, "type": ty, "severity": severity, "severityLabel": label,
        "title": "t", "description": "d", "createdAt": updated, "updatedAt": updated, "region": "us-east-1",
        "resource": {
            "resourceType": "ECSCluster",
            "ecsClusterDetails": { "name": "prod", "taskDetails": { "arn": "arn:aws:ecs:us-east-1:123456789012:task/prod/abc",
                "containers": [{ "id": "c1", "name": "web", "image": "nginx:1.25" }] } },
            "instanceDetails": { "hostname": "host-1" }
        },
        "service": {
            "serviceName": "saker", "featureName": "RuntimeMonitoring", "count": count,
            "eventFirstSeen": updated, "eventLastSeen": updated, "archived": false, "resourceRole": "TARGET",
            "runtimeDetails": { "process": { "name": "sh", "executablePath": "/bin/sh", "namespacePid": 1, "pid": 10,
                "uuid": "u", "userId": 0, "euid": 0, "argv": ["sh"], "lineage": [] }, "context": {} },
            "additionalInfo": { "agentDetails": { "agentVersion": "0.1.0" } },
            "eventIds": []
        }
    }))
    .unwrap()
}
