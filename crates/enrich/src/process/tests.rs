//! Tests of the process table: seeding from a fake `/proc`, fork/exec/exit,
//! lineage, eviction, pid reuse and uuid agreement between sources.

use super::*;
use saker_model::Creds;
use std::fs;
use std::path::Path;
use std::sync::Arc;

const BOOT: &str = "0b5e1d5c-1111-4222-8333-944455556666";

fn table(cap: usize) -> ProcessTable {
    ProcessTable::with_boot_id(cap, BOOT.into())
        .unwrap()
        .with_users(UserNames::new("/nonexistent/passwd"))
        .with_proc_root("/nonexistent/proc")
}

struct Fake<'a> {
    pid: u32,
    ppid: u32,
    comm: &'a str,
    ticks: u64,
    exe: Option<&'a str>,
    argv: &'a [&'a str],
    uid: [u32; 2],
    nspid: &'a str,
}

fn fake(root: &Path, f: &Fake<'_>) {
    let d = root.join(f.pid.to_string());
    fs::create_dir_all(&d).unwrap();
    let stat =
        format!("{} ({}) S {} 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 {} 1000 10 0", f.pid, f.comm, f.ppid, f.ticks);
    fs::write(d.join("stat"), stat).unwrap();
    let status = format!(
        "Name:\t{}\nUid:\t{}\t{}\t0\t0\nGid:\t{}\t{}\t0\t0\nNSpid:\t{}\n",
        f.comm,
        f.uid[0],
        f.uid[1],
        f.uid[0] + 1,
        f.uid[1] + 1,
        f.nspid
    );
    fs::write(d.join("status"), status).unwrap();
    let mut cmdline = Vec::new();
    for a in f.argv {
        cmdline.extend_from_slice(a.as_bytes());
        cmdline.push(0);
    }
    fs::write(d.join("cmdline"), cmdline).unwrap();
    if let Some(exe) = f.exe {
        std::os::unix::fs::symlink(exe, d.join("exe")).unwrap();
    }
    std::os::unix::fs::symlink("/srv", d.join("cwd")).unwrap();
}

fn simple(root: &Path, pid: u32, ppid: u32, ticks: u64) {
    let comm = format!("p{pid}");
    fake(root, &Fake { pid, ppid, comm: &comm, ticks, exe: Some("/bin/x"), argv: &["x"], uid: [0, 0], nspid: "" });
}

fn fake_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    simple(r, 1, 0, 1);
    // A kernel thread: no exe link, empty cmdline.
    fake(r, &Fake { pid: 2, ppid: 0, comm: "kthreadd", ticks: 1, exe: None, argv: &[], uid: [0, 0], nspid: "2" });
    simple(r, 100, 1, 50);
    fake(
        r,
        &Fake {
            pid: 200,
            ppid: 100,
            comm: "my (odd) name",
            ticks: 60,
            exe: Some("/usr/bin/python3"),
            argv: &["python3", "-c", "print(1)"],
            uid: [1000, 1001],
            nspid: "200\t7",
        },
    );
    // Parent 999 is not in the tree.
    simple(r, 300, 999, 70);
    // Vanished mid-scan: the directory is there, its files are not.
    fs::create_dir_all(r.join("400")).unwrap();
    // Not processes.
    fs::create_dir_all(r.join("sys")).unwrap();
    std::os::unix::fs::symlink("200", r.join("self")).unwrap();
    dir
}

fn creds(uid: u32) -> Creds {
    Creds { uid, euid: uid, gid: uid, egid: uid }
}

#[test]
fn seeds_from_fake_proc() {
    let dir = fake_tree();
    let mut t = table(100);
    assert_eq!(t.seed_from_proc(dir.path()).unwrap(), 5);

    let p = t.get(200).unwrap();
    assert_eq!(&*p.name, "my (odd) name");
    assert_eq!(p.image.executable.as_deref(), Some("/usr/bin/python3"));
    assert_eq!(p.image.argv[..], ["python3", "-c", "print(1)"]);
    assert_eq!(p.image.cwd.as_deref(), Some("/srv"));
    assert_eq!(p.creds, Creds { uid: 1000, euid: 1001, gid: 1001, egid: 1002 });
    assert_eq!(p.ns_pid, 7);
    assert_eq!(p.uuid, process_uuid(BOOT, 200, 60));

    let k = t.get(2).unwrap();
    assert_eq!((k.image.executable.as_ref(), k.image.argv.len(), k.parent), (None, 0, None));
    // No NSpid line: the host pid.
    assert_eq!(t.get(100).unwrap().ns_pid, 100);
    assert!(t.get(400).is_none());

    let (proc200, lineage) = t.snapshot(200).unwrap();
    assert_eq!(proc200.parent_uuid, Some(process_uuid(BOOT, 100, 50)));
    let pids: Vec<u32> = lineage.iter().map(|p| p.pid).collect();
    assert_eq!(pids, vec![100, 1]);
    assert_eq!(lineage[0].argv[..], ["x"]);

    // Missing parent: ppid remembered, no parent link, empty lineage.
    let orphan = t.get(300).unwrap();
    assert_eq!((orphan.ppid, orphan.parent_uuid), (999, None));
    assert!(t.snapshot(300).unwrap().1.is_empty());
}

