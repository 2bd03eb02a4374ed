//! cgroup id → cgroup path.
//!
//! Every sensor event carries the acting task's cgroup v2 id, which is the
//! inode number of its directory in the cgroup2 hierarchy. [`CgroupResolver`]
//! turns it back into the path relative to the cgroup2 root
//! (`/system.slice/docker-<id>.scope`), which [`crate::runtime`] and
//! [`crate::runc`] understand.
//!
//! The kernel offers no id → path lookup we can use without a handle syscall
//! per id, so we walk the hierarchy and stat each directory. Results live in a
//! bounded LRU; a miss triggers a walk, at most one per `rescan_interval`, so a
//! flood of unknown ids cannot keep us walking. Directories that vanish stay
//! resolvable as tombstones for `tombstone_grace`: a short-lived container's
//! last events are read after its cgroup is gone. A recreated cgroup is a new
//! directory with a new inode, so it resolves under its new id only.

use std::collections::HashSet;
use std::io::Read;
use std::num::NonZeroUsize;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lru::LruCache;

/// Deepest directory level walked: real hierarchies are under 10 deep; the
/// limit bounds the walk in a hierarchy someone nests on purpose.
const MAX_DEPTH: usize = 64;
/// Most directories visited by one walk.
const MAX_DIRS: usize = 1 << 18;

/// Why the cgroup2 hierarchy could not be found.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("no cgroup2 mount in {0}")]
    NoCgroup2(PathBuf),
}

/// Tuning of [`CgroupResolver`].
#[derive(Debug, Clone)]
pub struct CgroupConfig {
    /// Most ids kept (live and tombstoned).
    pub capacity: NonZeroUsize,
    /// Least time between two walks of the hierarchy.
    pub rescan_interval: Duration,
    /// How long a vanished cgroup stays resolvable.
    pub tombstone_grace: Duration,
}

impl Default for CgroupConfig {
    fn default() -> Self {
        CgroupConfig {
            capacity: NonZeroUsize::new(8192).unwrap_or(NonZeroUsize::MIN),
            rescan_interval: Duration::from_millis(100),
            tombstone_grace: Duration::from_secs(30),
        }
    }
}

/// One resolved cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupEntry {
    /// The cgroup id (inode number).
    pub id: u64,
    /// Relative to the cgroup2 root, `/` for the root itself.
    pub path: String,
    /// The directory was gone at the last walk (a tombstone).
    pub removed: bool,
}

#[derive(Debug)]
struct Slot {
    path: String,
    gone_since: Option<Instant>,
}

/// Maps cgroup ids to paths; see the module documentation.
#[derive(Debug)]
pub struct CgroupResolver {
    root: PathBuf,
    proc_root: PathBuf,
    config: CgroupConfig,
    cache: LruCache<u64, Slot>,
    last_walk: Option<Instant>,
}

impl CgroupResolver {
    /// The host's cgroup2 hierarchy, found in `/proc/self/mountinfo`.
    pub fn new(config: CgroupConfig) -> Result<Self, CgroupError> {
        let mountinfo = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(mountinfo)
            .map_err(|source| CgroupError::Read { path: mountinfo.to_path_buf(), source })?;
        let root = cgroup2_mount(&text).ok_or_else(|| CgroupError::NoCgroup2(mountinfo.to_path_buf()))?;
        Ok(Self::with_roots(root, PathBuf::from("/proc"), config))
    }

    /// A resolver over any directory tree (tests) and proc mount.
    pub fn with_roots(root: PathBuf, proc_root: PathBuf, config: CgroupConfig) -> Self {
        let cache = LruCache::new(config.capacity);
        CgroupResolver { root, proc_root, config, cache, last_walk: None }
    }

    /// The cgroup2 mount point this resolver walks.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The cgroup with this id, if it exists or vanished less than the grace
    /// period ago. A miss walks the hierarchy unless one walked recently.
    pub fn resolve(&mut self, id: u64) -> Option<CgroupEntry> {
        self.resolve_at(id, Instant::now())
    }

    fn resolve_at(&mut self, id: u64, now: Instant) -> Option<CgroupEntry> {
        if let Some(entry) = self.cached(id, now) {
            return Some(entry);
        }
        let due = self.last_walk.is_none_or(|t| now.saturating_duration_since(t) >= self.config.rescan_interval);
        if !due {
            return None;
        }
        self.walk_at(now, Some(id));
        self.cached(id, now)
    }

    /// Walk the hierarchy now, regardless of the rate limit (for a periodic
    /// refresh that also turns removed directories into tombstones).
    pub fn rescan(&mut self) {
        self.walk_at(Instant::now(), None);
    }

