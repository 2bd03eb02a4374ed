//! `saker-trigger ACTION [ARGS]`: performs one real action the sensor must
//! see, as its own process, then exits. Prints `pid=<pid>` first so the test
//! can find the events it caused, then `key=value` lines the test may check.
//!
//! Test-only code: it panics freely on unexpected failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod techniques;

use std::ffi::CString;
use std::io::{Read, Write};
use std::process::Command;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("pid={}", std::process::id());
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match args.first().map(String::as_str) {
        Some("spawn") => spawn(&rest),
        Some("files") => files(rest[0]),
        Some("tcp-connect") => tcp_connect(rest[0]),
        Some("tcp-serve-once") => tcp_serve_once(),
        Some("unix-connect") => unix_connect(rest[0]),
        Some("dns") => dns(rest[0], rest[1], rest.get(2).copied() == Some("tcp")),
        Some("ptrace") => ptrace_child(),
        Some("vm-write") => vm_write(),
        Some("proc-mem") => proc_mem(),
        Some("mount-fail") => mount_fail(),
        Some("memfd-exec") => memfd_exec(),
        Some("deleted-exec") => deleted_exec(),
        Some("stdio-socket-exec") => stdio_socket_exec(rest[0], &rest[1..]),
        Some("mmap-exec") => mmap_exec(rest[0]),
        Some("userfaultfd") => userfaultfd(),
        Some("module-load") => module_load(),
        Some("bpf-load") => bpf_load(),
        Some("setuid") => setuid(),
        Some("forks") => forks(rest[0].parse().unwrap()),
        // Techniques behind findings, one module per test area.
        Some(action) if techniques::run(action, &rest) => {}
        other => {
            eprintln!("unknown action {other:?}");
            std::process::exit(2);
        }
    }
    std::io::stdout().flush().unwrap();
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Run a command as a child of this process and wait for it.
fn spawn(argv: &[&str]) {
    let status = Command::new(argv[0]).args(&argv[1..]).status().unwrap();
    println!("status={}", status.code().unwrap_or(-1));
}

/// write, rename, link, symlink, chmod, unlink under `dir`, plus a failed
/// open (missing directory).
fn files(dir: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let a = format!("{dir}/a.conf");
    let b = format!("{dir}/b.conf");
    let l = format!("{dir}/hard.conf");
    let s = format!("{dir}/soft.conf");
    std::fs::write(&a, b"x").unwrap();
    std::fs::rename(&a, &b).unwrap();
    std::fs::hard_link(&b, &l).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", &s).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::remove_file(&l).unwrap();
    std::fs::remove_file(&s).unwrap();
    std::fs::remove_file(&b).unwrap();
    // Relative path from a cwd inside the watched dir.
    std::env::set_current_dir(dir).unwrap();
    std::fs::write("rel.conf", b"y").unwrap();
    std::fs::remove_file("rel.conf").unwrap();
    let failed = std::fs::write(format!("{dir}/missing/x.conf"), b"z");
    println!("failed_open={}", failed.is_err());
}

fn tcp_connect(addr: &str) {
    match std::net::TcpStream::connect(addr) {
        Ok(s) => println!("local={}", s.local_addr().unwrap()),
        Err(e) => println!("error={}", e.raw_os_error().unwrap_or(0)),
    }
}

/// Listen on an ephemeral loopback port, connect to it, accept once.
fn tcp_serve_once() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    println!("port={port}");
    let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_s, peer) = l.accept().unwrap();
    println!("peer={peer}");
    drop(c);
}

fn unix_connect(path: &str) {
    let _ = std::fs::remove_file(path);
    let l = std::os::unix::net::UnixListener::bind(path).unwrap();
    let _c = std::os::unix::net::UnixStream::connect(path).unwrap();
    let _ = l.accept().unwrap();
    let _ = std::fs::remove_file(path);
}

