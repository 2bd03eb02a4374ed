#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The store against both backends: tenancy, tokens, idempotent ingest,
//! criteria (SQL and in-memory agree), paging, suppression, lists, agents.

mod common;

use chrono::Utc;
use common::{finding, stores};
use saker_store::*;
use serde_json::{Value, json};

fn none(_: &Value) -> Option<String> {
    None
}

#[tokio::test]
async fn accounts_and_tokens() {
    for (db, s, _d) in stores().await {
        let admin = s.admin_account().await.unwrap();
        assert_eq!(s.admin_account().await.unwrap().id, admin.id, "{db}: one administrator");
        assert_eq!(admin.id.len(), 12);
        let member = s.create_account("team-a").await.unwrap();
        let (info, token) = s.issue_token(&member.id, TokenKind::Api, "cli").await.unwrap();
        assert!(token.starts_with("sk_api_"), "{db}");
        let p = s.authenticate(&token).await.unwrap().unwrap();
        assert_eq!((p.account_id.as_str(), p.is_admin, p.kind), (member.id.as_str(), false, TokenKind::Api));
        // Wrong secret, other shapes: unknown.
        let wrong = format!("{}X", &token[..token.len() - 1]);
        assert!(s.authenticate(&wrong).await.unwrap().is_none(), "{db}");
        assert!(s.authenticate("sk_api_nope").await.unwrap().is_none());
        let as_agent = token.replacen("sk_api_", "sk_agent_", 1);
        assert!(s.authenticate(&as_agent).await.unwrap().is_none(), "{db}: the kind is part of the token");
        // Revoking works at once, cache or not.
        assert!(s.revoke_token(&Scope::Account(member.id.clone()), &info.id).await.unwrap());
        assert!(s.authenticate(&token).await.unwrap().is_none(), "{db}");
        // A member cannot revoke another account's token.
        let (other, _) = s.issue_token(&admin.id, TokenKind::Agent, "a").await.unwrap();
        assert!(!s.revoke_token(&Scope::Account(member.id.clone()), &other.id).await.unwrap());
        // Nothing stores the plaintext.
        assert!(s.tokens(&Scope::All).await.unwrap().iter().all(|t| !format!("{t:?}").contains(&token[20..])));
    }
}

#[tokio::test]
async fn ingest_is_idempotent_and_sums_sources() {
    for (db, s, _d) in stores().await {
        let a = s.admin_account().await.unwrap().id;
        let f = finding("f1", "Execution:Runtime/ReverseShell", 8.0, 3, "2026-11-28T10:00:00Z");
        let o = s.ingest_findings(&a, "run-1", std::slice::from_ref(&f), &none).await.unwrap();
        assert!(o[0].created && o[0].changed, "{db}");
        // Redelivery: nothing changes.
        let o = s.ingest_findings(&a, "run-1", std::slice::from_ref(&f), &none).await.unwrap();
        assert!(!o[0].created && !o[0].changed, "{db}: {o:?}");
        let got = s.finding(&Scope::All, "f1").await.unwrap().unwrap();
        assert_eq!(got["service"]["count"], 3, "{db}");
        assert_eq!(got["accountId"], a.as_str(), "{db}: the server names the account");
        // The same run counts on: its cumulative count replaces, never adds.
        let f5 = finding("f1", "Execution:Runtime/ReverseShell", 8.0, 5, "2026-11-28T10:05:00Z");
        s.ingest_findings(&a, "run-1", &[f5], &none).await.unwrap();
        // A restarted agent (new run) adds its own.
        let f2 = finding("f1", "Execution:Runtime/ReverseShell", 8.0, 2, "2026-11-28T10:06:00Z");
        s.ingest_findings(&a, "run-2", &[f2], &none).await.unwrap();
        let got = s.finding(&Scope::All, "f1").await.unwrap().unwrap();
        assert_eq!(got["service"]["count"], 7, "{db}");
        assert_eq!(got["updatedAt"], "2026-11-28T10:06:00Z", "{db}");
        assert_eq!(got["createdAt"], "2026-11-28T10:00:00Z", "{db}: the first creation stays");
        // An older report does not overwrite the newer content.
        let old = finding("f1", "Execution:Runtime/ReverseShell", 8.0, 1, "2026-11-28T09:00:00Z");
        s.ingest_findings(&a, "run-3", &[old], &none).await.unwrap();
        let got = s.finding(&Scope::All, "f1").await.unwrap().unwrap();
        assert_eq!(
            (got["service"]["count"].as_u64(), got["updatedAt"].as_str()),
            (Some(8), Some("2026-11-28T10:06:00Z"))
        );
    }
}

