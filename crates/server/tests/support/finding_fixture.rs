//! A minimal valid finding (GuardDuty-shaped JSON) for delivery tests: the
//! uplink and ingest tests here and `crates/saker/tests/server_crash.rs`.

use saker_detect::Finding;
use serde_json::json;

/// A `ReverseShell` finding with this id, seen `count` times.
pub fn finding(id: &str, count: u64) -> Finding {
    let t = "2026-11-28T10:00:00Z";
    serde_json::from_value(json!({
        "schemaVersion": "2.0", "id": id, "type": "Execution:Runtime/ReverseShell", "severity": 8.0,
        "severityLabel": "High", "title": "t", "description": "d", "createdAt": t, "updatedAt": t,
        "resource": { "resourceType": "Instance", "instanceDetails": { "hostname": "host-1" } },
        "service": {
            "serviceName": "saker", "featureName": "RuntimeMonitoring", "count": count,
            "eventFirstSeen": t, "eventLastSeen": t, "archived": false, "resourceRole": "TARGET",
            "runtimeDetails": { "process": { "name": "sh", "namespacePid": 1, "pid": 10, "uuid": "u",
                "userId": 0, "euid": 0, "argv": ["sh"] }, "context": {} },
            "additionalInfo": { "agentDetails": { "agentVersion": "0.1.0" } }
        }
    }))
    .unwrap()
}
