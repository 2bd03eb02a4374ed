#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Findings on SQLite and PostgreSQL: idempotent ingest, tenancy,
//! suppression, archive, sort and paging, the histogram.

mod common;

use common::{all_ids, finding, finding_with, none, stores};
use saker_store::*;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};

const RS: &str = "Execution:Runtime/ReverseShell";

#[tokio::test]
async fn ingest_is_idempotent_per_source_and_sums_sources() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let a = s.admin_account().await.unwrap().id;
        let get = |id: &'static str| async move { s.finding(&Scope::All, id).await.unwrap().unwrap() };

        let first = finding("f1", RS, 8.0, 3, "2026-11-28T10:00:00Z");
        let o = s.ingest_findings(&a, "run-1", std::slice::from_ref(&first), &none).await.unwrap();
        assert!(o[0].created && o[0].changed && !o[0].archived, "{db}: {o:?}");
        assert_eq!(o[0].finding, get("f1").await, "{db}: the outcome carries the stored finding");
        let stored = get("f1").await;
        assert_eq!(stored["service"]["count"], 3, "{db}");
        assert_eq!(stored["accountId"], a.as_str(), "{db}: the server's account replaces the agent's");

        // Redelivering the same batch changes nothing.
        let o = s.ingest_findings(&a, "run-1", std::slice::from_ref(&first), &none).await.unwrap();
        assert!(!o[0].created && !o[0].changed, "{db}: {o:?}");
        assert_eq!(get("f1").await, stored, "{db}");

        // The same run reports its cumulative count: it replaces, never adds.
        let later = finding_with("f1", RS, 8.0, 5, "2026-11-28T10:05:00Z", json!({"title": "newer"}));
        let o = s.ingest_findings(&a, "run-1", &[later], &none).await.unwrap();
        assert!(!o[0].created && o[0].changed, "{db}");
        assert_eq!(get("f1").await["service"]["count"], 5, "{db}");

        // A restarted agent (a new run id) adds its own count.
        let restarted = finding_with(
            "f1",
            RS,
            8.0,
            2,
            "2026-11-28T10:06:00Z",
            json!({"createdAt": "2026-11-28T10:06:00Z", "title": "newest",
                   "service": {"eventFirstSeen": "2026-11-28T10:06:00Z", "eventLastSeen": "2026-11-28T10:06:30Z"}}),
        );
        s.ingest_findings(&a, "run-2", std::slice::from_ref(&restarted), &none).await.unwrap();
        let got = get("f1").await;
        assert_eq!(got["service"]["count"], 7, "{db}");
        assert_eq!(got["title"], "newest", "{db}: the newest report's content");
        assert_eq!(got["updatedAt"], "2026-11-28T10:06:00Z", "{db}");
        assert_eq!(got["createdAt"], "2026-11-28T10:00:00Z", "{db}: the earliest creation stays");
        assert_eq!(got["service"]["eventFirstSeen"], "2026-11-28T10:00:00Z", "{db}");
        assert_eq!(got["service"]["eventLastSeen"], "2026-11-28T10:06:30Z", "{db}");

        // Redelivering run-2's batch (or an older run-1 state) leaves every count alone.
        s.ingest_findings(&a, "run-2", std::slice::from_ref(&restarted), &none).await.unwrap();
        s.ingest_findings(&a, "run-1", std::slice::from_ref(&first), &none).await.unwrap();
        assert_eq!(get("f1").await, got, "{db}");

        // An older report of a new run adds its count but not its content.
        let old = finding_with(
            "f1",
            RS,
            8.0,
            1,
            "2026-11-28T09:00:00Z",
            json!({"title": "oldest", "service": {"eventFirstSeen": "2026-11-28T08:59:00Z"}}),
        );
        let o = s.ingest_findings(&a, "run-3", &[old], &none).await.unwrap();
        assert!(o[0].changed, "{db}");
        let got = get("f1").await;
        assert_eq!((got["service"]["count"].as_u64(), got["title"].as_str()), (Some(8), Some("newest")), "{db}");
        assert_eq!(got["updatedAt"], "2026-11-28T10:06:00Z", "{db}");
        assert_eq!(got["createdAt"], "2026-11-28T09:00:00Z", "{db}: min over reports");
        assert_eq!(got["service"]["eventFirstSeen"], "2026-11-28T08:59:00Z", "{db}");

        // A batch may name a finding twice, in any order; outcomes follow the batch.
        let batch = [
            finding("f3", RS, 8.0, 1, "2026-11-28T11:00:00Z"),
            finding("f2", RS, 8.0, 1, "2026-11-28T11:00:00Z"),
            finding("f3", RS, 8.0, 4, "2026-11-28T11:01:00Z"),
        ];
        let o = s.ingest_findings(&a, "run-9", &batch, &none).await.unwrap();
        let flags: Vec<(&str, bool)> = o.iter().map(|o| (o.id.as_str(), o.created)).collect();
        assert_eq!(flags, [("f3", true), ("f2", true), ("f3", false)], "{db}");
        assert_eq!(get("f3").await["service"]["count"], 4, "{db}");

        // Bad input is refused whole.
        let bad = finding("", RS, 8.0, 1, "2026-11-28T11:00:00Z");
        assert!(matches!(s.ingest_findings(&a, "r", &[bad], &none).await, Err(StoreError::InvalidInput(_))), "{db}");
        let f = finding("f9", RS, 8.0, 1, "2026-11-28T11:00:00Z");
        assert!(matches!(
            s.ingest_findings(&a, "", std::slice::from_ref(&f), &none).await,
            Err(StoreError::InvalidInput(_))
        ));
        assert!(matches!(s.ingest_findings("000000000000", "r", &[f], &none).await, Err(StoreError::NotFound(_))));
        assert!(s.finding(&Scope::All, "f9").await.unwrap().is_none(), "{db}");
        t.finish().await;
    }
}

