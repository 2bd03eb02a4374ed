//! SHA-256 of process executables, off the event path.
//!
//! The event thread only stats `/proc/<pid>/exe` (one syscall) to learn the
//! file's identity ([`FileKey`]); reading and hashing happens on a worker
//! thread fed by a bounded queue. A full queue drops the request and counts
//! it rather than stalling the event stream. Results are cached per file
//! identity, so a binary run a thousand times is hashed once.

use super::ProcessError;
use lru::LruCache;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::num::NonZeroUsize;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

/// Files larger than this are not hashed: reading them would hold the worker
/// for seconds while everything behind it is dropped.
pub const DEFAULT_MAX_HASH_SIZE: u64 = 256 * 1024 * 1024;

/// Waiters beyond this for one in-flight file are dropped (and counted).
const MAX_WAITERS: usize = 64;

/// A file's identity: a changed (rebuilt, replaced) binary gets a new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
    pub size: u64,
}

impl FileKey {
    pub(crate) fn of(md: &std::fs::Metadata) -> Self {
        FileKey {
            dev: md.dev(),
            ino: md.ino(),
            mtime_ns: md.mtime().saturating_mul(1_000_000_000).saturating_add(md.mtime_nsec()),
            size: md.size(),
        }
    }
}

/// Where an executable was, by the exec event: used when `/proc/<pid>/exe`
/// is already gone. Only meaningful for processes that share the agent's
/// mount namespace (the path is as the process saw it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExeHint {
    pub path: PathBuf,
    pub inode: u64,
    /// The kernel's encoding of the device (`MAJOR << 20 | MINOR`).
    pub kernel_dev: u32,
}

impl ExeHint {
    /// Same file: same inode on the same device.
    fn matches(&self, md: &std::fs::Metadata) -> bool {
        let major = (self.kernel_dev >> 20) as u64;
        let minor = (self.kernel_dev & 0xfffff) as u64;
        // glibc's makedev encoding of st_dev.
        let dev = ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32);
        md.ino() == self.inode && md.dev() == dev
    }
}

/// A finished hash, for the process that asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashResult {
    pub pid: u32,
    pub start_ns: u64,
    /// Lowercase hex.
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct HasherConfig {
    /// Where `<pid>/exe` is looked up ("/proc").
    pub proc_root: PathBuf,
    /// Requests waiting for the worker before new ones are dropped.
    pub queue: usize,
    /// Distinct files whose hash is remembered.
    pub cache: usize,
    pub max_file_size: u64,
}

impl Default for HasherConfig {
    fn default() -> Self {
        HasherConfig {
            proc_root: PathBuf::from("/proc"),
            queue: 1024,
            cache: 4096,
            max_file_size: DEFAULT_MAX_HASH_SIZE,
        }
    }
}

struct Request {
    path: PathBuf,
    key: FileKey,
}

struct Done {
    key: FileKey,
    sha256: Option<String>,
}

/// Owned by the enrich stage; all methods are non-blocking.
pub struct ExeHasher {
    cfg: HasherConfig,
    /// `None` when the worker could not be started: every request is dropped.
    tx: Option<SyncSender<Request>>,
    rx: Receiver<Done>,
    cache: LruCache<FileKey, String>,
    /// Files sent to the worker, with the processes waiting for each. At most
    /// one request per file is in flight, so this is bounded by the queue.
    pending: HashMap<FileKey, Vec<(u32, u64)>>,
    /// Results available without the worker (cache hits), returned by the
    /// next [`poll_results`](Self::poll_results).
    ready: Vec<HashResult>,
    dropped: u64,
    /// Keeps the request channel open when no worker runs (tests only).
    _parked: Option<Receiver<Request>>,
}

impl ExeHasher {
    /// Start with defaults: `/proc`, queue 1024, cache 4096, 256 MiB limit.
    pub fn spawn() -> Self {
        Self::with_config(HasherConfig::default())
    }

    pub fn with_config(cfg: HasherConfig) -> Self {
        Self::build(cfg, true)
    }

