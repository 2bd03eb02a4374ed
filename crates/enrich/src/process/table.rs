//! [`ProcessTable`]: every process Saker knows, bounded by an LRU, with the
//! lineage each event carries.
//!
//! Entries are keyed by pid *and* start time ([`ProcKey`]), so a reused pid is
//! a new process and an exited parent stays reachable for its children's
//! lineage until the LRU pushes it out. `current` maps a pid to the newest
//! process holding it, for lookups by pid alone.

use super::procfs::{self, ProcInfo};
use super::{BootClock, ProcessError, UserNames, process_uuid};
use lru::LruCache;
use rustc_hash::FxHashMap;
use saker_model::{Argv, Creds, Lineage, Process, Text};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

pub const DEFAULT_CAPACITY: usize = 32_768;
/// Ancestors reported per event; also what stops a corrupted parent chain.
const MAX_LINEAGE: usize = 64;
const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// One process's identity within a boot: pid plus start time in clock ticks.
/// Ticks, not ns, because `/proc` only has ticks and both sources must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcKey {
    pub pid: u32,
    pub start_ticks: u64,
}

/// What the table knows about one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessEntry {
    pub uuid: Uuid,
    pub pid: u32,
    pub start_ticks: u64,
    /// CLOCK_BOOTTIME ns; 0 when unknown. From `/proc`, exact only to a tick.
    pub start_ns: u64,
    /// The parent at fork (or seed) time, kept across reparenting.
    pub ppid: u32,
    pub parent: Option<ProcKey>,
    pub parent_uuid: Option<Uuid>,
    pub ns_pid: u32,
    /// Shared with children until they exec: a fork copies no strings.
    pub name: Arc<str>,
    /// What it runs; shared with the parent after a fork until either execs.
    pub image: Arc<Image>,
    pub creds: Creds,
    pub exited: bool,
}

impl ProcessEntry {
    pub fn key(&self) -> ProcKey {
        ProcKey { pid: self.pid, start_ticks: self.start_ticks }
    }
}

/// The program a process runs, as its last exec (or `/proc`) gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    pub executable: Option<Text>,
    pub executable_sha256: Option<Text>,
    pub argv: Argv,
    pub cwd: Option<Text>,
}

/// The new image of a process after a successful execve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecUpdate {
    pub name: String,
    /// Already the shared form the table keeps: made once per exec.
    pub executable: Option<Text>,
    pub argv: Argv,
    pub cwd: Option<Text>,
    pub creds: Creds,
    pub ns_pid: u32,
    /// Used only when the process was unknown until now.
    pub ppid: u32,
}

/// One table slot: the entry and what events last got of it. Events share
/// the snapshots (`Arc`), so an event costs reference counts, not copies of
/// argv and paths; a snapshot is rebuilt only after the entry changes.
struct Slot {
    entry: ProcessEntry,
    /// The entry as events carry it; `None` after a change.
    process: Option<Arc<Process>>,
    /// The lineage events last carried, valid while the table's
    /// `generation` is the one stored with it, and the ancestors' keys (to
    /// keep them recently used without walking the chain again).
    lineage: Option<(u64, Lineage, Arc<[ProcKey]>)>,
}

impl Slot {
    fn new(entry: ProcessEntry) -> Self {
        Slot { entry, process: None, lineage: None }
    }
}

pub struct ProcessTable {
    entries: LruCache<ProcKey, Slot>,
    /// Bumped whenever an entry changes in a way events see, or one is
    /// evicted: any cached lineage older than this is rebuilt. Inserting a
    /// new entry changes no existing lineage and bumps nothing.
    generation: u64,
    scratch_keys: Vec<ProcKey>,
    scratch_lineage: Vec<Arc<Process>>,
    /// pid → start of its newest process. Keys are kernel-assigned pids,
    /// so a fast non-keyed hash is safe here.
    current: FxHashMap<u32, u64>,
    evictions: u64,
    boot_id: String,
    ns_per_tick: u64,
    clock: BootClock,
    users: UserNames,
    /// Where a process first seen late is looked up; set by `seed_from_proc`.
    proc_root: PathBuf,
    /// Look processes up in `proc_root` at all. Off when the events are not
    /// this host's (a replayed recording): its pids name other processes here.
    procfs: bool,
}

