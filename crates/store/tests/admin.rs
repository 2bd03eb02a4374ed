#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Suppression rules, threat lists, agents and their health, settings — on
//! SQLite and PostgreSQL.

mod common;

use chrono::{Duration, Utc};
use common::stores;
use saker_store::*;
use serde_json::json;

fn filter(name: &str, rank: u32, criteria: serde_json::Value) -> Filter {
    Filter {
        name: name.into(),
        description: format!("{name} rule"),
        action: FilterAction::Archive,
        rank,
        criteria: Criteria::parse(&criteria).unwrap(),
        account_id: String::new(),
    }
}

#[tokio::test]
async fn filters_by_rank_with_the_administrators_for_everyone() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let admin = s.admin_account().await.unwrap().id;
        let member = s.create_account("m").await.unwrap().id;
        let other = s.create_account("o").await.unwrap().id;
        let low = json!({"criterion": {"severity": {"lt": 4}}});
        s.put_filter(&admin, &filter("global", 2, low.clone())).await.unwrap();
        s.put_filter(&member, &filter("mine", 1, low.clone())).await.unwrap();
        s.put_filter(&member, &filter("later", 5, low.clone())).await.unwrap();
        s.put_filter(&other, &filter("theirs", 1, low.clone())).await.unwrap();
        // Replaced by name, not duplicated.
        let mut replaced = filter("mine", 3, json!({"criterion": {"type": {"matches": ["Discovery:*"]}}}));
        replaced.action = FilterAction::Noop;
        s.put_filter(&member, &replaced).await.unwrap();

        let mine = s.filters(&Scope::Account(member.clone())).await.unwrap();
        let names: Vec<(&str, u32)> = mine.iter().map(|f| (f.name.as_str(), f.rank)).collect();
        assert_eq!(names, [("global", 2), ("mine", 3), ("later", 5)], "{db}");
        assert_eq!(mine[0].account_id, admin, "{db}: the owner is reported");
        assert_eq!((mine[1].action, &mine[1].criteria), (FilterAction::Noop, &replaced.criteria), "{db}");
        assert_eq!(mine[1].description, "mine rule");
        let names = |v: Vec<Filter>| v.into_iter().map(|f| f.name).collect::<Vec<_>>();
        assert_eq!(names(s.filters(&Scope::Account(other.clone())).await.unwrap()), ["theirs", "global"], "{db}");
        assert_eq!(names(s.filters(&Scope::All).await.unwrap()), ["theirs", "global", "mine", "later"], "{db}");

        assert!(s.delete_filter(&member, "mine").await.unwrap(), "{db}");
        assert!(!s.delete_filter(&member, "mine").await.unwrap(), "{db}");
        assert!(!s.delete_filter(&member, "global").await.unwrap(), "{db}: not the member's to delete");

        for bad in [
            filter("x", 1, low.clone()),
            filter("has space", 1, low.clone()),
            filter("ok-name", 1, serde_json::Value::Null),
        ] {
            assert!(
                matches!(s.put_filter(&member, &bad).await, Err(StoreError::InvalidInput(_))),
                "{db}: {}",
                bad.name
            );
        }
        assert!(matches!(s.put_filter("000000000000", &filter("abc", 1, low)).await, Err(StoreError::NotFound(_))));
        // The API shape: GuardDuty's names.
        let v = serde_json::to_value(&mine[0]).unwrap();
        assert_eq!(
            (v["action"].as_str(), v["findingCriteria"]["criterion"]["severity"]["lt"].as_i64()),
            (Some("ARCHIVE"), Some(4))
        );
        t.finish().await;
    }
}

fn list(name: &str, content: &[u8]) -> NewList {
    NewList {
        name: name.into(),
        kind: "threat".into(),
        category: Some("c2".into()),
        format: "plain".into(),
        content: content.to_vec(),
        ips: 1,
        domains: 2,
        hashes: 0,
        skipped: 1,
        messages: vec!["line 3: not an address".into()],
    }
}

