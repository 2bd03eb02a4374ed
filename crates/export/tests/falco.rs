//! Falco's JSON alert shape as falcosidekick decodes it (its `FalcoPayload`:
//! output, priority, rule, time, output_fields, source, tags, hostname), and
//! the EventBridge envelope as GuardDuty writes it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{DateTime, Utc};
use saker_export::{eventbridge, falco};
use serde_json::{Value, json};
use support::*;

/// Falco's priorities, as falcosidekick parses them.
const PRIORITIES: [&str; 8] =
    ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"];

fn field_name_ok(k: &str) -> bool {
    let mut parts = k.split('.');
    parts.clone().count() >= 2
        && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
}

#[test]
fn every_finding_has_the_falco_shape() {
    for (what, f) in all() {
        let a = falco::alert(&new(f.clone()), &ctx());
        // Sorted: key order depends on serde_json's `preserve_order`, which
        // another crate in the workspace may switch on.
        let mut keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time"],
            "{what}"
        );
        assert!(PRIORITIES.contains(&a["priority"].as_str().unwrap()), "{what}");
        assert_eq!(a["rule"], f.finding_type.name());
        assert_eq!(a["source"], "saker");
        assert!(a["tags"].as_array().unwrap().iter().all(Value::is_string));
        // time: RFC 3339 with nanoseconds, UTC.
        let time = a["time"].as_str().unwrap();
        let parsed = DateTime::parse_from_rfc3339(time).unwrap().with_timezone(&Utc);
        assert_eq!(parsed, f.service.event_last_seen, "{what}");
        assert_eq!(time.split('.').nth(1).unwrap().len(), 10, "9 digits and Z: {time}");
        // output_fields: flat class.field names with scalar values; evt.time in ns.
        let fields = a["output_fields"].as_object().unwrap();
        for (k, v) in fields {
            assert!(field_name_ok(k), "{what}: field name {k}");
            assert!(!v.is_object() && !v.is_array() && !v.is_null(), "{what}: {k} is a scalar");
        }
        assert_eq!(fields["evt.time"].as_i64().unwrap(), parsed.timestamp_nanos_opt().unwrap());
        for k in ["proc.name", "proc.cmdline", "container.id", "user.uid", "saker.finding.id"] {
            assert!(fields.contains_key(k), "{what}: {k}");
        }
        // output: "<HH:MM:SS.nnnnnnnnn>: <Priority> <title> (...)", as Falco prints.
        let output = a["output"].as_str().unwrap();
        let prefix = format!("{}: {} {}", parsed.format("%H:%M:%S%.9f"), a["priority"].as_str().unwrap(), f.title);
        assert!(output.starts_with(&prefix), "{output}");
        assert_eq!(a["hostname"], f.resource.instance_details.as_ref().unwrap().hostname.clone().unwrap());
    }
}

#[test]
fn fields_for_containers_network_and_hosts() {
    let a = falco::alert(&new(reverse_shell_ecs()), &ctx());
    let f = &a["output_fields"];
    assert_eq!(a["priority"], "Critical");
    assert_eq!(f["container.id"], "8c2f1e6a0b9d");
    assert_eq!(f["container.image.repository"], "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web-api");
    assert_eq!(f["container.image.tag"], "1.4.2");
    assert_eq!(f["proc.pname"], "nc");
    assert_eq!(f["fd.name"], "->203.0.113.45:4444");
    assert_eq!(a["tags"], json!(["saker", "guardduty", "execution", "mitre_execution", "container"]));

    let a = falco::alert(&new(c2_ip_instance()), &ctx());
    assert_eq!(a["output_fields"]["fd.name"], "10.0.12.34:51644->192.0.2.9:443");
    assert_eq!(a["output_fields"]["container.id"], "host");
    assert!(a["tags"].as_array().unwrap().contains(&json!("host")));

    let a = falco::alert(&new(tor_relay_inbound_v6()), &ctx());
    assert_eq!(a["output_fields"]["fd.name"], "[2001:db8::9]:40000->[2001:db8::1]:9001");

    let a = falco::alert(&new(malicious_file_eks()), &ctx());
    assert_eq!(a["output_fields"]["k8s.ns.name"], "shop");
    assert_eq!(a["output_fields"]["fd.name"], "/tmp/.x/kworker");

    let a = falco::alert(&new(hostile_host_behaviour()), &ctx());
    assert_eq!(a["priority"], "Warning");
    assert_eq!(falco::priority(7.0), "Error");
    assert_eq!(falco::priority(2.0), "Notice");
}

#[test]
fn eventbridge_envelope_is_guarddutys() {
    let id = uuid::Uuid::parse_str("cd2d702e-ab31-411b-9344-793ce56b1bc7").unwrap();
    let time = DateTime::parse_from_rfc3339("2026-11-28T14:35:00.123Z").unwrap().with_timezone(&Utc);
    let f = reverse_shell_ecs();
    let e = eventbridge::event(&new(f.clone()), &ctx(), id, time).unwrap();
    let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["account", "detail", "detail-type", "id", "region", "resources", "source", "time", "version"]);
    assert_eq!(e["version"], "0");
    assert_eq!(e["id"], "cd2d702e-ab31-411b-9344-793ce56b1bc7");
    assert_eq!(e["detail-type"], "Saker Finding");
    assert_eq!(e["source"], "saker");
    assert_eq!(e["account"], "123456789012");
    assert_eq!(e["time"], "2026-11-28T14:35:00Z");
    assert_eq!(e["region"], "eu-west-1");
    assert_eq!(e["resources"], json!([]));
    assert_eq!(e["detail"], serde_json::to_value(&f).unwrap());
    assert_eq!(e["detail"]["type"], "Execution:Runtime/ReverseShell");
    assert_eq!(eventbridge::new_event_id().get_version_num(), 4);
}