#[tokio::test]
async fn members_see_only_their_own_findings() {
    for (db, s, _d) in stores().await {
        let admin = s.admin_account().await.unwrap().id;
        let a = s.create_account("a").await.unwrap().id;
        let b = s.create_account("b").await.unwrap().id;
        s.ingest_findings(
            &a,
            "r",
            &[finding("fa", "Execution:Runtime/ReverseShell", 8.0, 1, "2026-11-28T10:00:00Z")],
            &none,
        )
        .await
        .unwrap();
        s.ingest_findings(
            &b,
            "r",
            &[finding("fb", "Execution:Runtime/ReverseShell", 8.0, 1, "2026-11-28T10:00:00Z")],
            &none,
        )
        .await
        .unwrap();
        let sa = Scope::Account(a.clone());
        assert!(s.finding(&sa, "fb").await.unwrap().is_none(), "{db}: another account's finding is not found");
        assert!(s.finding(&sa, "fa").await.unwrap().is_some());
        let page = s.search_findings(&sa, &FindingQuery { max_results: 50, ..Default::default() }).await.unwrap();
        assert_eq!(page.findings.len(), 1, "{db}");
        assert_eq!(s.set_archived(&sa, &["fb".into()], true, "user:x").await.unwrap(), 0, "{db}");
        let all =
            s.search_findings(&Scope::All, &FindingQuery { max_results: 50, ..Default::default() }).await.unwrap();
        assert_eq!(all.findings.len(), 2, "{db}: the administrator sees all");
        let _ = admin;
    }
}

/// Criteria rendered as SQL select exactly what the in-memory evaluator accepts.
#[tokio::test]
async fn criteria_sql_and_memory_agree() {
    let cases = [
        json!({"criterion": {"severity": {"gte": 7}}}),
        json!({"criterion": {"severity": {"lt": 5}}}),
        json!({"criterion": {"type": {"eq": ["Execution:Runtime/ReverseShell", "Impact:Runtime/CryptoMinerExecuted"]}}}),
        json!({"criterion": {"type": {"neq": ["Execution:Runtime/ReverseShell"]}}}),
        json!({"criterion": {"type": {"matches": ["Execution:*"]}}}),
        json!({"criterion": {"type": {"notMatches": ["*Runtime/Reverse?hell"]}}}),
        json!({"criterion": {"resource.containerDetails.image": {"matches": ["nginx*"]}}}),
        json!({"criterion": {"resource.ecsClusterDetails.taskDetails.containers.image": {"eq": ["nginx:1.25"]}}}),
        json!({"criterion": {"updatedAt": {"gte": "2026-11-28T10:30:00Z"}}}),
        json!({"criterion": {"updatedAt": {"lt": 1764324000000i64}}}),
        json!({"criterion": {"service.count": {"gt": 2}}}),
        json!({"criterion": {"service.archived": {"eq": [false]}}}),
        json!({"criterion": {"id": {"matches": ["50\\%_off*"]}}}),
        json!({"criterion": {"id": {"matches": ["50%_off*"]}}}),
        json!({"criterion": {"id": {"matches": ["F*"]}}}),
        json!({"criterion": {"service.runtimeDetails.process.name": {"eq": ["sh"]}, "severity": {"gte": 5}}}),
    ];
    for (db, s, _d) in stores().await {
        let a = s.admin_account().await.unwrap().id;
        let fs = vec![
            finding("f-rs", "Execution:Runtime/ReverseShell", 8.0, 1, "2026-11-28T10:00:00Z"),
            finding("f-miner", "Impact:Runtime/CryptoMinerExecuted", 8.0, 5, "2026-11-28T11:00:00Z"),
            finding("f-low", "Discovery:Runtime/SuspiciousCommand", 2.0, 3, "2026-11-28T09:00:00Z"),
            finding("50%_off-literal", "Execution:Runtime/NewBinaryExecuted", 5.0, 1, "2026-11-28T10:45:00Z"),
            finding("50Xyoff-not", "Execution:Runtime/NewBinaryExecuted", 5.0, 1, "2026-11-28T10:45:00Z"),
        ];
        s.ingest_findings(&a, "r", &fs, &none).await.unwrap();
        for c in &cases {
            let criteria = Criteria::parse(c).unwrap();
            let q = FindingQuery { criteria: criteria.clone(), max_results: 500, ..Default::default() };
            let mut by_sql: Vec<String> = s
                .search_findings(&Scope::All, &q)
                .await
                .unwrap()
                .findings
                .iter()
                .map(|f| f["id"].as_str().unwrap().to_owned())
                .collect();
            let mut by_memory: Vec<String> = Vec::new();
            for f in &fs {
                let v = s.finding(&Scope::All, &f.id).await.unwrap().unwrap();
                if criteria.matches(&v) {
                    by_memory.push(f.id.clone());
                }
            }
            by_sql.sort();
            by_memory.sort();
            assert_eq!(by_sql, by_memory, "{db}: {c}");
        }
        // The escaped pattern matches the literal id only.
        let q = FindingQuery { criteria: Criteria::parse(&cases[13]).unwrap(), max_results: 10, ..Default::default() };
        let ids: Vec<Value> =
            s.search_findings(&Scope::All, &q).await.unwrap().findings.iter().map(|f| f["id"].clone()).collect();
        assert_eq!(ids, vec![json!("50%_off-literal")], "{db}");
    }
}

