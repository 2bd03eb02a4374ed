//! The agent's own usage, from procfs: CPU time over wall time, and the
//! memory it allocated.

use super::Sample;
use std::path::PathBuf;
use std::time::Instant;

/// Clock ticks per second in /proc/<pid>/stat: the kernel's USER_HZ, which
/// is 100 on every architecture Linux exposes to user space this way
/// (sysconf(_SC_CLK_TCK) returns the same constant).
const USER_HZ: f64 = 100.0;

/// Turns successive procfs readings into [`Sample`]s.
#[derive(Debug)]
pub struct UsageMeter {
    stat: PathBuf,
    status: PathBuf,
    cpus: u32,
    last: Option<(Instant, u64)>,
}

impl UsageMeter {
    /// This process, on a host with `cpus` CPUs.
    pub fn new(cpus: u32) -> Self {
        UsageMeter { stat: "/proc/self/stat".into(), status: "/proc/self/status".into(), cpus: cpus.max(1), last: None }
    }

    /// Usage since the previous call; `None` on the first call (the
    /// baseline) or when procfs cannot be read.
    pub fn sample(&mut self, now: Instant) -> Option<Sample> {
        let ticks = crate::procfs::stat_cpu_ticks(&std::fs::read_to_string(&self.stat).ok()?)?;
        let memory_bytes = parse_memory_bytes(&std::fs::read_to_string(&self.status).ok()?)?;
        let (then, before) = self.last.replace((now, ticks))?;
        let wall = now.duration_since(then).as_secs_f64();
        if wall <= 0.0 {
            return None;
        }
        let cpu_seconds = ticks.saturating_sub(before) as f64 / USER_HZ;
        Some(Sample { cpu_percent: cpu_seconds / wall / f64::from(self.cpus) * 100.0, memory_bytes })
    }
}

/// The memory the process itself allocated, from /proc/<pid>/status:
/// `RssAnon` + `RssShmem` (kB). File-backed pages — the binary's own code,
/// 40 MB for a debug build — are shared and reclaimable, and would make the
/// budget depend on how the binary was built. Falls back to `VmRSS` on
/// kernels without the split (before 4.5).
pub fn parse_memory_bytes(text: &str) -> Option<u64> {
    let field = |key: &str| crate::procfs::status_kib(text, key);
    match (field("RssAnon:"), field("RssShmem:")) {
        (Some(anon), shmem) => Some((anon + shmem.unwrap_or(0)) * 1024),
        (None, _) => field("VmRSS:").map(|kb| kb * 1024),
    }
}

/// CPUs online on the host (not this process's affinity or cgroup quota:
/// the budget is a share of the whole host).
pub fn host_cpus() -> u32 {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|t| parse_cpu_list(&t))
        .or_else(|| std::thread::available_parallelism().ok().and_then(|n| u32::try_from(n.get()).ok()))
        .unwrap_or(1)
}

/// Count the CPUs in a kernel CPU list ("0-3,8,10-11").
fn parse_cpu_list(text: &str) -> Option<u32> {
    let mut n = 0u32;
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => b.trim().parse::<u32>().ok()?.checked_sub(a.trim().parse::<u32>().ok()?)? + 1,
            None => {
                part.trim().parse::<u32>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn memory_is_what_the_process_allocated() {
        let status =
            "Name:\tsaker\nVmRSS:\t   48068 kB\nRssAnon:\t    6708 kB\nRssFile:\t   41360 kB\nRssShmem:\t  100 kB\n";
        assert_eq!(parse_memory_bytes(status), Some(6808 * 1024));
        assert_eq!(parse_memory_bytes("VmRSS:\t 10 kB\n"), Some(10 * 1024), "old kernels");
        assert_eq!(parse_memory_bytes("Name: x\n"), None);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list(""), None);
        assert!(host_cpus() >= 1);
    }

    #[test]
    fn the_meter_reads_this_process() {
        let mut m = UsageMeter::new(host_cpus());
        let t0 = Instant::now();
        assert!(m.sample(t0).is_none(), "first call is the baseline");
        let s = m.sample(t0 + Duration::from_secs(1)).expect("procfs readable");
        assert!(s.cpu_percent >= 0.0 && s.memory_bytes > 0);
    }
}