#[tokio::test]
async fn concurrent_batches_for_the_same_finding_count_every_source() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let a = s.admin_account().await.unwrap().id;
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (s, a) = (s.clone(), a.clone());
                tokio::spawn(async move {
                    let batch: Vec<_> = ["x", "y", "z"]
                        .iter()
                        .map(|id| finding(id, RS, 8.0, 2, &format!("2026-11-28T10:0{i}:00Z")))
                        .collect();
                    s.ingest_findings(&a, &format!("run-{i}"), &batch, &none).await.unwrap()
                })
            })
            .collect();
        let mut created = 0;
        for task in tasks {
            created += task.await.unwrap().iter().filter(|o| o.created).count();
        }
        assert_eq!(created, 3, "{db}: each finding created once");
        for id in ["x", "y", "z"] {
            let f = s.finding(&Scope::All, id).await.unwrap().unwrap();
            assert_eq!(
                (f["service"]["count"].as_u64(), f["updatedAt"].as_str()),
                (Some(16), Some("2026-11-28T10:07:00Z"))
            );
        }
        t.finish().await;
    }
}

#[tokio::test]
async fn members_see_only_their_own_findings() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        s.admin_account().await.unwrap();
        let a = s.create_account("a").await.unwrap().id;
        let b = s.create_account("b").await.unwrap().id;
        let (sa, sb) = (Scope::Account(a.clone()), Scope::Account(b.clone()));
        s.ingest_findings(&a, "r", &[finding("fa", RS, 8.0, 1, "2026-11-28T10:00:00Z")], &none).await.unwrap();
        s.ingest_findings(&b, "r", &[finding("fb", RS, 8.0, 1, "2026-11-28T10:00:00Z")], &none).await.unwrap();
        // The same activity id in two accounts is two findings.
        s.ingest_findings(&a, "r", &[finding("shared", RS, 8.0, 2, "2026-11-28T10:00:00Z")], &none).await.unwrap();
        s.ingest_findings(&b, "r", &[finding("shared", RS, 8.0, 5, "2026-11-28T10:00:00Z")], &none).await.unwrap();

        assert!(s.finding(&sa, "fb").await.unwrap().is_none(), "{db}: another account's finding is not found");
        assert!(s.finding(&sa, "fa").await.unwrap().is_some(), "{db}");
        assert_eq!(s.finding(&sa, "shared").await.unwrap().unwrap()["service"]["count"], 2, "{db}");
        assert_eq!(s.finding(&sb, "shared").await.unwrap().unwrap()["service"]["count"], 5, "{db}");
        let mut ids = all_ids(s, &sa, &Value::Null).await;
        ids.sort();
        assert_eq!(ids, ["fa", "shared"], "{db}");
        // Even criteria naming the other account find nothing.
        assert!(all_ids(s, &sa, &json!({"criterion": {"accountId": {"eq": [b.as_str()]}}})).await.is_empty(), "{db}");
        assert_eq!(s.set_archived(&sa, &["fb".into()], true, "user:x").await.unwrap(), 0, "{db}");
        assert_eq!(s.finding(&sb, "fb").await.unwrap().unwrap()["service"]["archived"], false, "{db}");
        assert_eq!(s.set_archived(&sa, &["shared".into()], true, "user:x").await.unwrap(), 1, "{db}");
        assert_eq!(s.finding(&sb, "shared").await.unwrap().unwrap()["service"]["archived"], false, "{db}");
        let from = "2026-11-28T00:00:00Z".parse().unwrap();
        let to = "2026-11-29T00:00:00Z".parse().unwrap();
        let h = s.severity_histogram(&sa, from, to, chrono::Duration::days(1)).await.unwrap();
        assert_eq!(h[0].high, 2, "{db}: the histogram is scoped too");
        assert_eq!(all_ids(s, &Scope::All, &Value::Null).await.len(), 4, "{db}: the administrator sees all");
        t.finish().await;
    }
}

