//! Kernel and privilege events from real attempts: ptrace, process_vm_writev,
//! a failing mount, fileless exec from a memfd, userfaultfd, a module load
//! attempt, a BPF program load, and shared-library loads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_model::{Kind, Payload};
use saker_testkit::{by, harness};

fn child_of(stdout: &str) -> u32 {
    stdout.lines().find_map(|l| l.strip_prefix("child=")).expect("trigger printed child=").parse().unwrap()
}

#[test]
fn ptrace_attach() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["ptrace"]);
    let child = child_of(&t.stdout);
    let ev = h.expect("PTRACE_ATTACH", |e| {
        e.kind == Kind::Ptrace && by(e, t.pid) && matches!(&e.payload, Payload::Ptrace(p) if p.request == 16)
    });
    let Payload::Ptrace(p) = &ev.payload else { unreachable!() };
    assert_eq!(p.target_pid, child);
    assert_eq!(p.request_name.as_deref(), Some("PTRACE_ATTACH"));
    assert_eq!(ev.result, Some(0));
}

#[test]
fn process_vm_writev_into_a_child() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["vm-write"]);
    let child = child_of(&t.stdout);
    let ev = h.expect("process_vm_writev", |e| e.kind == Kind::MemWrite && by(e, t.pid));
    let Payload::MemWrite(m) = &ev.payload else { unreachable!() };
    assert_eq!((m.method.as_str(), m.target_pid, m.length), ("process_vm_writev", child, 16));
    assert_eq!(ev.result, Some(16));
}

#[test]
fn failed_mount_attempt() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["mount-fail"]);
    let ev = h.expect("mount attempt", |e| e.kind == Kind::Mount && by(e, t.pid));
    let Payload::Mount(m) = &ev.payload else { unreachable!() };
    assert_eq!(m.source.as_deref(), Some("/nonexistent-saker-device"));
    assert_eq!(m.target.as_deref(), Some("/tmp"));
    assert_eq!(m.fs_type.as_deref(), Some("ext4"));
    assert!(ev.result.is_some_and(|r| r < 0), "the mount must fail: {:?}", ev.result);
}

#[test]
fn fileless_exec_from_memfd() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["memfd-exec"]);
    let child = child_of(&t.stdout);
    let m = h.expect("memfd_create", |e| e.kind == Kind::MemfdCreate && by(e, t.pid));
    let Payload::Memfd(info) = &m.payload else { unreachable!() };
    assert_eq!(info.name, "saker-fileless");
    let ev = h.expect("exec from the memfd", |e| e.kind == Kind::ProcessExec && by(e, child));
    let Payload::Exec(x) = &ev.payload else { unreachable!() };
    assert!(x.memfd, "exec flagged as memfd: {x:?}");
    assert!(x.executable.as_deref().is_some_and(|p| p.contains("memfd:saker-fileless")), "{x:?}");
}

#[test]
fn userfaultfd_use() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["userfaultfd"]);
    let ev = h.expect("userfaultfd", |e| e.kind == Kind::Userfaultfd && by(e, t.pid));
    assert!(ev.result.is_some());
}

#[test]
fn module_load_attempt() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["module-load"]);
    let ev = h.expect("finit_module attempt", |e| e.kind == Kind::ModuleLoad && by(e, t.pid));
    let Payload::Module(m) = &ev.payload else { unreachable!() };
    assert_eq!(m.method, "finit_module");
    assert_eq!(m.path.as_deref(), Some("/etc/hostname"));
    assert!(ev.result.is_some_and(|r| r < 0), "not a module: the load fails");
}

#[test]
fn bpf_program_load() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["bpf-load"]);
    let ev = h.expect("BPF_PROG_LOAD", |e| e.kind == Kind::BpfLoad && by(e, t.pid));
    let Payload::Bpf(b) = &ev.payload else { unreachable!() };
    assert_eq!((b.prog_type, b.insn_count, b.prog_name.as_str()), (1, 2, "saker_probe"));
    assert_eq!(b.prog_type_name.as_deref(), Some("socket_filter"));
}

#[test]
fn shared_library_loads() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["spawn", "/bin/true"]);
    let ev = h.expect("libc mapped executable by /bin/true", |e| {
        e.kind == Kind::LibraryLoad
            && e.lineage.first().is_some_and(|p| p.pid == t.pid)
            && matches!(&e.payload, Payload::Library(l) if l.path.contains("libc.so"))
    });
    let Payload::Library(l) = &ev.payload else { unreachable!() };
    assert_ne!(l.prot & libc::PROT_EXEC as u32, 0);
    assert!(l.inode > 0);
}
