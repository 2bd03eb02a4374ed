#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Raw telemetry on SQLite and PostgreSQL: idempotent redelivery, malformed
//! entries, every filter, keyset paging to the end, tenancy, pruning.

mod common;

use chrono::{DateTime, Utc};
use common::stores;
use saker_store::*;
use serde_json::{Value, json};

/// An event at `2026-11-28T12:00:<sec>Z`, with a JSON object merged in.
fn event(kind: &str, sec: u32, patch: Value) -> Vec<u8> {
    let mut v = json!({
        "kind": kind, "time": format!("2026-11-28T12:00:{sec:02}.000000001Z"), "result": 0,
        "process": {"uuid": "u", "pid": 10, "nsPid": 1, "name": "sh", "executable": "/bin/sh", "argv": ["sh"],
                    "uid": 0, "euid": 0, "gid": 0, "egid": 0},
        "lineage": [], "container": null, "host": {"hostname": "host-1", "machineId": "m"}
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut v, patch) {
        a.extend(b);
    }
    serde_json::to_vec(&v).unwrap()
}

fn batch(events: &[(u64, Vec<u8>)]) -> Vec<(u64, &[u8])> {
    events.iter().map(|(s, e)| (*s, e.as_slice())).collect()
}

fn at(sec: u32) -> DateTime<Utc> {
    format!("2026-11-28T12:00:{sec:02}Z").parse().unwrap()
}

/// (run, seq) of every event the query finds, following nextToken to the end.
async fn all(s: &Store, scope: &Scope, q: &TelemetryQuery) -> Vec<(String, i64)> {
    let mut q = q.clone();
    let mut out = Vec::new();
    loop {
        let page = s.search_telemetry(scope, &q).await.unwrap();
        assert!(page.events.len() <= q.max_results as usize);
        out.extend(page.events.iter().map(|r| (r.run_id.clone(), r.seq)));
        match page.next_token {
            Some(t) => q.next_token = Some(t),
            None => return out,
        }
    }
}

fn seqs(found: &[(String, i64)]) -> Vec<i64> {
    found.iter().map(|(_, s)| *s).collect()
}

#[tokio::test]
async fn redelivery_stores_nothing_twice_and_malformed_entries_are_skipped() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let a = s.admin_account().await.unwrap().id;
        let events = vec![
            (1, event("process.exec", 1, json!({}))),
            (2, b"{not json".to_vec()),
            (3, event("net.connect", 3, json!({}))),
            (4, br#"{"kind": "process.exec"}"#.to_vec()),
            (5, b"[1, 2]".to_vec()),
            (6, event("file.write", 6, json!({}))),
        ];
        let r = s.ingest_telemetry(&a, "agent-1", "run-1", &batch(&events)).await.unwrap();
        assert_eq!(r, TelemetryIngest { stored: 3, duplicate: 0, malformed: 3 }, "{db}");
        // The same batch again (a lost Ack): nothing new.
        let r = s.ingest_telemetry(&a, "agent-1", "run-1", &batch(&events)).await.unwrap();
        assert_eq!(r, TelemetryIngest { stored: 0, duplicate: 3, malformed: 3 }, "{db}");
        // The same seqs from another run are other events.
        let r = s.ingest_telemetry(&a, "agent-1", "run-2", &batch(&events[..1])).await.unwrap();
        assert_eq!(r.stored, 1, "{db}");
        // A batch of nothing but garbage still succeeds.
        let r = s.ingest_telemetry(&a, "agent-1", "run-1", &[(9, &b"\xff\xfe"[..])]).await.unwrap();
        assert_eq!(r, TelemetryIngest { stored: 0, duplicate: 0, malformed: 1 }, "{db}");

        let found = all(s, &Scope::All, &TelemetryQuery::default()).await;
        assert_eq!(
            found,
            vec![("run-1".into(), 6), ("run-1".into(), 3), ("run-2".into(), 1), ("run-1".into(), 1)],
            "{db}: newest first; ties by run, then seq"
        );
        let page = s.search_telemetry(&Scope::All, &TelemetryQuery::default()).await.unwrap();
        let first = &page.events[0];
        assert_eq!((first.account_id.as_str(), first.agent_id.as_str()), (a.as_str(), "agent-1"), "{db}");
        assert_eq!(first.event["kind"], "file.write", "{db}: the event as sent");

        // Bad ids and unknown accounts are the caller's mistakes.
        assert!(s.ingest_telemetry(&a, "", "run-1", &[]).await.unwrap_err().is_client_error(), "{db}");
        assert!(s.ingest_telemetry(&a, "agent", "run\n1", &[]).await.unwrap_err().is_client_error(), "{db}");
        let e = s.ingest_telemetry("000000000000", "agent", "run", &[]).await.unwrap_err();
        assert!(matches!(e, StoreError::NotFound(_)), "{db}: {e}");
        t.finish().await;
    }
}

