//! Process and kernel techniques, done for real by the trigger process:
//!
//! - `inject-proc-mem` — fork a victim child, open its `/proc/<pid>/mem` for
//!   writing, write 16 bytes into it and read them back. Prints `child=`,
//!   `written=`, `verified=`.
//! - `inject-ptrace` — fork a victim child, `PTRACE_ATTACH` to it, write a
//!   word into it with `PTRACE_POKEDATA`, read it back, detach. Prints
//!   `child=`, `poke=`, `verified=`.
//! - `inject-vm-write` — fork a victim child, `process_vm_writev` 16 bytes
//!   into it and read them back with `process_vm_readv`. Prints `child=`,
//!   `written=`, `verified=`.
//! - `anti-debug` — the classic check: `ptrace(PTRACE_TRACEME)` on oneself
//!   (it fails when a debugger is already attached). Prints `traceme=`.
//! - `debug-child PROGRAM` — what a debugger does to start its inferior:
//!   fork, the child asks to be traced and execs PROGRAM, the parent lets it
//!   run to its end. Prints `child=`, `status=`.
//! - `pipe-shell HOST:PORT` — connect to HOST:PORT, then run `/bin/sh -i`
//!   with a pipe on its stdin (fed `exit`). Prints `child=`, `status=`.
//! - `service-shell CMD [ARGS...]` — be a network service (listen on a
//!   loopback port, accept a connection), then run CMD with stdin from
//!   /dev/null. Prints `port=`, `child=`, `status=`.
//! - `module-file PATH` — `finit_module` on PATH. Prints `finit=`, `errno=`.
//! - `uffd` — create a userfaultfd, do the API handshake and register a page
//!   for missing-page faults (the set-up of a kernel race exploit). Prints
//!   `fd=`, `api=`, `register=`.

use std::ffi::CString;
use std::io::Write;
use std::process::{Command, Stdio};

pub fn run(action: &str, args: &[&str]) -> bool {
    match action {
        "inject-proc-mem" => proc_mem(),
        "inject-ptrace" => ptrace_poke(),
        "inject-vm-write" => vm_write(),
        "anti-debug" => anti_debug(),
        "debug-child" => debug_child(args[0]),
        "pipe-shell" => pipe_shell(args[0]),
        "service-shell" => service_shell(args),
        "module-file" => module_file(args[0]),
        "uffd" => uffd(),
        _ => return false,
    }
    true
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The bytes the injections overwrite. The victim is a fork of this
/// process, so it has this static at the same address.
static mut VICTIM_BYTES: [u8; 16] = [0; 16];
const PAYLOAD: &[u8; 16] = b"saker-was-here!!";

fn victim_addr() -> usize {
    (&raw const VICTIM_BYTES) as usize
}

/// A forked child that sleeps until killed.
fn victim() -> libc::pid_t {
    // SAFETY: fork in a single-threaded program; the child only sleeps.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        loop {
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
        }
    }
    assert!(pid > 0, "fork: {}", errno());
    println!("child={pid}");
    pid
}

fn kill_victim(pid: libc::pid_t) {
    // SAFETY: killing and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

fn proc_mem() {
    use std::os::unix::fs::FileExt;
    let pid = victim();
    let mem = std::fs::OpenOptions::new().read(true).write(true).open(format!("/proc/{pid}/mem")).unwrap();
    let written = mem.write_at(PAYLOAD, victim_addr() as u64).unwrap();
    let mut back = [0u8; 16];
    mem.read_exact_at(&mut back, victim_addr() as u64).unwrap();
    println!("written={written}");
    println!("verified={}", &back == PAYLOAD);
    drop(mem);
    kill_victim(pid);
}

fn ptrace_poke() {
    let pid = victim();
    // SAFETY: attaching to our own child and waiting for its attach stop.
    unsafe {
        assert_eq!(libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0), 0, "attach: {}", errno());
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    let word = u64::from_ne_bytes(PAYLOAD[..8].try_into().unwrap());
    // SAFETY: the tracee is stopped; the address is mapped in it (a fork of us).
    let poke = unsafe { libc::ptrace(libc::PTRACE_POKEDATA, pid, victim_addr(), word) };
    // SAFETY: as above; PEEKDATA returns the word (errno tells errors apart).
    let back = unsafe { libc::ptrace(libc::PTRACE_PEEKDATA, pid, victim_addr(), 0) };
    println!("poke={poke}");
    println!("verified={}", back as u64 == word);
    // SAFETY: detaching from our stopped tracee.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) };
    kill_victim(pid);
}

fn vm_write() {
    let pid = victim();
    let mut back = [0u8; 16];
    let local = libc::iovec { iov_base: PAYLOAD.as_ptr() as *mut _, iov_len: 16 };
    let readback = libc::iovec { iov_base: back.as_mut_ptr().cast(), iov_len: 16 };
    let remote = libc::iovec { iov_base: victim_addr() as *mut _, iov_len: 16 };
    // SAFETY: 16 bytes into the child's copy of VICTIM_BYTES, then back.
    let n = unsafe { libc::process_vm_writev(pid, &local, 1, &remote, 1, 0) };
    assert_eq!(n, 16, "process_vm_writev: {}", errno());
    // SAFETY: as above, reading into our buffer.
    let r = unsafe { libc::process_vm_readv(pid, &readback, 1, &remote, 1, 0) };
    assert_eq!(r, 16, "process_vm_readv: {}", errno());
    println!("written={n}");
    println!("verified={}", &back == PAYLOAD);
    kill_victim(pid);
}

fn anti_debug() {
    // SAFETY: plain syscall; this process never execs or stops afterwards.
    let r = unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) };
    println!("traceme={r}");
}