#[tokio::test]
async fn lists_crud_and_the_version_agents_follow() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let admin = s.admin_account().await.unwrap().id;
        let member = s.create_account("m").await.unwrap().id;
        let sm = Scope::Account(member.clone());
        let v0 = s.lists_version().await.unwrap();
        // Bytes as uploaded, NUL and invalid UTF-8 included.
        let raw = b"192.0.2.1\nevil.example\n\0\xff\n";
        let info = s.put_list(&admin, &list("feodo", raw)).await.unwrap();
        assert!(info.active && info.account_id == admin, "{db}");
        assert_eq!(
            (info.entries.ips, info.entries.domains, info.entries.skipped, info.messages.len()),
            (1, 2, 1, 1),
            "{db}"
        );
        let v1 = s.lists_version().await.unwrap();
        assert!(v1 > v0, "{db}");
        assert_eq!(s.list_content(&admin, &info.id).await.unwrap().unwrap(), raw, "{db}");
        assert_eq!(s.list_content(&member, &info.id).await.unwrap(), None, "{db}: by owner");
        assert!(matches!(s.put_list(&admin, &list("feodo", b"x")).await, Err(StoreError::Conflict(_))), "{db}");
        assert_eq!(s.lists_version().await.unwrap(), v1, "{db}: a refused upload changes nothing");
        let mut bad = list("k", b"x");
        bad.kind = "evil".into();
        assert!(matches!(s.put_list(&admin, &bad).await, Err(StoreError::InvalidInput(_))), "{db}");

        // Members see the administrator's lists (they apply to them) and their own.
        let own = s.put_list(&member, &list("feodo", b"198.51.100.7\n")).await.unwrap();
        let ids = |v: Vec<ListInfo>| v.into_iter().map(|l| l.id).collect::<Vec<_>>();
        assert_eq!(ids(s.lists(&sm).await.unwrap()), [info.id.clone(), own.id.clone()], "{db}");
        let o = s.create_account("o").await.unwrap().id;
        assert_eq!(ids(s.lists(&Scope::Account(o)).await.unwrap()), std::slice::from_ref(&info.id), "{db}");

        // ... but cannot change them; a refused change does not move the version.
        let v2 = s.lists_version().await.unwrap();
        assert!(!s.set_list_active(&sm, &info.id, false).await.unwrap(), "{db}");
        assert!(!s.delete_list(&sm, &info.id).await.unwrap(), "{db}");
        assert_eq!(s.lists_version().await.unwrap(), v2, "{db}");
        assert!(s.set_list_active(&sm, &own.id, false).await.unwrap(), "{db}");
        assert!(s.lists_version().await.unwrap() > v2, "{db}");
        assert!(!s.lists(&sm).await.unwrap().iter().find(|l| l.id == own.id).unwrap().active, "{db}");
        let v3 = s.lists_version().await.unwrap();
        assert!(s.set_list_active(&Scope::All, &own.id, true).await.unwrap(), "{db}");
        assert!(s.delete_list(&Scope::All, &info.id).await.unwrap(), "{db}");
        assert!(s.lists_version().await.unwrap() >= v3 + 2, "{db}");
        assert_eq!(ids(s.lists(&Scope::All).await.unwrap()), [own.id], "{db}");
        // The API shape.
        let v = serde_json::to_value(&info).unwrap();
        assert!(v["entries"]["ips"].is_u64() && v["createdAt"].is_string() && v["accountId"].is_string(), "{v}");
        t.finish().await;
    }
}

fn heartbeat(agent: &str, lost: u64) -> Heartbeat {
    Heartbeat {
        agent_id: agent.into(),
        run_id: "r1".into(),
        hostname: "h1".into(),
        agent_version: "0.1.0".into(),
        kernel: "6.18".into(),
        mode: "host".into(),
        ecs_cluster: Some("prod".into()),
        ecs_task_arn: None,
        attached_programs: vec!["process_exec".into()],
        events_total: 10,
        events_lost: lost,
        cpu_percent: 1.5,
        rss_bytes: 40 << 20,
        started_at: "2026-11-28T10:00:00Z".parse().unwrap(),
        sent_at: "2026-11-28T10:00:30Z".parse().unwrap(),
        stopping: false,
    }
}