#[tokio::test]
async fn filters_find_what_hunting_asks_for() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let a = s.admin_account().await.unwrap().id;
        let web = json!({"container": {"id": "0123456789abcdef0123", "name": "web", "runtime": "docker"},
                         "ecs": {"cluster": "prod"}});
        let mut curl = web.clone();
        curl["process"] = json!({"name": "curl", "executable": "/usr/bin/curl", "pid": 5, "argv": ["curl"]});
        let mut connect = curl.clone();
        connect["net"] =
            json!({"family": "inet", "protocol": "tcp", "remoteAddress": "203.0.113.7", "remotePort": 443});
        let events = vec![
            (1, event("process.exec", 1, curl)),
            (2, event("net.connect", 2, connect)),
            (3, event("dns.query", 3, json!({"dns": {"id": 1, "questions": [{"name": "evil.example", "type": "A"}]}}))),
            (4, event("file.write", 4, json!({"file": {"path": "/etc/50%_off"}}))),
            (5, event("net.accept", 5, web)),
        ];
        s.ingest_telemetry(&a, "agent-1", "run-1", &batch(&events)).await.unwrap();
        s.ingest_telemetry(&a, "agent-2", "run-9", &batch(&[(1, event("process.exit", 6, json!({})))])).await.unwrap();
        let q = |f: fn(&mut TelemetryQuery)| {
            let mut q = TelemetryQuery::default();
            f(&mut q);
            q
        };
        let cases: Vec<(TelemetryQuery, Vec<i64>)> = vec![
            (q(|q| q.kind = Some("net.connect".into())), vec![2]),
            (q(|q| q.kind = Some("net.*".into())), vec![5, 2]),
            (q(|q| q.kind = Some("net".into())), vec![]),
            (q(|q| q.agent_id = Some("agent-2".into())), vec![1]),
            (q(|q| q.since = Some(at(2))), vec![1, 5, 4, 3, 2]),
            (q(|q| q.until = Some(at(2))), vec![1]),
            (
                q(|q| {
                    q.since = Some(at(2));
                    q.until = Some(at(4));
                }),
                vec![3, 2],
            ),
            (q(|q| q.executable = Some("/usr/bin/curl".into())), vec![2, 1]),
            (q(|q| q.executable = Some("curl".into())), vec![2, 1]),
            (q(|q| q.executable = Some("/usr/bin/cur".into())), vec![]),
            (q(|q| q.container = Some("0123456789ab".into())), vec![5, 2, 1]),
            (q(|q| q.container = Some("web".into())), vec![5, 2, 1]),
            (q(|q| q.container = Some("0123456789a%".into())), vec![]),
            (q(|q| q.cluster = Some("prod".into())), vec![5, 2, 1]),
            (q(|q| q.cluster = Some("Prod".into())), vec![]),
            (q(|q| q.remote_ip = Some("203.0.113.7".into())), vec![2]),
            (q(|q| q.dns_name = Some("evil.example".into())), vec![3]),
            (q(|q| q.contains = Some("50%_off".into())), vec![4]),
            (q(|q| q.contains = Some("50_".into())), vec![]),
            (q(|q| q.contains = Some("EVIL".into())), vec![]),
            (
                q(|q| {
                    q.kind = Some("net.*".into());
                    q.executable = Some("curl".into());
                }),
                vec![2],
            ),
        ];
        for (query, want) in cases {
            assert_eq!(seqs(&all(s, &Scope::All, &query).await), want, "{db}: {query:?}");
        }
        for bad in [
            q(|q| q.max_results = 0),
            q(|q| q.max_results = MAX_TELEMETRY_RESULTS + 1),
            q(|q| q.next_token = Some("forged".into())),
            q(|q| q.kind = Some(String::new())),
            q(|q| q.contains = Some("a\u{0}b".into())),
            q(|q| {
                q.since = Some(at(5));
                q.until = Some(at(5));
            }),
        ] {
            let e = s.search_telemetry(&Scope::All, &bad).await.unwrap_err();
            assert!(matches!(e, StoreError::InvalidInput(_)), "{db}: {bad:?} → {e}");
        }
        t.finish().await;
    }
}

