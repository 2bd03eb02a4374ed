//! What the container finding tests do from inside a container with
//! `saker-trigger` (shipped in the image by `ContainerSpec::with_trigger`).
//!
//! - `docker-api SOCKET` — what a container that found the Docker socket
//!   mounted into it does first: connect to it and ask the Engine API for
//!   the host's containers (`GET /containers/json`); prints the reply's
//!   status line as `status=`.
//! - `enter-container PID CGROUP_DIR CWD SCRIPT` — what `runc exec` does to
//!   start a process in a running container (PID is its init): join its
//!   cgroup (CGROUP_DIR, the host path) and namespaces, fork (the pid
//!   namespace applies to children), and in the child change to CWD and run
//!   `/bin/sh -c SCRIPT` from the container's root. `CWD` is a path inside the
//!   container, or `host:DIR`: a host directory opened *before* entering and
//!   made the working directory with fchdir(2) afterwards — the state
//!   CVE-2024-21626 left a container process in (runc < 1.1.12 leaked its fd
//!   of the host's /sys/fs/cgroup, and `--cwd /proc/self/fd/N` made it the
//!   process's cwd). Prints the child's output, then `status=`.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

pub fn run(action: &str, args: &[&str]) -> bool {
    match action {
        "docker-api" => docker_api(args[0]),
        "enter-container" => enter_container(args[0], args[1], args[2], args[3]),
        _ => return false,
    }
    true
}

/// The container's namespaces, joined in this order. The mount namespace is
/// last: setns(2) into it also moves the caller's root and cwd to the
/// namespace's root. The pid namespace applies to children only (hence the
/// fork).
const NAMESPACES: [(&str, i32); 6] = [
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("pid", libc::CLONE_NEWPID),
    ("mnt", libc::CLONE_NEWNS),
];

fn enter_container(pid: &str, cgroup_dir: &str, cwd: &str, script: &str) {
    // Everything from the host is opened first: after setns(mnt) host paths
    // no longer resolve. The held directory is the leaked fd.
    let held = cwd.strip_prefix("host:").map(|dir| File::open(dir).unwrap());
    let ns: Vec<(File, i32)> =
        NAMESPACES.iter().map(|(name, flag)| (File::open(format!("/proc/{pid}/ns/{name}")).unwrap(), *flag)).collect();
    std::fs::write(format!("{cgroup_dir}/cgroup.procs"), std::process::id().to_string()).unwrap();
    for (f, flag) in &ns {
        // SAFETY: setns on an fd we own; no memory is handed over.
        let rc = unsafe { libc::setns(f.as_raw_fd(), *flag) };
        assert_eq!(rc, 0, "setns {flag:#x}: errno {}", crate::errno());
    }
    let sh = CString::new("/bin/sh").unwrap();
    let argv = [CString::new("sh").unwrap(), CString::new("-c").unwrap(), CString::new(script).unwrap()];
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let inside = CString::new(cwd).unwrap();
    std::io::stdout().flush().unwrap();
    // SAFETY: single-threaded; the child only makes async-signal-safe calls
    // (fchdir/chdir, execv, _exit) on memory prepared before the fork.
    unsafe {
        match libc::fork() {
            0 => {
                let rc = match &held {
                    Some(dir) => libc::fchdir(dir.as_raw_fd()),
                    None => libc::chdir(inside.as_ptr()),
                };
                if rc == 0 {
                    libc::execv(sh.as_ptr(), argv_ptrs.as_ptr());
                }
                libc::_exit(127);
            }
            -1 => panic!("fork: errno {}", crate::errno()),
            child => {
                let mut status = 0;
                libc::waitpid(child, &mut status, 0);
                println!("status={}", libc::WEXITSTATUS(status));
            }
        }
    }
}

fn docker_api(socket: &str) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.write_all(b"GET /v1.41/containers/json HTTP/1.0\r\nHost: docker\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    println!("status={}", reply.lines().next().unwrap_or(""));
}