    fn build(cfg: HasherConfig, start_worker: bool) -> Self {
        let (req_tx, req_rx) = sync_channel::<Request>(cfg.queue.max(1));
        // Bounded too: each request yields one result, so the worker stalls
        // (and requests start dropping) rather than results piling up.
        let (done_tx, done_rx) = sync_channel::<Done>(cfg.queue.max(1));
        let max = cfg.max_file_size;
        let (tx, parked) = if start_worker {
            let spawned =
                std::thread::Builder::new().name("saker-hasher".into()).spawn(move || worker(&req_rx, &done_tx, max));
            match spawned {
                Ok(_) => (Some(req_tx), None),
                Err(e) => {
                    tracing::warn!(error = %e, "executable hasher not started; no executable hashes");
                    (None, None)
                }
            }
        } else {
            (Some(req_tx), Some(req_rx))
        };
        let cache = LruCache::new(NonZeroUsize::new(cfg.cache).unwrap_or(NonZeroUsize::MIN));
        ExeHasher {
            cfg,
            tx,
            rx: done_rx,
            cache,
            pending: HashMap::new(),
            ready: Vec::new(),
            dropped: 0,
            _parked: parked,
        }
    }

    /// Ask for the hash of the executable process `pid` (started at
    /// `start_ns`) runs now. Costs one stat; the answer comes from
    /// [`poll_results`](Self::poll_results) — already on the next call if
    /// the file was hashed before.
    pub fn request(&mut self, pid: u32, start_ns: u64, hint: Option<&ExeHint>) {
        let path = self.cfg.proc_root.join(pid.to_string()).join("exe");
        // stat follows the magic link even when the file was deleted. A
        // short-lived process is often gone by now: then the path from its
        // exec event serves, if it still names the same file.
        let (path, md) = match std::fs::metadata(&path) {
            Ok(md) => (path, md),
            Err(_) => {
                let Some(hint) = hint else { return };
                match std::fs::metadata(&hint.path) {
                    Ok(md) if hint.matches(&md) => (hint.path.clone(), md),
                    _ => return,
                }
            }
        };
        if !md.is_file() || md.len() > self.cfg.max_file_size {
            return;
        }
        let key = FileKey::of(&md);
        if let Some(hex) = self.cache.get(&key) {
            self.ready.push(HashResult { pid, start_ns, sha256: hex.clone() });
            return;
        }
        if let Some(waiters) = self.pending.get_mut(&key) {
            if waiters.len() < MAX_WAITERS {
                waiters.push((pid, start_ns));
            } else {
                self.dropped += 1;
            }
            return;
        }
        let sent = match &self.tx {
            Some(tx) => tx.try_send(Request { path, key }),
            None => Err(TrySendError::Disconnected(Request { path, key })),
        };
        match sent {
            Ok(()) => {
                self.pending.insert(key, vec![(pid, start_ns)]);
            }
            Err(_) => self.dropped += 1,
        }
    }

    /// Finished hashes since the last call. Never blocks.
    pub fn poll_results(&mut self) -> Vec<HashResult> {
        let mut out = std::mem::take(&mut self.ready);
        while let Ok(done) = self.rx.try_recv() {
            let waiters = self.pending.remove(&done.key).unwrap_or_default();
            // Failures are not cached: the next exec of the file retries.
            let Some(hex) = done.sha256 else { continue };
            for (pid, start_ns) in waiters {
                out.push(HashResult { pid, start_ns, sha256: hex.clone() });
            }
            self.cache.put(done.key, hex);
        }
        out
    }

    /// The cached hash of a file, if it has been hashed.
    pub fn lookup(&self, key: &FileKey) -> Option<&str> {
        self.cache.peek(key).map(String::as_str)
    }

    /// Requests dropped because the queue was full (or no worker runs).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

fn worker(rx: &Receiver<Request>, tx: &SyncSender<Done>, max: u64) {
    // Ends when the ExeHasher (the only sender) is dropped.
    while let Ok(req) = rx.recv() {
        let sha256 = match hash_file(&req.path, max) {
            // The process may have exec'd something else since the stat:
            // a hash of another file must not be cached under this key.
            Ok((key, hex)) if key == req.key => Some(hex),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(path = %req.path.display(), error = %e, "executable not hashed");
                None
            }
        };
        if tx.send(Done { key: req.key, sha256 }).is_err() {
            return;
        }
    }
}

