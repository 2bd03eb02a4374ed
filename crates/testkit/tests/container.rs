//! A real runc container: its events carry the container's cgroup id and
//! namespace pids, and paths as the container sees them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_model::{Kind, Payload};
use saker_testkit::container::Container;
use saker_testkit::harness;

#[test]
fn runc_container_events_carry_cgroup_and_namespace_pids() {
    let Some(h) = harness() else { return };
    // busybox sh runs applets in-process; `exec` forces a real execve.
    let mut c = Container::new("sleep 1; touch /etc/saker-in-container; exec /bin/echo done");
    c.start();
    let cgroup_id = c.wait_cgroup_id();
    assert!(c.wait().contains("done"));

    let exec = h.expect("exec of echo inside the container", |e| {
        matches!(&e.payload, Payload::Exec(x) if x.filename.as_deref() == Some("/bin/echo"))
            && e.task.as_ref().is_some_and(|t| t.cgroup_id == cgroup_id)
    });
    let Payload::Exec(x) = &exec.payload else { unreachable!() };
    assert_eq!(x.executable.as_deref(), Some("/bin/busybox"), "path as seen inside the container");
    let p = exec.process.as_ref().unwrap();
    assert_ne!(p.ns_pid, p.pid, "container pid namespace");
    assert_eq!(p.ns_pid, 1, "sh exec'd echo in place: still the container's pid 1");
    let host_pid_ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let task = exec.task.as_ref().unwrap();
    assert_ne!(format!("pid:[{}]", task.pid_ns), host_pid_ns.to_string_lossy());

    // The container's init (sh) is pid 1 in its namespace.
    h.expect("the container's shell as its pid 1", |e| {
        e.kind == Kind::ProcessExec
            && e.task.as_ref().is_some_and(|t| t.cgroup_id == cgroup_id)
            && e.process.as_ref().is_some_and(|p| p.ns_pid == 1)
    });

    let write = h.expect("file write inside the container", |e| {
        matches!(&e.payload, Payload::File(f) if f.path == "/etc/saker-in-container") && e.kind == Kind::FileWrite
    });
    assert_eq!(write.task.as_ref().unwrap().cgroup_id, cgroup_id);
}
