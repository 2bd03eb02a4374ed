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
    parse_stat_cpu_ticks(&text)
        .map(|ticks| ticks.saturating_mul(1_000_000) / ticks_per_second())
        .ok_or_else(|| bad(&path, "unexpected /proc/<pid>/stat layout"))
}

/// utime + stime (fields 14 and 15) from a stat line. The command name (field
/// 2) is in parentheses and may contain spaces or ')': split after the last ')'.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 → index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
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
    parse_status_kib(&text, "VmHWM:").ok_or_else(|| bad(&path, "no VmHWM line"))
}

/// A `Name:   123 kB` line of /proc/<pid>/status, in KiB.
pub fn parse_status_kib(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_ticks_survive_odd_command_names() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0 100 1000 10";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(12));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn status_lines_parse() {
        let status = "Name:\tsaker\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM:"), Some(2048));
        assert_eq!(parse_status_kib(status, "VmRSS:"), None);
    }
}
