#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Finding criteria on SQLite and PostgreSQL: every operator, the fields,
//! wildcards with LIKE's special characters, time ranges — and the SQL
//! evaluator and the in-memory one agree on every case.

mod common;

use common::{all_ids, finding_with, none, stores};
use saker_store::*;
use serde_json::{Value, json};

/// Findings that differ in every field the cases look at.
fn findings() -> Vec<saker_detect::Finding> {
    let sha = |c: char| c.to_string().repeat(64);
    vec![
        finding_with(
            "f-rs",
            "Execution:Runtime/ReverseShell",
            8.0,
            1,
            "2026-11-28T10:00:00Z",
            json!({"service": {"runtimeDetails": {"process": {"executableSha256": sha('a')}}}}),
        ),
        finding_with(
            "f-miner",
            "Impact:Runtime/CryptoMinerExecuted",
            8.0,
            5,
            "2026-11-28T11:00:00Z",
            json!({
                "resource": {"instanceDetails": {"hostname": "host-2"},
                    "containerDetails": {"id": "c2", "name": "cache", "image": "redis:7"},
                    "ecsClusterDetails": {"taskDetails": {"containers": [{"id": "c2", "name": "cache", "image": "redis:7"}]}}},
                "service": {"runtimeDetails": {"process": {"name": "xmrig", "executablePath": "/tmp/xmrig", "executableSha256": sha('b')}}}
            }),
        ),
        finding_with(
            "f-low",
            "Discovery:Runtime/SuspiciousCommand",
            2.0,
            3,
            "2026-11-28T09:00:00Z",
            json!({"region": null, "resource": {"resourceType": "Instance", "ecsClusterDetails": null, "containerDetails": null,
                "instanceDetails": {"instanceId": null}}}),
        ),
        finding_with(
            "f-pct",
            "Execution:Runtime/NewBinaryExecuted",
            5.0,
            1,
            "2026-11-28T10:45:00Z",
            json!({"service": {"runtimeDetails": {"process": {"name": "run_1", "executablePath": "/opt/50%_off/run"}}}}),
        ),
        finding_with(
            "f-lit",
            "Execution:Runtime/NewBinaryExecuted",
            5.5,
            2,
            "2026-11-28T10:45:00.001Z",
            json!({"service": {"runtimeDetails": {"process": {"name": "runX1", "executablePath": "/opt/50XYoff/run"}}}}),
        ),
        finding_with(
            "f-k8s",
            "Execution:Runtime/SuspiciousTool",
            6.0,
            9,
            "2026-11-28T12:00:00Z",
            json!({"region": "eu-west-1",
                "resource": {"resourceType": "EKSCluster", "ecsClusterDetails": null,
                    "containerDetails": {"id": "k1", "name": "api", "image": "ghcr.io/acme/api:2"},
                    "kubernetesDetails": {"kubernetesWorkloadDetails": {"name": "api-7d9f", "namespace": "prod", "containers": []}}},
                "service": {"additionalInfo": {"agentDetails": {"agentVersion": "0.2.0"}},
                    "runtimeDetails": {"process": {"name": "nmap", "executablePath": "/usr/bin/nmap"}}}}),
        ),
        // An ECS task with two containers: its container columns hold the first.
        finding_with(
            "f-task2",
            "Persistence:Runtime/SuspiciousCommand",
            5.0,
            4,
            "2026-11-28T10:30:00Z",
            json!({"resource": {
                "ecsClusterDetails": {"name": "staging", "taskDetails": {"arn": "arn:aws:ecs:us-east-1:123456789012:task/staging/def",
                    "containers": [{"id": "e1", "name": "envoy", "image": "envoy:1"}, {"id": "c1", "name": "web", "image": "nginx:1.25"}]}},
                "containerDetails": {"id": "c1", "name": "web", "image": "nginx:1.25"}}}),
        ),
    ]
}

