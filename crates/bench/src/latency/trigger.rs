//! The trigger: one `process_vm_writev` of eight bytes into a fresh child of
//! this process. The default detections report it as
//! `DefenseEvasion:Runtime/ProcessInjection.VirtualMemoryWrite`, and the
//! finding's id is keyed on the writing program and the **target pid**
//! (`target_key` in `saker-detect`'s kernel rules): every trigger writes into
//! a new child, so every trigger is a new finding, never an aggregated
//! repeat of an earlier one.
//!
//! Why this technique: it is one syscall, it touches no file and no network,
//! it fires on any kernel the agent supports, and its kind (`mem.write`) is
//! one the agent never sheds under its resource budget (docs/budget.md) — a
//! busy machine cannot make a trigger disappear.

use crate::BenchError;
use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime};

/// The finding type every trigger produces.
pub const FINDING_TYPE: &str = "DefenseEvasion:Runtime/ProcessInjection.VirtualMemoryWrite";

/// The word the write lands on. The victim is a fork of this process, so it
/// has this static at the same address.
static TARGET: AtomicU64 = AtomicU64::new(0);

/// One fired trigger.
#[derive(Debug, Clone, Copy)]
pub struct Fired {
    /// The child written into: the finding's `targetProcess.pid`.
    pub victim: u32,
    /// Just before the syscall, wall clock (compared with the finding's
    /// event time) and monotonic (for the client-side latency).
    pub call: SystemTime,
    pub call_instant: Instant,
}

/// Fork a victim that sleeps, write into it, kill and reap it.
pub fn fire() -> Result<Fired, BenchError> {
    // SAFETY: the child calls nothing but pause(2) until it is killed, which
    // is async-signal-safe in a fork of a multi-threaded process.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(BenchError::io("forking the trigger's victim", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        loop {
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
        }
    }
    let word = 0x5a4b_5a4b_u64.to_ne_bytes();
    let local = libc::iovec { iov_base: word.as_ptr() as *mut libc::c_void, iov_len: word.len() };
    let remote = libc::iovec { iov_base: TARGET.as_ptr().cast(), iov_len: word.len() };
    let call = SystemTime::now();
    let call_instant = Instant::now();
    // SAFETY: eight bytes from our buffer into the child's copy of TARGET,
    // which is mapped and writable there (fork copied our address space).
    let n = unsafe { libc::process_vm_writev(pid, &local, 1, &remote, 1, 0) };
    let err = std::io::Error::last_os_error();
    // SAFETY: killing and reaping our own child, whatever the write did.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    if n != word.len() as isize {
        return Err(BenchError::io(format!("process_vm_writev into the trigger's victim {pid}"), err));
    }
    Ok(Fired { victim: pid as u32, call, call_instant })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trigger_writes_into_a_new_child() {
        // Unprivileged is fine: writing into one's own child needs no capability.
        let a = fire().expect("first trigger");
        let b = fire().expect("second trigger");
        assert_ne!(a.victim, b.victim);
        assert!(b.call >= a.call);
    }
}
