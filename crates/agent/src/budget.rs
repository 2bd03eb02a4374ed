//! The agent's resource budget: how much CPU and memory it may use, and what
//! it gives up, in order, when it is pushed past that.
//!
//! Two mechanisms, one budget (docs/budget.md):
//! - `cgroup.rs` places the agent in a cgroup with hard limits at twice the
//!   budget (when asked: the shipped systemd unit sets `CPUQuota=` and
//!   `MemoryMax=` itself);
//! - the [`Governor`] (`governor.rs`), fed once a second with the agent's own
//!   CPU time and memory (`usage.rs`) by the pipeline thread (`run.rs`), sheds
//!   whole event kinds in the kernel when the agent stays over budget, and
//!   restores them when it is well under again. The limit is the backstop;
//!   shedding is what keeps the agent from reaching it.
//!
//! Shedding never touches exec, fork/exit, credential, network, DNS or kernel
//! (ptrace, memory writes, modules, mounts, userfaultfd, memfd, BPF) events,
//! and every record held back is counted in the kernel and reported in
//! `agent.loss` (`shed`, per kind).

mod cgroup;
mod governor;
mod run;
mod usage;

pub use cgroup::{CgroupError, CgroupPlacement, Controller, place};
pub use governor::{Governor, Hysteresis, LevelChange, Sample};
pub(crate) use run::{BudgetRun, place_in_cgroup};
pub use usage::{UsageMeter, host_cpus, parse_memory_bytes};

use saker_abi::raw::kind as abi;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A limit given as a number or `auto` (scaled by host size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit<T> {
    Auto,
    Value(T),
}

/// The budget as configured (`[budget]` in the agent's configuration file).
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetConfig {
    /// CPU, in percent of *all* the host's CPUs (5 on a 2-CPU host is a
    /// tenth of one CPU).
    pub cpu_percent: Limit<f64>,
    /// Memory the agent itself allocates (anonymous resident memory), bytes.
    pub memory_bytes: Limit<u64>,
    /// Put the agent in a cgroup with these limits (when run as a service
    /// without the shipped systemd unit, which sets them itself).
    pub place_in_cgroup: bool,
    /// Shed at least this many levels whatever the usage (0: only when over
    /// budget). For hosts whose library loads are known noise.
    pub min_shed_level: usize,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            cpu_percent: Limit::Value(DEFAULT_CPU_PERCENT),
            memory_bytes: Limit::Value(DEFAULT_MEMORY_BYTES),
            place_in_cgroup: false,
            min_shed_level: 0,
        }
    }
}

pub const DEFAULT_CPU_PERCENT: f64 = 5.0;
pub const DEFAULT_MEMORY_BYTES: u64 = 64 << 20;

/// The host's size, which `auto` limits scale with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostSize {
    pub cpus: u32,
}

/// The budget in force: concrete numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Percent of all host CPUs.
    pub cpu_percent: f64,
    pub memory_bytes: u64,
}

impl Budget {
    /// CPU as a fraction of one CPU (what `cpu.max` and `CPUQuota=` take).
    pub fn cpu_cores(&self, host: HostSize) -> f64 {
        self.cpu_percent / 100.0 * f64::from(host.cpus.max(1))
    }
}

impl BudgetConfig {
    /// Concrete limits for a host of this size.
    ///
    /// `auto` follows the shape of GuardDuty's own agent budget: GuardDuty
    /// Runtime Monitoring documents, per EC2 instance size, the CPU and memory
    /// limits its agent runs under ("CPU and memory limit for GuardDuty
    /// agent", Prerequisites for Amazon EC2 instance support), enforced by its
    /// systemd unit (`MemoryMax=`, raised by hand when a large host needs it:
    /// "Troubleshooting out of memory error in Runtime Monitoring"). Limits
    /// grow with the host, because event volume and the process table do,
    /// but the CPU share shrinks, because an agent's work does not grow with
    /// idle cores. Saker's steps (its own numbers, not GuardDuty's):
    /// - CPU: 5 % of the host, at least a tenth of one CPU (1-CPU hosts get
    ///   10 %) and at most one whole CPU (past 20 CPUs the share falls);
    /// - memory: 64 MiB + 16 MiB per CPU, at most 512 MiB.
    pub fn resolve(&self, host: HostSize) -> Budget {
        let cpus = f64::from(host.cpus.max(1));
        let cpu_percent = match self.cpu_percent {
            Limit::Value(p) => p,
            Limit::Auto => (0.05 * cpus).clamp(0.1, 1.0) / cpus * 100.0,
        };
        let memory_bytes = match self.memory_bytes {
            Limit::Value(b) => b,
            Limit::Auto => ((64u64 << 20) + u64::from(host.cpus.max(1)) * (16 << 20)).min(512 << 20),
        };
        Budget { cpu_percent, memory_bytes }
    }