#[tokio::test]
async fn sort_and_pages_without_gaps_or_repeats() {
    for (db, s, _d) in stores().await {
        let a = s.admin_account().await.unwrap().id;
        let fs: Vec<_> = (0..23)
            .map(|i| {
                finding(
                    &format!("f{i:02}"),
                    "Execution:Runtime/ReverseShell",
                    8.0,
                    i,
                    &format!("2026-11-28T10:{i:02}:00Z"),
                )
            })
            .collect();
        s.ingest_findings(&a, "r", &fs, &none).await.unwrap();
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let q = FindingQuery {
                sort: Sort::parse(&json!({"attributeName": "count", "orderBy": "ASC"})).unwrap(),
                max_results: 5,
                next_token: token,
                ..Default::default()
            };
            let page = s.search_findings(&Scope::All, &q).await.unwrap();
            seen.extend(page.findings.iter().map(|f| f["service"]["count"].as_u64().unwrap()));
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen, (0..23).collect::<Vec<u64>>(), "{db}");
        let bad = FindingQuery { next_token: Some("garbage".into()), max_results: 5, ..Default::default() };
        assert!(matches!(s.search_findings(&Scope::All, &bad).await, Err(StoreError::InvalidInput(_))), "{db}");
    }
}

#[tokio::test]
async fn suppression_archive_and_filters() {
    for (db, s, _d) in stores().await {
        let admin = s.admin_account().await.unwrap().id;
        let member = s.create_account("m").await.unwrap().id;
        let suppress =
            |f: &Value| (f["type"] == "Discovery:Runtime/SuspiciousCommand").then(|| "quiet-discovery".to_owned());
        let o = s
            .ingest_findings(
                &member,
                "r",
                &[
                    finding("d1", "Discovery:Runtime/SuspiciousCommand", 2.0, 1, "2026-11-28T10:00:00Z"),
                    finding("x1", "Execution:Runtime/ReverseShell", 8.0, 1, "2026-11-28T10:00:00Z"),
                ],
                &suppress,
            )
            .await
            .unwrap();
        assert_eq!((o[0].archived, o[0].suppressed_by.as_deref()), (true, Some("quiet-discovery")), "{db}");
        assert!(!o[1].archived);
        let d1 = s.finding(&Scope::All, "d1").await.unwrap().unwrap();
        assert_eq!(d1["service"]["archived"], true, "{db}");
        s.set_archived(&Scope::All, &["x1".into()], true, "user:t").await.unwrap();
        s.set_archived(&Scope::All, &["d1".into()], false, "user:t").await.unwrap();
        assert_eq!(s.finding(&Scope::All, "x1").await.unwrap().unwrap()["service"]["archived"], true);
        assert_eq!(s.finding(&Scope::All, "d1").await.unwrap().unwrap()["service"]["archived"], false);
        // Filters: the administrator's apply to members; ordered by rank.
        let f = |name: &str, rank, account: &str| Filter {
            name: name.into(),
            description: String::new(),
            action: FilterAction::Archive,
            rank,
            criteria: Criteria::parse(&json!({"criterion": {"severity": {"lt": 4}}})).unwrap(),
            account_id: account.into(),
        };
        s.put_filter(&admin, &f("global", 2, &admin)).await.unwrap();
        s.put_filter(&member, &f("mine", 1, &member)).await.unwrap();
        s.put_filter(&member, &f("mine", 3, &member)).await.unwrap(); // replaced, not duplicated
        let names: Vec<String> =
            s.filters(&Scope::Account(member.clone())).await.unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["global", "mine"], "{db}");
        let other = s.create_account("o").await.unwrap().id;
        let names: Vec<String> = s.filters(&Scope::Account(other)).await.unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["global"], "{db}");
        assert!(s.delete_filter(&member, "mine").await.unwrap());
        assert!(!s.delete_filter(&member, "mine").await.unwrap());
    }
}