#[tokio::test]
async fn suppression_at_ingest_archives_new_findings_only() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let m = s.create_account("m").await.unwrap().id;
        let asked = AtomicUsize::new(0);
        let suppress = |f: &Value| {
            asked.fetch_add(1, Ordering::SeqCst);
            assert_eq!(f["accountId"], m.as_str(), "suppression sees the stored JSON");
            (f["type"] == "Discovery:Runtime/SuspiciousCommand").then(|| "quiet-discovery".to_owned())
        };
        let batch = [
            finding("d1", "Discovery:Runtime/SuspiciousCommand", 2.0, 1, "2026-11-28T10:00:00Z"),
            finding("x1", RS, 8.0, 1, "2026-11-28T10:00:00Z"),
        ];
        let o = s.ingest_findings(&m, "r", &batch, &suppress).await.unwrap();
        assert_eq!((o[0].archived, o[0].suppressed_by.as_deref()), (true, Some("quiet-discovery")), "{db}");
        assert_eq!((o[1].archived, o[1].suppressed_by.as_deref()), (false, None), "{db}");
        assert_eq!(o[0].finding["service"]["archivedBy"], "suppression:quiet-discovery", "{db}");
        let d1 = s.finding(&Scope::All, "d1").await.unwrap().unwrap();
        assert_eq!(d1["service"]["archived"], true, "{db}");
        assert_eq!(d1["service"]["archivedBy"], "suppression:quiet-discovery", "{db}");
        assert_eq!(asked.load(Ordering::SeqCst), 2);

        // Updates of known findings are not asked about and keep their state.
        let update = finding("d1", "Discovery:Runtime/SuspiciousCommand", 2.0, 4, "2026-11-28T10:05:00Z");
        let o = s.ingest_findings(&m, "r", &[update], &suppress).await.unwrap();
        assert_eq!((o[0].created, o[0].changed, o[0].archived, o[0].suppressed_by.clone()), (false, true, true, None));
        assert_eq!(asked.load(Ordering::SeqCst), 2, "{db}: suppress is for new findings only");
        let d1 = s.finding(&Scope::All, "d1").await.unwrap().unwrap();
        assert_eq!((d1["service"]["count"].as_u64(), d1["service"]["archived"].as_bool()), (Some(4), Some(true)));
        t.finish().await;
    }
}

