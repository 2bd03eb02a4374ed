//! Reading one process out of a procfs tree (`/proc` or a fake one in tests):
//! used to seed the table at start and to fill in a process first seen late.
//!
//! Processes vanish at any moment, so every read can fail; only `stat` and
//! `status` are required (without them there is no start time or creds),
//! everything else degrades to "unknown".

use super::ProcessError;
use saker_model::Creds;
use std::fs;
use std::path::Path;

/// What `/proc/<pid>` says about one process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    /// Field 22 of stat: start time in clock ticks since boot.
    pub start_ticks: u64,
    pub exe: Option<String>,
    pub argv: Vec<String>,
    pub cwd: Option<String>,
    pub creds: Creds,
    pub ns_pid: u32,
}

/// The fields of `/proc/<pid>/stat` the table uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stat {
    pub comm: String,
    pub ppid: u32,
    pub start_ticks: u64,
}

/// The numeric entries of a procfs root: the pids. Non-numeric names
/// (`self`, `sys`, ...) are not processes.
pub(crate) fn list_pids(proc_root: &Path) -> Result<Vec<u32>, ProcessError> {
    let dir = fs::read_dir(proc_root).map_err(|e| ProcessError::io(proc_root, e))?;
    let mut pids = Vec::new();
    for ent in dir.flatten() {
        if let Some(pid) = ent.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// Read one process. Errors mean it is gone (or unreadable): callers skip it.
pub(crate) fn read_process(proc_root: &Path, pid: u32) -> Result<ProcInfo, ProcessError> {
    let dir = proc_root.join(pid.to_string());
    let stat_path = dir.join("stat");
    let stat_text = fs::read_to_string(&stat_path).map_err(|e| ProcessError::io(&stat_path, e))?;
    let stat = parse_stat(&stat_text).ok_or(ProcessError::Malformed { path: stat_path, what: "stat" })?;
    let status_path = dir.join("status");
    let status_text = fs::read_to_string(&status_path).map_err(|e| ProcessError::io(&status_path, e))?;
    let status = parse_status(&status_text);
    let (Some(uids), Some(gids)) = (status.uids, status.gids) else {
        return Err(ProcessError::Malformed { path: status_path, what: "no Uid:/Gid: line" });
    };
    Ok(ProcInfo {
        pid,
        ppid: stat.ppid,
        comm: stat.comm,
        start_ticks: stat.start_ticks,
        // Kernel threads have no exe; other users' processes may be unreadable.
        exe: read_link(&dir.join("exe")),
        argv: fs::read(dir.join("cmdline")).map(|b| split_cmdline(&b)).unwrap_or_default(),
        cwd: read_link(&dir.join("cwd")),
        creds: Creds { uid: uids[0], euid: uids[1], gid: gids[0], egid: gids[1] },
        ns_pid: status.ns_pid.unwrap_or(pid),
    })
}

fn read_link(p: &Path) -> Option<String> {
    fs::read_link(p).ok().map(|t| t.to_string_lossy().into_owned())
}

/// Parse `/proc/<pid>/stat`. The comm is in parentheses and may itself
/// contain spaces and `)`, so fields are counted from the *last* `)`.
pub(crate) fn parse_stat(s: &str) -> Option<Stat> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_owned();
    // After ") ": field 3 (state) is index 0, so field N is index N - 3.
    let rest: Vec<&str> = s.get(close + 1..)?.split_ascii_whitespace().collect();
    let ppid = rest.get(1)?.parse().ok()?;
    let start_ticks = rest.get(19)?.parse().ok()?;
    Some(Stat { comm, ppid, start_ticks })
}

/// The fields of `/proc/<pid>/status` the table uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Status {
    /// `Uid:` real and effective (the saved and fs ids after them are unused).
    pub uids: Option<[u32; 2]>,
    pub gids: Option<[u32; 2]>,
    /// Last NSpid field: the pid in the process's own namespace.
    pub ns_pid: Option<u32>,
}

pub(crate) fn parse_status(s: &str) -> Status {
    let mut out = Status::default();
    for line in s.lines() {
        let Some((key, val)) = line.split_once(':') else { continue };
        match key {
            "Uid" => out.uids = first_two(val),
            "Gid" => out.gids = first_two(val),
            // Absent before Linux 4.1; the caller falls back to the pid.
            "NSpid" => out.ns_pid = val.split_ascii_whitespace().last().and_then(|v| v.parse().ok()),
            _ => {}
        }
    }
    out
}

fn first_two(val: &str) -> Option<[u32; 2]> {
    let mut it = val.split_ascii_whitespace().map(str::parse::<u32>);
    Some([it.next()?.ok()?, it.next()?.ok()?])
}

/// `/proc/<pid>/cmdline`: NUL-separated, usually NUL-terminated. A process
/// may rewrite it (setproctitle) into one space-separated string; that is
/// reported as one argument, as the kernel presents it.
pub(crate) fn split_cmdline(b: &[u8]) -> Vec<String> {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    if b.is_empty() {
        return Vec::new();
    }
    b.split(|&c| c == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_hostile_comm() {
        let s = "42 (a) b (c) 1) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10 18446744073709551615";
        let st = parse_stat(s).unwrap();
        assert_eq!(st.comm, "a) b (c) 1");
        assert_eq!(st.ppid, 7);
        assert_eq!(st.start_ticks, 123456);
    }

    #[test]
    fn stat_truncated_is_none() {
        assert_eq!(parse_stat("42 (x) S 1 2 3"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_fields() {
        let s = "Name:\tbash\nUid:\t1000\t1001\t1000\t1000\nGid:\t50\t51\t50\t50\nNSpid:\t4242\t17\n";
        let st = parse_status(s);
        assert_eq!(st.uids, Some([1000, 1001]));
        assert_eq!(st.gids, Some([50, 51]));
        assert_eq!(st.ns_pid, Some(17));
        assert_eq!(parse_status("Uid:\tx\n").uids, None);
    }

    #[test]
    fn cmdline_split() {
        assert_eq!(split_cmdline(b"ls\0-l\0\0x\0"), vec!["ls", "-l", "", "x"]);
        assert_eq!(split_cmdline(b"nginx: worker"), vec!["nginx: worker"]);
        assert!(split_cmdline(b"").is_empty());
    }
}
