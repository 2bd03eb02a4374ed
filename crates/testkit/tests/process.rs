//! process.exec / fork / exit / setuid, with lineage, from real actions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_model::{Event, Kind, Payload};
use saker_testkit::{by, harness};

fn exec_of(ev: &Event) -> Option<&saker_model::ExecInfo> {
    match &ev.payload {
        Payload::Exec(x) if ev.kind == Kind::ProcessExec => Some(x),
        _ => None,
    }
}

#[test]
fn exec_has_argv_path_cwd_and_lineage() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["spawn", "/bin/echo", "hello", "saker world"]);
    let ev = h.expect("exec of /bin/echo by the trigger's child", |e| {
        exec_of(e).is_some_and(|x| x.argv == ["/bin/echo", "hello", "saker world"])
            && e.lineage.first().is_some_and(|p| p.pid == t.pid)
    });
    let x = exec_of(&ev).unwrap();
    assert_eq!(x.executable.as_deref(), Some("/usr/bin/echo"), "resolved executable (merged /usr)");
    assert_eq!(x.filename.as_deref(), Some("/bin/echo"));
    assert!(x.cwd.as_deref().is_some_and(|c| c.starts_with('/')));
    assert!(x.executable_inode > 0);
    let p = ev.process.as_ref().unwrap();
    assert_eq!(p.argv[..], ["/bin/echo", "hello", "saker world"]);
    assert_eq!(&*p.name, "echo");
    assert_eq!(ev.result, Some(0));
    // Lineage: the trigger (with its argv), then this test binary, up to init.
    let parent = &ev.lineage[0];
    assert_eq!(parent.pid, t.pid);
    assert!(parent.argv.iter().any(|a| a == "spawn"), "parent argv {:?}", parent.argv);
    assert_eq!(ev.lineage[1].pid, std::process::id());
    assert_eq!(ev.lineage.last().unwrap().pid, 1, "lineage reaches init: {:?}", ev.lineage);
    assert_eq!(p.parent_uuid, Some(parent.uuid));
    let task = ev.task.as_ref().unwrap();
    assert!(task.cgroup_id > 0 && task.mnt_ns > 0 && task.pid_ns > 0);
    assert_eq!(p.ns_pid, p.pid, "host process: namespace pid equals pid");
}

#[test]
fn failed_exec_is_reported() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["spawn", "/nonexistent/saker-missing", "arg1"]);
    // std::process::Command fails in the child before exec succeeds: the
    // attempt must still be visible, with its error.
    let ev = h.expect("failed exec of a missing binary", |e| {
        exec_of(e).is_some_and(|x| x.filename.as_deref() == Some("/nonexistent/saker-missing"))
            && e.lineage.iter().any(|p| p.pid == t.pid)
    });
    assert_eq!(ev.result, Some(-2), "ENOENT");
    assert_eq!(exec_of(&ev).unwrap().argv, ["/nonexistent/saker-missing", "arg1"]);
}

#[test]
fn fork_and_exit_with_code() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["spawn", "/bin/sh", "-c", "exit 7"]);
    let fork = h.expect("fork by the trigger", |e| e.kind == Kind::ProcessFork && by(e, t.pid));
    let Payload::Fork(f) = &fork.payload else { unreachable!() };
    assert!(f.child_pid > 0 && !f.child_uuid.is_nil());
    let exit = h.expect("exit 7 of the shell", |e| e.kind == Kind::ProcessExit && by(e, f.child_pid));
    let Payload::Exit(x) = &exit.payload else { unreachable!() };
    assert_eq!(x.exit_code, 7);
    assert_eq!(x.signal, None);
    assert_eq!(exit.process.as_ref().unwrap().uuid, f.child_uuid, "fork's child uuid is the process's uuid");
}

#[test]
fn script_exec_reports_interpreter_and_script() {
    let Some(h) = harness() else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("run.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = script.to_str().unwrap().to_owned();
    h.trigger(&["spawn", &script]);
    let ev = h.expect("exec of the script", |e| exec_of(e).is_some_and(|x| x.script.as_deref() == Some(&*script)));
    let x = exec_of(&ev).unwrap();
    assert_eq!(x.interpreter.as_deref(), Some("/bin/sh"));
    assert!(
        x.executable.as_deref().is_some_and(|p| p.ends_with("/dash") || p.ends_with("/sh") || p.ends_with("/bash"))
    );
}

#[test]
fn ld_preload_is_captured() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&[
        "spawn",
        "/usr/bin/env",
        "LD_PRELOAD=/tmp/saker-evil.so",
        "LD_LIBRARY_PATH=/tmp/saker-lib",
        "/bin/true",
    ]);
    let ev = h.expect("exec of /bin/true with LD_PRELOAD", |e| {
        exec_of(e).is_some_and(|x| x.filename.as_deref() == Some("/bin/true"))
            && e.lineage.iter().any(|p| p.pid == t.pid)
    });
    let x = exec_of(&ev).unwrap();
    assert_eq!(x.ld_preload.as_deref(), Some("/tmp/saker-evil.so"));
    assert_eq!(x.ld_library_path.as_deref(), Some("/tmp/saker-lib"));
}

#[test]
fn setuid_transition() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["setuid"]);
    let ev = h.expect("setresuid to nobody", |e| {
        e.kind == Kind::ProcessSetuid
            && by(e, t.pid)
            && matches!(&e.payload, Payload::Setuid(c) if c.syscall == "setresuid")
    });
    let Payload::Setuid(c) = &ev.payload else { unreachable!() };
    assert_eq!(c.previous.uid, 0);
    assert_eq!(c.current.uid, 65534);
    assert_eq!(c.current.euid, 65534);
    assert_eq!(c.args, [65534, 65534, 65534]);
    assert_eq!(ev.result, Some(0));
    assert_ne!(c.previous_cap_effective, 0);
    assert_eq!(c.cap_effective, 0, "dropping root clears effective caps");
}

#[test]
fn setuid_binary_exec_is_flagged() {
    let Some(h) = harness() else { return };
    // /usr/bin/passwd or su is setuid on Debian; `su --help` exits at once.
    let bin = ["/usr/bin/su", "/bin/su", "/usr/bin/passwd"].into_iter().find(|p| std::path::Path::new(p).exists());
    let Some(bin) = bin else {
        panic!("no setuid binary (su/passwd) on this machine; .ci/run installs them");
    };
    h.trigger(&["spawn", bin, "--help"]);
    let ev = h.expect("exec of a setuid binary", |e| exec_of(e).is_some_and(|x| x.filename.as_deref() == Some(bin)));
    assert!(exec_of(&ev).unwrap().setuid);
}

#[test]
fn executable_hash_reaches_exec_events() {
    let Some(h) = harness() else { return };
    let out = std::process::Command::new("sha256sum").arg("/usr/bin/printf").output().unwrap();
    let expected = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_owned();
    // Hashing is off the hot path: the first exec of a binary may go out
    // before its hash is known; later ones carry it (a cache hit).
    for i in 0..50 {
        let marker = format!("hash-{i}");
        let t = h.trigger(&["spawn", "/usr/bin/printf", &marker]);
        let ev = h.expect("exec of printf", |e| {
            exec_of(e).is_some_and(|x| x.argv.get(1) == Some(&marker))
                && e.lineage.first().is_some_and(|p| p.pid == t.pid)
        });
        if let Some(sha) = &ev.process.as_ref().unwrap().executable_sha256 {
            assert_eq!(&**sha, expected.as_str());
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no exec event of /usr/bin/printf ever carried its SHA-256");
}
