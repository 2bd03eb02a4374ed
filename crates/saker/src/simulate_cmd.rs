//! `saker simulate`: a few harmless techniques, so a newcomer sees real
//! findings within seconds (GuardDuty's tester, offline). Everything stays
//! on this machine: DNS goes to a loopback address nobody answers, the
//! reverse shell connects to a listener of this very command, the injected
//! process is our own child, the cron file is removed at once.

use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// GuardDuty's test domain for `Backdoor:Runtime/C&CActivity.B!DNS` (built in).
const C2_TEST_DOMAIN: &str = "c2.guarddutyc2activityb.com";
/// A loopback address no resolver listens on: the query is seen, never answered.
const SILENT_RESOLVER: &str = "127.0.0.153:53";
const CRON_FILE: &str = "/etc/cron.d/saker-simulate";

#[derive(clap::Args)]
pub struct SimulateArgs {}

/// What a step does, the finding it leads to, the step.
type Step = (&'static str, &'static str, fn() -> Result<()>);

pub fn run(_: SimulateArgs) -> Result<()> {
    println!("Running harmless techniques; the agent reports each as a finding:");
    let steps: [Step; 4] = [
        ("DNS query for a GuardDuty test domain", "Backdoor:Runtime/C&CActivity.B!DNS", dns_query),
        ("reverse shell to a loopback listener", "Execution:Runtime/ReverseShell", reverse_shell),
        ("ptrace write into a child process", "DefenseEvasion:Runtime/ProcessInjection.Ptrace", ptrace_poke),
        ("cron file written and removed", "Persistence:Runtime/SensitiveFileModified", cron_file),
    ];
    let mut failed = 0;
    for (what, finding, step) in steps {
        match step() {
            Ok(()) => println!("  ok    {what:<40} → {finding}"),
            Err(e) => {
                failed += 1;
                println!("  fail  {what:<40} ({e:#})");
            }
        }
    }
    println!("See them with `saker findings list` or in the console.");
    if failed > 0 {
        bail!("{failed} technique(s) could not run");
    }
    Ok(())
}

/// One DNS query (A, recursion desired) for the test domain.
fn dns_query() -> Result<()> {
    let mut q = vec![0x5a, 0x4b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in C2_TEST_DOMAIN.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let s = UdpSocket::bind("127.0.0.1:0").context("binding a UDP socket")?;
    s.send_to(&q, SILENT_RESOLVER).context("sending the query")?;
    Ok(())
}

/// A shell whose stdin and stdout are a TCP connection it made itself — the
/// shape of `nc -e /bin/sh` — to our own listener, told to exit at once.
fn reverse_shell() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").context("listening on loopback")?;
    let addr = listener.local_addr()?;
    let conn = TcpStream::connect(addr).context("connecting to the listener")?;
    let fd = conn.as_raw_fd();
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-i")
        .stdin(dup(fd)?)
        .stdout(dup(fd)?)
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting /bin/sh")?;
    drop(conn);
    let (mut peer, _) = listener.accept()?;
    peer.set_read_timeout(Some(Duration::from_secs(5)))?;
    peer.write_all(b"exit\n")?;
    let mut sink = Vec::new();
    let _ = peer.read_to_end(&mut sink);
    child.wait()?;
    Ok(())
}

fn dup(fd: i32) -> Result<std::process::Stdio> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: dup(2) of a valid open fd returns a new fd we exclusively own.
    let new = unsafe { libc::dup(fd) };
    if new < 0 {
        bail!("dup: {}", std::io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh descriptor owned by nothing else.
    Ok(std::process::Stdio::from(unsafe { OwnedFd::from_raw_fd(new) }))
}

/// A word the child has at the same address as we do (fork copies memory).
static TARGET: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Fork a child that asks to be traced and stops; write one word into it
/// with PTRACE_POKEDATA; let it exit.
fn ptrace_poke() -> Result<()> {
    // SAFETY: the child only calls async-signal-safe functions before _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        bail!("fork: {}", std::io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: raw syscalls in the forked child, then _exit.
        unsafe {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::raise(libc::SIGSTOP);
            libc::_exit(0);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let addr = TARGET.as_ptr() as usize;
    // SAFETY: the child is our stopped tracee; the address is valid in it.
    let r = unsafe { libc::ptrace(libc::PTRACE_POKEDATA, pid, addr, 0x5a4b_u64 as usize) };
    let err = std::io::Error::last_os_error();
    // SAFETY: resume and reap our child whatever happened.
    unsafe {
        libc::ptrace(libc::PTRACE_CONT, pid, 0, 0);
        libc::waitpid(pid, &mut status, 0);
    }
    if r < 0 {
        bail!("PTRACE_POKEDATA: {err}");
    }
    Ok(())
}

/// Write a comment-only cron file, then remove it.
fn cron_file() -> Result<()> {
    std::fs::write(CRON_FILE, "# written by `saker simulate`; removed at once\n")
        .with_context(|| format!("writing {CRON_FILE} (needs root)"))?;
    std::fs::remove_file(CRON_FILE).with_context(|| format!("removing {CRON_FILE}"))?;
    Ok(())
}
