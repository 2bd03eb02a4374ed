//! file.* events under a watched prefix, including relative paths and a
//! failed open; /proc/<pid>/mem opens as mem.write.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_model::{Event, Kind, Payload};
use saker_testkit::{WATCHED_DIR, by, harness};

#[test]
fn file_operations_under_a_watched_prefix() {
    let Some(h) = harness() else { return };
    let dir = format!("{WATCHED_DIR}files-{}", std::process::id());
    let t = h.trigger(&["files", &dir]);
    assert!(t.stdout.contains("failed_open=true"));
    let mine = |kind: Kind, path: String| {
        move |e: &Event| e.kind == kind && by(e, t.pid) && e.file().is_some_and(|f| f.path == path)
    };
    let w = h.expect("write-open of a.conf", mine(Kind::FileWrite, format!("{dir}/a.conf")));
    assert_eq!(w.result.map(|r| r >= 0), Some(true));
    let f = w.file().unwrap();
    assert_ne!(f.flags & libc::O_CREAT as u32, 0);
    assert!(f.inode.is_some());

    let r = h.expect("rename a → b", mine(Kind::FileRename, format!("{dir}/a.conf")));
    assert_eq!(r.file().unwrap().new_path.as_deref(), Some(&*format!("{dir}/b.conf")));
    assert_eq!(r.result, Some(0));

    let l = h.expect("hard link", mine(Kind::FileLink, format!("{dir}/b.conf")));
    assert_eq!(l.file().unwrap().new_path.as_deref(), Some(&*format!("{dir}/hard.conf")));

    let s = h.expect("symlink", mine(Kind::FileSymlink, format!("{dir}/soft.conf")));
    assert_eq!(s.file().unwrap().target.as_deref(), Some("/etc/shadow"));

    let c = h.expect("chmod to setuid", mine(Kind::FileChmod, format!("{dir}/b.conf")));
    assert_eq!(c.file().unwrap().mode & 0o7777, 0o4755);

    h.expect("unlink", mine(Kind::FileUnlink, format!("{dir}/hard.conf")));

    // Relative to cwd: resolved to the full path.
    h.expect("relative write", mine(Kind::FileWrite, format!("{dir}/rel.conf")));
    h.expect("relative unlink", mine(Kind::FileUnlink, format!("{dir}/rel.conf")));

    let failed = h.expect("failed open in a missing dir", mine(Kind::FileWrite, format!("{dir}/missing/x.conf")));
    assert_eq!(failed.result, Some(-(libc::ENOENT as i64)));
}

#[test]
fn unwatched_paths_are_not_reported() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["files", "/var/tmp/saker-unwatched"]);
    // A later watched action proves the stream has caught up past the unwatched one.
    let t2 = h.trigger(&["files", &format!("{WATCHED_DIR}sentinel-{}", std::process::id())]);
    h.expect("sentinel write", |e| e.kind == Kind::FileWrite && by(e, t2.pid));
    assert!(
        h.events_of(t.pid).iter().all(|e| e.file().is_none()),
        "file events for an unwatched directory: {:?}",
        h.events_of(t.pid)
    );
}

#[test]
fn proc_mem_open_is_a_memory_write() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["proc-mem"]);
    let child: u32 = t.stdout.lines().find_map(|l| l.strip_prefix("child=")).unwrap().parse().unwrap();
    let ev = h.expect("open of /proc/<child>/mem for writing", |e| e.kind == Kind::MemWrite && by(e, t.pid));
    let Payload::MemWrite(m) = &ev.payload else { unreachable!() };
    assert_eq!(m.method, "proc_mem");
    assert_eq!(m.target_pid, child);
    assert_eq!(m.path.as_deref(), Some(&*format!("/proc/{child}/mem")));
}
