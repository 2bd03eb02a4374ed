//! Cgroup self-placement for real, on whatever this host has (cgroup2, or
//! the v1 cpu and memory controllers of a hybrid host). A child process is
//! placed — never the test runner — and everything is removed afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_agent::budget::{Budget, Controller, HostSize, place};
use std::path::Path;
use std::process::{Child, Command};

/// Root, or skip loudly — unless SAKER_REQUIRE_PRIVILEGED=1, where a skip
/// is a failure.
fn privileged() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let euid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().nth(1));
    if euid == Some("0") {
        return true;
    }
    let required = std::env::var("SAKER_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1");
    assert!(!required, "SAKER_REQUIRE_PRIVILEGED=1 but the tests are not running as root");
    eprintln!("SKIPPED (LOUDLY): cgroup placement needs root");
    false
}

/// Kills the child and removes the cgroups even when an assertion fails.
struct Cleanup {
    child: Child,
    dirs: Vec<std::path::PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for d in &self.dirs {
            // A cgroup whose last task just exited can take a moment to empty.
            for _ in 0..50 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).trim().to_owned()
}

#[test]
fn places_a_process_in_a_limited_cgroup() {
    if !privileged() {
        return;
    }
    let child = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = child.id();
    let mut guard = Cleanup { child, dirs: Vec::new() };
    let name = format!("saker-budget-test-{}", std::process::id());
    let host = HostSize { cpus: 2 };
    let budget = Budget { cpu_percent: 5.0, memory_bytes: 96 << 20 };

    let placed = place(pid, &name, budget, host).expect("placement works as root");
    guard.dirs = placed.placed.iter().map(|(_, d)| d.clone()).collect();
    guard.dirs.dedup();
    assert!(placed.already_limited.is_empty(), "a fresh child is not limited: {placed:?}");
    // Every machine this project runs on has both controllers somewhere.
    let controllers: Vec<_> = placed.placed.iter().map(|(c, _)| *c).collect();
    assert_eq!(controllers, [Controller::Cpu, Controller::Memory], "{placed:?}");

    let own = read(Path::new(&format!("/proc/{pid}/cgroup")));
    for (controller, dir) in &placed.placed {
        assert!(dir.ends_with(&name), "{}", dir.display());
        let procs = read(&dir.join("cgroup.procs"));
        assert!(procs.lines().any(|l| l == pid.to_string()), "{pid} not in {}: {procs}", dir.display());
        assert!(own.contains(&name), "/proc/{pid}/cgroup does not name {name}: {own}");
        // A tenth of one CPU on a 2-CPU host; the memory limit as given.
        let v2 = dir.join("cgroup.controllers").exists();
        match (controller, v2) {
            (Controller::Cpu, true) => assert_eq!(read(&dir.join("cpu.max")), "10000 100000"),
            (Controller::Cpu, false) => assert_eq!(read(&dir.join("cpu.cfs_quota_us")), "10000"),
            (Controller::Memory, true) => assert_eq!(read(&dir.join("memory.max")), (96u64 << 20).to_string()),
            (Controller::Memory, false) => {
                assert_eq!(read(&dir.join("memory.limit_in_bytes")), (96u64 << 20).to_string())
            }
        }
    }
    // The runner itself stays where it was.
    let me = read(Path::new("/proc/self/cgroup"));
    assert!(!me.contains(&name), "{me}");

    // A process already limited (as under the systemd unit) is left alone.
    let again = place(pid, &format!("{name}-again"), budget, host).unwrap();
    assert!(again.placed.is_empty(), "{again:?}");
    assert_eq!(again.already_limited.len(), 2, "{again:?}");
}
