//! The sensor on its own: loads through the verifier on this kernel,
//! attaches every program, and hands over a decoded exec record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_abi::Body;
use saker_sensor::{Sensor, SensorConfig};
use std::time::{Duration, Instant};

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(std::env::var("SAKER_REQUIRE_PRIVILEGED").as_deref() != Ok("1"), "privileged test not run as root");
    eprintln!("SKIPPED (LOUDLY): the sensor tests need root");
    false
}

#[test]
fn loads_attaches_everything_and_reports_an_exec() {
    if !root() {
        return;
    }
    let mut sensor = Sensor::load(&SensorConfig::default()).expect("sensor loads");
    assert!(sensor.not_attached().is_empty(), "programs not attached: {:?}", sensor.not_attached());
    let child = std::process::Command::new("/bin/true").spawn().unwrap();
    let pid = child.id();
    let mut child = child;
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (records, errors) = sensor.poll().unwrap();
        assert_eq!(errors, 0, "undecodable records");
        if records
            .iter()
            .any(|r| r.header.pid == pid && matches!(&r.body, Body::Exec { exe, .. } if exe == b"/usr/bin/true"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no exec record for /bin/true");
    }
    for area in ["process_", "file_", "net_", "dns_", "kernel_"] {
        assert!(sensor.attached().iter().any(|p| p.starts_with(area)), "no {area}* program attached");
    }
}

#[test]
fn bad_ring_size_is_a_clear_error() {
    let cfg = SensorConfig { ring_bytes: 12345, ..SensorConfig::default() };
    let err = match Sensor::load(&cfg) {
        Ok(_) => panic!("a ring of 12345 bytes must be refused"),
        Err(e) => e.to_string(),
    };
    // Without root the preflight error comes first; both are clear messages.
    assert!(err.contains("power of two") || err.contains("needs root"), "{err}");
}