#[test]
fn seed_of_missing_root_is_an_error() {
    let mut t = table(10);
    assert!(matches!(t.seed_from_proc(Path::new("/nonexistent/saker")), Err(ProcessError::Io { .. })));
}

#[test]
fn seeds_from_real_proc() {
    let mut t = ProcessTable::new(DEFAULT_CAPACITY).unwrap();
    let n = t.seed_from_proc(Path::new("/proc")).unwrap();
    assert!(n >= 1);
    let me = t.get(std::process::id()).expect("own process seeded");
    let argv: Vec<String> = std::env::args().collect();
    assert_eq!(me.image.argv[..], argv[..]);
    assert!(me.image.executable.is_some());
    assert_eq!(me.creds.euid, unsafe { libc::geteuid() });
    let (p, _) = t.snapshot(std::process::id()).unwrap();
    // Started within the last day, by the wall clock.
    let age = chrono::Utc::now() - p.start_time.unwrap();
    assert!(age.num_seconds() >= -1 && age.num_days() < 1, "start time {:?}", p.start_time);
}

#[test]
fn fork_exec_exit_and_lineage() {
    let mut t = table(100);
    t.observe(10, 1_000_000_000, 1, 10, "bash", creds(1000));
    t.on_exec(
        10,
        1_000_000_000,
        ExecUpdate {
            name: "bash".into(),
            executable: Some("/bin/bash".into()),
            argv: vec!["bash".to_owned()].into(),
            cwd: Some("/home/a".into()),
            creds: creds(1000),
            ns_pid: 10,
            ppid: 1,
        },
    );
    t.set_hash(10, 1_000_000_000, "aa".into());
    let bash = t.get(10).unwrap().clone();

    let child = t.on_fork(10, 1_000_000_000, 20, 2_000_000_000, 3);
    let c = t.get(20).unwrap();
    assert_eq!(c.uuid, child);
    assert_eq!(c.parent_uuid, Some(bash.uuid));
    assert_eq!(
        (c.image.executable.as_deref(), c.image.cwd.as_deref(), c.ns_pid),
        (Some("/bin/bash"), Some("/home/a"), 3)
    );
    assert_eq!(
        (c.image.argv.clone(), c.creds, c.image.executable_sha256.as_deref()),
        (bash.image.argv.clone(), bash.creds, Some("aa"))
    );

    t.on_exec(
        20,
        2_000_000_000,
        ExecUpdate {
            name: "curl".into(),
            executable: Some("/usr/bin/curl".into()),
            argv: vec!["curl".to_owned(), "x".to_owned()].into(),
            cwd: Some("/tmp".into()),
            creds: creds(0),
            ns_pid: 3,
            ppid: 10,
        },
    );
    let c = t.get(20).unwrap();
    assert_eq!((c.uuid, c.parent_uuid), (child, Some(bash.uuid)));
    assert_eq!((&*c.name, c.image.argv.len(), c.creds.uid), ("curl", 2, 0));
    assert_eq!(c.image.executable_sha256, None, "new image, old hash dropped");

    // Parent exits; the child is reparented to init, lineage keeps bash.
    t.on_exit(10, 1_000_000_000);
    assert!(t.get(10).unwrap().exited);
    t.observe(20, 2_000_000_000, 1, 3, "curl", creds(0));
    let (p, lineage) = t.snapshot(20).unwrap();
    assert_eq!(p.executable.as_deref(), Some("/usr/bin/curl"));
    assert_eq!(p.start_time, Some(t.clock().to_utc(2_000_000_000)));
    assert_eq!(lineage.len(), 1);
    assert_eq!((lineage[0].uuid, lineage[0].argv.to_vec()), (bash.uuid, vec!["bash".to_owned()]));
}

