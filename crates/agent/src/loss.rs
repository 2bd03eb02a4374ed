//! Loss accounting: cumulative counters in, `agent.loss` deltas out.

use saker_abi::raw::kind as abi;
use saker_model::{KernelLoss, LossInfo, UserLoss};
use saker_sensor::KernelLossCount;
use std::collections::BTreeMap;
use std::time::Instant;

/// The public name of an ABI kind for loss reports.
fn kind_name(k: u16) -> String {
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
    user: UserCounters,
    since: Instant,
}

impl LossTracker {
    pub(crate) fn new() -> Self {
        LossTracker { kernel: BTreeMap::new(), user: BTreeMap::new(), since: Instant::now() }
    }

    /// The loss since the last report. `None` when nothing was lost, unless
    /// `report_zero` (the periodic all-clear, so a consumer can tell "no
    /// loss" from "no agent").
    pub(crate) fn delta(
        &mut self,
        kernel: &[KernelLossCount],
        user: &UserCounters,
        report_zero: bool,
    ) -> Option<LossInfo> {
        let mut info = LossInfo::default();
        for c in kernel {
            let prev = self.kernel.insert((c.cpu, c.kind), c.count).unwrap_or(0);
            if c.count > prev {
                info.kernel.push(KernelLoss { cpu: c.cpu, kind: kind_name(c.kind), count: c.count - prev });
            }
        }
        for (&(stage, reason), &count) in user {
            let prev = self.user.insert((stage, reason), count).unwrap_or(0);
            if count > prev {
                info.user.push(UserLoss { stage: stage.into(), reason: reason.into(), count: count - prev });
            }
        }
        info.total = info.kernel.iter().map(|k| k.count).sum::<u64>() + info.user.iter().map(|u| u.count).sum::<u64>();
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

    #[test]
    fn reports_only_new_loss() {
        let mut t = LossTracker::new();
        let k = |count| vec![KernelLossCount { cpu: 1, kind: abi::FILE_WRITE, count }];
        let mut user = UserCounters::new();
        assert!(t.delta(&k(0), &user, false).is_none());
        assert_eq!(t.delta(&k(0), &user, true).map(|d| d.total), Some(0), "periodic all-clear");
        let d = t.delta(&k(5), &user, false).unwrap();
        assert_eq!(d.kernel[0].count, 5);
        assert_eq!(d.kernel[0].kind, "file.write");
        assert_eq!(d.total, 5);
        assert!(t.delta(&k(5), &user, false).is_none());
        user.insert(("sensor", "undecodable record"), 2);
        let d = t.delta(&k(7), &user, false).unwrap();
        assert_eq!(d.total, 4);
        assert_eq!(d.user[0].count, 2);
    }
}
