//! SHA-256 of kernel module files loaded with finit_module(2), for
//! `moduleSha256`.
//!
//! Module loads are rare (a handful per boot), so the file is hashed right
//! away on the event thread instead of through the executable hasher's queue
//! — the finding then carries its hash. Two bounds keep a flood of load
//! attempts (each fails fast in the kernel) from stalling the stream: a size
//! cap and a rate cap; what they refuse is simply not hashed.

use super::hash::{FileKey, hash_file};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Larger module files are not hashed on the event thread (~40 ms of SHA-256).
const MAX_MODULE_SIZE: u64 = 16 * 1024 * 1024;
/// Fresh hashes per [`WINDOW`]; cache hits are free.
const HASHES_PER_WINDOW: u32 = 8;
const WINDOW: Duration = Duration::from_secs(1);
const CACHE: usize = 256;

pub struct ModuleHasher {
    proc_root: PathBuf,
    cache: LruCache<FileKey, String>,
    window_start: Instant,
    in_window: u32,
    refused: u64,
}

impl ModuleHasher {
    pub fn new(proc_root: &Path) -> Self {
        ModuleHasher {
            proc_root: proc_root.to_owned(),
            cache: LruCache::new(NonZeroUsize::new(CACHE).unwrap_or(NonZeroUsize::MIN)),
            window_start: Instant::now(),
            in_window: 0,
            refused: 0,
        }
    }

    /// The hash of the module file `path` as process `pid` named it.
    /// `same_mount_ns`: the path names the same file for the agent; otherwise
    /// it is opened through `/proc/<pid>/root`, which needs the loader alive.
    pub fn sha256(&mut self, pid: u32, path: &str, same_mount_ns: bool) -> Option<String> {
        let file = if same_mount_ns {
            PathBuf::from(path)
        } else {
            self.proc_root.join(pid.to_string()).join("root").join(path.trim_start_matches('/'))
        };
        let md = std::fs::metadata(&file).ok()?;
        if !md.is_file() || md.len() > MAX_MODULE_SIZE {
            return None;
        }
        let key = FileKey::of(&md);
        if let Some(hex) = self.cache.get(&key) {
            return Some(hex.clone());
        }
        if !self.take_token() {
            self.refused += 1;
            return None;
        }
        match hash_file(&file, MAX_MODULE_SIZE) {
            Ok((k, hex)) => {
                self.cache.put(k, hex.clone());
                Some(hex)
            }
            Err(e) => {
                tracing::debug!(path = %file.display(), error = %e, "module file not hashed");
                None
            }
        }
    }

    /// Hashes refused by the rate cap.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    fn take_token(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.window_start) >= WINDOW {
            self.window_start = now;
            self.in_window = 0;
        }
        self.in_window += 1;
        self.in_window <= HASHES_PER_WINDOW
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn hashes_caches_and_caps_the_rate() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = ModuleHasher::new(Path::new("/proc"));
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let mut paths = Vec::new();
        for i in 0..=HASHES_PER_WINDOW {
            let p = dir.path().join(format!("m{i}.ko"));
            std::fs::File::create(&p).unwrap().write_all(b"abc").unwrap();
            paths.push(p.to_string_lossy().into_owned());
        }
        assert_eq!(h.sha256(1, &paths[0], true).as_deref(), Some(abc));
        // The same file again is a cache hit: no token spent.
        for _ in 0..20 {
            assert_eq!(h.sha256(1, &paths[0], true).as_deref(), Some(abc));
        }
        let hashed = paths[1..].iter().filter(|p| h.sha256(1, p, true).is_some()).count();
        assert_eq!(hashed as u32, HASHES_PER_WINDOW - 1, "one window's worth");
        assert_eq!(h.refused(), 1);
        assert_eq!(h.sha256(1, "/nonexistent/x.ko", true), None);
    }
}