impl ProcessTable {
    /// A table for this host: boot id from the kernel, clock taken now,
    /// users from `/etc/passwd`, lazy fills from `/proc`.
    pub fn new(cap: usize) -> Result<Self, ProcessError> {
        let id = std::fs::read_to_string(BOOT_ID_PATH).map_err(|e| ProcessError::io(BOOT_ID_PATH, e))?;
        Self::with_boot_id(cap, id.trim().to_owned())
    }

    pub fn with_boot_id(cap: usize, boot_id: String) -> Result<Self, ProcessError> {
        let cap = NonZeroUsize::new(cap).ok_or(ProcessError::ZeroCapacity)?;
        Ok(ProcessTable {
            entries: LruCache::new(cap),
            generation: 0,
            scratch_keys: Vec::new(),
            scratch_lineage: Vec::new(),
            current: FxHashMap::default(),
            evictions: 0,
            boot_id,
            ns_per_tick: 1_000_000_000 / clock_ticks_per_sec(),
            clock: BootClock::now(),
            users: UserNames::new("/etc/passwd"),
            proc_root: PathBuf::from("/proc"),
            procfs: true,
        })
    }

    pub fn with_users(mut self, users: UserNames) -> Self {
        self.users = users;
        self
    }

    pub fn with_clock(mut self, clock: BootClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_proc_root(mut self, proc_root: impl Into<PathBuf>) -> Self {
        self.proc_root = proc_root.into();
        self
    }

    /// Never read `/proc`: processes are known only from the events seen.
    pub fn without_procfs(mut self) -> Self {
        self.procfs = false;
        self
    }

    pub fn boot_id(&self) -> &str {
        &self.boot_id
    }

    pub fn clock(&self) -> &BootClock {
        &self.clock
    }

    /// Nanoseconds per clock tick (10 ms at the usual CLK_TCK of 100).
    pub fn ns_per_tick(&self) -> u64 {
        self.ns_per_tick
    }

    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The uuid of the process `pid` started at `start_ns` (boot ns).
    pub fn uuid_for(&self, pid: u32, start_ns: u64) -> Uuid {
        self.uuid(self.exact_key(pid, start_ns))
    }

    /// Load every process in `proc_root` so processes older than the agent
    /// have lineage. Returns how many were read; vanished ones are skipped.
    pub fn seed_from_proc(&mut self, proc_root: &Path) -> Result<usize, ProcessError> {
        self.proc_root = proc_root.to_owned();
        let mut seeded = Vec::new();
        for pid in procfs::list_pids(proc_root)? {
            match procfs::read_process(proc_root, pid) {
                Ok(info) => {
                    let e = self.entry_from_info(info);
                    if !self.entries.contains(&e.key()) {
                        seeded.push(e.key());
                        self.insert(e);
                    }
                }
                Err(e) => tracing::debug!(pid, error = %e, "process gone during /proc scan"),
            }
        }
        // readdir order is not parent-first: link parents once all are in.
        for key in &seeded {
            let Some(ppid) = self.entries.peek(key).map(|s| s.entry.ppid) else { continue };
            let parent = self.older_current(ppid, key.start_ticks);
            self.set_parent(key, parent);
        }
        Ok(seeded.len())
    }

    /// A new process: it runs its parent's image until it execs.
    pub fn on_fork(
        &mut self,
        parent_pid: u32,
        parent_start_ns: u64,
        child_pid: u32,
        child_start_ns: u64,
        child_ns_pid: u32,
    ) -> Uuid {
        let pkey = self.resolve(parent_pid, parent_start_ns);
        let ckey = self.exact_key(child_pid, child_start_ns);
        let parent_uuid = self.uuid(pkey);
        // The child may have been seen first (its events can overtake the
        // fork record): keep what it already has, fill what it lacks.
        if self.entries.contains(&ckey) {
            let parent_image = self.entries.peek(&pkey).map(|s| s.entry.image.clone());
            let Some(c) = self.changed(&ckey) else { return parent_uuid };
            if c.parent.is_none() {
                c.ppid = parent_pid;
                c.parent = Some(pkey);
                c.parent_uuid = Some(parent_uuid);
            }
            if let Some(p) = parent_image {
                let img = Arc::make_mut(&mut c.image);
                img.executable = img.executable.take().or_else(|| p.executable.clone());
                img.executable_sha256 = img.executable_sha256.take().or_else(|| p.executable_sha256.clone());
                img.cwd = img.cwd.take().or_else(|| p.cwd.clone());
                if img.argv.is_empty() {
                    img.argv = p.argv.clone();
                }
            }
            return c.uuid;
        }
        // Cloning the parent's entry shares its image: no strings copied.
        let mut child = match self.entries.peek(&pkey) {
            Some(p) => ProcessEntry { exited: false, ..p.entry.clone() },
            None => self.bare_entry(ckey, child_start_ns, parent_pid),
        };
        child.uuid = self.uuid(ckey);
        child.pid = child_pid;
        child.start_ticks = ckey.start_ticks;
        child.start_ns = child_start_ns;
        child.ppid = parent_pid;
        child.parent = Some(pkey);
        child.parent_uuid = Some(parent_uuid);
        child.ns_pid = child_ns_pid;
        let uuid = child.uuid;
        self.insert(child);
        uuid
    }

    /// A successful execve: new image, same process (uuid and parent kept).
    pub fn on_exec(&mut self, pid: u32, start_ns: u64, update: ExecUpdate) {
        let key = self.resolve(pid, start_ns);
        if !self.entries.contains(&key) {
            let e = self.bare_entry(key, start_ns, update.ppid);
            self.insert(e);
        }
        if let Some(e) = self.changed(&key) {
            e.name = update.name.into();
            e.image = Arc::new(Image {
                executable: update.executable,
                executable_sha256: None,
                argv: update.argv,
                cwd: update.cwd,
            });
            e.creds = update.creds;
            e.ns_pid = update.ns_pid;
        }
    }

    /// The process ended. Its entry stays: its children's lineage runs
    /// through it, and the LRU bounds what exited entries cost.
    pub fn on_exit(&mut self, pid: u32, start_ns: u64) {
        let key = self.resolve(pid, start_ns);
        if let Some(s) = self.entries.peek_mut(&key) {
            s.entry.exited = true; // not part of what events carry
            // It acts no more: keep what its children's lineage needs (the
            // entry, and the snapshot only while a lineage shares it), not
            // what its own events needed. Thousands of exited processes
            // wait here for the LRU.
            s.process = None;
            s.lineage = None;
        }
    }

    /// Every event's process: known → refresh its creds; unknown → create
    /// it, from `/proc/<pid>` if that is still the same process.
    ///
    /// `comm` is the acting *thread's* name, so it only names a process
    /// that has none yet; the process name changes with exec.
    pub fn observe(&mut self, pid: u32, start_ns: u64, ppid: u32, ns_pid: u32, comm: &str, creds: Creds) {
        if pid == 0 {
            return;
        }
        let key = self.resolve(pid, start_ns);
        if let Some(s) = self.entries.get_mut(&key) {
            // The hot path: nearly every event of a known process. Only a
            // real change costs its snapshot.
            if (s.entry.creds != creds || s.entry.name.is_empty())
                && let Some(e) = self.changed(&key)
            {
                e.creds = creds;
                if e.name.is_empty() {
                    e.name = comm.into();
                }
            }
            return;
        }
        // Only on a miss: one /proc read per process, not per event.
        let info = self
            .procfs
            .then(|| procfs::read_process(&self.proc_root, pid).ok())
            .flatten()
            .filter(|i| start_ns == 0 || i.start_ticks == key.start_ticks);
        let mut e = match info {
            Some(info) => {
                self.fill_ancestors(info.ppid);
                self.entry_from_info(info)
            }
            None => {
                self.fill_ancestors(ppid);
                self.bare_entry(key, start_ns, ppid)
            }
        };
        e.creds = creds;
        if ns_pid != 0 {
            e.ns_pid = ns_pid;
        }
        if e.name.is_empty() {
            e.name = comm.into();
        }
        self.insert(e);
    }

    /// Attach a finished executable hash, if the process is still the same.
    pub fn set_hash(&mut self, pid: u32, start_ns: u64, sha256: String) {
        let key = self.resolve(pid, start_ns);
        if let Some(e) = self.changed_peek(&key) {
            Arc::make_mut(&mut e.image).executable_sha256 = Some(sha256.into());
        }
    }

    /// The newest process with this pid.
    pub fn get(&self, pid: u32) -> Option<&ProcessEntry> {
        let ticks = self.current.get(&pid)?;
        self.entries.peek(&ProcKey { pid, start_ticks: *ticks }).map(|s| &s.entry)
    }

    /// The process with this pid and start time (boot ns).
    pub fn get_at(&self, pid: u32, start_ns: u64) -> Option<&ProcessEntry> {
        self.entries.peek(&self.exact_key(pid, start_ns)).map(|s| &s.entry)
    }

    /// The newest process with this pid and its ancestors (parent first, up
    /// to pid 1 or the first unknown one). Marks them all recently used: the
    /// ancestors of active processes are what the LRU should keep.
    ///
    /// Both are shared snapshots: while nothing in the chain changes, every
    /// call returns the same `Arc`s.
    pub fn snapshot(&mut self, pid: u32) -> Option<(Arc<Process>, Lineage)> {
        let key = ProcKey { pid, start_ticks: *self.current.get(&pid)? };
        let process = self.process_of(&key)?;
        let generation = self.generation;
        let cached = self.entries.peek(&key).and_then(|s| match &s.lineage {
            Some((g, lineage, keys)) if *g == generation => Some((lineage.clone(), keys.clone())),
            _ => None,
        });
        if let Some((lineage, keys)) = cached {
            for k in keys.iter() {
                self.entries.promote(k);
            }
            return Some((process, lineage));
        }
        let (lineage, keys) = self.build_lineage(key);
        if let Some(s) = self.entries.peek_mut(&key) {
            s.lineage = Some((generation, lineage.clone(), keys));
        }
        Some((process, lineage))
    }

    /// The shared snapshot of one entry, built if it changed since the last
    /// one; marks the entry recently used.
    fn process_of(&mut self, key: &ProcKey) -> Option<Arc<Process>> {
        let slot = self.entries.get_mut(key)?;
        if let Some(p) = &slot.process {
            return Some(p.clone());
        }
        let p = Arc::new(to_model(&slot.entry, &mut self.users, &self.clock));
        slot.process = Some(p.clone());
        Some(p)
    }

    fn build_lineage(&mut self, key: ProcKey) -> (Lineage, Arc<[ProcKey]>) {
        // Collected in reused buffers, then copied once into their shared
        // slices: no temporary vector per rebuild.
        let mut keys = std::mem::take(&mut self.scratch_keys);
        let mut lineage = std::mem::take(&mut self.scratch_lineage);
        let mut next = self.entries.peek(&key).and_then(|s| s.entry.parent);
        while let Some(pk) = next {
            // A parent chain can only loop through corrupted input, but an
            // infinite loop on the event path is not an option.
            if lineage.len() >= MAX_LINEAGE || pk == key || keys.contains(&pk) {
                break;
            }
            let Some(p) = self.process_of(&pk) else { break };
            lineage.push(p);
            keys.push(pk);
            if pk.pid == 1 {
                break;
            }
            next = self.entries.peek(&pk).and_then(|s| s.entry.parent);
        }
        let built = (Lineage::from(&lineage[..]), Arc::from(&keys[..]));
        lineage.clear();
        keys.clear();
        self.scratch_lineage = lineage;
        self.scratch_keys = keys;
        built
    }

    /// An entry about to change in a way events see: drop its snapshot and
    /// invalidate every cached lineage. Marks it recently used.
    fn changed(&mut self, key: &ProcKey) -> Option<&mut ProcessEntry> {
        let slot = self.entries.get_mut(key)?;
        slot.process = None;
        self.generation += 1;
        Some(&mut slot.entry)
    }

    /// [`Self::changed`] without marking it recently used.
    fn changed_peek(&mut self, key: &ProcKey) -> Option<&mut ProcessEntry> {
        let slot = self.entries.peek_mut(key)?;
        slot.process = None;
        self.generation += 1;
        Some(&mut slot.entry)
    }

    fn uuid(&self, key: ProcKey) -> Uuid {
        process_uuid(&self.boot_id, key.pid, key.start_ticks)
    }

    /// Same conversion the kernel uses for `/proc/<pid>/stat` (nsec_to_clock_t).
    fn exact_key(&self, pid: u32, start_ns: u64) -> ProcKey {
        ProcKey { pid, start_ticks: start_ns / self.ns_per_tick }
    }

    /// A start of 0 means "not known" (records without a task): take the
    /// newest process with the pid.
    fn resolve(&self, pid: u32, start_ns: u64) -> ProcKey {
        match self.current.get(&pid) {
            Some(&start_ticks) if start_ns == 0 => ProcKey { pid, start_ticks },
            _ => self.exact_key(pid, start_ns),
        }
    }

    /// The current holder of `ppid`, if it started no later than the child:
    /// a younger one is a reuse of the pid, not the parent.
    fn older_current(&self, ppid: u32, child_ticks: u64) -> Option<ProcKey> {
        let &start_ticks = self.current.get(&ppid)?;
        (ppid != 0 && start_ticks <= child_ticks).then_some(ProcKey { pid: ppid, start_ticks })
    }

    fn set_parent(&mut self, key: &ProcKey, parent: Option<ProcKey>) {
        let parent_uuid = parent.map(|p| self.uuid(p));
        if let Some(e) = self.changed_peek(key) {
            e.parent = parent;
            e.parent_uuid = parent_uuid;
        }
    }

    /// An entry knowing only identity and parent; the caller fills the rest.
    fn bare_entry(&self, key: ProcKey, start_ns: u64, ppid: u32) -> ProcessEntry {
        let parent = self.older_current(ppid, key.start_ticks);
        ProcessEntry {
            uuid: self.uuid(key),
            pid: key.pid,
            start_ticks: key.start_ticks,
            start_ns,
            ppid,
            parent,
            parent_uuid: parent.map(|p| self.uuid(p)),
            ns_pid: key.pid,
            name: Arc::from(""),
            image: Arc::default(),
            creds: Creds::default(),
            exited: false,
        }
    }

    fn entry_from_info(&self, i: ProcInfo) -> ProcessEntry {
        let key = ProcKey { pid: i.pid, start_ticks: i.start_ticks };
        let start_ns = i.start_ticks.saturating_mul(self.ns_per_tick);
        ProcessEntry {
            ns_pid: i.ns_pid,
            name: i.comm.into(),
            image: Arc::new(Image {
                executable: i.exe.map(Text::from),
                executable_sha256: None,
                argv: i.argv.into(),
                cwd: i.cwd.map(Text::from),
            }),
            creds: i.creds,
            ..self.bare_entry(key, start_ns, i.ppid)
        }
    }

    /// A process seen for the first time may have ancestors the table has
    /// never seen either (they predate no event in scope: in task-sidecar
    /// mode the kernel reports only the task). Read the missing ones from
    /// /proc, oldest first so each links to its parent. Only on a miss.
    fn fill_ancestors(&mut self, ppid: u32) {
        let mut chain = Vec::new();
        let mut next = if self.procfs { ppid } else { 0 };
        while next != 0 && chain.len() < MAX_LINEAGE && !self.current.contains_key(&next) {
            let Ok(info) = procfs::read_process(&self.proc_root, next) else { break };
            next = if info.pid == 1 { 0 } else { info.ppid };
            chain.push(info);
        }
        for info in chain.into_iter().rev() {
            let e = self.entry_from_info(info);
            self.insert(e);
        }
    }

    fn insert(&mut self, e: ProcessEntry) {
        let key = e.key();
        if self.current.get(&key.pid).is_none_or(|&t| t <= key.start_ticks) {
            self.current.insert(key.pid, key.start_ticks);
        }
        // push returns the displaced pair: the same key means replaced, any
        // other key means the LRU evicted it.
        if let Some((old, _)) = self.entries.push(key, Slot::new(e)) {
            // Replaced or evicted: either way a cached lineage may name it.
            self.generation += 1;
            if old == key {
                return;
            }
            self.evictions += 1;
            if self.current.get(&old.pid) == Some(&old.start_ticks) {
                self.current.remove(&old.pid);
            }
        }
    }
}

fn to_model(e: &ProcessEntry, users: &mut UserNames, clock: &BootClock) -> Process {
    Process {
        uuid: e.uuid,
        parent_uuid: e.parent_uuid,
        pid: e.pid,
        ns_pid: e.ns_pid,
        name: e.name.clone(),
        executable: e.image.executable.clone(),
        executable_sha256: e.image.executable_sha256.clone(),
        argv: e.image.argv.clone(),
        cwd: e.image.cwd.clone(),
        uid: e.creds.uid,
        euid: e.creds.euid,
        gid: e.creds.gid,
        egid: e.creds.egid,
        user: users.name(e.creds.uid).cloned(),
        start_time: (e.start_ns != 0).then(|| clock.to_utc(e.start_ns)),
    }
}

/// CLK_TCK: the unit of `/proc/<pid>/stat` start times.
fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // USER_HZ is 100 on every mainstream architecture; -1 means unknown.
    u64::try_from(t).ok().filter(|&t| (1..=1_000_000_000).contains(&t)).unwrap_or(100)
}
