//! Reading a process's `/proc/<pid>/stat` and `/proc/<pid>/status`: the
//! one parser behind the budget's usage meter, heartbeats and `saker bench`.

/// utime + stime (all threads) from a `/proc/<pid>/stat` line, in clock
/// ticks (USER_HZ). The command name (field 2) may hold spaces and
/// parentheses: fields are counted from the last `)`.
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ")": state is field 3; utime and stime are fields 14 and 15.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The value of a `Key:   123 kB` line of `/proc/<pid>/status`, in KiB;
/// `key` includes the colon (`"VmRSS:"`).
pub fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix(key))?;
    line.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_survive_odd_command_names() {
        let line = "4242 (saker (agent) x) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 70 0 0 20 0 9 0 123 0 0";
        assert_eq!(stat_cpu_ticks(line), Some(320));
        assert_eq!(
            stat_cpu_ticks("42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0 100 1000 10"),
            Some(12)
        );
        assert_eq!(stat_cpu_ticks("4242 (x) S 1"), None);
        assert_eq!(stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn status_lines_parse() {
        let status = "Name:\tsaker\nVmHWM:\t    2048 kB\nVmRSS:\t   1024 kB\nThreads: 3\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(2048));
        assert_eq!(status_kib(status, "VmRSS:"), Some(1024));
        assert_eq!(status_kib(status, "RssAnon:"), None);
        assert_eq!(status_kib("VmRSS: lots\n", "VmRSS:"), None);
    }
}
