//! Placement against directory trees standing in for cgroupfs (the real
//! thing is exercised by crates/agent/tests/budget_cgroup.rs).

use super::*;
use std::fs;

const BUDGET: Budget = Budget { cpu_percent: 5.0, memory_bytes: 64 << 20 };
const HOST: HostSize = HostSize { cpus: 2 };

fn mount_line(point: &Path, fstype: &str, options: &str) -> String {
    format!("40 31 0:38 / {} rw,relatime - {fstype} cgroup {options}\n", point.display())
}

fn file(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn pure_cgroup2_host_gets_a_limited_cgroup_under_the_root() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("cgroup");
    fs::create_dir_all(root.join("user.slice/session-1.scope")).unwrap();
    fs::write(root.join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
    fs::write(root.join("cgroup.subtree_control"), "cpu memory\n").unwrap();
    let mountinfo = mount_line(&root, "cgroup2", "rw,nsdelegate");
    let p = place_in(&mountinfo, "0::/user.slice/session-1.scope\n", 4242, "saker-agent", BUDGET, HOST).unwrap();
    let dir = root.join("saker-agent");
    assert_eq!(p.placed, vec![(Controller::Cpu, dir.clone()), (Controller::Memory, dir.clone())]);
    // 5 % of 2 CPUs = a tenth of one CPU.
    assert_eq!(file(&dir.join("cpu.max")), "10000 100000");
    assert_eq!(file(&dir.join("memory.max")), (64u64 << 20).to_string());
    assert_eq!(file(&dir.join("memory.high")), ((64u64 << 20) / 10 * 9).to_string());
    assert_eq!(file(&dir.join("cgroup.procs")), "4242");
    assert_eq!(file(&root.join("cgroup.subtree_control")), "cpu memory\n", "already enabled: not rewritten");
}

#[test]
fn a_unit_with_limits_is_left_alone() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("cgroup");
    let unit = root.join("system.slice/saker-agent.service");
    fs::create_dir_all(&unit).unwrap();
    fs::write(root.join("cgroup.controllers"), "cpu memory\n").unwrap();
    fs::write(unit.join("cpu.max"), "10000 100000\n").unwrap();
    fs::write(unit.join("memory.max"), "67108864\n").unwrap();
    let mountinfo = mount_line(&root, "cgroup2", "rw");
    let p = place_in(&mountinfo, "0::/system.slice/saker-agent.service\n", 1, "saker-agent", BUDGET, HOST).unwrap();
    assert!(p.placed.is_empty());
    assert_eq!(p.already_limited, vec![(Controller::Cpu, unit.clone()), (Controller::Memory, unit)]);
    assert!(!root.join("saker-agent").exists());
}

#[test]
fn hybrid_host_uses_the_v1_controllers_nested_where_the_process_is() {
    let t = tempfile::tempdir().unwrap();
    let unified = t.path().join("unified");
    let cpu = t.path().join("cpu");
    let memory = t.path().join("memory");
    fs::create_dir_all(&unified).unwrap();
    fs::create_dir_all(&cpu).unwrap();
    fs::create_dir_all(memory.join("process_api/x")).unwrap();
    fs::write(unified.join("cgroup.controllers"), "hugetlb\n").unwrap();
    fs::write(memory.join("process_api/x/memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
    let mountinfo = mount_line(&cpu, "cgroup", "rw,cpu")
        + &mount_line(&memory, "cgroup", "rw,memory")
        + &mount_line(&t.path().join("cpuacct"), "cgroup", "rw,cpuacct")
        + &mount_line(&unified, "cgroup2", "rw");
    let proc_cgroup = "4:memory:/process_api/x\n2:cpuacct:/\n1:cpu:/\n0::/\n";
    let p = place_in(&mountinfo, proc_cgroup, 7, "saker-agent", BUDGET, HOST).unwrap();
    let (cpu_dir, mem_dir) = (cpu.join("saker-agent"), memory.join("process_api/x/saker-agent"));
    assert_eq!(p.placed, vec![(Controller::Cpu, cpu_dir.clone()), (Controller::Memory, mem_dir.clone())]);
    assert_eq!(file(&cpu_dir.join("cpu.cfs_quota_us")), "10000");
    assert_eq!(file(&cpu_dir.join("cpu.cfs_period_us")), "100000");
    assert_eq!(file(&mem_dir.join("memory.limit_in_bytes")), (64u64 << 20).to_string());
    assert_eq!(file(&mem_dir.join("cgroup.procs")), "7");
    assert!(!unified.join("saker-agent").exists(), "cgroup2 without controllers is not used");
}

#[test]
fn no_controllers_means_nothing_placed() {
    let p = place_in("", "0::/\n", 1, "saker-agent", BUDGET, HOST).unwrap();
    assert_eq!(p.unavailable, vec![Controller::Cpu, Controller::Memory]);
    assert!(p.placed.is_empty() && p.already_limited.is_empty());
}

#[test]
fn a_failed_write_names_the_file() {
    let t = tempfile::tempdir().unwrap();
    let cpu = t.path().join("cpu");
    fs::create_dir_all(cpu.join("saker-agent/cpu.cfs_period_us")).unwrap(); // a directory: the write fails
    let mountinfo = mount_line(&cpu, "cgroup", "rw,cpu");
    let err = place_in(&mountinfo, "1:cpu:/\n", 1, "saker-agent", BUDGET, HOST).unwrap_err().to_string();
    assert!(err.contains("cpu.cfs_period_us"), "{err}");
}
