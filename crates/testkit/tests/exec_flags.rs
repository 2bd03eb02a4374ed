//! Exec and library facts that matter for detection: a deleted executable;
//! one written into an overlayfs upper layer (after a container started)
//! versus one from the image's lower layer; standard streams that are
//! sockets (reverse shells); the modification and change times of
//! executables and libraries; and the working directory's place under the
//! root.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_model::{Event, ExecInfo, Kind, LibraryInfo, Payload};
use saker_testkit::{by, harness};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn exec(e: &saker_model::Event) -> Option<&ExecInfo> {
    match &e.payload {
        Payload::Exec(x) if e.kind == Kind::ProcessExec && e.result == Some(0) => Some(x),
        _ => None,
    }
}

#[test]
fn deleted_executable_is_flagged() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["deleted-exec"]);
    let child: u32 = t.stdout.lines().find_map(|l| l.strip_prefix("child=")).unwrap().parse().unwrap();
    let ev = h.expect("exec of the unlinked copy", |e| by(e, child) && exec(e).is_some());
    let x = exec(&ev).unwrap();
    assert!(x.deleted, "{x:?}");
    assert!(!x.memfd);
    assert!(x.executable.as_deref().is_some_and(|p| p.starts_with("/tmp/saker-deleted-")), "{x:?}");
}

/// An overlay mount like a container's root: `lower` is the image, writes
/// land in `upper`. Unmounted on drop.
struct Overlay {
    dir: tempfile::TempDir,
}

impl Overlay {
    fn new() -> Overlay {
        let dir = tempfile::tempdir().unwrap();
        for d in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::copy("/bin/true", dir.path().join("lower/image-true")).unwrap();
        let p = |d: &str| dir.path().join(d).display().to_string();
        let opts = format!("lowerdir={},upperdir={},workdir={}", p("lower"), p("upper"), p("work"));
        let status =
            Command::new("mount").args(["-t", "overlay", "overlay", "-o", &opts]).arg(p("merged")).status().unwrap();
        assert!(status.success(), "mount overlay");
        Overlay { dir }
    }

    fn merged(&self, name: &str) -> String {
        self.dir.path().join("merged").join(name).display().to_string()
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path().join("merged")).status();
    }
}

#[test]
fn upper_layer_executable_is_flagged() {
    let Some(h) = harness() else { return };
    let ovl = Overlay::new();
    // Written after the "container" started: lands in the upper layer.
    std::fs::copy("/bin/true", ovl.merged("dropped-true")).unwrap();
    let image = ovl.merged("image-true");
    let dropped = ovl.merged("dropped-true");
    h.trigger(&["spawn", &image]);
    h.trigger(&["spawn", &dropped]);
    let from_image =
        h.expect("exec from the lower layer", |e| exec(e).is_some_and(|x| x.filename.as_deref() == Some(&*image)));
    let from_upper =
        h.expect("exec from the upper layer", |e| exec(e).is_some_and(|x| x.filename.as_deref() == Some(&*dropped)));
    assert!(!exec(&from_image).unwrap().upper_layer, "image binary is not upper-layer");
    assert!(exec(&from_upper).unwrap().upper_layer, "dropped binary is upper-layer");
}

fn child_of(stdout: &str) -> u32 {
    stdout.lines().find_map(|l| l.strip_prefix("child=")).expect("trigger printed child=").parse().unwrap()
}

/// A loopback listener that accepts one connection and holds it until the
/// test is done with it (the exec'd program only needs it connected).
fn listener(addr: &str) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind(addr).unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        // Until the exec'd program exits and its socket closes.
        let _ = std::io::Read::read_to_end(&mut s, &mut Vec::new());
    });
    (port, accepted)
}

/// Runs `/bin/sh -c :` with stdin, stdout and stderr dup'ed from a socket to
/// `target` (`tcp:ADDR` or `unix`); returns the shell's exec payload.
fn shell_on_socket(target: &str) -> ExecInfo {
    let h = harness().unwrap();
    let t = h.trigger(&["stdio-socket-exec", target, "/bin/sh", "-c", ":"]);
    let child = child_of(&t.stdout);
    let ev = h.expect("exec of the shell on a socket", |e| by(e, child) && exec(e).is_some());
    exec(&ev).unwrap().clone()
}