#[tokio::test]
async fn archive_unarchive_and_archive_matching() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let a = s.admin_account().await.unwrap().id;
        let batch: Vec<_> = (0..4)
            .map(|i| finding(&format!("f{i}"), RS, 2.0 + f64::from(i) * 2.0, 1, "2026-11-28T10:00:00Z"))
            .collect();
        s.ingest_findings(&a, "r", &batch, &none).await.unwrap();
        let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        assert_eq!(s.set_archived(&Scope::All, &ids(&["f0", "f1", "f1", "nope"]), true, "user:0123").await.unwrap(), 2);
        let f0 = s.finding(&Scope::All, "f0").await.unwrap().unwrap();
        assert_eq!(
            (f0["service"]["archived"].as_bool(), f0["service"]["archivedBy"].as_str()),
            (Some(true), Some("user:0123"))
        );
        let archived = json!({"criterion": {"service.archived": {"eq": [true]}}});
        assert_eq!(all_ids(s, &Scope::All, &archived).await.len(), 2, "{db}");
        assert_eq!(s.set_archived(&Scope::All, &ids(&["f0"]), false, "user:0123").await.unwrap(), 1);
        let f0 = s.finding(&Scope::All, "f0").await.unwrap().unwrap();
        assert_eq!(f0["service"]["archived"], false, "{db}");
        assert!(f0["service"].get("archivedBy").is_none(), "{db}: {f0}");
        assert_eq!(s.set_archived(&Scope::All, &[], true, "user:x").await.unwrap(), 0);
        assert!(matches!(s.set_archived(&Scope::All, &ids(&["f0"]), true, "").await, Err(StoreError::InvalidInput(_))));

        // What creating an ARCHIVE filter does to stored findings.
        let high = Criteria::parse(&json!({"criterion": {"severity": {"gte": 6}}})).unwrap();
        assert_eq!(s.archive_matching(&Scope::All, &high, "suppression:high").await.unwrap(), 2, "{db}: f2, f3");
        assert_eq!(s.archive_matching(&Scope::All, &high, "suppression:high").await.unwrap(), 0, "{db}: already");
        let f3 = s.finding(&Scope::All, "f3").await.unwrap().unwrap();
        assert_eq!(f3["service"]["archivedBy"], "suppression:high", "{db}");
        assert!(matches!(
            s.archive_matching(&Scope::All, &Criteria::default(), "x").await,
            Err(StoreError::InvalidInput(_))
        ));
        t.finish().await;
    }
}

/// Twelve findings with colliding sort keys, so ties need the id.
fn sortable() -> Vec<saker_detect::Finding> {
    let types =
        ["Execution:Runtime/ReverseShell", "Impact:Runtime/CryptoMinerExecuted", "Discovery:Runtime/SuspiciousCommand"];
    (0..12u32)
        .map(|i| {
            finding_with(
                &format!("f{i:02}"),
                types[(i % 3) as usize],
                [2.0, 5.0, 8.0][(i % 3) as usize],
                u64::from(i % 4),
                &format!("2026-11-28T10:{:02}:00Z", i % 5),
                json!({"createdAt": format!("2026-11-28T09:{:02}:00Z", (i * 7) % 6)}),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_sort_pages_without_gaps_or_repeats() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let a = s.admin_account().await.unwrap().id;
        let fs = sortable();
        s.ingest_findings(&a, "r", &fs, &none).await.unwrap();
        for attr in ["updatedAt", "createdAt", "severity", "count", "type"] {
            for order in ["ASC", "DESC"] {
                let sort = Sort::parse(&json!({"attributeName": attr, "orderBy": order})).unwrap();
                // The expected order, computed here: the key, then id.
                let mut want: Vec<(Value, String)> = fs
                    .iter()
                    .map(|f| {
                        let v = serde_json::to_value(f).unwrap();
                        let key = match attr {
                            "count" => v["service"]["count"].clone(),
                            _ => v[attr].clone(),
                        };
                        (key, f.id.clone())
                    })
                    .collect();
                want.sort_by(|(ka, ia), (kb, ib)| {
                    let k = match (ka.as_f64(), kb.as_f64()) {
                        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap(),
                        _ => ka.as_str().unwrap().cmp(kb.as_str().unwrap()),
                    };
                    k.then(ia.cmp(ib))
                });
                if order == "DESC" {
                    want.reverse();
                }
                let want: Vec<String> = want.into_iter().map(|(_, id)| id).collect();
                let mut got = Vec::new();
                let mut q = FindingQuery { sort, max_results: 5, ..Default::default() };
                let mut pages = 0;
                loop {
                    let page = s.search_findings(&Scope::All, &q).await.unwrap();
                    pages += 1;
                    got.extend(page.findings.iter().map(|f| f["id"].as_str().unwrap().to_owned()));
                    match page.next_token {
                        Some(tok) => q.next_token = Some(tok),
                        None => break,
                    }
                }
                assert_eq!(got, want, "{db}: {attr} {order}");
                assert_eq!(pages, 3, "{db}: 5 + 5 + 2");
            }
        }
        t.finish().await;
    }
}

#[tokio::test]
async fn paging_is_stable_under_inserts_and_tokens_are_checked() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let a = s.admin_account().await.unwrap().id;
        let fs = sortable();
        s.ingest_findings(&a, "r", &fs, &none).await.unwrap();
        let mut q = FindingQuery { max_results: 4, ..Default::default() };
        let first = s.search_findings(&Scope::All, &q).await.unwrap();
        let mut seen: Vec<String> = first.findings.iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect();
        // New findings sorting before, between and after the pages so far.
        let newcomers: Vec<_> = ["n1", "n2", "n3"]
            .iter()
            .zip(["2026-11-28T11:00:00Z", "2026-11-28T10:02:00Z", "2026-11-28T08:00:00Z"])
            .map(|(id, at)| finding(id, RS, 8.0, 1, at))
            .collect();
        s.ingest_findings(&a, "r2", &newcomers, &none).await.unwrap();
        q.next_token = first.next_token;
        while q.next_token.is_some() {
            let page = s.search_findings(&Scope::All, &q).await.unwrap();
            seen.extend(page.findings.iter().map(|f| f["id"].as_str().unwrap().to_owned()));
            q.next_token = page.next_token;
        }
        let mut originals: Vec<&String> = seen.iter().filter(|id| id.starts_with('f')).collect();
        let n = originals.len();
        originals.sort();
        originals.dedup();
        assert_eq!((n, originals.len()), (12, 12), "{db}: every original exactly once: {seen:?}");
        assert!(!seen.contains(&"n1".to_owned()), "{db}: a row before the cursor does not appear");
        assert!(seen.contains(&"n3".to_owned()), "{db}: a row after the cursor does");

        let bad = |token: &str, sort: Sort, max: u32| {
            let q = FindingQuery { next_token: Some(token.into()), sort, max_results: max, ..Default::default() };
            async move { s.search_findings(&Scope::All, &q).await }
        };
        let token = s
            .search_findings(&Scope::All, &FindingQuery { max_results: 1, ..Default::default() })
            .await
            .unwrap()
            .next_token
            .unwrap();
        let by_type = Sort::parse(&json!({"attributeName": "type"})).unwrap();
        for (tok, sort) in [("garbage", Sort::default()), ("7b7d", Sort::default()), (token.as_str(), by_type)] {
            let e = bad(tok, sort, 5).await.unwrap_err();
            assert!(matches!(&e, StoreError::InvalidInput(m) if m.contains("nextToken")), "{db}: {e}");
        }
        for max in [0, 501] {
            let q = FindingQuery { max_results: max, ..Default::default() };
            assert!(matches!(s.search_findings(&Scope::All, &q).await, Err(StoreError::InvalidInput(_))), "{db}");
        }
        t.finish().await;
    }
}