/// One DNS query for an A record of `name` to `server` (ip:port), UDP or TCP;
/// prints the first answer byte count.
fn dns(server: &str, name: &str, tcp: bool) {
    let mut q = vec![0x4a, 0x11, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    if tcp {
        let mut s = std::net::TcpStream::connect(server).unwrap();
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        s.write_all(&framed).unwrap();
        let mut len = [0u8; 2];
        s.read_exact(&mut len).unwrap();
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut buf).unwrap();
        println!("answer_bytes={}", buf.len());
    } else {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect(server).unwrap();
        s.send(&q).unwrap();
        let mut buf = [0u8; 512];
        s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let n = s.recv(&mut buf).unwrap();
        println!("answer_bytes={n}");
    }
}

/// A child that sleeps until killed.
fn sleeper() -> libc::pid_t {
    // SAFETY: fork in a single-threaded program; the child only sleeps.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        loop {
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
        }
    }
    println!("child={pid}");
    pid
}

fn reap(pid: libc::pid_t) {
    // SAFETY: plain syscalls on our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

fn ptrace_child() {
    let pid = sleeper();
    // SAFETY: attaching to our own child.
    let r = unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0) };
    println!("attach={r}");
    // SAFETY: waiting for the attach stop of our child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    reap(pid);
}

static mut TARGET: [u8; 16] = [0; 16];

fn vm_write() {
    let pid = sleeper();
    let data = *b"saker-was-here!!";
    let local = libc::iovec { iov_base: data.as_ptr() as *mut _, iov_len: data.len() };
    // The child is a fork of us, so TARGET has the same address there.
    let remote = libc::iovec { iov_base: (&raw mut TARGET).cast(), iov_len: 16 };
    // SAFETY: writes 16 bytes into the child's copy of TARGET.
    let n = unsafe { libc::process_vm_writev(pid, &local, 1, &remote, 1, 0) };
    println!("written={n} errno={}", if n < 0 { errno() } else { 0 });
    reap(pid);
}

fn proc_mem() {
    let pid = sleeper();
    let f = std::fs::OpenOptions::new().write(true).open(format!("/proc/{pid}/mem"));
    println!("opened={}", f.is_ok());
    reap(pid);
}

fn mount_fail() {
    let src = CString::new("/nonexistent-saker-device").unwrap();
    let dst = CString::new("/tmp").unwrap();
    let fs = CString::new("ext4").unwrap();
    // SAFETY: valid C strings; the mount is meant to fail.
    let r = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), fs.as_ptr(), libc::MS_RDONLY, std::ptr::null()) };
    println!("mount={r} errno={}", errno());
}

