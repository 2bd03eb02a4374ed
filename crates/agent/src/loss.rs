//! Loss accounting: cumulative counters in, `agent.loss` deltas out.
//!
//! Three sources: records the kernel could not put in the ring (`kernel`),
//! records dropped in user space (`user`), and records of kinds shed by the
//! resource budget (`shed`, counted in the kernel where they were held back;
//! see `budget.rs`). Each is cumulative; only the increase is reported.

use saker_abi::raw::kind as abi;
use saker_model::{KernelLoss, LossInfo, ShedLoss, UserLoss};
use saker_sensor::KernelLossCount;
use std::collections::BTreeMap;
use std::time::Instant;

/// The public name of an ABI kind for loss reports.
pub(crate) fn kind_name(k: u16) -> String {
    match k {
        abi::PROCESS_EXEC => "process.exec",
        abi::PROCESS_EXIT => "process.exit",
        abi::PROCESS_FORK => "process.fork",
        abi::PROCESS_CRED => "process.setuid",
        abi::FILE_WRITE => "file.write",
        abi::FILE_RENAME => "file.rename",
        abi::FILE_UNLINK => "file.unlink",
        abi::FILE_LINK => "file.link",
        abi::FILE_SYMLINK => "file.symlink",
        abi::FILE_CHMOD => "file.chmod",
        abi::NET_CONNECT => "net.connect",
        abi::NET_ACCEPT => "net.accept",
        abi::NET_LISTEN => "net.listen",
        abi::DNS => "dns",
        abi::PTRACE => "ptrace",
        abi::MEM_WRITE => "mem.write",
        abi::MODULE_LOAD => "module.load",
        abi::MOUNT => "mount",
        abi::USERFAULTFD => "userfaultfd",
        abi::MEMFD_CREATE => "memfd.create",
        abi::BPF_LOAD => "bpf.load",
        abi::LIBRARY_LOAD => "library.load",
        other => return format!("kind{other}"),
    }
    .to_owned()
}

/// Cumulative user-space counters, by (stage, reason).
pub(crate) type UserCounters = BTreeMap<(&'static str, &'static str), u64>;

/// Remembers what was already reported so each `agent.loss` carries only
/// what is new.
pub(crate) struct LossTracker {
    kernel: BTreeMap<(u32, u16), u64>,
    shed: BTreeMap<(u32, u16), u64>,
    user: UserCounters,
    since: Instant,
}

/// The cumulative counters one loss check read.
pub(crate) struct LossCounters<'a> {
    /// Ring buffer full, per CPU and kind.
    pub kernel: &'a [KernelLossCount],
    /// Shed by the budget, per CPU and kind.
    pub shed: &'a [KernelLossCount],
    pub user: &'a UserCounters,
}

impl LossTracker {
    pub(crate) fn new() -> Self {
        LossTracker { kernel: BTreeMap::new(), shed: BTreeMap::new(), user: BTreeMap::new(), since: Instant::now() }
    }

