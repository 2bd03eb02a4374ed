//! Ordinary work the benign suite performs with stand-in programs: a copy of
//! `saker-trigger` named like the program it stands in for (`cron`, `dpkg`,
//! `java`) runs one of these actions, so the process the agent sees has that
//! program's name and does that program's kind of work for real.
//!
//! - `benign-run CMD [ARGS...]` — run a command as a child with stdin from
//!   /dev/null and wait for it, as cron runs a job (`sh -c '...'`); prints
//!   `status=`.
//! - `benign-dpkg LIBDIR BIN` — what dpkg does when it installs a package:
//!   unpack each file as `NAME.dpkg-new`, rename it into place, set its mode;
//!   then run the package's postinst-like `sh -c` script, which writes
//!   `BIN-helper` and makes it executable with chmod. Prints `status=`.
//! - `benign-jit` — what a JIT runtime does with a memory file: create a
//!   memfd, write machine code into it (`ret`), map it read+exec, call it.
//!   Prints `ran=true`.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

pub fn run(action: &str, args: &[&str]) -> bool {
    match action {
        "benign-run" => run_job(args),
        "benign-dpkg" => dpkg(args[0], args[1]),
        "benign-jit" => jit(),
        _ => return false,
    }
    true
}

fn run_job(argv: &[&str]) {
    let status = Command::new(argv[0]).args(&argv[1..]).stdin(Stdio::null()).status().unwrap();
    println!("status={}", status.code().unwrap_or(-1));
}

/// Unpack `contents` to `path` the way dpkg does: a `.dpkg-new` file renamed
/// over the final name, then its mode.
fn unpack(path: &str, contents: &[u8], mode: u32) {
    let new = format!("{path}.dpkg-new");
    std::fs::write(&new, contents).unwrap();
    std::fs::rename(&new, path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn dpkg(libdir: &str, bin: &str) {
    std::fs::create_dir_all(libdir).unwrap();
    unpack(&format!("{libdir}/libsaker-benign.so.1"), b"\x7fELF not really a library\n", 0o644);
    unpack(&format!("{libdir}/README"), b"installed by the benign suite\n", 0o644);
    unpack(bin, b"#!/bin/sh\necho saker-benign\n", 0o755);
    // The maintainer script: configure the package.
    let postinst = format!("printf '#!/bin/sh\\nexit 0\\n' > {bin}-helper && chmod 755 {bin}-helper");
    let status = Command::new("/bin/sh").args(["-c", &postinst]).stdin(Stdio::null()).status().unwrap();
    println!("status={}", status.code().unwrap_or(-1));
}

fn jit() {
    let name = CString::new("jit-code").unwrap();
    // SAFETY: valid name; returns a new fd.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    let code: [u8; 1] = [0xc3]; // x86-64 `ret`
    // SAFETY: writing our buffer to our fd.
    let n = unsafe { libc::write(fd, code.as_ptr().cast(), code.len()) };
    assert_eq!(n, 1);
    // SAFETY: a fresh shared read+exec mapping of our own fd, unmapped below.
    let addr =
        unsafe { libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ | libc::PROT_EXEC, libc::MAP_SHARED, fd, 0) };
    assert_ne!(addr, libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
    if cfg!(target_arch = "x86_64") {
        // SAFETY: the mapping holds a single `ret`: calling it returns at once.
        let f: extern "C" fn() = unsafe { std::mem::transmute(addr) };
        f();
    }
    // SAFETY: the mapping made above; our own fd.
    unsafe {
        libc::munmap(addr, 4096);
        libc::close(fd);
    }
    println!("ran=true");
}