#[test]
fn shell_with_a_tcp_socket_on_stdio_is_flagged() {
    if harness().is_none() {
        return;
    }
    let (port, accepted) = listener("127.0.0.1:0");
    let x = shell_on_socket(&format!("tcp:127.0.0.1:{port}"));
    assert!(x.stdin_socket && x.stdout_socket && x.stderr_socket, "{x:?}");
    let peer = x.stdin_peer.as_ref().unwrap_or_else(|| panic!("no stdin peer: {x:?}"));
    assert_eq!((peer.family.as_str(), peer.protocol.as_deref()), ("inet", Some("tcp")));
    assert_eq!((peer.remote_address.as_deref(), peer.remote_port), (Some("127.0.0.1"), Some(port)));
    accepted.join().unwrap();
}

#[test]
fn shell_with_a_tcp6_socket_on_stdio_is_flagged() {
    if harness().is_none() {
        return;
    }
    let (port, accepted) = listener("[::1]:0");
    let x = shell_on_socket(&format!("tcp:[::1]:{port}"));
    assert!(x.stdin_socket && x.stdout_socket && x.stderr_socket, "{x:?}");
    let peer = x.stdin_peer.as_ref().unwrap_or_else(|| panic!("no stdin peer: {x:?}"));
    assert_eq!((peer.family.as_str(), peer.protocol.as_deref()), ("inet6", Some("tcp")));
    assert_eq!((peer.remote_address.as_deref(), peer.remote_port), (Some("::1"), Some(port)));
    accepted.join().unwrap();
}

#[test]
fn unix_socket_on_stdio_has_no_peer_address() {
    if harness().is_none() {
        return;
    }
    let x = shell_on_socket("unix");
    assert!(x.stdin_socket && x.stdout_socket && x.stderr_socket, "{x:?}");
    let peer = x.stdin_peer.as_ref().unwrap_or_else(|| panic!("no stdin socket info: {x:?}"));
    assert_eq!(peer.family, "unix");
    assert_eq!((peer.remote_address.as_deref(), peer.remote_port), (None, None));
}

#[test]
fn normal_exec_has_no_socket_on_stdio() {
    let Some(h) = harness() else { return };
    // The trigger's stdin is /dev/null, its stdout and stderr pipes; the
    // spawned child inherits them.
    let t = h.trigger(&["spawn", "/bin/true"]);
    let ev = h.expect("exec of /bin/true", |e| {
        e.lineage.first().is_some_and(|p| p.pid == t.pid)
            && exec(e).is_some_and(|x| x.filename.as_deref() == Some("/bin/true"))
    });
    let x = exec(&ev).unwrap();
    assert!(!x.stdin_socket && !x.stdout_socket && !x.stderr_socket, "{x:?}");
    assert_eq!(x.stdin_peer, None);
    assert!(!x.cwd_outside_root, "a host process's cwd is below its root: {x:?}");
    let json = serde_json::to_value(&ev).unwrap();
    assert!(json["exec"].get("stdinSocket").is_none(), "false flags are not serialised: {json}");
    assert!(json["exec"].get("cwdOutsideRoot").is_none(), "false flags are not serialised: {json}");
}

/// The file's mtime as the kernel keeps it, in ns since the epoch.
fn mtime_ns(path: &Path) -> i64 {
    let m = std::fs::metadata(path).unwrap().modified().unwrap();
    i64::try_from(m.duration_since(UNIX_EPOCH).unwrap().as_nanos()).unwrap()
}

fn assert_recent(what: &str, ns: Option<i64>, path: &Path) {
    let ns = ns.unwrap_or_else(|| panic!("{what}: no mtime"));
    assert_eq!(ns, mtime_ns(path), "{what}: the file's own mtime");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
    let age = Duration::from_nanos(now.saturating_sub(ns).unsigned_abs());
    assert!(age < Duration::from_secs(60), "{what}: mtime {ns} is {age:?} from now");
}

#[test]
fn freshly_written_executable_has_a_recent_mtime() {
    let Some(h) = harness() else { return };
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh-true");
    std::fs::copy("/bin/true", &fresh).unwrap(); // keeps the mode: executable
    let fresh_s = fresh.display().to_string();
    h.trigger(&["spawn", &fresh_s]);
    let ev = h.expect("exec of the fresh copy", |e| exec(e).is_some_and(|x| x.filename.as_deref() == Some(&*fresh_s)));
    let x = exec(&ev).unwrap();
    assert_recent("fresh executable", x.executable_mtime.and_then(|t| t.timestamp_nanos_opt()), &fresh);
}

