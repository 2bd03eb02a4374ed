//! Placing the agent in a cgroup with its budget as hard limits.
//!
//! Each controller (cpu, memory) is found where this host has it: in the
//! cgroup2 hierarchy (pure cgroup2 hosts, e.g. Debian 12 with systemd), or
//! in its own v1 hierarchy (hybrid hosts: cgroup2 mounted at
//! /sys/fs/cgroup/unified with no controllers, v1 cpu and memory elsewhere).
//! - cgroup2: `<root>/<name>`. The no-internal-processes rule forbids
//!   enabling controllers below a cgroup that still holds other processes;
//!   the root is exempt, so that is where the agent's cgroup goes.
//! - v1: `<current>/<name>` in each hierarchy. v1 has no such rule, and
//!   nesting keeps whatever limit an administrator already set above.
//!
//! A process already under a limit (the shipped systemd unit sets
//! `MemoryMax=`/`CPUQuota=` on its own cgroup) is left where it is: the
//! unit's limits are the administrator's choice.

use super::{Budget, HostSize};
use std::path::{Path, PathBuf};

/// A resource controller the budget limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    Cpu,
    Memory,
}

impl Controller {
    fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Memory => "memory",
        }
    }
}

/// Which hierarchy a controller is in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hierarchy {
    /// cgroup2, mounted here.
    V2 { root: PathBuf },
    /// A v1 hierarchy of its own, mounted here.
    V1 { mount: PathBuf },
}

/// Where a controller lives for one process.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Location {
    hierarchy: Hierarchy,
    /// The process's current cgroup directory in that hierarchy.
    current: PathBuf,
}

/// What [`place`] did, per controller.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CgroupPlacement {
    /// Limits written and the process moved into these directories.
    pub placed: Vec<(Controller, PathBuf)>,
    /// Already limited where it is (a systemd unit's limits): left alone.
    pub already_limited: Vec<(Controller, PathBuf)>,
    /// Not available on this host.
    pub unavailable: Vec<Controller>,
}

