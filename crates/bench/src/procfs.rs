//! What the bench reads about a process from /proc: CPU time, peak
//! resident memory, and the reset of that peak.

use crate::BenchError;
use std::path::{Path, PathBuf};

/// utime + stime of a whole thread group (or one kernel thread), in
/// microseconds. /proc/<pid>/stat counts in clock ticks (USER_HZ, 100 on
/// Linux), so this is exact only to 10 ms: fine over runs of a second or more.
pub fn cpu_micros(pid: u32) -> Result<u64, BenchError> {
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    let text = read(&path)?;
    saker_agent::procfs::stat_cpu_ticks(&text)
        .map(|ticks| ticks.saturating_mul(1_000_000) / ticks_per_second())
        .ok_or_else(|| bad(&path, "unexpected /proc/<pid>/stat layout"))
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as u64 } else { 100 }
}

/// Peak resident set size (VmHWM) in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64, BenchError> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let text = read(&path)?;
    saker_agent::procfs::status_kib(&text, "VmHWM:").ok_or_else(|| bad(&path, "no VmHWM line"))
}

/// Reset the peak RSS to the current RSS (writing 5 to clear_refs), so a
/// peak measured later belongs to the workload, not to start-up.
pub fn reset_peak_rss(pid: u32) -> Result<(), BenchError> {
    let path = PathBuf::from(format!("/proc/{pid}/clear_refs"));
    std::fs::write(&path, "5").map_err(|source| BenchError::Proc { path, source })
}

/// The pid of a kernel thread by name (e.g. `kauditd`), if it runs.
pub fn kernel_thread(name: &str) -> Option<u32> {
    let dir = std::fs::read_dir("/proc").ok()?;
    dir.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim_end() == name).then_some(pid)
    })
}

fn read(path: &Path) -> Result<String, BenchError> {
    std::fs::read_to_string(path).map_err(|source| BenchError::Proc { path: path.to_owned(), source })
}

fn bad(path: &Path, why: &str) -> BenchError {
    BenchError::Proc { path: path.to_owned(), source: std::io::Error::new(std::io::ErrorKind::InvalidData, why) }
}
