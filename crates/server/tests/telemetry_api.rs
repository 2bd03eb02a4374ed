#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `GET /api/v1/telemetry` over HTTP against a real server, on SQLite and on
//! PostgreSQL: filters, paging to the end, tenancy (a member sees only its
//! account), a JSON 400 for every bad parameter, and retention 0 deleting
//! what an earlier run kept.

use reqwest::StatusCode;
use saker_store::{Store, TokenKind};
use serde_json::{Value, json};

#[path = "support/api_server.rs"]
mod api_server;
#[path = "../../store/tests/common/mod.rs"]
mod store_common;

use api_server::{Api, servers, start};

/// Process names of every event the query finds, following nextToken.
async fn hunt(api: &Api, query: &str, token: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/telemetry?maxResults=2{query}");
        if let Some(t) = &next {
            path.push_str(&format!("&nextToken={t}"));
        }
        let (s, v) = api.get(&path, token).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        for e in v["events"].as_array().unwrap() {
            names.push(e["event"]["process"]["name"].as_str().unwrap().to_owned());
        }
        match v["nextToken"].as_str() {
            Some(t) => next = Some(t.to_owned()),
            None => return names,
        }
    }
}

/// An event at `2026-11-28T12:00:<sec>Z` by process `name`, with an object merged in.
fn event(kind: &str, sec: u32, name: &str, patch: Value) -> Vec<u8> {
    let mut v = json!({
        "kind": kind, "time": format!("2026-11-28T12:00:{sec:02}Z"), "container": null,
        "process": {"uuid": "5b0c3c2e-0000-4000-8000-000000000001", "pid": 10, "nsPid": 1, "name": name,
                    "executable": format!("/usr/bin/{name}"), "argv": [name], "uid": 0, "euid": 0, "gid": 0, "egid": 0}
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut v, patch) {
        a.extend(b);
    }
    serde_json::to_vec(&v).unwrap()
}

async fn ingest(store: &Store, account: &str, agent: &str, events: &[Vec<u8>]) {
    let batch: Vec<(u64, &[u8])> = events.iter().enumerate().map(|(i, e)| (i as u64 + 1, e.as_slice())).collect();
    let r = store.ingest_telemetry(account, agent, &format!("run-{agent}"), &batch).await.unwrap();
    assert_eq!(r.stored, events.len() as u64);
}

#[tokio::test]
async fn hunting_filters_pages_and_keeps_accounts_apart() {
    for (db, api) in servers().await {
        let store = &api.running.app.store;
        let admin_account = store.admin_account().await.unwrap().id;
        let admin = api.running.fresh_admin_token(TokenKind::Api, "test-admin").await.unwrap();
        let member_account = store.create_account("team-a").await.unwrap().id;
        let member = store.issue_token(&member_account, TokenKind::Api, "m").await.unwrap().1;

        let web = json!({"container": {"id": "0123456789abcdef", "name": "web"}, "ecs": {"cluster": "prod"}});
        let mut connect = web.clone();
        connect["net"] =
            json!({"family": "inet", "protocol": "tcp", "remoteAddress": "203.0.113.7", "remotePort": 443});
        ingest(
            store,
            &member_account,
            "agent-m",
            &[
                event("process.exec", 1, "curl", web.clone()),
                event("net.connect", 2, "curl", connect),
                event("process.exec", 3, "sh", web),
                event("file.write", 4, "vi", json!({"file": {"path": "/etc/shadow"}})),
            ],
        )
        .await;
        ingest(store, &admin_account, "agent-a", &[event("process.exec", 5, "nc", json!({}))]).await;

        // The administrator sees every account; newest first.
        assert_eq!(hunt(&api, "", &admin).await, ["nc", "vi", "sh", "curl", "curl"], "{db}");
        assert_eq!(hunt(&api, "&kind=&container=", &admin).await.len(), 5, "{db}: blank parameters filter nothing");
        // A member only its own, whatever it asks for.
        assert_eq!(hunt(&api, "", &member).await, ["vi", "sh", "curl", "curl"], "{db}");
        assert!(hunt(&api, "&agentId=agent-a", &member).await.is_empty(), "{db}");
        assert!(hunt(&api, "&executable=nc", &member).await.is_empty(), "{db}");

        for (query, want) in [
            ("&kind=process.exec", vec!["sh", "curl"]),
            ("&kind=net.*", vec!["curl"]),
            ("&agentId=agent-m", vec!["vi", "sh", "curl", "curl"]),
            ("&since=2026-11-28T12:00:02Z&until=2026-11-28T12:00:04Z", vec!["sh", "curl"]),
            ("&executable=/usr/bin/curl", vec!["curl", "curl"]),
            ("&executable=sh", vec!["sh"]),
            ("&container=0123456789ab", vec!["sh", "curl", "curl"]),
            ("&container=web&kind=process.exec", vec!["sh", "curl"]),
            ("&cluster=prod", vec!["sh", "curl", "curl"]),
            ("&remoteIp=203.0.113.7", vec!["curl"]),
            ("&contains=%2Fetc%2Fshadow", vec!["vi"]),
            ("&cluster=staging", vec![]),
        ] {
            assert_eq!(hunt(&api, query, &member).await, want, "{db}: {query}");
        }
        let (s, v) = api.get("/api/v1/telemetry?kind=file.write", &member).await;
        assert_eq!(s, StatusCode::OK);
        let e = &v["events"][0];
        assert_eq!((e["accountId"].as_str(), e["agentId"].as_str()), (Some(member_account.as_str()), Some("agent-m")));
        assert_eq!((e["runId"].as_str(), e["seq"].as_i64()), (Some("run-agent-m"), Some(4)), "{db}: {e}");
        assert_eq!(e["event"]["file"]["path"], "/etc/shadow", "{db}: the event as sent");
        assert!(e["receivedAt"].is_string() && v["nextToken"].is_null(), "{db}: {v}");
        api.running.shutdown().await;
    }
}

#[tokio::test]
async fn bad_parameters_are_a_json_400_and_tokens_are_required() {
    for (db, api) in servers().await {
        let admin = api.running.fresh_admin_token(TokenKind::Api, "test-admin").await.unwrap();
        for query in [
            "maxResults=0",
            "maxResults=1001",
            "maxResults=many",
            "since=yesterday",
            "since=2026-11-28T12:00:00Z&until=2026-11-28T11:00:00Z",
            "nextToken=forged",
            "contains=a%00b",
            "executible=/bin/sh",
        ] {
            let (s, v) = api.get(&format!("/api/v1/telemetry?{query}"), &admin).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{db}: {query} → {v}");
            assert_eq!(v["error"]["code"], "BadRequest", "{db}: {query} → {v}");
            assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{db}: {query} → {v}");
        }
        let resp = api.http.get(format!("{}/api/v1/telemetry", api.running.http_url)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{db}");
        let account = api.running.app.store.admin_account().await.unwrap().id;
        let agent = api.running.app.store.issue_token(&account, TokenKind::Agent, "a").await.unwrap().1;
        let (s, _) = api.get("/api/v1/telemetry", &agent).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{db}: agent tokens only ingest");
        let (_, spec) = api.get("/api/v1/openapi.json", &admin).await;
        assert!(spec["paths"]["/api/v1/telemetry"]["get"]["parameters"].is_array(), "{db}: documented");
        api.running.shutdown().await;
    }
}

#[tokio::test]
async fn retention_zero_deletes_what_an_earlier_run_kept() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), None, 72).await;
    let store = running.app.store.clone();
    let account = store.admin_account().await.unwrap().id;
    ingest(&store, &account, "agent", &[event("process.exec", 1, "sh", json!({}))]).await;
    let all = saker_store::TelemetryQuery::default();
    assert_eq!(store.search_telemetry(&saker_store::Scope::All, &all).await.unwrap().events.len(), 1);
    running.shutdown().await;

    let running = start(dir.path(), None, 0).await;
    let store = running.app.store.clone();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !store.search_telemetry(&saker_store::Scope::All, &all).await.unwrap().events.is_empty() {
        assert!(std::time::Instant::now() < end, "retention 0 never pruned");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    running.shutdown().await;
}