/// Why the agent could not be placed. The agent then warns and keeps
/// running with its user-space governor only.
#[derive(Debug, thiserror::Error)]
#[error("cgroup {what} {path}: {source}")]
pub struct CgroupError {
    what: &'static str,
    path: PathBuf,
    source: std::io::Error,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError {
    let path = path.to_path_buf();
    move |source| CgroupError { what, path, source }
}

/// Put process `pid` in a cgroup called `name` limited to `budget`, for each
/// of the cpu and memory controllers this host has.
pub fn place(pid: u32, name: &str, budget: Budget, host: HostSize) -> Result<CgroupPlacement, CgroupError> {
    let mountinfo = read(Path::new("/proc/self/mountinfo"))?;
    let proc_cgroup = read(&PathBuf::from(format!("/proc/{pid}/cgroup")))?;
    place_in(&mountinfo, &proc_cgroup, pid, name, budget, host)
}

/// As [`place`], with the process's mount table and cgroup file given
/// (tests point them at a directory tree standing in for cgroupfs).
fn place_in(
    mountinfo: &str,
    proc_cgroup: &str,
    pid: u32,
    name: &str,
    budget: Budget,
    host: HostSize,
) -> Result<CgroupPlacement, CgroupError> {
    let mut out = CgroupPlacement::default();
    for c in [Controller::Cpu, Controller::Memory] {
        let Some(loc) = locate(mountinfo, proc_cgroup, c) else {
            out.unavailable.push(c);
            continue;
        };
        if already_limited(&loc, c) {
            out.already_limited.push((c, loc.current));
            continue;
        }
        let dir = match &loc.hierarchy {
            Hierarchy::V2 { root } => {
                // The root may hold processes and still enable controllers.
                let control = root.join("cgroup.subtree_control");
                let enabled = std::fs::read_to_string(&control).unwrap_or_default();
                if !enabled.split_whitespace().any(|w| w == c.name()) {
                    write(&control, &format!("+{}", c.name()))?;
                }
                root.join(name)
            }
            Hierarchy::V1 { .. } => loc.current.join(name),
        };
        if !dir.is_dir() {
            std::fs::create_dir(&dir).map_err(io("creating", &dir))?;
        }
        for (file, value) in limits(&loc.hierarchy, c, budget, host) {
            write(&dir.join(file), &value)?;
        }
        write(&dir.join("cgroup.procs"), &pid.to_string())?;
        out.placed.push((c, dir));
    }
    Ok(out)
}

/// The files and values that express the budget for one controller.
fn limits(h: &Hierarchy, c: Controller, budget: Budget, host: HostSize) -> Vec<(&'static str, String)> {
    const PERIOD_US: u64 = 100_000;
    // The kernel refuses quotas under 1 ms.
    let quota = ((budget.cpu_cores(host) * PERIOD_US as f64) as u64).max(1000);
    let bytes = budget.memory_bytes;
    // Reclaim (and throttle) from 90 %: pressure before the OOM killer.
    let high = bytes / 10 * 9;
    match (h, c) {
        (Hierarchy::V2 { .. }, Controller::Cpu) => vec![("cpu.max", format!("{quota} {PERIOD_US}"))],
        (Hierarchy::V2 { .. }, Controller::Memory) => {
            vec![("memory.max", bytes.to_string()), ("memory.high", high.to_string())]
        }
        (Hierarchy::V1 { .. }, Controller::Cpu) => {
            vec![("cpu.cfs_period_us", PERIOD_US.to_string()), ("cpu.cfs_quota_us", quota.to_string())]
        }
        (Hierarchy::V1 { .. }, Controller::Memory) => {
            vec![("memory.limit_in_bytes", bytes.to_string()), ("memory.soft_limit_in_bytes", high.to_string())]
        }
    }
}

/// Is the current cgroup already limited for `c` (a unit's `MemoryMax=`,
/// `CPUQuota=`)? The root cgroup never is.
fn already_limited(loc: &Location, c: Controller) -> bool {
    let read = |f: &str| std::fs::read_to_string(loc.current.join(f)).unwrap_or_default();
    match (&loc.hierarchy, c) {
        (Hierarchy::V2 { .. }, Controller::Cpu) => {
            read("cpu.max").split_whitespace().next().is_some_and(|q| q != "max")
        }
        (Hierarchy::V2 { .. }, Controller::Memory) => read("memory.max").trim().parse::<u64>().is_ok(),
        (Hierarchy::V1 { .. }, Controller::Cpu) => read("cpu.cfs_quota_us").trim().parse::<i64>().is_ok_and(|q| q > 0),
        // v1 spells "unlimited" as a huge page-rounded number.
        (Hierarchy::V1 { .. }, Controller::Memory) => {
            read("memory.limit_in_bytes").trim().parse::<u64>().is_ok_and(|b| b < 1 << 62)
        }
    }
}

/// Where controller `c` lives for the process whose /proc/<pid>/cgroup is
/// `proc_cgroup`: cgroup2 when its root lists `c` in cgroup.controllers,
/// else the v1 hierarchy mounted with `c`.
fn locate(mountinfo: &str, proc_cgroup: &str, c: Controller) -> Option<Location> {
    let mut v2_root = None;
    let mut v1_mount = None;
    for line in mountinfo.lines() {
        // ... mount-point ... - fstype source super-options
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let mut r = right.split(' ');
        let (fstype, _source, options) = (r.next(), r.next(), r.next().unwrap_or(""));
        let Some(mount_point) = left.split(' ').nth(4) else { continue };
        match fstype {
            Some("cgroup2") => v2_root = Some(PathBuf::from(mount_point)),
            Some("cgroup") if options.split(',').any(|o| o == c.name()) => v1_mount = Some(PathBuf::from(mount_point)),
            _ => {}
        }
    }
    if let Some(root) = v2_root {
        let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        if controllers.split_whitespace().any(|w| w == c.name()) {
            let path = proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
            let current = root.join(path.trim().trim_start_matches('/'));
            return Some(Location { hierarchy: Hierarchy::V2 { root }, current });
        }
    }
    let mount = v1_mount?;
    // "<id>:<controllers>:<path>", e.g. "4:memory:/x" or "2:cpu,cpuacct:/".
    let path = proc_cgroup.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        controllers.split(',').any(|x| x == c.name()).then_some(path)
    })?;
    let current = mount.join(path.trim().trim_start_matches('/'));
    Some(Location { hierarchy: Hierarchy::V1 { mount }, current })
}

fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(io("reading", path))
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(io("writing", path))
}

#[cfg(test)]
mod tests;