#[tokio::test]
async fn lists_and_their_version() {
    for (db, s, _d) in stores().await {
        let admin = s.admin_account().await.unwrap().id;
        let v0 = s.lists_version().await.unwrap();
        let l = NewList {
            name: "feodo".into(),
            kind: "threat".into(),
            category: Some("c2".into()),
            format: "auto".into(),
            content: b"192.0.2.1\n".to_vec(),
            ips: 1,
            domains: 0,
            hashes: 0,
            skipped: 0,
            messages: vec![],
        };
        let info = s.put_list(&admin, &l).await.unwrap();
        assert!(info.active && info.entries.ips == 1, "{db}");
        assert!(s.lists_version().await.unwrap() > v0);
        assert_eq!(s.list_content(&admin, &info.id).await.unwrap().unwrap(), b"192.0.2.1\n");
        let member = s.create_account("m").await.unwrap().id;
        assert_eq!(s.lists(&Scope::Account(member.clone())).await.unwrap().len(), 1, "{db}: the admin's lists apply");
        assert!(!s.set_list_active(&Scope::Account(member), &info.id, false).await.unwrap(), "{db}: not the member's");
        let v1 = s.lists_version().await.unwrap();
        assert!(s.set_list_active(&Scope::All, &info.id, false).await.unwrap());
        assert!(s.lists_version().await.unwrap() > v1);
        assert!(!s.lists(&Scope::All).await.unwrap()[0].active);
        assert!(s.delete_list(&Scope::All, &info.id).await.unwrap());
        assert!(s.lists(&Scope::All).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn heartbeats_health_and_histogram() {
    for (db, s, _d) in stores().await {
        let a = s.admin_account().await.unwrap().id;
        let hb = Heartbeat {
            agent_id: "ag1".into(),
            run_id: "r1".into(),
            hostname: "h1".into(),
            agent_version: "0.1.0".into(),
            kernel: "6.18".into(),
            mode: "host".into(),
            ecs_cluster: Some("prod".into()),
            ecs_task_arn: None,
            attached_programs: vec!["sys_enter_execve".into()],
            events_total: 10,
            events_lost: 0,
            cpu_percent: 1.0,
            rss_bytes: 40 << 20,
            started_at: Utc::now(),
            sent_at: Utc::now(),
            stopping: false,
        };
        assert!(s.record_heartbeat(&a, &hb).await.unwrap().is_none(), "{db}");
        assert_eq!(s.record_heartbeat(&a, &hb).await.unwrap().unwrap().agent_id, "ag1");
        let agents = s.agents(&Scope::All).await.unwrap();
        assert_eq!((agents.len(), agents[0].health.status), (1, HealthStatus::Healthy), "{db}");
        let bad = Health { status: HealthStatus::Unhealthy, issue: Some("Events dropped".into()), since: Utc::now() };
        assert!(s.set_agent_health(&a, "ag1", &bad).await.unwrap().is_some(), "{db}: a flip");
        assert!(s.set_agent_health(&a, "ag1", &bad).await.unwrap().is_none(), "{db}: no flip");
        let ev = s.health_events(&Scope::All, 10).await.unwrap();
        assert_eq!((ev.len(), ev[0].to.as_str(), ev[0].issue.as_deref()), (1, "UNHEALTHY", Some("Events dropped")));
        assert!(s.agents(&Scope::Account("000000000000".into())).await.unwrap().is_empty());
        // Histogram: zero-filled hourly buckets, counted by severity label.
        s.ingest_findings(
            &a,
            "r",
            &[
                finding("h1", "Execution:Runtime/ReverseShell", 8.0, 1, "2026-11-28T10:10:00Z"),
                finding("h2", "Discovery:Runtime/SuspiciousCommand", 2.0, 1, "2026-11-28T12:10:00Z"),
            ],
            &none,
        )
        .await
        .unwrap();
        let from = "2026-11-28T10:00:00Z".parse().unwrap();
        let to = "2026-11-28T13:00:00Z".parse().unwrap();
        let h = s.severity_histogram(&Scope::All, from, to, chrono::Duration::hours(1)).await.unwrap();
        let counts: Vec<(u64, u64, u64)> = h.iter().map(|b| (b.high, b.medium, b.low)).collect();
        assert_eq!(counts, [(1, 0, 0), (0, 0, 0), (0, 0, 1)], "{db}");
        // Settings round-trip.
        s.put_setting("k", &json!({"x": 1})).await.unwrap();
        assert_eq!(s.setting("k").await.unwrap(), Some(json!({"x": 1})));
    }
}
