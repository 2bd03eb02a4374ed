//! What the sensor watches and how it hands events over.

use crate::SensorError;
use saker_abi::raw::{self, BASENAME_MAX, PREFIX_MAX};
use std::time::Duration;

/// How the sensor runs. Built by the agent from its config and flags.
#[derive(Debug, Clone)]
pub struct SensorConfig {
    /// Bit N set = ABI kind N enabled (see `saker_abi::raw::kind`).
    pub kind_mask: u64,
    /// Bit N set = kind N is shed (the agent is over its resource budget):
    /// its records are counted in the kernel instead of handed over (see
    /// [`crate::Sensor::shed_counts`]). Normally 0.
    pub shed_mask: u64,
    /// Paths whose file events are reported.
    pub paths: Vec<PathInterest>,
    /// Ring buffer size in bytes (a power of two, at least one page).
    pub ring_bytes: u32,
    /// Wake the reader early once this many bytes are waiting; otherwise it
    /// drains every `drain_interval` (wake-ups are expensive).
    pub wakeup_bytes: u32,
    pub drain_interval: Duration,
    /// Never report this process (the agent itself).
    pub agent_tgid: u32,
    /// Attach the DNS capture programs to this cgroup2 directory; `None`
    /// finds the cgroup2 mount root.
    pub dns_cgroup: Option<std::path::PathBuf>,
    /// Task-sidecar mode: report only processes of one task, filtered in the
    /// kernel. `None`: host mode, every process.
    pub scope: Option<ScopeFilter>,
}

/// The task-sidecar filter: a task's cgroup (every cgroup below it, including
/// containers that join later) minus the agent's own container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeFilter {
    /// cgroup id (inode of the cgroup2 directory) of the task.
    pub task_cgroup: u64,
    /// Depth of the task's cgroup below the cgroup2 root (`/ecs/<task>` is 2).
    pub task_level: u32,
    /// The agent's own container cgroup, never reported.
    pub exclude: Option<u64>,
}

impl Default for SensorConfig {
    fn default() -> Self {
        let mut kind_mask = 0u64;
        for k in raw::kind::ALL {
            kind_mask |= 1 << k;
        }
        SensorConfig {
            kind_mask,
            shed_mask: 0,
            paths: default_path_interest(),
            ring_bytes: 8 << 20,
            wakeup_bytes: 2 << 20,
            drain_interval: Duration::from_millis(10),
            agent_tgid: std::process::id(),
            dns_cgroup: None,
            scope: None,
        }
    }
}

/// One entry of the file-event interest set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInterest {
    /// Matched as a byte prefix of the resolved path (include the trailing
    /// `/` for a directory).
    pub prefix: String,
    /// Only `<prefix><one component>/.<anything>`: dot-files in home dirs.
    pub dot_component: bool,
    /// Only files with exactly this name under the prefix.
    pub basename: Option<String>,
}

impl PathInterest {
    pub fn prefix(p: &str) -> Self {
        PathInterest { prefix: p.to_owned(), dot_component: false, basename: None }
    }

    /// The LPM-trie key and value for this entry.
    /// Check the entry fits the kernel's interest set.
    pub fn validate(&self) -> Result<(), SensorError> {
        self.to_map_entry().map(|_| ())
    }

    pub(crate) fn to_map_entry(&self) -> Result<(raw::PrefixKey, raw::PrefixValue), SensorError> {
        let bytes = self.prefix.as_bytes();
        if bytes.is_empty() || bytes.len() >= PREFIX_MAX {
            return Err(SensorError::Config(format!(
                "path prefix {:?} must be 1 to {} bytes long",
                self.prefix,
                PREFIX_MAX - 1
            )));
        }
        let mut key = raw::PrefixKey { prefixlen: (bytes.len() * 8) as u32, data: [0; PREFIX_MAX] };
        key.data[..bytes.len()].copy_from_slice(bytes);
        let mut value = raw::PrefixValue { flags: 0, prefix_len: bytes.len() as u32, basename: [0; BASENAME_MAX] };
        if self.dot_component {
            value.flags |= raw::PREFIX_DOT_COMPONENT;
        }
        if let Some(name) = &self.basename {
            let name = name.as_bytes();
            if name.is_empty() || name.len() >= BASENAME_MAX || name.contains(&b'/') {
                return Err(SensorError::Config(format!(
                    "basename {:?} must be 1 to {} bytes without '/'",
                    self.basename,
                    BASENAME_MAX - 1
                )));
            }
            value.flags |= raw::PREFIX_BASENAME;
            value.basename[..name.len()].copy_from_slice(name);
        }
        Ok((key, value))
    }
}

/// The files attackers touch: system config, credentials, persistence
/// (cron, systemd, shell start-up files), binaries, the container runtime's
/// socket, cgroup release agents and the dynamic loader's preload list.
pub fn default_path_interest() -> Vec<PathInterest> {
    let mut v: Vec<PathInterest> = [
        "/etc/",
        "/root/",
        "/boot/",
        "/bin/",
        "/sbin/",
        "/usr/bin/",
        "/usr/sbin/",
        "/usr/local/bin/",
        "/usr/local/sbin/",
        "/lib/systemd/",
        "/usr/lib/systemd/",
        "/var/spool/cron/",
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/run/containerd/containerd.sock",
        "/lib/modules/",
    ]
    .iter()
    .map(|p| PathInterest::prefix(p))
    .collect();
    v.push(PathInterest { prefix: "/home/".into(), dot_component: true, basename: None });
    // Anywhere: the escape mounts a cgroup v1 hierarchy wherever it likes
    // (`mount -t cgroup -o rdma cgroup /tmp/cgrp`). Longer prefixes still
    // win the trie lookup; this entry only catches the rest by name.
    v.push(PathInterest { prefix: "/".into(), dot_component: false, basename: Some("release_agent".into()) });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fit_the_map() {
        for p in default_path_interest() {
            let (key, value) = p.to_map_entry().unwrap();
            assert_eq!(key.prefixlen as usize, p.prefix.len() * 8);
            assert_eq!(value.prefix_len as usize, p.prefix.len());
        }
    }

    #[test]
    fn rejects_bad_entries() {
        assert!(PathInterest::prefix("").to_map_entry().is_err());
        assert!(PathInterest::prefix(&"/x".repeat(40)).to_map_entry().is_err());
        let p = PathInterest { prefix: "/a/".into(), dot_component: false, basename: Some("a/b".into()) };
        assert!(p.to_map_entry().is_err());
    }
}