    /// Refuse budgets that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if let Limit::Value(p) = self.cpu_percent
            && !(p > 0.0 && p <= 100.0)
        {
            return Err(format!("budget.cpu_percent {p} must be above 0 and at most 100"));
        }
        if let Limit::Value(b) = self.memory_bytes
            && b < 16 << 20
        {
            return Err(format!("budget.memory_mb {} must be at least 16", b >> 20));
        }
        if self.min_shed_level > SHED_LEVELS.len() {
            return Err(format!("budget.min_shed_level {} must be 0 to {}", self.min_shed_level, SHED_LEVELS.len()));
        }
        Ok(())
    }
}

impl Budget {
    /// The hard limits for the agent's cgroup: twice the budget (the
    /// governor sheds at the budget; the limit is the backstop, and a CPU
    /// limit at the budget itself would throttle the agent into ring-buffer
    /// loss before shedding could help), plus the memory the budget does not
    /// measure: the kernel ring buffer, charged to the agent's cgroup.
    pub fn backstop(&self, ring_bytes: u64) -> Budget {
        Budget {
            cpu_percent: (self.cpu_percent * 2.0).min(100.0),
            memory_bytes: self.memory_bytes.saturating_mul(2).saturating_add(ring_bytes),
        }
    }
}

/// The budget's live state, shared by the pipeline thread (which runs the
/// governor), the sensor thread (which writes the kernel's shed mask) and
/// whoever holds the running agent.
#[derive(Debug, Clone, Default)]
pub struct BudgetHandle(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    /// The mask the governor wants in the kernel.
    wanted: AtomicU64,
    /// The mask the sensor thread last wrote.
    applied: AtomicU64,
    level: AtomicUsize,
    /// `min_shed_level`, changeable while running.
    floor: AtomicUsize,
}

impl BudgetHandle {
    pub(crate) fn new(level: usize, mask: u64) -> Self {
        let h = BudgetHandle::default();
        h.0.level.store(level, Ordering::Relaxed);
        h.0.floor.store(level, Ordering::Relaxed);
        h.0.wanted.store(mask, Ordering::Relaxed);
        h.0.applied.store(mask, Ordering::Relaxed);
        h
    }

    /// Levels shed now.
    pub fn level(&self) -> usize {
        self.0.level.load(Ordering::Relaxed)
    }

    /// The shed mask in force in the kernel.
    pub fn applied_mask(&self) -> u64 {
        self.0.applied.load(Ordering::Acquire)
    }

    /// Shed at least `level` levels from now on (0 gives the decision back
    /// to the governor).
    pub fn set_min_level(&self, level: usize) {
        self.0.floor.store(level.min(SHED_LEVELS.len()), Ordering::Relaxed);
    }

    pub(crate) fn min_level(&self) -> usize {
        self.0.floor.load(Ordering::Relaxed)
    }

    pub(crate) fn want(&self, level: usize, mask: u64) {
        self.0.level.store(level, Ordering::Relaxed);
        self.0.wanted.store(mask, Ordering::Release);
    }

    pub(crate) fn wanted_mask(&self) -> u64 {
        self.0.wanted.load(Ordering::Acquire)
    }

    pub(crate) fn applied(&self, mask: u64) {
        self.0.applied.store(mask, Ordering::Release);
    }
}

/// The names of the levels shed at `level`, for logs.
pub fn shed_names(level: usize) -> Vec<&'static str> {
    SHED_LEVELS.iter().take(level).map(|l| l.name).collect()
}

/// One step of shedding: the kinds given up together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShedLevel {
    pub name: &'static str,
    pub kinds: &'static [u16],
}

/// What is shed, in order: level N sheds the kinds of levels 1..=N.
///
/// Least security-relevant first, weighed against volume (shedding a rare
/// kind saves nothing). Every file kind is already limited in the kernel to
/// the interest set (`saker_prefixes`: system config, credentials,
/// persistence, binaries, runtime sockets), so "file opens on uninteresting
/// paths" never reach the ring in the first place; what is left to shed is:
/// 1. `library.load` — every dynamically linked exec maps several files
///    executable, so it is the largest sheddable stream by far, and the
///    least telling: `NewLibraryLoaded` is low severity and only concerns
///    libraries changed inside a container; the exec itself (new binary,
///    fileless, memfd) is still reported.
/// 2. `file.chmod`, `file.link`, `file.symlink`, `file.unlink` — metadata
///    changes of watched files: they complete a picture (a chmod +x after a
///    write, a symlink to /etc/shadow) whose key part — the write, the
///    exec — is still seen.
/// 3. `file.rename` — how a file usually lands in its final place
///    (package managers, editors, a dropped binary moved into /usr/bin).
/// 4. `file.write` — last: tampering with /etc, runc (CVE-2019-5736) and
///    cgroup `release_agent` escapes are detected from writes.
///
/// Never shed ([`PROTECTED`]): process lineage (exec, fork, exit), credential
/// changes, network, DNS, and the kernel kinds — the events the most severe
/// findings rest on, and (lineage) the ones every other event's context does.
pub const SHED_LEVELS: &[ShedLevel] = &[
    ShedLevel { name: "library loads", kinds: &[abi::LIBRARY_LOAD] },
    ShedLevel {
        name: "file metadata changes",
        kinds: &[abi::FILE_CHMOD, abi::FILE_LINK, abi::FILE_SYMLINK, abi::FILE_UNLINK],
    },
    ShedLevel { name: "file renames", kinds: &[abi::FILE_RENAME] },
    ShedLevel { name: "file writes", kinds: &[abi::FILE_WRITE] },
];