#[test]
fn fork_of_unknown_parent_still_names_it() {
    let mut t = table(10);
    let c = t.on_fork(5, 500_000_000, 6, 600_000_000, 6);
    let e = t.get(6).unwrap();
    assert_eq!(e.uuid, c);
    assert_eq!(e.parent_uuid, Some(t.uuid_for(5, 500_000_000)));
    assert!(t.snapshot(6).unwrap().1.is_empty());
}

#[test]
fn child_seen_before_fork_record() {
    let mut t = table(10);
    t.observe(10, 1_000_000_000, 1, 10, "sh", creds(0));
    t.on_exec(10, 1_000_000_000, ExecUpdate { executable: Some("/bin/sh".into()), ..ExecUpdate::default() });
    t.observe(11, 2_000_000_000, 10, 11, "sh", creds(0));
    let first = t.get(11).unwrap().uuid;
    assert_eq!(t.on_fork(10, 1_000_000_000, 11, 2_000_000_000, 11), first);
    assert_eq!(t.get(11).unwrap().image.executable.as_deref(), Some("/bin/sh"));
    assert_eq!(t.len(), 2);
}

#[test]
fn lru_evicts_and_counts() {
    let mut t = table(3);
    for pid in 1..=5u32 {
        t.observe(pid, u64::from(pid) * 1_000_000_000, 0, pid, "p", creds(0));
    }
    assert_eq!((t.len(), t.evictions()), (3, 2));
    assert!(t.get(1).is_none() && t.get(2).is_none());
    // Use 3, then insert 6: 4 is now the least recently used.
    t.observe(3, 3_000_000_000, 0, 3, "p", creds(0));
    t.observe(6, 6_000_000_000, 0, 6, "p", creds(0));
    assert!(t.get(3).is_some() && t.get(4).is_none());
    assert_eq!(t.evictions(), 3);
}

#[test]
fn pid_reuse_is_a_new_process() {
    let mut t = table(10);
    t.observe(42, 1_000_000_000, 1, 42, "old", creds(0));
    t.on_exit(42, 1_000_000_000);
    t.observe(42, 9_000_000_000, 1, 42, "new", creds(0));
    let old = t.get_at(42, 1_000_000_000).unwrap();
    let new = t.get(42).unwrap();
    assert_ne!(old.uuid, new.uuid);
    assert!(old.exited && !new.exited);
    assert_eq!(&*new.name, "new");
    // Same pid, start within one tick: the same process.
    assert_eq!(t.uuid_for(42, 9_000_000_000 + t.ns_per_tick() - 1), new.uuid);
    // Unknown start: the newest process with the pid.
    t.on_exit(42, 0);
    assert!(t.get(42).unwrap().exited);
}

#[test]
fn kernel_ns_and_proc_ticks_agree() {
    let dir = tempfile::tempdir().unwrap();
    simple(dir.path(), 500, 0, 12_345);
    let mut seeded = table(10);
    seeded.seed_from_proc(dir.path()).unwrap();
    let from_proc = seeded.get(500).unwrap().uuid;

    let mut live = table(10);
    let ns = 12_345 * live.ns_per_tick() + live.ns_per_tick() / 2;
    live.on_fork(1, 0, 500, ns, 500);
    assert_eq!(live.get(500).unwrap().uuid, from_proc);
    assert_eq!(live.uuid_for(500, ns), from_proc);
}

#[test]
fn observe_fills_from_proc_once() {
    let dir = tempfile::tempdir().unwrap();
    simple(dir.path(), 1, 0, 1);
    fake(
        dir.path(),
        &Fake {
            pid: 77,
            ppid: 1,
            comm: "late",
            ticks: 90,
            exe: Some("/bin/late"),
            argv: &["late", "-x"],
            uid: [5, 5],
            nspid: "",
        },
    );
    let mut t = table(10).with_proc_root(dir.path());
    let tick = t.ns_per_tick();
    t.observe(1, tick, 0, 1, "init", creds(0));
    t.observe(77, 90 * tick, 1, 77, "worker-thread", creds(6));
    let e = t.get(77).unwrap();
    assert_eq!((&*e.name, e.image.argv.len(), e.creds.uid), ("late", 2, 6));
    assert_eq!(e.parent_uuid, Some(t.uuid_for(1, tick)));
    // A hit does not read /proc again: a changed cmdline is not picked up.
    fs::write(dir.path().join("77/cmdline"), b"changed\0").unwrap();
    t.observe(77, 90 * tick, 1, 77, "other", creds(7));
    assert_eq!((t.get(77).unwrap().image.argv.len(), t.get(77).unwrap().creds.uid), (2, 7));
    // A /proc entry with another start time is a different process: not used.
    t.observe(77, 200 * tick, 1, 77, "reused", creds(0));
    let e = t.get(77).unwrap();
    assert_eq!((&*e.name, e.image.executable.as_ref()), ("reused", None));
}