/// Copy /bin/true into a memfd and exec it from there (fileless execution).
fn memfd_exec() {
    let name = CString::new("saker-fileless").unwrap();
    // SAFETY: valid name; returns a new fd.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), 0) };
    assert!(fd >= 0, "memfd_create: {}", errno());
    let bytes = std::fs::read("/bin/true").unwrap();
    // SAFETY: writing our buffer to our fd.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    assert_eq!(n as usize, bytes.len());
    let path = CString::new(format!("/proc/self/fd/{fd}")).unwrap();
    let arg0 = CString::new("fileless-true").unwrap();
    let argv = [arg0.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: fork in a single-threaded program; the child execs or exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: valid, NULL-terminated argv/envp.
        unsafe {
            libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    // SAFETY: reaping our child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    println!("child={pid}");
}

/// Exec a binary whose last link is gone: copy /bin/true, keep it open,
/// unlink it, exec it through the fd.
fn deleted_exec() {
    use std::os::fd::AsRawFd;
    let path = format!("/tmp/saker-deleted-{}", std::process::id());
    std::fs::copy("/bin/true", &path).unwrap();
    let f = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let empty = CString::new("").unwrap();
    let arg0 = CString::new("deleted-true").unwrap();
    let argv = [arg0.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: fork in a single-threaded program; the child execs or exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: valid fd, empty path with AT_EMPTY_PATH, NULL-terminated vectors.
        unsafe {
            libc::syscall(
                libc::SYS_execveat,
                f.as_raw_fd(),
                empty.as_ptr(),
                argv.as_ptr(),
                envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            );
            libc::_exit(127);
        }
    }
    // SAFETY: reaping our child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    println!("child={pid}");
}

/// Exec `argv` in a child whose stdin, stdout and stderr are one socket, the
/// way a reverse shell has them: `tcp:ADDR` connects to ADDR, `unix` uses one
/// end of a socketpair.
fn stdio_socket_exec(target: &str, argv: &[&str]) {
    use std::os::fd::{AsRawFd, OwnedFd};
    let mut _other_end = None;
    let sock: OwnedFd = match target.strip_prefix("tcp:") {
        Some(addr) => std::net::TcpStream::connect(addr).unwrap().into(),
        None => {
            assert_eq!(target, "unix", "target is tcp:ADDR or unix");
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            _other_end = Some(b);
            a.into()
        }
    };
    // Everything the child needs is allocated before fork.
    let args: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: fork in a single-threaded program; the child execs or exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: dup2 onto the standard fds (clearing close-on-exec), then
        // execve with valid NULL-terminated vectors.
        unsafe {
            for fd in 0..3 {
                libc::dup2(sock.as_raw_fd(), fd);
            }
            libc::execve(ptrs[0], ptrs.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    let mut status = 0;
    // SAFETY: reaping our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    println!("child={pid}");
    println!("status={status}");
}

/// Map a file executable (what the dynamic loader does with a library).
fn mmap_exec(path: &str) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).unwrap();
    let len = f.metadata().unwrap().len().clamp(1, 4096) as usize;
    // SAFETY: a fresh private read/exec mapping of our own fd, unmapped below.
    let addr = unsafe {
        libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_EXEC, libc::MAP_PRIVATE, f.as_raw_fd(), 0)
    };
    println!("mapped={}", addr != libc::MAP_FAILED);
    if addr != libc::MAP_FAILED {
        // SAFETY: the mapping made above.
        unsafe { libc::munmap(addr, len) };
    }
}

fn userfaultfd() {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC) };
    println!("fd={fd} errno={}", if fd < 0 { errno() } else { 0 });
}

/// finit_module on a file that is not a module: the attempt fails.
fn module_load() {
    let f = std::fs::File::open("/etc/hostname").unwrap();
    use std::os::fd::AsRawFd;
    let params = CString::new("").unwrap();
    // SAFETY: plain syscall with a valid fd and string.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), params.as_ptr(), 0) };
    println!("finit={r} errno={}", errno());
}

/// Load a two-instruction socket filter (r0 = 0; exit) named "saker_probe".
fn bpf_load() {
    let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
    let license = CString::new("GPL").unwrap();
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // BPF_PROG_TYPE_SOCKET_FILTER
    attr[4..8].copy_from_slice(&2u32.to_ne_bytes()); // insn_cnt
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    attr[48..59].copy_from_slice(b"saker_probe");
    // SAFETY: attr is a valid bpf_attr prefix for BPF_PROG_LOAD.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, 5, attr.as_ptr(), attr.len()) };
    println!("bpf={fd} errno={}", if fd < 0 { errno() } else { 0 });
}

/// Drop to nobody (65534) with setresuid, as a daemon does.
fn setuid() {
    // SAFETY: plain syscalls.
    let r = unsafe { libc::setresgid(65534, 65534, 65534) };
    // SAFETY: as above.
    let r2 = unsafe { libc::setresuid(65534, 65534, 65534) };
    println!("setresgid={r} setresuid={r2}");
}

/// `n` forks whose children exit at once: a burst of events.
fn forks(n: u32) {
    for _ in 0..n {
        // SAFETY: the child exits immediately.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: immediate exit in the child.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: reaping our child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    }
}