/// (criteria, the ids they must select — `None` where only agreement is checked).
fn cases(account: &str) -> Vec<(Value, Option<Vec<&'static str>>)> {
    let all = vec!["f-k8s", "f-lit", "f-low", "f-miner", "f-pct", "f-rs", "f-task2"];
    vec![
        // Numbers: every operator.
        (json!({"criterion": {"severity": {"gte": 7}}}), Some(vec!["f-miner", "f-rs"])),
        (json!({"criterion": {"severity": {"gt": 6}}}), Some(vec!["f-miner", "f-rs"])),
        (json!({"criterion": {"severity": {"lt": 5}}}), Some(vec!["f-low"])),
        (json!({"criterion": {"severity": {"lte": 5}}}), Some(vec!["f-low", "f-pct", "f-task2"])),
        (json!({"criterion": {"severity": {"eq": [5.5, 6]}}}), Some(vec!["f-k8s", "f-lit"])),
        (json!({"criterion": {"severity": {"neq": [8, 5]}}}), Some(vec!["f-k8s", "f-lit", "f-low"])),
        (json!({"criterion": {"severity": {"gt": 5, "lt": 8}}}), Some(vec!["f-k8s", "f-lit"])),
        (json!({"criterion": {"service.count": {"gt": 2.5}}}), Some(vec!["f-k8s", "f-low", "f-miner", "f-task2"])),
        (json!({"criterion": {"service.count": {"eq": [1]}}}), Some(vec!["f-pct", "f-rs"])),
        (json!({"criterion": {"service.count": {"gte": 9, "lte": 9}}}), Some(vec!["f-k8s"])),
        // Text: eq, neq, matches, notMatches.
        (
            json!({"criterion": {"type": {"eq": ["Execution:Runtime/ReverseShell", "Impact:Runtime/CryptoMinerExecuted"]}}}),
            Some(vec!["f-miner", "f-rs"]),
        ),
        (json!({"criterion": {"type": {"neq": ["Execution:Runtime/NewBinaryExecuted"]}}}), None),
        (json!({"criterion": {"type": {"matches": ["Execution:*"]}}}), Some(vec!["f-k8s", "f-lit", "f-pct", "f-rs"])),
        (json!({"criterion": {"type": {"notMatches": ["*Runtime/Reverse?hell", "*Command"]}}}), None),
        (json!({"criterion": {"id": {"matches": ["f-*"]}}}), Some(all.clone())),
        (json!({"criterion": {"id": {"matches": ["F-*"]}}}), Some(vec![])),
        (json!({"criterion": {"id": {"eq": ["f-low"]}}}), Some(vec!["f-low"])),
        (json!({"criterion": {"accountId": {"eq": [account]}}}), Some(all.clone())),
        (json!({"criterion": {"accountId": {"eq": ["999999999999"]}}}), Some(vec![])),
        (json!({"criterion": {"region": {"eq": ["eu-west-1"]}}}), Some(vec!["f-k8s"])),
        // A missing region is "not us-east-1".
        (json!({"criterion": {"region": {"neq": ["us-east-1"]}}}), Some(vec!["f-k8s", "f-low"])),
        (json!({"criterion": {"region": {"notMatches": ["us-*"]}}}), Some(vec!["f-k8s", "f-low"])),
        (
            json!({"criterion": {"resource.resourceType": {"eq": ["Instance", "EKSCluster"]}}}),
            Some(vec!["f-k8s", "f-low"]),
        ),
        (json!({"criterion": {"resource.instanceDetails.instanceId": {"eq": ["i-0abc"]}}}), None),
        (json!({"criterion": {"resource.instanceDetails.hostname": {"matches": ["host-?"]}}}), Some(all.clone())),
        (json!({"criterion": {"resource.instanceDetails.hostname": {"eq": ["host-2"]}}}), Some(vec!["f-miner"])),
        (json!({"criterion": {"resource.ecsClusterDetails.name": {"eq": ["staging"]}}}), Some(vec!["f-task2"])),
        (json!({"criterion": {"resource.ecsClusterDetails.taskDetails.arn": {"matches": ["*:task/prod/*"]}}}), None),
        (
            json!({"criterion": {"resource.ecsClusterDetails.taskDetails.containers.image": {"eq": ["envoy:1"]}}}),
            Some(vec!["f-task2"]),
        ),
        (
            json!({"criterion": {"resource.ecsClusterDetails.taskDetails.containers.name": {"eq": ["cache"]}}}),
            Some(vec!["f-miner"]),
        ),
        (json!({"criterion": {"resource.containerDetails.image": {"matches": ["nginx:*"]}}}), None),
        (json!({"criterion": {"resource.containerDetails.image": {"matches": ["ghcr.io/*"]}}}), Some(vec!["f-k8s"])),
        (json!({"criterion": {"resource.containerDetails.name": {"neq": ["web"]}}}), None),
        (json!({"criterion": {"resource.containerDetails.id": {"eq": ["e1", "k1"]}}}), Some(vec!["f-k8s", "f-task2"])),
        (
            json!({"criterion": {"resource.kubernetesDetails.kubernetesWorkloadDetails.name": {"matches": ["api-*"]}}}),
            Some(vec!["f-k8s"]),
        ),
        (
            json!({"criterion": {"resource.kubernetesDetails.kubernetesWorkloadDetails.namespace": {"eq": ["prod"]}}}),
            Some(vec!["f-k8s"]),
        ),
        (json!({"criterion": {"service.runtimeDetails.process.name": {"eq": ["sh"]}, "severity": {"gte": 5}}}), None),
        (
            json!({"criterion": {"service.runtimeDetails.process.name": {"matches": ["run?1"]}}}),
            Some(vec!["f-lit", "f-pct"]),
        ),
        (json!({"criterion": {"service.runtimeDetails.process.name": {"matches": ["run_1"]}}}), Some(vec!["f-pct"])),
        (
            json!({"criterion": {"service.runtimeDetails.process.executablePath": {"matches": ["/opt/50%_off/*"]}}}),
            Some(vec!["f-pct"]),
        ),
        (
            json!({"criterion": {"service.runtimeDetails.process.executablePath": {"matches": ["/opt/50?_off/*"]}}}),
            Some(vec!["f-pct"]),
        ),
        (
            json!({"criterion": {"service.runtimeDetails.process.executablePath": {"matches": ["/opt/50??off/*"]}}}),
            Some(vec!["f-lit", "f-pct"]),
        ),
        (
            json!({"criterion": {"service.runtimeDetails.process.executablePath": {"matches": ["/BIN/*"]}}}),
            Some(vec![]),
        ),
        (
            json!({"criterion": {"service.runtimeDetails.process.executablePath": {"notMatches": ["/opt/*", "/bin/*"]}}}),
            None,
        ),
        (
            json!({"criterion": {"service.runtimeDetails.process.executableSha256": {"eq": ["a".repeat(64), "b".repeat(64)]}}}),
            Some(vec!["f-miner", "f-rs"]),
        ),
        (
            json!({"criterion": {"service.additionalInfo.agentDetails.agentVersion": {"neq": ["0.1.0"]}}}),
            Some(vec!["f-k8s"]),
        ),
        // Times: RFC 3339 or epoch milliseconds, to the millisecond.
        (
            json!({"criterion": {"updatedAt": {"gte": "2026-11-28T10:45:00Z", "lt": "2026-11-28T12:00:00Z"}}}),
            Some(vec!["f-lit", "f-miner", "f-pct"]),
        ),
        (json!({"criterion": {"updatedAt": {"gt": "2026-11-28T10:45:00Z"}}}), Some(vec!["f-k8s", "f-lit", "f-miner"])),
        (
            json!({"criterion": {"updatedAt": {"gt": "2026-11-28T11:45:00+01:00"}}}),
            Some(vec!["f-k8s", "f-lit", "f-miner"]),
        ),
        (json!({"criterion": {"updatedAt": {"eq": [1795862700001i64]}}}), Some(vec!["f-lit"])),
        (json!({"criterion": {"updatedAt": {"lte": 1795860000000i64}}}), Some(vec!["f-low", "f-rs"])),
        (json!({"criterion": {"createdAt": {"lt": "2026-11-28T10:00:00Z"}}}), Some(vec!["f-low"])),
        // Archive state (f-low is archived before the cases run).
        (json!({"criterion": {"service.archived": {"eq": [true]}}}), Some(vec!["f-low"])),
        (json!({"criterion": {"service.archived": {"neq": [true]}, "severity": {"lt": 5}}}), Some(vec![])),
    ]
}