#[tokio::test]
async fn heartbeats_health_flips_and_health_events() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let a = s.admin_account().await.unwrap().id;
        let m = s.create_account("m").await.unwrap().id;
        let before = Utc::now() - Duration::seconds(1);
        s.record_heartbeat(&a, &heartbeat("ag1", 0)).await.unwrap();
        let prev = s.replace_heartbeat(&a, &heartbeat("ag1", 7)).await.unwrap();
        assert_eq!(prev.map(|h| h.events_lost), Some(0), "{db}: the one it replaced");
        s.record_heartbeat(&m, &heartbeat("ag2", 0)).await.unwrap();

        let agents = s.agents(&Scope::All).await.unwrap();
        assert_eq!(agents.len(), 2, "{db}");
        let ag1 = s.agent(&a, "ag1").await.unwrap().unwrap();
        assert_eq!(ag1.heartbeat, heartbeat("ag1", 7), "{db}: kept as sent");
        assert_eq!((ag1.health.status, ag1.health.issue.clone()), (HealthStatus::Healthy, None), "{db}");
        assert!(ag1.last_seen >= before, "{db}: the server's clock");
        let theirs = s.agents(&Scope::Account(m.clone())).await.unwrap();
        assert_eq!(theirs.iter().map(|r| r.agent_id.as_str()).collect::<Vec<_>>(), ["ag2"], "{db}");

        let at = |min: i64| "2026-11-28T10:00:00Z".parse::<chrono::DateTime<Utc>>().unwrap() + Duration::minutes(min);
        let dropped = Health { status: HealthStatus::Unhealthy, issue: Some("Events dropped".into()), since: at(1) };
        assert_eq!(
            s.set_agent_health(&a, "ag1", &dropped).await.unwrap().map(|h| h.status),
            Some(HealthStatus::Healthy)
        );
        assert_eq!(s.set_agent_health(&a, "ag1", &dropped).await.unwrap(), None, "{db}: no flip, no event");
        let silent =
            Health { status: HealthStatus::Unhealthy, issue: Some("Agent not reporting".into()), since: at(2) };
        let prev = s.set_agent_health(&a, "ag1", &silent).await.unwrap().unwrap();
        assert_eq!(prev.issue.as_deref(), Some("Events dropped"), "{db}: a new issue is a change too");
        let healthy = Health { status: HealthStatus::Healthy, issue: None, since: at(3) };
        assert!(s.set_agent_health(&a, "ag1", &healthy).await.unwrap().is_some());
        s.set_agent_health(&m, "ag2", &dropped).await.unwrap();
        let ag1 = s.agent(&a, "ag1").await.unwrap().unwrap();
        assert_eq!(ag1.health, healthy, "{db}");

        let ev = s.health_events(&Scope::Account(a.clone()), 10).await.unwrap();
        let seen: Vec<(HealthStatus, HealthStatus, Option<&str>)> =
            ev.iter().map(|e| (e.from, e.to, e.issue.as_deref())).collect();
        assert_eq!(
            seen,
            [
                (HealthStatus::Unhealthy, HealthStatus::Healthy, None),
                (HealthStatus::Unhealthy, HealthStatus::Unhealthy, Some("Agent not reporting")),
                (HealthStatus::Healthy, HealthStatus::Unhealthy, Some("Events dropped")),
            ],
            "{db}: newest first, this account only"
        );
        assert_eq!((ev[0].agent_id.as_str(), ev[0].subject.as_str(), ev[0].at), ("ag1", "h1 (ag1)", at(3)), "{db}");
        assert_eq!(s.health_events(&Scope::All, 2).await.unwrap().len(), 2, "{db}: limited");
        assert_eq!(s.health_events(&Scope::All, 100).await.unwrap().len(), 4, "{db}");
        assert!(s.agents(&Scope::Account("000000000000".into())).await.unwrap().is_empty());
        assert!(matches!(s.set_agent_health(&a, "nope", &healthy).await, Err(StoreError::NotFound(_))), "{db}");
        assert!(matches!(s.record_heartbeat("000000000000", &heartbeat("x", 0)).await, Err(StoreError::NotFound(_))));
        let mut nan = heartbeat("ag3", 0);
        nan.cpu_percent = f64::NAN;
        assert!(matches!(s.record_heartbeat(&a, &nan).await, Err(StoreError::InvalidInput(_))), "{db}");
        t.finish().await;
    }
}

#[tokio::test]
async fn settings_round_trip() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        assert_eq!(s.setting("settings").await.unwrap(), None, "{db}");
        let v = json!({"excludedEcsClusters": ["batch", "snowflake-❄"], "updateExportInterval": "ONE_HOUR"});
        s.put_setting("settings", &v).await.unwrap();
        assert_eq!(s.setting("settings").await.unwrap(), Some(v), "{db}");
        s.put_setting("settings", &json!({"x": "\u{0}"})).await.unwrap();
        assert_eq!(s.setting("settings").await.unwrap(), Some(json!({"x": "\u{0}"})), "{db}: replaced, NUL safe");
        t.finish().await;
    }
}