    /// The loss since the last report. `None` when nothing was lost, unless
    /// `report_zero` (the periodic all-clear, so a consumer can tell "no
    /// loss" from "no agent").
    pub(crate) fn delta(&mut self, counters: &LossCounters<'_>, report_zero: bool) -> Option<LossInfo> {
        let LossCounters { kernel, shed, user } = *counters;
        let mut info = LossInfo::default();
        for c in kernel {
            let prev = self.kernel.insert((c.cpu, c.kind), c.count).unwrap_or(0);
            if c.count > prev {
                info.kernel.push(KernelLoss { cpu: c.cpu, kind: kind_name(c.kind), count: c.count - prev });
            }
        }
        // Shed counts are per CPU in the kernel; reported per kind.
        let mut shed_by_kind = BTreeMap::<u16, u64>::new();
        for c in shed {
            let prev = self.shed.insert((c.cpu, c.kind), c.count).unwrap_or(0);
            if c.count > prev {
                *shed_by_kind.entry(c.kind).or_default() += c.count - prev;
            }
        }
        info.shed = shed_by_kind.into_iter().map(|(k, count)| ShedLoss { kind: kind_name(k), count }).collect();
        for (&(stage, reason), &count) in user {
            let prev = self.user.insert((stage, reason), count).unwrap_or(0);
            if count > prev {
                info.user.push(UserLoss { stage: stage.into(), reason: reason.into(), count: count - prev });
            }
        }
        info.total = info.kernel.iter().map(|k| k.count).sum::<u64>()
            + info.user.iter().map(|u| u.count).sum::<u64>()
            + info.shed.iter().map(|s| s.count).sum::<u64>();
        if info.total == 0 && !report_zero {
            return None;
        }
        let elapsed = std::mem::replace(&mut self.since, Instant::now()).elapsed();
        info.interval_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX).max(1);
        Some(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(t: &mut LossTracker, kernel: &[KernelLossCount], user: &UserCounters, zero: bool) -> Option<LossInfo> {
        t.delta(&LossCounters { kernel, shed: &[], user }, zero)
    }

    #[test]
    fn reports_only_new_loss() {
        let mut t = LossTracker::new();
        let k = |count| vec![KernelLossCount { cpu: 1, kind: abi::FILE_WRITE, count }];
        let mut user = UserCounters::new();
        assert!(delta(&mut t, &k(0), &user, false).is_none());
        assert_eq!(delta(&mut t, &k(0), &user, true).map(|d| d.total), Some(0), "periodic all-clear");
        let d = delta(&mut t, &k(5), &user, false).unwrap();
        assert_eq!(d.kernel[0].count, 5);
        assert_eq!(d.kernel[0].kind, "file.write");
        assert_eq!(d.total, 5);
        assert!(delta(&mut t, &k(5), &user, false).is_none());
        user.insert(("sensor", "undecodable record"), 2);
        let d = delta(&mut t, &k(7), &user, false).unwrap();
        assert_eq!(d.total, 4);
        assert_eq!(d.user[0].count, 2);
    }

    #[test]
    fn shed_records_are_reported_exactly_per_kind() {
        let mut t = LossTracker::new();
        let user = UserCounters::new();
        let c = |cpu, kind, count| KernelLossCount { cpu, kind, count };
        let none: &[KernelLossCount] = &[];
        // Two CPUs shed library loads, one sheds chmods; ring loss is separate.
        let shed = [c(0, abi::LIBRARY_LOAD, 10), c(1, abi::LIBRARY_LOAD, 5), c(1, abi::FILE_CHMOD, 2)];
        let ring = [c(0, abi::PROCESS_EXEC, 1)];
        let d = t.delta(&LossCounters { kernel: &ring, shed: &shed, user: &user }, false).unwrap();
        let by_kind: Vec<_> = d.shed.iter().map(|s| (s.kind.as_str(), s.count)).collect();
        assert_eq!(by_kind, [("file.chmod", 2), ("library.load", 15)]);
        assert_eq!(d.kernel.len(), 1, "ring loss stays in `kernel`");
        assert_eq!(d.total, 18);
        // Cumulative counters: only the increase is reported, and nothing twice.
        let shed = [c(0, abi::LIBRARY_LOAD, 13), c(1, abi::LIBRARY_LOAD, 5), c(1, abi::FILE_CHMOD, 2)];
        let d = t.delta(&LossCounters { kernel: &ring, shed: &shed, user: &user }, false).unwrap();
        assert_eq!(d.shed, vec![ShedLoss { kind: "library.load".into(), count: 3 }]);
        assert_eq!(d.total, 3);
        assert!(t.delta(&LossCounters { kernel: &ring, shed: &shed, user: &user }, false).is_none());
        assert!(t.delta(&LossCounters { kernel: none, shed: none, user: &user }, false).is_none());
        // The JSON form: `shed` appears only when something was shed.
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["shed"][0]["kind"], "library.load");
        let quiet = t.delta(&LossCounters { kernel: &ring, shed: &shed, user: &user }, true).unwrap();
        assert!(serde_json::to_value(&quiet).unwrap().get("shed").is_none());
    }
}
