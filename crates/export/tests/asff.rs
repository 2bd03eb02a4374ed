//! ASFF output against a JSON Schema written from the Security Hub API
//! reference (tests/schemas/asff-2018-10-08.json), for every resource shape
//! and finding family, plus the mapping decisions the schema cannot see.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use saker_detect::FindingType;
use saker_export::asff;
use saker_export::asff_types::asff_types;
use saker_export::{ExportItem, FindingState};
use serde_json::Value;
use support::*;

/// A way to break a valid output, and what it breaks.
type Breaker = (&'static str, fn(&mut Value));

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(include_str!("schemas/asff-2018-10-08.json")).unwrap();
    jsonschema::draft202012::options().should_validate_formats(true).build(&schema).expect("the ASFF schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, what: &str, out: &Value) {
    let errors: Vec<String> = v.iter_errors(out).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(
        errors.is_empty(),
        "{what}: ASFF invalid:\n{}\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(out).unwrap()
    );
}

#[test]
fn every_shape_and_family_is_valid_asff() {
    let v = validator();
    for (what, f) in all() {
        for state in [FindingState::New, FindingState::Updated, FindingState::Archived] {
            assert_valid(&v, what, &asff::finding(&ExportItem::new(f.clone(), state), &ctx()));
        }
    }
}

#[test]
fn every_finding_type_gets_valid_types() {
    let v = validator();
    let base = c2_ip_instance();
    for t in FindingType::ALL {
        let f = edit(&base, |j| j["type"] = t.name().into());
        let out = asff::finding(&new(f), &ctx());
        assert_valid(&v, t.name(), &out);
        assert_eq!(out["Types"][0], asff_types(*t)[0]);
    }
}

#[test]
fn schema_rejects_what_security_hub_rejects() {
    // The schema is only a test if it can fail.
    let v = validator();
    let good = asff::finding(&new(reverse_shell_ecs()), &ctx());
    assert_valid(&v, "baseline", &good);
    let broken: [Breaker; 8] = [
        ("missing Title", |o| drop(o.as_object_mut().unwrap().remove("Title"))),
        ("lower-case label", |o| o["Severity"]["Label"] = "high".into()),
        ("label disagrees with score", |o| o["Severity"]["Normalized"] = 20.into()),
        ("11-digit account", |o| o["AwsAccountId"] = "12345678901".into()),
        ("unknown namespace", |o| o["Types"][0] = "Threats/Execution/X".into()),
        ("timestamp with a space", |o| o["CreatedAt"] = "2026-11-28 14:31:07Z".into()),
        ("title of 257 characters", |o| o["Title"] = "x".repeat(257).into()),
        ("misspelt attribute", |o| o["Resource"] = Value::Null),
    ];
    for (what, breaker) in broken {
        let mut bad = good.clone();
        breaker(&mut bad);
        assert!(!v.is_valid(&bad), "the schema accepted: {what}");
    }
}

#[test]
fn identity_severity_and_times() {
    let out = asff::finding(&new(reverse_shell_ecs()), &ctx());
    assert_eq!(out["SchemaVersion"], "2018-10-08");
    // The finding's own account and region win over the server's.
    assert_eq!(out["AwsAccountId"], "123456789012");
    assert_eq!(out["Region"], "eu-west-1");
    assert_eq!(out["ProductArn"], "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default");
    assert_eq!(out["Id"], "saker:123456789012:eu-west-1:finding/4462ade31df9c05843dbecf8aed9615c");
    assert_eq!(out["GeneratorId"], "saker/Execution:Runtime/ReverseShell");
    assert_eq!(out["Types"], serde_json::json!(["TTPs/Execution/Execution:Runtime-ReverseShell"]));
    assert_eq!(
        out["Severity"],
        serde_json::json!({ "Label": "HIGH", "Normalized": 80, "Original": "8.0", "Product": 8.0 })
    );
    assert_eq!(out["CreatedAt"], "2026-11-28T14:31:07.448Z");
    assert_eq!(out["FirstObservedAt"], "2026-11-28T14:31:07.436Z");
    assert_eq!(out["LastObservedAt"], "2026-11-28T14:31:47.102Z");
    assert_eq!(out["RecordState"], "ACTIVE");
    assert_eq!(out["Workflow"]["Status"], "NEW");
    assert_eq!(out["ProductFields"]["saker/count"], "1");
    assert_eq!(out["ProductFields"]["saker/archived"], "false");
    assert_eq!(out["Process"]["ParentPid"], 48113);
    // Without a finding account, the server's.
    let bare = edit(&reverse_shell_ecs(), |j| {
        j.as_object_mut().unwrap().remove("accountId");
        j["region"] = "../../etc".into();
    });
    let out = asff::finding(&new(bare), &ctx());
    assert_eq!(out["AwsAccountId"], "210987654321");
    assert_eq!(out["Region"], "us-east-1");
}

#[test]
fn resources_per_shape() {
    let types = |f| {
        let out = asff::finding(&new(f), &ctx());
        out["Resources"].as_array().unwrap().iter().map(|r| r["Type"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(types(reverse_shell_ecs()), ["AwsEcsTask", "AwsEcsCluster", "Container", "AwsEc2Instance"]);
    assert_eq!(types(c2_ip_instance()), ["AwsEc2Instance"]);
    assert_eq!(types(c2_dns_container()), ["Container", "Other"]);
    assert_eq!(types(malicious_file_eks()), ["Container", "Other", "AwsEc2Instance"]);

    let out = asff::finding(&new(reverse_shell_ecs()), &ctx());
    let task = &out["Resources"][0];
    assert_eq!(task["Id"], "arn:aws:ecs:eu-west-1:123456789012:task/prod/3f9a1c2e7b6d4e5f8a0b1c2d3e4f5a6b");
    assert_eq!(
        task["Details"]["AwsEcsTask"]["TaskDefinitionArn"],
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7"
    );
    assert_eq!(out["Resources"][3]["Id"], "arn:aws:ec2:eu-west-1:123456789012:instance/i-0a1b2c3d4e5f67890");
    let pod = &asff::finding(&new(malicious_file_eks()), &ctx())["Resources"][1];
    assert_eq!(pod["Id"], "kubernetes/pod/shop/web-6d4cf56db6-x7k2p");
}

#[test]
fn network_and_threat_intel() {
    let out = asff::finding(&new(c2_ip_instance()), &ctx());
    assert_eq!(
        out["Network"],
        serde_json::json!({ "Direction": "OUT", "Protocol": "TCP", "SourceIpV4": "10.0.12.34", "SourcePort": 51644,
                            "DestinationIpV4": "192.0.2.9", "DestinationPort": 443 })
    );
    assert_eq!(out["ThreatIntelIndicators"][0]["Type"], "IPV4_ADDRESS");
    assert_eq!(out["ThreatIntelIndicators"][0]["Value"], "192.0.2.9");
    assert_eq!(out["ThreatIntelIndicators"][0]["Category"], "COMMAND_AND_CONTROL");
    assert_eq!(out["ThreatIntelIndicators"][0]["Source"], "feodo-c2");

    let out = asff::finding(&new(tor_relay_inbound_v6()), &ctx());
    assert_eq!(out["Network"]["Direction"], "IN");
    assert_eq!(out["Network"]["SourceIpV6"], "2001:db8::9");
    assert_eq!(out["Network"]["DestinationPort"], 9001);

    let out = asff::finding(&new(c2_dns_container()), &ctx());
    assert_eq!(out["Network"]["DestinationDomain"], "c2.guarddutyc2activityb.com");
    assert_eq!(out["ThreatIntelIndicators"][0]["Type"], "DOMAIN");

    let out = asff::finding(&new(malicious_file_eks()), &ctx());
    assert_eq!(out["ThreatIntelIndicators"][0]["Type"], "HASH_SHA256");
    assert!(out.get("Network").is_none());
}

#[test]
fn long_and_hostile_text_is_bounded() {
    let long = edit(&hostile_host_behaviour(), |j| {
        j["title"] = "T".repeat(600).into();
        j["description"] = "D".repeat(5000).into();
        j["service"]["runtimeDetails"]["process"]["name"] = "n".repeat(100).into();
    });
    let out = asff::finding(&ExportItem::new(long, FindingState::Archived), &ctx());
    assert_valid(&validator(), "long text", &out);
    assert_eq!(out["Title"].as_str().unwrap().chars().count(), 256);
    assert_eq!(out["Description"].as_str().unwrap().chars().count(), 1024);
    assert_eq!(out["Process"]["Name"].as_str().unwrap().chars().count(), 64);
    assert_eq!(out["RecordState"], "ARCHIVED");
}