#[test]
fn lineage_is_loop_safe_and_bounded() {
    let mut t = table(1000);
    // A cycle: each was seen first, then each "forked" the other.
    t.observe(10, 1_000_000_000, 0, 10, "a", creds(0));
    t.observe(20, 2_000_000_000, 0, 20, "b", creds(0));
    t.on_fork(10, 1_000_000_000, 20, 2_000_000_000, 20);
    t.on_fork(20, 2_000_000_000, 10, 1_000_000_000, 10);
    let (_, lineage) = t.snapshot(10).unwrap();
    assert_eq!(lineage.iter().map(|p| p.pid).collect::<Vec<_>>(), vec![20]);

    // A chain deeper than the cap.
    let mut prev = (100u32, 1_000_000_000u64);
    t.observe(prev.0, prev.1, 0, prev.0, "root", creds(0));
    for i in 1..=100u32 {
        let child = (100 + i, 1_000_000_000 + u64::from(i) * 1_000_000_000);
        t.on_fork(prev.0, prev.1, child.0, child.1, child.0);
        prev = child;
    }
    let (_, lineage) = t.snapshot(200).unwrap();
    assert_eq!(lineage.len(), 64);
    assert_eq!(lineage[0].pid, 199);
}

#[test]
fn snapshot_names_users() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("passwd");
    fs::write(&pw, "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n").unwrap();
    let mut t = table(10).with_users(UserNames::new(&pw)).with_clock(BootClock::from_offset_ns(0));
    t.observe(1, 0, 0, 1, "init", creds(0));
    t.observe(2, 5, 1, 2, "sh", Creds { uid: 1000, euid: 0, gid: 0, egid: 0 });
    let (p, lineage) = t.snapshot(2).unwrap();
    assert_eq!(p.user.as_deref(), Some("alice"));
    assert_eq!(lineage[0].user.as_deref(), Some("root"));
    // Start unknown (0): no start time rather than the epoch.
    assert_eq!(lineage[0].start_time, None);
    assert!(t.snapshot(3).is_none());
}

#[test]
fn zero_capacity_is_rejected() {
    assert!(matches!(ProcessTable::with_boot_id(0, BOOT.into()), Err(ProcessError::ZeroCapacity)));
}

#[test]
fn unseen_ancestors_are_filled_from_proc() {
    // init(1) → shim(10) → runc(20) → app(30): the table has seen none of
    // them (task-sidecar mode reports only the task's processes).
    let dir = tempfile::tempdir().unwrap();
    simple(dir.path(), 1, 0, 1);
    simple(dir.path(), 10, 1, 5);
    simple(dir.path(), 20, 10, 8);
    simple(dir.path(), 30, 20, 9);
    let mut t = table(10).with_proc_root(dir.path());
    let tick = t.ns_per_tick();
    t.observe(30, 9 * tick, 20, 1, "app", creds(0));
    let (p, lineage) = t.snapshot(30).unwrap();
    let pids: Vec<u32> = lineage.iter().map(|a| a.pid).collect();
    assert_eq!(pids, [20, 10, 1]);
    assert_eq!(p.parent_uuid, Some(lineage[0].uuid));
    assert_eq!(lineage[0].parent_uuid, Some(lineage[1].uuid));
}

#[test]
fn without_procfs_knows_only_what_events_say() {
    let tree = fake_tree();
    // With /proc, a process first seen late is filled from it...
    let mut t = table(16).with_proc_root(tree.path());
    t.observe(200, 0, 100, 0, "x", Creds::default());
    assert_eq!(t.get(200).and_then(|e| e.image.executable.clone()).as_deref(), Some("/usr/bin/python3"));
    assert!(t.get(100).is_some(), "ancestors filled from /proc");
    // ...without, it is what the event says and nothing more (a replayed
    // recording's pids name other processes on this host).
    let mut t = table(16).with_proc_root(tree.path()).without_procfs();
    t.observe(200, 0, 100, 0, "x", Creds::default());
    let e = t.get(200).unwrap();
    assert_eq!((e.image.executable.as_deref(), &*e.name), (None, "x"));
    assert!(t.get(100).is_none(), "no ancestor read from /proc");
}

