//! Which event kinds the user asked for, and the kernel mask that enables
//! only the programs needed for them.

use saker_abi::raw::kind as abi;
use saker_model::Kind;
use std::collections::BTreeSet;

/// The ABI kind that produces a model kind (`agent.loss` has none).
fn abi_kind(k: Kind) -> Option<u16> {
    Some(match k {
        Kind::ProcessExec => abi::PROCESS_EXEC,
        Kind::ProcessExit => abi::PROCESS_EXIT,
        Kind::ProcessFork => abi::PROCESS_FORK,
        Kind::ProcessSetuid => abi::PROCESS_CRED,
        Kind::FileWrite => abi::FILE_WRITE,
        Kind::FileRename => abi::FILE_RENAME,
        Kind::FileUnlink => abi::FILE_UNLINK,
        Kind::FileLink => abi::FILE_LINK,
        Kind::FileSymlink => abi::FILE_SYMLINK,
        Kind::FileChmod => abi::FILE_CHMOD,
        Kind::NetConnect => abi::NET_CONNECT,
        Kind::NetAccept => abi::NET_ACCEPT,
        Kind::NetListen => abi::NET_LISTEN,
        Kind::DnsQuery | Kind::DnsAnswer => abi::DNS,
        Kind::Ptrace => abi::PTRACE,
        Kind::MemWrite => abi::MEM_WRITE,
        Kind::ModuleLoad => abi::MODULE_LOAD,
        Kind::Mount => abi::MOUNT,
        Kind::Userfaultfd => abi::USERFAULTFD,
        Kind::MemfdCreate => abi::MEMFD_CREATE,
        Kind::BpfLoad => abi::BPF_LOAD,
        Kind::LibraryLoad => abi::LIBRARY_LOAD,
        Kind::AgentLoss => return None,
    })
}

/// The kinds to report; `None` = all.
#[derive(Debug, Clone, Default)]
pub struct KindFilter(Option<BTreeSet<Kind>>);

impl KindFilter {
    pub fn all() -> Self {
        KindFilter(None)
    }

    pub fn only(kinds: impl IntoIterator<Item = Kind>) -> Self {
        KindFilter(Some(kinds.into_iter().collect()))
    }

    /// `agent.loss` always passes: loss is never silent.
    pub fn allows(&self, k: Kind) -> bool {
        k == Kind::AgentLoss || self.0.as_ref().is_none_or(|s| s.contains(&k))
    }
}

/// The kernel enable mask for a filter. Process lifecycle kinds stay on
/// whatever is asked: the process table (lineage) is built from them.
pub fn abi_kind_mask(filter: &KindFilter) -> u64 {
    // Internal inputs too: cgroup creation feeds attribution.
    let mut mask =
        (1u64 << abi::PROCESS_EXEC) | (1 << abi::PROCESS_EXIT) | (1 << abi::PROCESS_FORK) | (1 << abi::CGROUP_MKDIR);
    for k in Kind::ALL {
        if filter.allows(*k)
            && let Some(a) = abi_kind(*k)
        {
            mask |= 1 << a;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_lifecycle_kinds() {
        let m = abi_kind_mask(&KindFilter::only([Kind::DnsQuery]));
        assert_ne!(m & (1 << abi::DNS), 0);
        assert_ne!(m & (1 << abi::PROCESS_EXEC), 0);
        assert_eq!(m & (1 << abi::FILE_WRITE), 0);
        let all = abi_kind_mask(&KindFilter::all());
        for k in abi::ALL {
            assert_ne!(all & (1 << k), 0);
        }
    }

    #[test]
    fn loss_always_allowed() {
        assert!(KindFilter::only([Kind::Mount]).allows(Kind::AgentLoss));
        assert!(!KindFilter::only([Kind::Mount]).allows(Kind::Ptrace));
    }
}
