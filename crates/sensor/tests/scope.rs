//! Task-sidecar scope: with a scope set, the kernel reports only processes
//! in the listed cgroups — not other cgroups, not the host.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use saker_abi::Body;
use saker_sensor::{ScopeFilter, Sensor, SensorConfig};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn cgroup2_root() -> PathBuf {
    let unified = Path::new("/sys/fs/cgroup/unified");
    if unified.join("cgroup.procs").exists() { unified.into() } else { "/sys/fs/cgroup".into() }
}

/// Run `/bin/sh -c 'exec /bin/echo <marker>'` inside the cgroup `dir`.
fn exec_in(dir: &Path, marker: &str) -> u32 {
    let script = format!("echo $$ > {}/cgroup.procs && exec /bin/echo {marker}", dir.display());
    let mut child = std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    pid
}

#[test]
fn scoped_sensor_reports_only_the_scoped_cgroups() {
    if !common::root() {
        return;
    }
    // <base>/task-a/{app,agent} and <base>/task-b/app: watch task A, not
    // the agent's own container in it, not task B.
    let base = cgroup2_root().join(format!("saker-scope-test-{}", std::process::id()));
    let task_a = base.join("task-a");
    let (a, own, b) = (task_a.join("app"), task_a.join("agent"), base.join("task-b/app"));
    for d in [&a, &own, &b] {
        std::fs::create_dir_all(d).unwrap();
    }
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    let filter = ScopeFilter { task_cgroup: ino(&task_a), task_level: 2, exclude: Some(ino(&own)) };

    let cfg = SensorConfig { scope: Some(filter), ..SensorConfig::default() };
    let mut sensor = Sensor::load(&cfg).expect("sensor loads");
    // A container that joins task A after the agent started is covered too.
    let late = task_a.join("late");
    std::fs::create_dir_all(&late).unwrap();
    let pid_a = exec_in(&a, "in-scope");
    let pid_late = exec_in(&late, "late-joiner");
    let pid_own = exec_in(&own, "agent-container");
    let pid_b = exec_in(&b, "other-task");
    let host = std::process::Command::new("/bin/echo").arg("host").output().unwrap();
    assert!(host.status.success());

    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut seen_a, mut seen_late) = (false, false);
    // Keep reading a little past the in-scope exec so out-of-scope records,
    // if any were produced, would have arrived too.
    let mut until = None;
    loop {
        let (records, _) = sensor.poll().unwrap();
        for r in &records {
            assert_ne!(r.header.pid, pid_b, "a process of another task was reported: {r:?}");
            assert_ne!(r.header.pid, pid_own, "the agent's own container was reported: {r:?}");
            if let Body::Exec { argv, .. } = &r.body {
                assert!(!argv.starts_with(b"/bin/echo\0host"), "a host process was reported");
                seen_a |= r.header.pid == pid_a && argv.ends_with(b"in-scope\0");
                seen_late |= r.header.pid == pid_late && argv.ends_with(b"late-joiner\0");
                if seen_a && seen_late {
                    until.get_or_insert(Instant::now() + Duration::from_millis(300));
                }
            }
        }
        if until.is_some_and(|u| Instant::now() > u) {
            break;
        }
        assert!(Instant::now() < deadline, "execs in task A seen: app {seen_a}, late joiner {seen_late}");
    }
    drop(sensor);
    for d in [&a, &own, &late, &b, &task_a, &base.join("task-b"), &base] {
        let _ = std::fs::remove_dir(d);
    }
}