fn debug_child(program: &str) {
    let path = CString::new(program).unwrap();
    let argv = [path.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: fork in a single-threaded program; the child asks to be traced,
    // then execs or exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: valid, NULL-terminated vectors.
        unsafe {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    let mut status = 0;
    // SAFETY: our tracee stops at its exec (SIGTRAP); let it run to its end.
    unsafe {
        libc::waitpid(pid, &mut status, 0);
        while libc::WIFSTOPPED(status) {
            libc::ptrace(libc::PTRACE_CONT, pid, 0, 0);
            libc::waitpid(pid, &mut status, 0);
        }
    }
    println!("child={pid}");
    println!("status={}", libc::WEXITSTATUS(status));
}

fn pipe_shell(addr: &str) {
    let _conn = std::net::TcpStream::connect(addr).unwrap();
    let mut child = Command::new("/bin/sh").arg("-i").stdin(Stdio::piped()).spawn().unwrap();
    println!("child={}", child.id());
    child.stdin.take().unwrap().write_all(b"exit\n").unwrap();
    let status = child.wait().unwrap();
    println!("status={}", status.code().unwrap_or(-1));
}

fn service_shell(argv: &[&str]) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    println!("port={port}");
    let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_conn, _) = l.accept().unwrap();
    let child = Command::new(argv[0]).args(&argv[1..]).stdin(Stdio::null()).spawn().unwrap();
    println!("child={}", child.id());
    let out = child.wait_with_output().unwrap();
    println!("status={}", out.status.code().unwrap_or(-1));
}

fn module_file(path: &str) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).unwrap();
    let params = CString::new("").unwrap();
    // SAFETY: plain syscall with a valid fd and string.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), params.as_ptr(), 0) };
    println!("finit={r}");
    println!("errno={}", if r < 0 { errno() } else { 0 });
}

/// `struct uffdio_api` and `struct uffdio_register` (linux/userfaultfd.h).
#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioRegister {
    start: u64,
    len: u64,
    mode: u64,
    ioctls: u64,
}

const UFFD_API: u64 = 0xAA;
const UFFDIO_API: libc::c_ulong = 0xc018_aa3f; // _IOWR(0xAA, 0x3F, struct uffdio_api)
const UFFDIO_REGISTER: libc::c_ulong = 0xc020_aa00; // _IOWR(0xAA, 0x00, struct uffdio_register)
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;

fn uffd() {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | libc::O_NONBLOCK) } as libc::c_int;
    println!("fd={fd}");
    assert!(fd >= 0, "userfaultfd: {}", errno());
    let mut api = UffdioApi { api: UFFD_API, features: 0, ioctls: 0 };
    // SAFETY: a valid uffdio_api for our fd.
    let r = unsafe { libc::ioctl(fd, UFFDIO_API, &mut api) };
    println!("api={r}");
    // SAFETY: a fresh anonymous page, unmapped below.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED);
    let mut reg = UffdioRegister { start: page as u64, len: 4096, mode: UFFDIO_REGISTER_MODE_MISSING, ioctls: 0 };
    // SAFETY: registering our own mapping with our fd.
    let r = unsafe { libc::ioctl(fd, UFFDIO_REGISTER, &mut reg) };
    println!("register={r}");
    // SAFETY: our mapping and fd.
    unsafe {
        libc::munmap(page, 4096);
        libc::close(fd);
    }
}