    fn cached(&mut self, id: u64, now: Instant) -> Option<CgroupEntry> {
        let slot = self.cache.get(&id)?;
        if let Some(gone) = slot.gone_since
            && now.saturating_duration_since(gone) >= self.config.tombstone_grace
        {
            self.cache.pop(&id);
            return None;
        }
        Some(CgroupEntry { id, path: slot.path.clone(), removed: slot.gone_since.is_some() })
    }

    /// Walk the hierarchy; `wanted` (the id that missed) is cached last so a
    /// hierarchy larger than the cache cannot evict it during the walk.
    fn walk_at(&mut self, now: Instant, wanted: Option<u64>) {
        self.last_walk = Some(now);
        let mut seen = HashSet::new();
        let mut wanted_path = None;
        let mut stack = vec![(self.root.clone(), String::from("/"), 0usize)];
        let mut complete = true;
        while let Some((dir, rel, depth)) = stack.pop() {
            if seen.len() >= MAX_DIRS {
                tracing::debug!(root = %self.root.display(), "cgroup walk stopped at {MAX_DIRS} directories");
                complete = false;
                break;
            }
            let Ok(meta) = std::fs::symlink_metadata(&dir) else { continue };
            let id = meta.ino();
            seen.insert(id);
            if wanted == Some(id) {
                wanted_path = Some(rel.clone());
            }
            // An inode seen again under another path (reused inode numbers on
            // ordinary filesystems; never on cgroupfs) replaces the old entry.
            match self.cache.get_mut(&id) {
                Some(slot) if slot.path == rel && slot.gone_since.is_none() => {}
                _ => {
                    self.cache.put(id, Slot { path: rel.clone(), gone_since: None });
                }
            }
            if depth >= MAX_DEPTH {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                // cgroupfs has no symlinks; file_type does not follow them.
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let child = if rel == "/" { format!("/{name}") } else { format!("{rel}/{name}") };
                stack.push((entry.path(), child, depth + 1));
            }
        }
        // Anything cached but not met is gone: start its grace period. After a
        // truncated walk, not meeting an entry proves nothing.
        for (id, slot) in self.cache.iter_mut() {
            if complete && !seen.contains(id) && slot.gone_since.is_none() {
                slot.gone_since = Some(now);
            }
        }
        if let (Some(id), Some(path)) = (wanted, wanted_path) {
            self.cache.put(id, Slot { path, gone_since: None });
        }
    }

    /// The cgroup2 path of a process from `/proc/<pid>/cgroup` (its `0::`
    /// line, present on pure v2 and hybrid hosts). A fallback for events whose
    /// cgroup id does not resolve.
    pub fn path_of_pid(&self, pid: u32) -> Option<String> {
        let path = self.proc_root.join(pid.to_string()).join("cgroup");
        let mut text = String::new();
        // The file is a few hundred bytes; the cap only guards against surprises.
        std::fs::File::open(path).ok()?.take(64 * 1024).read_to_string(&mut text).ok()?;
        parse_proc_cgroup(&text)
    }
}

/// The cgroup2 path in the text of `/proc/<pid>/cgroup`: the `0::` line.
pub fn parse_proc_cgroup(text: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix("0::")).filter(|p| p.starts_with('/')).map(str::to_owned)
}