#[tokio::test]
async fn sql_and_memory_evaluators_agree_on_every_case() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let a = s.admin_account().await.unwrap().id;
        let fs = findings();
        s.ingest_findings(&a, "r", &fs, &none).await.unwrap();
        s.set_archived(&Scope::All, &["f-low".into()], true, "user:t").await.unwrap();
        let mut stored = Vec::new();
        for f in &fs {
            stored.push(s.finding(&Scope::All, &f.id).await.unwrap().unwrap());
        }
        for (c, want) in cases(&a) {
            let criteria = Criteria::parse(&c).unwrap();
            let mut by_sql = all_ids(s, &Scope::All, &c).await;
            by_sql.sort();
            let mut by_memory: Vec<String> =
                stored.iter().filter(|f| criteria.matches(f)).map(|f| f["id"].as_str().unwrap().to_owned()).collect();
            by_memory.sort();
            assert_eq!(by_sql, by_memory, "{db}: SQL and memory disagree on {c}");
            if let Some(want) = want {
                assert_eq!(by_sql, want, "{db}: {c}");
            }
        }
        t.finish().await;
    }
}

#[tokio::test]
async fn suppression_sees_what_search_sees() {
    // The JSON handed to `suppress` at ingest matches the same criteria as
    // the stored finding does in SQL.
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let a = s.admin_account().await.unwrap().id;
        for (i, (c, _)) in cases(&a).into_iter().enumerate() {
            if c.to_string().contains("service.archived") {
                continue;
            }
            let account = s.create_account(&format!("case-{i}")).await.unwrap().id;
            // accountId differs per account: rewrite that criterion.
            let c: Value = serde_json::from_str(&c.to_string().replace(&a, &account)).unwrap();
            let criteria = Criteria::parse(&c).unwrap();
            let suppress = |f: &Value| criteria.matches(f).then(|| "rule".to_owned());
            let outcomes = s.ingest_findings(&account, "r", &findings(), &suppress).await.unwrap();
            let mut suppressed: Vec<String> =
                outcomes.iter().filter(|o| o.suppressed_by.is_some()).map(|o| o.id.clone()).collect();
            suppressed.sort();
            let mut by_sql = all_ids(s, &Scope::Account(account.clone()), &c).await;
            by_sql.sort();
            assert_eq!(suppressed, by_sql, "{db}: {c}");
        }
        t.finish().await;
    }
}

