//! Task-sidecar scope: with a scope set, the kernel reports only processes
//! in the listed cgroups — not other cgroups, not the host.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_abi::Body;
use saker_sensor::{Sensor, SensorConfig};
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
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var("SAKER_REQUIRE_PRIVILEGED").as_deref() != Ok("1"), "privileged test not run as root");
        eprintln!("SKIPPED (LOUDLY): needs root");
        return;
    }
    let base = cgroup2_root().join(format!("saker-scope-test-{}", std::process::id()));
    let (a, b) = (base.join("task-a"), base.join("task-b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let scope = [std::fs::metadata(&a).unwrap().ino()].into_iter().collect();

    let cfg = SensorConfig { scope: Some(scope), ..SensorConfig::default() };
    let mut sensor = Sensor::load(&cfg).expect("sensor loads");
    let pid_a = exec_in(&a, "in-scope");
    let pid_b = exec_in(&b, "other-task");
    let host = std::process::Command::new("/bin/echo").arg("host").output().unwrap();
    assert!(host.status.success());

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen_a = false;
    // Keep reading a little past the in-scope exec so out-of-scope records,
    // if any were produced, would have arrived too.
    let mut until = None;
    loop {
        let (records, _) = sensor.poll().unwrap();
        for r in &records {
            assert_ne!(r.header.pid, pid_b, "a process of another cgroup was reported: {r:?}");
            if let Body::Exec { argv, .. } = &r.body {
                assert!(!argv.starts_with(b"/bin/echo\0host"), "a host process was reported");
                if r.header.pid == pid_a && argv.ends_with(b"in-scope\0") {
                    seen_a = true;
                    until.get_or_insert(Instant::now() + Duration::from_millis(300));
                }
            }
        }
        if until.is_some_and(|u| Instant::now() > u) {
            break;
        }
        assert!(Instant::now() < deadline, "no exec from the scoped cgroup (seen: {seen_a})");
    }
    drop(sensor);
    let _ = std::fs::remove_dir(&a);
    let _ = std::fs::remove_dir(&b);
    let _ = std::fs::remove_dir(&base);
}
