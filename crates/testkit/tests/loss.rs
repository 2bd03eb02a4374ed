//! Forced ring-buffer overflow: the loss is reported as `agent.loss`, never
//! silent. Its own test binary: it needs a tiny ring and a slow reader.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_agent::AgentConfig;
use saker_model::Payload;
use std::time::Duration;

#[test]
fn ring_buffer_overflow_is_reported() {
    if !saker_testkit::privileged() {
        return;
    }
    let mut cfg = AgentConfig::default();
    cfg.sensor.ring_bytes = 4096; // one page: a few dozen records
    cfg.sensor.wakeup_bytes = u32::MAX; // never wake the reader early...
    cfg.sensor.drain_interval = Duration::from_millis(500); // ...and drain rarely
    cfg.loss_interval = Duration::from_millis(200);
    let h = saker_testkit::start(cfg).expect("agent starts");
    let t = std::process::Command::new(saker_testkit::trigger_path()).args(["forks", "2000"]).status().unwrap();
    assert!(t.success());
    let ev = h.expect("an agent.loss event", |e| matches!(&e.payload, Payload::Loss(l) if l.total > 0));
    let Payload::Loss(l) = &ev.payload else { unreachable!() };
    assert!(!l.kernel.is_empty(), "kernel-side loss counted: {l:?}");
    assert!(l.kernel.iter().all(|k| k.count > 0 && !k.kind.is_empty()));
    assert!(l.kernel.iter().any(|k| k.kind == "process.fork" || k.kind == "process.exit"), "{l:?}");
}
