//! A real server per store backend for the HTTP tests (`api.rs`,
//! `telemetry_api.rs`): SQLite in a temp dir, and a fresh PostgreSQL
//! database when one is available. The including test declares
//! `store_common` (the store tests' PostgreSQL helper).

use reqwest::StatusCode;
use saker_server::{Running, ServerConfig};
use saker_store::TokenKind;
use serde_json::Value;

pub struct Api {
    pub running: Running,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A server per backend, with the default configuration.
pub async fn servers() -> Vec<(&'static str, Api)> {
    let mut urls = vec![("sqlite", None)];
    if let Some((url, _, _)) = crate::store_common::fresh_postgres_database().await {
        urls.push(("postgres", Some(url)));
    }
    let mut out = Vec::new();
    for (label, database) in urls {
        let dir = tempfile::tempdir().unwrap();
        let running = start(dir.path(), database, ServerConfig::default().telemetry_retention_hours).await;
        out.push((label, Api { running, http: reqwest::Client::new(), _dir: dir }));
    }
    out
}

/// A server on `dir` (and `database`, else SQLite there), loopback ports.
pub async fn start(dir: &std::path::Path, database: Option<String>, telemetry_retention_hours: u64) -> Running {
    let cfg = ServerConfig {
        data_dir: dir.to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        grpc_listen: "127.0.0.1:0".parse().unwrap(),
        database,
        telemetry_retention_hours,
        ..ServerConfig::default()
    };
    saker_server::start(cfg).await.unwrap()
}

#[allow(dead_code)] // each including test uses its own subset
impl Api {
    pub async fn token(&self, account: &str, kind: TokenKind) -> String {
        self.running.app.store.issue_token(account, kind, "test").await.unwrap().1
    }

    pub async fn admin(&self) -> String {
        self.running.fresh_admin_token(TokenKind::Api, "test-admin").await.unwrap()
    }

    /// One request; the body as JSON (`Null` when it is not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.running.http_url);
        let mut r = self.http.request(method.parse().unwrap(), url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call("GET", path, Some(token), None).await
    }
}
