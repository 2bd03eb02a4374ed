//! uid → user name, from a passwd file (default `/etc/passwd`), cached.
//!
//! Read directly rather than via getpwuid: NSS modules may do network I/O and
//! must not run on the event path. Host names only: a container's own
//! `/etc/passwd` is not consulted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a miss may trigger a re-read: users are added rarely, and
/// an unknown uid (common in containers) must not mean a read per event.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// Bound on remembered names, in case the file is huge or hostile.
const MAX_USERS: usize = 65_536;

#[derive(Debug)]
pub struct UserNames {
    path: PathBuf,
    reload_every: Duration,
    /// Shared: every process snapshot of a user carries the same name.
    names: HashMap<u32, Arc<str>>,
    loaded_at: Option<Instant>,
}

impl UserNames {
    /// Nothing is read until the first lookup.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_reload_interval(path, DEFAULT_RELOAD_INTERVAL)
    }

    pub fn with_reload_interval(path: impl Into<PathBuf>, reload_every: Duration) -> Self {
        UserNames { path: path.into(), reload_every, names: HashMap::new(), loaded_at: None }
    }

    /// The name of `uid`; re-reads the file on a miss at most once per interval.
    pub fn name(&mut self, uid: u32) -> Option<&Arc<str>> {
        if !self.names.contains_key(&uid) && self.loaded_at.is_none_or(|t| t.elapsed() >= self.reload_every) {
            self.reload();
        }
        self.names.get(&uid)
    }

    fn reload(&mut self) {
        self.loaded_at = Some(Instant::now());
        match std::fs::read(&self.path) {
            Ok(bytes) => self.names = parse_passwd(&String::from_utf8_lossy(&bytes)),
            // Keep the old names: a transiently unreadable file (rewrite in
            // progress) should not blank every user.
            Err(e) => tracing::debug!(path = %self.path.display(), error = %e, "passwd not read"),
        }
    }
}

/// Parse passwd lines `name:password:uid:gid:gecos:home:shell`. The first
/// line for a uid wins, as with getpwuid. Malformed lines are skipped.
pub(crate) fn parse_passwd(text: &str) -> HashMap<u32, Arc<str>> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if out.len() >= MAX_USERS {
            break;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split(':');
        let (Some(name), Some(_pw), Some(uid)) = (f.next(), f.next(), f.next()) else { continue };
        // NIS compat lines (+user, -user) are not local users.
        if name.is_empty() || name.starts_with(['+', '-']) {
            continue;
        }
        if let Ok(uid) = uid.parse::<u32>() {
            out.entry(uid).or_insert_with(|| name.into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd() {
        let t = "# comment\nroot:x:0:0:root:/root:/bin/bash\n\nbroken line\ndaemon:x:1:1::/:/sbin/nologin\n\
                 toor:x:0:0::/root:/bin/sh\n+nis::::::\nbad:x:notanumber:1::/:\n";
        let m = parse_passwd(t);
        assert_eq!(m.get(&0).map(|n| &**n), Some("root"));
        assert_eq!(m.get(&1).map(|n| &**n), Some("daemon"));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn reloads_on_miss_after_interval() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        std::fs::write(&p, "root:x:0:0::/root:/bin/sh\n").unwrap();
        let mut u = UserNames::with_reload_interval(&p, Duration::from_secs(3600));
        assert_eq!(u.name(0).map(|n| &**n), Some("root"));
        std::fs::write(&p, "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n").unwrap();
        // Within the interval a miss does not re-read.
        assert_eq!(u.name(1000).map(|n| &**n), None);

        let mut u = UserNames::with_reload_interval(&p, Duration::ZERO);
        assert_eq!(u.name(0).map(|n| &**n), Some("root"));
        std::fs::write(&p, "root:x:0:0::/root:/bin/sh\nbob:x:1001:1001::/:/bin/sh\n").unwrap();
        assert_eq!(u.name(1001).map(|n| &**n), Some("bob"));
    }

    #[test]
    fn missing_file_is_no_names() {
        let mut u = UserNames::new("/nonexistent/saker/passwd");
        assert_eq!(u.name(0), None);
    }
}