#[tokio::test]
async fn histogram_counts_new_findings_by_label_in_zero_filled_buckets() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let a = s.admin_account().await.unwrap().id;
        let at = |created: &str, updated: &str, id: &str, sev: f64| {
            finding_with(id, RS, sev, 1, updated, json!({"createdAt": created}))
        };
        let batch = [
            at("2026-11-28T10:10:00Z", "2026-11-28T10:10:00Z", "h1", 8.0),
            // Updated later, but counted where it was created.
            at("2026-11-28T10:59:59.999Z", "2026-11-28T12:30:00Z", "h2", 5.0),
            at("2026-11-28T12:00:00Z", "2026-11-28T12:00:00Z", "h3", 2.0),
            at("2026-11-28T12:10:00Z", "2026-11-28T12:10:00Z", "h4", 2.0),
            // Outside [from, to).
            at("2026-11-28T09:59:59.999Z", "2026-11-28T10:00:00Z", "h5", 8.0),
            at("2026-11-28T13:00:00Z", "2026-11-28T13:00:00Z", "h6", 8.0),
        ];
        s.ingest_findings(&a, "r", &batch, &none).await.unwrap();
        let from = "2026-11-28T10:00:00Z".parse().unwrap();
        let to = "2026-11-28T13:00:00Z".parse().unwrap();
        let h = s.severity_histogram(&Scope::All, from, to, chrono::Duration::hours(1)).await.unwrap();
        let counts: Vec<(String, u64, u64, u64)> =
            h.iter().map(|b| (b.start.format("%H:%M").to_string(), b.high, b.medium, b.low)).collect();
        assert_eq!(counts, [("10:00".into(), 1, 1, 0), ("11:00".into(), 0, 0, 0), ("12:00".into(), 0, 0, 2)], "{db}");
        let bad = s.severity_histogram(&Scope::All, to, from, chrono::Duration::hours(1)).await;
        assert!(matches!(bad, Err(StoreError::InvalidInput(_))), "{db}");
        let bad = s.severity_histogram(&Scope::All, from, to, chrono::Duration::zero()).await;
        assert!(matches!(bad, Err(StoreError::InvalidInput(_))), "{db}");
        t.finish().await;
    }
}