fn exec(t: &mut ProcessTable, pid: u32, start_ns: u64, exe: &str, uid: u32) {
    let update = ExecUpdate {
        name: exe.rsplit('/').next().unwrap_or(exe).into(),
        executable: Some(exe.into()),
        argv: vec![exe.to_owned()].into(),
        cwd: Some("/".into()),
        creds: creds(uid),
        ns_pid: pid,
        ppid: 1,
    };
    t.on_exec(pid, start_ns, update);
}

#[test]
fn snapshots_are_shared_until_something_in_the_chain_changes() {
    let mut t = table(100);
    exec(&mut t, 10, 1_000_000_000, "/bin/bash", 1000);
    t.on_fork(10, 1_000_000_000, 20, 2_000_000_000, 20);
    exec(&mut t, 20, 2_000_000_000, "/usr/bin/make", 1000);

    // Unchanged: the very same snapshots, events share them.
    let (p1, l1) = t.snapshot(20).unwrap();
    t.observe(20, 2_000_000_000, 10, 20, "make", creds(1000));
    let (p2, l2) = t.snapshot(20).unwrap();
    assert!(Arc::ptr_eq(&p1, &p2) && Arc::ptr_eq(&l1, &l2));
    assert_eq!(l1[0].executable.as_deref(), Some("/bin/bash"));

    // The process's own creds change: a new process snapshot.
    t.observe(20, 2_000_000_000, 10, 20, "make", creds(0));
    let (p3, _) = t.snapshot(20).unwrap();
    assert!(!Arc::ptr_eq(&p2, &p3));
    assert_eq!((p2.uid, p3.uid), (1000, 0), "an event already out keeps what was true then");

    // The parent execs: the child's lineage follows, its own entry does not change.
    exec(&mut t, 10, 1_000_000_000, "/usr/bin/zsh", 1000);
    let (p4, l4) = t.snapshot(20).unwrap();
    assert!(Arc::ptr_eq(&p3, &p4));
    assert_eq!(l4[0].executable.as_deref(), Some("/usr/bin/zsh"));
    assert_eq!(l1[0].executable.as_deref(), Some("/bin/bash"));

    // A hash arriving for the parent reaches the child's lineage too.
    t.set_hash(10, 1_000_000_000, "bb".into());
    let (_, l5) = t.snapshot(20).unwrap();
    assert_eq!(l5[0].executable_sha256.as_deref(), Some("bb"));
}

#[test]
fn a_forked_child_shares_its_parents_image_until_it_execs() {
    let mut t = table(100);
    exec(&mut t, 10, 1_000_000_000, "/bin/bash", 1000);
    t.on_fork(10, 1_000_000_000, 20, 2_000_000_000, 20);
    assert!(Arc::ptr_eq(&t.get(10).unwrap().image, &t.get(20).unwrap().image));
    // A hash for the child alone does not change the parent's image.
    t.set_hash(20, 2_000_000_000, "cc".into());
    assert_eq!(t.get(10).unwrap().image.executable_sha256, None);
    assert_eq!(t.get(20).unwrap().image.executable_sha256.as_deref(), Some("cc"));
    exec(&mut t, 20, 2_000_000_000, "/bin/true", 1000);
    assert_eq!(t.get(10).unwrap().image.executable.as_deref(), Some("/bin/bash"));
    assert_eq!(t.get(20).unwrap().image.executable.as_deref(), Some("/bin/true"));
}

#[test]
fn an_exited_process_keeps_no_snapshots_of_its_own() {
    let mut t = table(100);
    exec(&mut t, 10, 1_000_000_000, "/bin/bash", 1000);
    t.on_fork(10, 1_000_000_000, 20, 2_000_000_000, 20);
    let (p, _) = t.snapshot(20).unwrap();
    t.on_exit(20, 2_000_000_000);
    assert_eq!(Arc::strong_count(&p), 1, "the table let go of the exited process's snapshot");
    // Its events still in flight are enriched as before.
    let (again, lineage) = t.snapshot(20).unwrap();
    assert_eq!((again.pid, lineage[0].pid), (20, 10));
}
