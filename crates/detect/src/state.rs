//! The detector's memory, all of it bounded (LRU): which processes are
//! network services or connected out, when each container was first seen,
//! which files were written inside containers and by whom, and exec events
//! waiting for their executable's hash.

use chrono::{DateTime, Utc};
use lru::LruCache;
use saker_model::{Event, Process};
use std::num::NonZeroUsize;
use uuid::Uuid;

/// What the detector remembers about one process.
#[derive(Debug, Clone, Default)]
pub struct ProcFacts {
    /// It listened or accepted: a network service.
    pub network_service: bool,
    /// Its last outbound connection (address, port).
    pub connected_to: Option<(String, u16)>,
}

/// Who wrote a file inside a container, and when.
#[derive(Debug, Clone)]
pub struct Modification {
    pub process: std::sync::Arc<Process>,
    pub at: DateTime<Utc>,
}

/// Capacities of the state tables.
#[derive(Debug, Clone, Copy)]
pub struct StateLimits {
    pub processes: usize,
    pub containers: usize,
    pub written_files: usize,
    pub pending_hashes: usize,
}

impl Default for StateLimits {
    fn default() -> Self {
        StateLimits { processes: 16_384, containers: 4_096, written_files: 8_192, pending_hashes: 1_024 }
    }
}

pub struct State {
    procs: LruCache<Uuid, ProcFacts>,
    container_first_seen: LruCache<String, DateTime<Utc>>,
    /// (container id, path) → last modification.
    written: LruCache<(String, String), Modification>,
    /// pid → the exec event whose executable hash is not known yet.
    pending_hash: LruCache<u32, Event>,
}

fn cap(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n.max(1)).unwrap_or(NonZeroUsize::MIN)
}

impl State {
    pub fn new(limits: StateLimits) -> Self {
        State {
            procs: LruCache::new(cap(limits.processes)),
            container_first_seen: LruCache::new(cap(limits.containers)),
            written: LruCache::new(cap(limits.written_files)),
            pending_hash: LruCache::new(cap(limits.pending_hashes)),
        }
    }

    pub fn proc(&mut self, uuid: &Uuid) -> Option<&ProcFacts> {
        self.procs.get(uuid)
    }

    pub fn proc_mut(&mut self, uuid: Uuid) -> &mut ProcFacts {
        self.procs.get_or_insert_mut(uuid, ProcFacts::default)
    }

    pub fn forget_proc(&mut self, uuid: &Uuid) {
        self.procs.pop(uuid);
    }

    /// When the container was first seen; records `now` the first time.
    pub fn container_seen(&mut self, id: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        if let Some(t) = self.container_first_seen.get(id) {
            return *t;
        }
        self.container_first_seen.put(id.to_owned(), now);
        now
    }

    pub fn note_write(&mut self, container: &str, path: &str, m: Modification) {
        self.written.put((container.to_owned(), path.to_owned()), m);
    }

    pub fn modification(&mut self, container: &str, path: &str) -> Option<&Modification> {
        self.written.get(&(container.to_owned(), path.to_owned()))
    }

    pub fn await_hash(&mut self, pid: u32, ev: Event) {
        self.pending_hash.put(pid, ev);
    }

    pub fn take_awaiting(&mut self, pid: u32) -> Option<Event> {
        self.pending_hash.pop(&pid)
    }

    /// Sizes of the tables, for metrics and tests.
    pub fn sizes(&self) -> [usize; 4] {
        [self.procs.len(), self.container_first_seen.len(), self.written.len(), self.pending_hash.len()]
    }
}