#[tokio::test]
async fn paging_reaches_the_end_without_repeats_and_members_see_their_own() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let admin = s.admin_account().await.unwrap().id;
        let member = s.create_account("team-a").await.unwrap().id;
        // Many events share a timestamp: the keyset must break ties.
        let mine: Vec<(u64, Vec<u8>)> =
            (1..=23).map(|i| (i, event("process.exec", (i % 4) as u32, json!({})))).collect();
        s.ingest_telemetry(&member, "agent-m", "run-m", &batch(&mine)).await.unwrap();
        let theirs: Vec<(u64, Vec<u8>)> = (1..=9).map(|i| (i, event("process.exec", 2, json!({})))).collect();
        s.ingest_telemetry(&admin, "agent-a", "run-a", &batch(&theirs)).await.unwrap();

        for page_size in [1, 4, 7, 100] {
            let q = TelemetryQuery { max_results: page_size, ..Default::default() };
            let everything = all(s, &Scope::All, &q).await;
            assert_eq!(everything.len(), 32, "{db}: page size {page_size}");
            let mut unique = everything.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), 32, "{db}: no repeats at page size {page_size}");
            let own = all(s, &Scope::Account(member.clone()), &q).await;
            assert_eq!(own.len(), 23, "{db}: page size {page_size}");
            assert!(own.iter().all(|(run, _)| run == "run-m"), "{db}: a member sees only its account");
        }
        // Even a filter naming the other account's agent finds nothing.
        let q = TelemetryQuery { agent_id: Some("agent-a".into()), ..Default::default() };
        assert!(all(s, &Scope::Account(member.clone()), &q).await.is_empty(), "{db}");
        let page = s.search_telemetry(&Scope::Account(member.clone()), &TelemetryQuery::default()).await.unwrap();
        assert!(page.events.iter().all(|r| r.account_id == member), "{db}");
        t.finish().await;
    }
}

#[tokio::test]
async fn pruning_drops_what_was_received_before_the_cutoff() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let a = s.admin_account().await.unwrap().id;
        let old: Vec<(u64, Vec<u8>)> = (1..=3).map(|i| (i, event("process.exec", 1, json!({})))).collect();
        s.ingest_telemetry(&a, "agent", "run", &batch(&old)).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let cutoff = Utc::now();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        // Newer by arrival, though older by event time: retention counts arrival.
        let new: Vec<(u64, Vec<u8>)> = (4..=5).map(|i| (i, event("process.exec", 0, json!({})))).collect();
        s.ingest_telemetry(&a, "agent", "run", &batch(&new)).await.unwrap();

        assert_eq!(s.prune_telemetry(cutoff - chrono::Duration::hours(1)).await.unwrap(), 0, "{db}");
        assert_eq!(s.prune_telemetry(cutoff).await.unwrap(), 3, "{db}");
        assert_eq!(seqs(&all(s, &Scope::All, &TelemetryQuery::default()).await), vec![5, 4], "{db}");
        assert_eq!(s.prune_telemetry(cutoff).await.unwrap(), 0, "{db}: nothing left to prune");
        assert_eq!(s.prune_telemetry(Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 2, "{db}");
        assert!(all(s, &Scope::All, &TelemetryQuery::default()).await.is_empty(), "{db}");
        t.finish().await;
    }
}