/// Hash one file (following symlinks, so `/proc/<pid>/exe` works), returning
/// the identity of the file actually read and its lowercase hex SHA-256.
/// What the worker runs; public so it can be used and tested by path.
pub fn hash_file(path: &Path, max_size: u64) -> Result<(FileKey, String), ProcessError> {
    let mut f = File::open(path).map_err(|e| ProcessError::io(path, e))?;
    // fstat of the open file, not stat of the path: this is the file we read.
    let md = f.metadata().map_err(|e| ProcessError::io(path, e))?;
    if md.len() > max_size {
        return Err(ProcessError::TooLarge { path: path.to_owned(), size: md.len(), max: max_size });
    }
    let key = FileKey::of(&md);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = f.read(&mut buf).map_err(|e| ProcessError::io(path, e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        // Growing while being read: the size in the key would be wrong.
        if total > key.size {
            return Err(ProcessError::Changed { path: path.to_owned() });
        }
        h.update(&buf[..n]); // read() never returns more than the buffer
    }
    if total != key.size {
        return Err(ProcessError::Changed { path: path.to_owned() });
    }
    Ok((key, hex::encode(h.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn fake_exe(root: &Path, pid: u32, target: &Path) {
        let d = root.join(pid.to_string());
        std::fs::create_dir_all(&d).unwrap();
        std::os::unix::fs::symlink(target, d.join("exe")).unwrap();
    }

    fn wait_results(h: &mut ExeHasher, n: usize) -> Vec<HashResult> {
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while out.len() < n && Instant::now() < deadline {
            out.extend(h.poll_results());
            std::thread::sleep(Duration::from_millis(5));
        }
        out
    }

    #[test]
    fn hashes_a_file_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let (key, hex) = hash_file(&p, 1024).unwrap();
        assert_eq!(hex, ABC_SHA256);
        assert_eq!(key.size, 3);
        assert!(matches!(hash_file(&p, 2), Err(ProcessError::TooLarge { .. })));
        assert!(matches!(hash_file(&dir.path().join("missing"), 10), Err(ProcessError::Io { .. })));
    }

    #[test]
    fn worker_hashes_and_caches() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::write(&bin, b"abc").unwrap();
        let root = dir.path().join("proc");
        fake_exe(&root, 10, &bin);
        fake_exe(&root, 11, &bin);
        let mut h = ExeHasher::with_config(HasherConfig { proc_root: root, ..HasherConfig::default() });
        h.request(10, 1000, None);
        h.request(11, 2000, None); // same file, in flight: waits on the first request
        let mut got = wait_results(&mut h, 2);
        got.sort_by_key(|r| r.pid);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].pid, got[0].start_ns, got[0].sha256.as_str()), (10, 1000, ABC_SHA256));
        assert_eq!((got[1].pid, got[1].start_ns), (11, 2000));
        let key = FileKey::of(&std::fs::metadata(&bin).unwrap());
        assert_eq!(h.lookup(&key), Some(ABC_SHA256));
        // A cache hit is answered without the worker, on the next poll.
        h.request(10, 3000, None);
        assert_eq!(h.poll_results(), vec![HashResult { pid: 10, start_ns: 3000, sha256: ABC_SHA256.into() }]);
        assert_eq!(h.dropped(), 0);
    }

    #[test]
    fn worker_hashes_own_executable() {
        let pid = std::process::id();
        let mut h = ExeHasher::spawn();
        h.request(pid, 1, None);
        let got = wait_results(&mut h, 1);
        let (_, want) = hash_file(Path::new("/proc/self/exe"), DEFAULT_MAX_HASH_SIZE).unwrap();
        assert_eq!(got, vec![HashResult { pid, start_ns: 1, sha256: want }]);
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("proc");
        for pid in 1..=5u32 {
            let f = dir.path().join(format!("bin{pid}"));
            std::fs::write(&f, pid.to_string()).unwrap();
            fake_exe(&root, pid, &f);
        }
        let cfg = HasherConfig { proc_root: root, queue: 2, ..HasherConfig::default() };
        let mut h = ExeHasher::build(cfg, false);
        for pid in 1..=5 {
            h.request(pid, 0, None);
        }
        assert_eq!(h.dropped(), 3);
        // Missing, or too large: silently not hashed, not a drop.
        h.request(99, 0, None);
        assert_eq!(h.dropped(), 3);
    }

    #[test]
    fn too_large_is_not_requested() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big");
        std::fs::write(&f, [0u8; 100]).unwrap();
        let root = dir.path().join("proc");
        fake_exe(&root, 1, &f);
        let cfg = HasherConfig { proc_root: root, queue: 1, max_file_size: 10, ..HasherConfig::default() };
        let mut h = ExeHasher::build(cfg, false);
        h.request(1, 0, None);
        h.request(1, 0, None);
        assert_eq!(h.dropped(), 0);
        assert!(h.pending.is_empty());
    }
}