/// Kinds no level may ever shed.
pub const PROTECTED: &[u16] = &[
    abi::PROCESS_EXEC,
    abi::PROCESS_EXIT,
    abi::PROCESS_FORK,
    abi::PROCESS_CRED,
    abi::NET_CONNECT,
    abi::NET_ACCEPT,
    abi::NET_LISTEN,
    abi::DNS,
    abi::PTRACE,
    abi::MEM_WRITE,
    abi::MODULE_LOAD,
    abi::MOUNT,
    abi::USERFAULTFD,
    abi::MEMFD_CREATE,
    abi::BPF_LOAD,
    abi::CGROUP_MKDIR,
];

/// The kernel shed mask for a level (0 = nothing shed). Protected kinds are
/// masked out again here, so no table edit can shed them.
pub fn shed_mask(level: usize) -> u64 {
    let mut mask = 0u64;
    for l in SHED_LEVELS.iter().take(level) {
        for &k in l.kinds {
            mask |= 1 << k;
        }
    }
    for &k in PROTECTED {
        mask &= !(1 << k);
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_either_protected_or_in_exactly_one_level() {
        // A new kind must be placed deliberately: this fails until it is.
        for &k in abi::ALL {
            let levels = SHED_LEVELS.iter().filter(|l| l.kinds.contains(&k)).count();
            let protected = PROTECTED.contains(&k);
            assert!(levels <= 1, "kind {k} in {levels} levels");
            assert!(protected != (levels == 1), "kind {k}: protected {protected}, in {levels} levels");
        }
    }

    #[test]
    fn shedding_order_and_protected_kinds() {
        assert_eq!(shed_mask(0), 0);
        assert_eq!(shed_mask(1), 1 << abi::LIBRARY_LOAD, "library loads go first");
        assert_eq!(shed_mask(2) & (1 << abi::FILE_CHMOD), 1 << abi::FILE_CHMOD);
        assert_eq!(shed_mask(2) & (1 << abi::FILE_WRITE), 0, "writes are still reported at level 2");
        assert_eq!(shed_mask(3) & (1 << abi::FILE_WRITE), 0, "writes go last");
        assert_ne!(shed_mask(4) & (1 << abi::FILE_WRITE), 0);
        // Levels only ever add kinds.
        for n in 1..=SHED_LEVELS.len() {
            assert_eq!(shed_mask(n) & shed_mask(n - 1), shed_mask(n - 1));
        }
        let everything = shed_mask(usize::MAX);
        for &k in PROTECTED {
            assert_eq!(everything & (1 << k), 0, "protected kind {k} shed");
        }
        for k in
            [abi::PROCESS_EXEC, abi::PROCESS_FORK, abi::PROCESS_EXIT, abi::PROCESS_CRED, abi::NET_CONNECT, abi::DNS]
        {
            assert!(PROTECTED.contains(&k));
        }
    }

    #[test]
    fn auto_scales_with_the_host_and_values_are_kept() {
        let auto = BudgetConfig { cpu_percent: Limit::Auto, memory_bytes: Limit::Auto, ..BudgetConfig::default() };
        let one = auto.resolve(HostSize { cpus: 1 });
        assert!((one.cpu_percent - 10.0).abs() < 1e-9, "a tenth of the only CPU");
        assert_eq!(one.memory_bytes, 80 << 20);
        let eight = auto.resolve(HostSize { cpus: 8 });
        assert!((eight.cpu_percent - 5.0).abs() < 1e-9);
        assert!((eight.cpu_cores(HostSize { cpus: 8 }) - 0.4).abs() < 1e-9);
        assert_eq!(eight.memory_bytes, 192 << 20);
        let big = auto.resolve(HostSize { cpus: 96 });
        assert!((big.cpu_cores(HostSize { cpus: 96 }) - 1.0).abs() < 1e-9, "at most one CPU");
        assert_eq!(big.memory_bytes, 512 << 20);
        let fixed = BudgetConfig::default().resolve(HostSize { cpus: 96 });
        assert_eq!(fixed, Budget { cpu_percent: 5.0, memory_bytes: 64 << 20 });
    }

    #[test]
    fn validation() {
        assert!(BudgetConfig::default().validate().is_ok());
        let bad = |c: BudgetConfig| c.validate().unwrap_err();
        assert!(bad(BudgetConfig { cpu_percent: Limit::Value(0.0), ..Default::default() }).contains("cpu_percent"));
        assert!(bad(BudgetConfig { cpu_percent: Limit::Value(150.0), ..Default::default() }).contains("cpu_percent"));
        assert!(bad(BudgetConfig { memory_bytes: Limit::Value(1 << 20), ..Default::default() }).contains("memory_mb"));
        assert!(bad(BudgetConfig { min_shed_level: 5, ..Default::default() }).contains("min_shed_level"));
    }
}