/// The mount point of the cgroup2 hierarchy in `/proc/<pid>/mountinfo` text.
/// Prefers a mount of the hierarchy's root (`/` in field 4).
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    let mut fallback = None;
    for line in mountinfo.lines() {
        // `id parent major:minor root mountpoint options [optional...] - fstype source super`
        let Some((left, right)) = line.split_once(" - ") else { continue };
        if right.split(' ').next() != Some("cgroup2") {
            continue;
        }
        let fields: Vec<&str> = left.split(' ').collect();
        let (Some(root), Some(mount)) = (fields.get(3), fields.get(4)) else { continue };
        let mount = PathBuf::from(unescape_mountinfo(mount));
        if *root == "/" {
            return Some(mount);
        }
        fallback.get_or_insert(mount);
    }
    fallback
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && let Some(oct) = b.get(i + 1..i + 4)
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(oct).unwrap_or("x"), 8)
        {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ino(p: &Path) -> u64 {
        std::fs::metadata(p).unwrap().ino()
    }

    fn resolver(root: &Path) -> CgroupResolver {
        let config = CgroupConfig {
            capacity: NonZeroUsize::new(16).unwrap(),
            rescan_interval: Duration::from_millis(100),
            tombstone_grace: Duration::from_secs(30),
        };
        CgroupResolver::with_roots(root.to_path_buf(), root.join("proc"), config)
    }

    #[test]
    fn resolves_tombstones_expires_and_never_reuses_a_stale_id() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("cg");
        let scope = root.join("system.slice/docker-abc.scope");
        std::fs::create_dir_all(&scope).unwrap();
        let mut r = resolver(&root);
        let t0 = Instant::now();

        let id = ino(&scope);
        let want = CgroupEntry { id, path: "/system.slice/docker-abc.scope".into(), removed: false };
        assert_eq!(r.resolve_at(id, t0), Some(want.clone()));
        assert_eq!(r.resolve_at(ino(&root), t0).unwrap().path, "/");
        assert_eq!(r.resolve_at(ino(&root.join("system.slice")), t0).unwrap().path, "/system.slice");

        // Recreate the cgroup at the same path: build the replacement first so
        // it cannot reuse the old inode, then swap it in.
        let fresh = root.join("system.slice/fresh");
        std::fs::create_dir(&fresh).unwrap();
        let new_id = ino(&fresh);
        std::fs::remove_dir(&scope).unwrap();
        std::fs::rename(&fresh, &scope).unwrap();
        assert_ne!(new_id, id);

        // Within the rate limit the new id is a plain miss: no walk.
        let t1 = t0 + Duration::from_millis(10);
        assert_eq!(r.resolve_at(new_id, t1), None);
        // After it, the walk finds the new directory under its new id, and the
        // old id becomes a tombstone that still resolves to the old entry.
        let t2 = t0 + Duration::from_millis(200);
        let got = r.resolve_at(new_id, t2).unwrap();
        assert_eq!((got.path.as_str(), got.removed), ("/system.slice/docker-abc.scope", false));
        assert_eq!(r.resolve_at(id, t2), Some(CgroupEntry { removed: true, ..want }));

        // The tombstone lasts the grace period, then the id is unknown.
        assert!(r.resolve_at(id, t2 + Duration::from_secs(29)).is_some());
        assert_eq!(r.resolve_at(id, t2 + Duration::from_secs(31)), None);
        assert!(r.resolve_at(new_id, t2 + Duration::from_secs(31)).is_some());
    }

    #[test]
    fn flood_of_unknown_ids_walks_once_per_interval() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = resolver(tmp.path());
        let t0 = Instant::now();
        assert_eq!(r.resolve_at(u64::MAX, t0), None);
        let first = r.last_walk;
        for i in 0..1000 {
            assert_eq!(r.resolve_at(u64::MAX - i, t0 + Duration::from_millis(50)), None);
        }
        assert_eq!(r.last_walk, first);
        r.resolve_at(1, t0 + Duration::from_millis(150));
        assert_ne!(r.last_walk, first);
    }

    #[test]
    fn cache_is_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        for i in 0..40 {
            std::fs::create_dir(tmp.path().join(format!("c{i}"))).unwrap();
        }
        let mut r = resolver(tmp.path());
        let id = ino(&tmp.path().join("c7"));
        assert_eq!(r.resolve_at(id, Instant::now()).unwrap().path, "/c7");
        assert!(r.cache.len() <= 16);
    }

    #[test]
    fn pid_path_from_proc() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("proc/42");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cgroup"), "9:name=systemd:/x\n1:cpu:/x\n0::/system.slice/docker-abc.scope\n").unwrap();
        let r = resolver(tmp.path());
        assert_eq!(r.path_of_pid(42).as_deref(), Some("/system.slice/docker-abc.scope"));
        assert_eq!(r.path_of_pid(43), None);
        assert_eq!(parse_proc_cgroup("1:cpu:/a\n"), None);
        assert_eq!(parse_proc_cgroup("0::garbage\n"), None);
        // the real thing, on any Linux host
        assert!(
            CgroupResolver::with_roots("/".into(), "/proc".into(), CgroupConfig::default())
                .path_of_pid(std::process::id())
                .is_some()
        );
    }

    #[test]
    fn cgroup2_mount_from_mountinfo() {
        let hybrid = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                      40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
                      41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount(hybrid), Some(PathBuf::from("/sys/fs/cgroup/unified")));
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(cgroup2_mount(v2), Some(PathBuf::from("/sys/fs/cgroup")));
        let escaped = "1 0 0:1 /sub /my\\040cg rw - cgroup2 none rw\n";
        assert_eq!(cgroup2_mount(escaped), Some(PathBuf::from("/my cg")));
        assert_eq!(cgroup2_mount("garbage\n1 2 3\n - cgroup2"), None);
        assert_eq!(cgroup2_mount(""), None);
    }

    #[test]
    fn finds_this_hosts_cgroup2() {
        let r = CgroupResolver::new(CgroupConfig::default()).unwrap();
        assert!(r.root().join("cgroup.procs").exists(), "{}", r.root().display());
    }
}