#[tokio::test]
async fn bad_criteria_and_sorts_say_what_is_wrong() {
    let e = |v: Value| StoreError::from(Criteria::parse(&v).unwrap_err());
    let cases = [
        (json!({"criterion": {"resource.nope": {"eq": ["x"]}}}), "unknown field \"resource.nope\""),
        (json!({"criterion": {"severity": {"gte": "high"}}}), "severity.gte: \"high\" is not a number"),
        (
            json!({"criterion": {"createdAt": {"gte": "last week"}}}),
            "createdAt.gte: \"last week\" is not an RFC 3339 time",
        ),
        (json!({"criterion": {"createdAt": {"gte": 1.5}}}), "not whole epoch milliseconds"),
        (json!({"criterion": {"type": {"gt": "a"}}}), "type.gt: ranges apply to numbers and times"),
        (json!({"criterion": {"service.count": {"matches": ["1*"]}}}), "wildcards apply to text"),
        (json!({"criterion": {"type": {"contains": ["a"]}}}), "unknown operator \"contains\""),
        (json!({"criterion": {}}), "criterion is empty"),
        (json!({"criterion": {"type": {}}}), "type: no operator"),
        (json!({"criterion": {"type": {"eq": []}}}), "type.eq: give 1 to 100 values"),
        (json!({"criterion": {"type": {"eq": "a"}}}), "type.eq: expected a list"),
        (json!({"criterion": {"severity": {"gte": [7]}}}), "expected one value, not a list"),
        (json!("severity > 7"), "findingCriteria must be an object"),
    ];
    for (c, want) in cases {
        let err = e(c.clone());
        assert!(matches!(&err, StoreError::InvalidInput(m) if m.contains(want)), "{c}: {err}");
        assert!(err.is_client_error());
    }
    // The API's request body deserializes with the same messages.
    let body = json!({"findingCriteria": {"criterion": {"nope": {"eq": [1]}}}, "maxResults": 10});
    let e = serde_json::from_value::<FindingQuery>(body).unwrap_err().to_string();
    assert!(e.contains("unknown field \"nope\""), "{e}");
    let body = json!({"sortCriteria": {"attributeName": "title"}});
    let e = serde_json::from_value::<FindingQuery>(body).unwrap_err().to_string();
    assert!(e.contains("sortCriteria") && e.contains("title"), "{e}");
    let q: FindingQuery = serde_json::from_value(json!({})).unwrap();
    assert_eq!(q, FindingQuery::default());
    assert_eq!(q.max_results, 50);
    let q: FindingQuery =
        serde_json::from_value(json!({"findingCriteria": null, "sortCriteria": {"orderBy": "ASC"}})).unwrap();
    assert!(
        q.criteria.is_empty() && q.sort.order_by == SortOrder::Asc && q.sort.attribute_name == SortAttribute::UpdatedAt
    );
}
