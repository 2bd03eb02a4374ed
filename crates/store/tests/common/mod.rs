//! Both backends for every test: a SQLite file in a temp dir, and a fresh
//! database on a real PostgreSQL server — `SAKER_TEST_POSTGRES_URL` (a URL
//! whose database the tests may create databases from), else the throwaway
//! cluster of scripts/postgres.sh, started once per test binary. Without
//! PostgreSQL the Postgres half is skipped loudly, or fails when
//! SAKER_REQUIRE_PRIVILEGED=1.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use saker_detect::Finding;
use saker_store::{Scope, Store};
use serde_json::{Value, json};
use std::sync::OnceLock;

/// The server's URL (`…/postgres`), or why there is none.
fn postgres_base() -> Result<String, String> {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(u) = std::env::var("SAKER_TEST_POSTGRES_URL") {
            return Ok(u);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/postgres.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg("start")
            .output()
            .map_err(|e| format!("running {script}: {e}"))?;
        if !out.status.success() {
            return Err(format!("{script} start failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    })
    .clone()
}

/// A new database on the PostgreSQL server: (its URL, the server URL, its name).
pub async fn fresh_postgres_database() -> Option<(String, String, String)> {
    let base = match postgres_base() {
        Ok(b) => b,
        Err(why) => {
            assert!(
                std::env::var("SAKER_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
                "PostgreSQL is required (SAKER_REQUIRE_PRIVILEGED=1) but unavailable: {why}"
            );
            eprintln!("\n!!!!! SKIPPING the PostgreSQL half of this test: {why} !!!!!\n");
            return None;
        }
    };
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base).await.expect("connecting to the test PostgreSQL server");
    let name = format!("saker_store_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
    admin.close().await;
    let (server, query) = match base.split_once('?') {
        Some((s, q)) => (s, format!("?{q}")),
        None => (base.as_str(), String::new()),
    };
    let (server, _) = server.rsplit_once('/').expect("a URL with a database");
    Some((format!("{server}/{name}{query}"), base.clone(), name))
}

/// One backend's store for one test.
pub struct TestStore {
    /// "sqlite" or "postgres", for assertion messages.
    pub db: &'static str,
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestStore {
    /// Open the same database again (runs the migrations again).
    pub async fn reopen(&self) -> Store {
        Store::open(&self.url).await.unwrap()
    }

    /// Close it; drop the PostgreSQL database.
    pub async fn finish(self) {
        self.store.close().await;
        if let Some((base, name)) = self.postgres {
            let admin = sqlx::AnyPool::connect(&base).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await.unwrap();
            admin.close().await;
        }
    }
}

/// A new, empty store of each available backend.
pub async fn stores() -> Vec<TestStore> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("data/saker.db").display());
    let sqlite = Store::open(&url).await.unwrap();
    let mut v = vec![TestStore { db: "sqlite", store: sqlite, url, _dir: Some(dir), postgres: None }];
    if let Some((url, base, name)) = fresh_postgres_database().await {
        let store = Store::open(&url).await.unwrap();
        v.push(TestStore { db: "postgres", store, url, _dir: None, postgres: Some((base, name)) });
    }
    v
}

pub fn none(_: &Value) -> Option<String> {
    None
}

/// A finding of an ECS task, as the detector shapes it.
pub fn finding(id: &str, ty: &str, severity: f64, count: u64, updated: &str) -> Finding {
    finding_with(id, ty, severity, count, updated, json!({}))
}

/// `finding`, with a JSON object merged in (objects merge, other values replace).
pub fn finding_with(id: &str, ty: &str, severity: f64, count: u64, updated: &str, patch: Value) -> Finding {
    let label = saker_detect::SeverityLabel::of(severity).as_str();
    let mut v = json!({
        "schemaVersion": "2.0", "id": id, "type": ty, "severity": severity, "severityLabel": label,
        "title": "t", "description": "d", "createdAt": updated, "updatedAt": updated, "region": "us-east-1",
        "accountId": "999999999999",
        "resource": {
            "resourceType": "ECSCluster",
            "ecsClusterDetails": { "name": "prod", "taskDetails": { "arn": "arn:aws:ecs:us-east-1:123456789012:task/prod/abc",
                "containers": [{ "id": "c1", "name": "web", "image": "nginx:1.25" }] } },
            "containerDetails": { "id": "c1", "name": "web", "image": "nginx:1.25" },
            "instanceDetails": { "hostname": "host-1", "instanceId": "i-0abc" }
        },
        "service": {
            "serviceName": "saker", "featureName": "RuntimeMonitoring", "count": count,
            "eventFirstSeen": updated, "eventLastSeen": updated, "archived": false, "resourceRole": "TARGET",
            "runtimeDetails": { "process": { "name": "sh", "executablePath": "/bin/sh", "namespacePid": 1, "pid": 10,
                "uuid": "u", "userId": 0, "euid": 0, "argv": ["sh"], "lineage": [] }, "context": {} },
            "additionalInfo": { "agentDetails": { "agentVersion": "0.1.0" } },
            "eventIds": []
        }
    });
    merge(&mut v, patch);
    serde_json::from_value(v).unwrap()
}

fn merge(into: &mut Value, patch: Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Every finding id the scope sees, following nextToken to the end.
pub async fn all_ids(s: &Store, scope: &Scope, criteria: &Value) -> Vec<String> {
    let mut q = saker_store::FindingQuery {
        criteria: saker_store::Criteria::parse(criteria).unwrap(),
        max_results: 7,
        ..Default::default()
    };
    let mut ids = Vec::new();
    loop {
        let page = s.search_findings(scope, &q).await.unwrap();
        ids.extend(page.findings.iter().map(|f| f["id"].as_str().unwrap().to_owned()));
        match page.next_token {
            Some(t) => q.next_token = Some(t),
            None => return ids,
        }
    }
}