/// The file's ctime as the kernel keeps it, in ns since the epoch.
fn ctime_ns(path: &Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    m.ctime() * 1_000_000_000 + m.ctime_nsec()
}

/// A copy whose mtime is set back to 2001-01-01 (`touch -d`); the change
/// that sets it moves the ctime to now.
fn backdated_copy(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::copy("/bin/true", &path).unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(978_307_200)).unwrap();
    path
}

#[test]
fn backdated_executable_keeps_a_recent_ctime() {
    let Some(h) = harness() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = backdated_copy(dir.path(), "backdated-true");
    let path_s = path.display().to_string();
    // stat reads the ctime first: on 6.13+ that sets the "queried" bit the
    // kernel keeps in i_ctime_nsec, which the sensor must mask off.
    let ctime = ctime_ns(&path);
    h.trigger(&["spawn", &path_s]);
    let ev =
        h.expect("exec of the backdated copy", |e| exec(e).is_some_and(|x| x.filename.as_deref() == Some(&*path_s)));
    let x = exec(&ev).unwrap();
    assert_eq!(x.executable_mtime.map(|t| t.timestamp()), Some(978_307_200), "{x:?}");
    assert_eq!(x.executable_ctime.and_then(|t| t.timestamp_nanos_opt()), Some(ctime), "{x:?}");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
    assert!(now - ctime < 60_000_000_000, "the ctime is the change's time: {ctime}");
    let json = serde_json::to_value(&ev).unwrap();
    assert!(json["exec"]["executableCtime"].is_string(), "{json}");
}

#[test]
fn backdated_library_keeps_a_recent_ctime() {
    if harness().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = backdated_copy(dir.path(), "libbackdated.so");
    let ctime = ctime_ns(&path);
    let l = mmap_exec(&path.display().to_string());
    assert_eq!(l.mtime.map(|t| t.timestamp()), Some(978_307_200), "{l:?}");
    assert_eq!(l.ctime.and_then(|t| t.timestamp_nanos_opt()), Some(ctime), "{l:?}");
}

fn library(e: &Event, path: &str) -> Option<LibraryInfo> {
    match &e.payload {
        Payload::Library(l) if e.kind == Kind::LibraryLoad && l.path == path => Some(l.clone()),
        _ => None,
    }
}

/// Map `path` executable in a trigger; its library.load event.
fn mmap_exec(path: &str) -> LibraryInfo {
    let h = harness().unwrap();
    let t = h.trigger(&["mmap-exec", path]);
    assert!(t.stdout.contains("mapped=true"), "{}", t.stdout);
    let ev = h.expect(&format!("library.load of {path}"), |e| by(e, t.pid) && library(e, path).is_some());
    library(&ev, path).unwrap()
}

#[test]
fn library_load_carries_mtime_on_the_host() {
    if harness().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("libfresh.so");
    std::fs::copy("/bin/true", &lib).unwrap();
    let l = mmap_exec(&lib.display().to_string());
    assert!(!l.upper_layer, "a host file is not in an overlay upper layer: {l:?}");
    assert_recent("fresh library", l.mtime.and_then(|t| t.timestamp_nanos_opt()), &lib);
    // An old file keeps its old mtime. (The kernel reports the resolved
    // path: /bin may be a symlink to /usr/bin.)
    let system = std::fs::canonicalize("/bin/true").unwrap();
    let old = mmap_exec(&system.display().to_string());
    assert_eq!(old.mtime.and_then(|t| t.timestamp_nanos_opt()), Some(mtime_ns(&system)));
}

#[test]
fn upper_layer_library_is_flagged() {
    if harness().is_none() {
        return;
    }
    let ovl = Overlay::new();
    std::fs::copy("/bin/true", ovl.merged("libdropped.so")).unwrap();
    let dropped = mmap_exec(&ovl.merged("libdropped.so"));
    let image = mmap_exec(&ovl.merged("image-true"));
    assert!(dropped.upper_layer, "dropped library is upper-layer: {dropped:?}");
    assert!(!image.upper_layer, "image file is not upper-layer: {image:?}");
    assert!(dropped.mtime.is_some() && image.mtime.is_some());
}
