//! The disk spool: every finding (and, when enabled, every telemetry event)
//! bound for the server is written here first; the uplink client sends from
//! it and removes what the server acknowledged. It is the single path
//! pipeline → spool → network, so a server that is down or slow costs
//! nothing but disk.
//!
//! Layout under the spool directory:
//! - `seg-<first seq, 20 digits>.log` — append-only segment files of
//!   length-prefixed, CRC-checked records (`record.rs` documents the bytes).
//!   A new segment starts when the current one reaches the segment size, and
//!   at every start (an old segment is never appended to, so a torn tail from
//!   a crash stays where it is and is skipped).
//! - `acked` — the highest sequence number the server acknowledged, written
//!   to a temporary file and renamed over the old one. Segments whose records
//!   are all acknowledged are deleted; losing `acked` only means resending
//!   what is still on disk (harmless: ingest is idempotent per agent run).
//!
//! Guarantees:
//! - A record is removed only after the server acknowledged its sequence
//!   number, or when the spool is full and it is evicted (counted).
//! - Durability: every append is a `write(2)` straight to the file (no user
//!   space buffer), so a crash of the agent loses nothing written. `flush`
//!   (called by the pipeline after each batch) `fdatasync`s at most once per
//!   `sync_interval` (default 1 s; zero syncs every flush): a power loss
//!   loses at most that much, and a torn record is detected and skipped.
//!   Segment creation, compaction and deletion sync the directory.
//! - Bounded: the files never exceed `max_bytes`. When an append would, the
//!   spool first reclaims acknowledged records and damaged stretches, then
//!   evicts down to 15/16 of the limit: telemetry first (oldest first), then
//!   low-severity findings, then medium, then the oldest of any. A record
//!   never evicts one of a higher class: when only those are left, the new
//!   record is the one dropped. Every eviction is counted per class.
//! - Damage (a bit flip, a crash mid-write, garbage) is found by length and
//!   CRC, logged, counted, and skipped; never a panic, and the records after
//!   it — in the same segment or others — are kept.

mod record;
#[cfg(test)]
mod tests;

pub use record::{Class, Record, RecordKind};

use crate::AgentError;
use record::MAX_PAYLOAD;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where and how big.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// The most the segment files may take together.
    pub max_bytes: u64,
    /// A segment is closed past this size; default `max_bytes / 16`,
    /// between 64 KiB and 16 MiB.
    pub segment_bytes: Option<u64>,
    /// `fdatasync` at most this often (zero: at every flush).
    pub sync_interval: Duration,
}

impl SpoolConfig {
    pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SpoolConfig {
            dir: dir.into(),
            max_bytes: Self::DEFAULT_MAX_BYTES,
            segment_bytes: None,
            sync_interval: Duration::from_secs(1),
        }
    }

    fn segment_limit(&self) -> u64 {
        self.segment_bytes.unwrap_or((self.max_bytes / 16).clamp(64 << 10, 16 << 20)).max(1)
    }
}

/// Cumulative counters, shared with the pipeline (reported in `agent.loss`
/// under stage `spool`) and the heartbeat.
#[derive(Debug, Default)]
pub struct SpoolStats {
    /// Evicted because the spool was full, by class (`Class as usize`).
    pub evicted: [AtomicU64; 4],
    /// Records larger than a record may be (or than the whole spool).
    pub too_large: AtomicU64,
    /// Appends that failed (disk full, I/O error).
    pub write_failed: AtomicU64,
    /// Damaged stretches skipped (a corrupt or truncated record).
    pub corrupt: AtomicU64,
    /// Records waiting for the server's acknowledgement.
    pub pending: AtomicU64,
    /// Bytes on disk.
    pub bytes: AtomicU64,
}

impl SpoolStats {
    /// The loss counters as `(reason, cumulative count)`.
    pub fn losses(&self) -> [(&'static str, u64); 7] {
        let e = |c: Class| self.evicted[c as usize].load(Ordering::Relaxed);
        [
            ("spool full: telemetry event dropped", e(Class::Telemetry)),
            ("spool full: low-severity finding dropped", e(Class::Low)),
            ("spool full: medium-severity finding dropped", e(Class::Medium)),
            ("spool full: high-severity finding dropped", e(Class::High)),
            ("record too large", self.too_large.load(Ordering::Relaxed)),
            ("write failed", self.write_failed.load(Ordering::Relaxed)),
            ("corrupt record skipped", self.corrupt.load(Ordering::Relaxed)),
        ]
    }
}

/// A run of records of one kind and one agent run: what goes in one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub kind: RecordKind,
    pub run_id: String,
    /// The sequence number of the last record (the batch's seq).
    pub last_seq: u64,
    pub bodies: Vec<Vec<u8>>,
    /// Each body's own sequence number (parallel to `bodies`; not
    /// necessarily consecutive: evicted or damaged records leave gaps). The
    /// server keys telemetry on (run, seq) to store a redelivery once.
    pub seqs: Vec<u64>,
}

/// Where an unacknowledged record is.
#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u64,
    class: Class,
    offset: u64,
    len: u32,
}

struct Segment {
    path: PathBuf,
    /// Unacknowledged records, in sequence order.
    entries: Vec<Entry>,
    /// The file's length (acknowledged records and damage included).
    size: u64,
}

impl Segment {
    fn live_bytes(&self) -> u64 {
        self.entries.iter().map(|e| u64::from(e.len)).sum()
    }
}

pub struct Spool {
    cfg: SpoolConfig,
    segments: Vec<Segment>,
    /// Open for appending: always the last segment, created by this process.
    active: Option<File>,
    next_seq: u64,
    acked: u64,
    total: u64,
    dirty: bool,
    last_sync: Instant,
    stats: Arc<SpoolStats>,
}

const ACKED_FILE: &str = "acked";

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AgentError {
    let path = path.to_owned();
    move |source| AgentError::State { what, path, source }
}

impl Spool {
    /// Open (creating the directory) and index what a previous run left.
    pub fn open(cfg: SpoolConfig) -> Result<Spool, AgentError> {
        std::fs::create_dir_all(&cfg.dir).map_err(io_err("creating the spool directory", &cfg.dir))?;
        let stats = Arc::new(SpoolStats::default());
        let acked = read_acked(&cfg.dir);
        let mut names: Vec<PathBuf> = std::fs::read_dir(&cfg.dir)
            .map_err(io_err("reading the spool directory", &cfg.dir))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(is_segment_name))
            .collect();
        names.sort();
        let mut spool = Spool {
            cfg,
            segments: Vec::new(),
            active: None,
            next_seq: acked + 1,
            acked,
            total: 0,
            dirty: false,
            last_sync: Instant::now(),
            stats,
        };
        for path in names {
            let data = std::fs::read(&path).map_err(io_err("reading a spool segment", &path))?;
            let found = record::scan(&data);
            if found.corrupt > 0 {
                tracing::warn!(segment = %path.display(), damaged = found.corrupt, torn_tail = found.truncated_tail,
                    "spool: skipped damaged records");
                spool.stats.corrupt.fetch_add(found.corrupt, Ordering::Relaxed);
            }
            let mut entries = Vec::with_capacity(found.records.len());
            for f in found.records {
                spool.next_seq = spool.next_seq.max(f.seq + 1);
                // A healthy segment is in sequence order; whatever damage
                // left out of order (a duplicate) is not indexed twice.
                if f.seq > acked && entries.last().is_none_or(|e: &Entry| e.seq < f.seq) {
                    entries.push(Entry { seq: f.seq, class: f.class, offset: f.offset, len: f.len });
                }
            }
            let size = data.len() as u64;
            if entries.is_empty() {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            spool.total += size;
            spool.segments.push(Segment { path, entries, size });
        }
        spool.publish();
        if spool.pending() > 0 {
            tracing::info!(records = spool.pending(), bytes = spool.total, "spool: unsent records from an earlier run");
        }
        Ok(spool)
    }

    pub fn stats(&self) -> Arc<SpoolStats> {
        self.stats.clone()
    }

    /// Records not acknowledged yet.
    pub fn pending(&self) -> usize {
        self.segments.iter().map(|s| s.entries.len()).sum()
    }

    /// Bytes the segment files take.
    pub fn bytes(&self) -> u64 {
        self.total
    }

    /// The highest acknowledged sequence number.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Append a record; returns its sequence number, or `None` when it was
    /// dropped (counted) because it does not fit.
    pub fn append(
        &mut self,
        kind: RecordKind,
        class: Class,
        run_id: &str,
        body: &[u8],
    ) -> Result<Option<u64>, AgentError> {
        let r = self.try_append(kind, class, run_id, body);
        if r.is_err() {
            self.stats.write_failed.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn try_append(
        &mut self,
        kind: RecordKind,
        class: Class,
        run_id: &str,
        body: &[u8],
    ) -> Result<Option<u64>, AgentError> {
        let seq = self.next_seq;
        let Some(bytes) =
            record::encode(seq, kind, class, run_id, body).filter(|b| b.len() as u64 <= self.cfg.max_bytes)
        else {
            self.stats.too_large.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(bytes = body.len(), max = MAX_PAYLOAD, "spool: record too large, dropped");
            return Ok(None);
        };
        let len = bytes.len() as u64;
        if !self.make_room(len, class)? {
            self.stats.evicted[class as usize].fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let needs_segment = match self.segments.last() {
            Some(s) => self.active.is_none() || (s.size > 0 && s.size + len > self.cfg.segment_limit()),
            None => true,
        };
        if needs_segment {
            self.new_segment(seq)?;
        }
        let (Some(file), Some(seg)) = (self.active.as_mut(), self.segments.last_mut()) else {
            return Ok(None); // new_segment sets both
        };
        if let Err(e) = file.write_all(&bytes) {
            // Cut a partial record off so the next append lands at a known
            // offset; if even that fails, the scan skips the debris later.
            let _ = file.set_len(seg.size);
            return Err(AgentError::State { what: "appending to", path: seg.path.clone(), source: e });
        }
        seg.entries.push(Entry { seq, class, offset: seg.size, len: u32::try_from(len).unwrap_or(u32::MAX) });
        seg.size += len;
        self.total += len;
        self.next_seq += 1;
        self.dirty = true;
        self.publish();
        Ok(Some(seq))
    }

    /// Make the appended records durable, at most once per sync interval.
    /// Cheap when nothing is waiting: the pipeline calls it after every
    /// batch and every tick (200 ms), so nothing stays unsynced much longer
    /// than the interval.
    pub fn flush(&mut self) -> Result<(), AgentError> {
        if self.dirty && self.last_sync.elapsed() >= self.cfg.sync_interval {
            self.sync()?;
        }
        Ok(())
    }

    /// Make the appended records durable now.
    pub fn sync(&mut self) -> Result<(), AgentError> {
        if let (Some(f), Some(seg)) = (&self.active, self.segments.last()) {
            f.sync_data().map_err(io_err("syncing", &seg.path))?;
        }
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// The next batch after sequence number `after`: consecutive records of
    /// one kind and run, at most `max_records` and about `max_bytes` (always
    /// at least one record). A record found damaged now is counted and
    /// dropped from the index.
    pub fn next_batch(&mut self, after: u64, max_records: usize, max_bytes: usize) -> Option<Batch> {
        let mut batch: Option<Batch> = None;
        let mut bytes = 0usize;
        let mut damaged: Vec<u64> = Vec::new();
        'segments: for seg in &self.segments {
            let start = seg.entries.partition_point(|e| e.seq <= after);
            if start == seg.entries.len() {
                continue;
            }
            let Ok(file) = File::open(&seg.path) else {
                damaged.extend(seg.entries[start..].iter().map(|e| e.seq));
                continue;
            };
            for e in &seg.entries[start..] {
                let mut buf = vec![0u8; e.len as usize];
                let rec = file.read_exact_at(&mut buf, e.offset).ok().and_then(|()| record::decode(&buf).ok());
                let Some((rec, _)) = rec.filter(|(r, _)| r.seq == e.seq) else {
                    damaged.push(e.seq);
                    continue;
                };
                match &mut batch {
                    None => {
                        bytes = rec.body.len();
                        batch = Some(Batch {
                            kind: rec.kind,
                            run_id: rec.run_id,
                            last_seq: rec.seq,
                            bodies: vec![rec.body],
                            seqs: vec![rec.seq],
                        });
                    }
                    Some(b) => {
                        if b.kind != rec.kind
                            || b.run_id != rec.run_id
                            || b.bodies.len() >= max_records
                            || bytes + rec.body.len() > max_bytes
                        {
                            break 'segments;
                        }
                        bytes += rec.body.len();
                        b.last_seq = rec.seq;
                        b.bodies.push(rec.body);
                        b.seqs.push(rec.seq);
                    }
                }
            }
        }
        if !damaged.is_empty() {
            tracing::warn!(records = damaged.len(), "spool: records damaged on disk since they were written; skipped");
            self.stats.corrupt.fetch_add(damaged.len() as u64, Ordering::Relaxed);
            for seg in &mut self.segments {
                seg.entries.retain(|e| !damaged.contains(&e.seq));
            }
            self.publish();
        }
        batch
    }

    /// The server committed everything up to `seq`: forget it, delete
    /// segments with nothing left, and remember the position.
    pub fn ack(&mut self, seq: u64) -> Result<(), AgentError> {
        let seq = seq.min(self.next_seq.saturating_sub(1));
        if seq <= self.acked {
            return Ok(());
        }
        self.acked = seq;
        let last = self.segments.len().saturating_sub(1);
        let mut removed_any = false;
        let mut i = 0;
        while i < self.segments.len() {
            self.segments[i].entries.retain(|e| e.seq > seq);
            if self.segments[i].entries.is_empty() {
                // The active segment too: the next append starts a new one.
                if i == last {
                    self.active = None;
                }
                let seg = self.segments.remove(i);
                self.total -= seg.size;
                let _ = std::fs::remove_file(&seg.path);
                removed_any = true;
                continue;
            }
            if self.segments[i].entries.first().is_some_and(|e| e.seq > seq) {
                break; // later segments hold only newer records
            }
            i += 1;
        }
        write_acked(&self.cfg.dir, seq)?;
        if removed_any {
            sync_dir(&self.cfg.dir);
        }
        self.publish();
        Ok(())
    }

    fn publish(&self) {
        self.stats.pending.store(self.pending() as u64, Ordering::Relaxed);
        self.stats.bytes.store(self.total, Ordering::Relaxed);
    }

    fn new_segment(&mut self, first_seq: u64) -> Result<(), AgentError> {
        if let (Some(f), Some(seg)) = (self.active.take(), self.segments.last()) {
            f.sync_data().map_err(io_err("syncing", &seg.path))?;
        }
        let path = self.cfg.dir.join(format!("seg-{first_seq:020}.log"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err("creating a spool segment", &path))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        sync_dir(&self.cfg.dir);
        self.total += size;
        self.segments.push(Segment { path, entries: Vec::new(), size });
        self.active = Some(file);
        Ok(())
    }

    /// Make room for `need` more bytes of a record of `class`. `false`: the
    /// record must be dropped (nothing was evicted then).
    fn make_room(&mut self, need: u64, class: Class) -> Result<bool, AgentError> {
        let max = self.cfg.max_bytes;
        if self.total + need <= max {
            return Ok(true);
        }
        // Free first: acknowledged records and damage still on disk.
        let wasteful: Vec<usize> =
            (0..self.segments.len()).filter(|&i| self.segments[i].size > self.segments[i].live_bytes()).collect();
        for i in wasteful.into_iter().rev() {
            self.rewrite(i, &[])?; // may remove segment i: go backwards
        }
        if self.total + need <= max {
            return Ok(true);
        }
        // Then evict, down to the low-water mark, lowest class first and
        // never above the newcomer's class.
        let target = max - max / 16;
        let mut projected = self.total;
        let mut victims: Vec<(usize, u64)> = Vec::new(); // (segment, seq)
        'classes: for c in Class::ALL.into_iter().filter(|c| *c <= class) {
            for (i, seg) in self.segments.iter().enumerate() {
                for e in seg.entries.iter().filter(|e| e.class == c) {
                    if projected + need <= target {
                        break 'classes;
                    }
                    victims.push((i, e.seq));
                    projected -= u64::from(e.len);
                }
            }
        }
        if projected + need > max {
            return Ok(false);
        }
        let mut per_class = [0u64; 4];
        let mut by_segment: std::collections::BTreeMap<usize, Vec<u64>> = Default::default();
        for (i, seq) in victims {
            by_segment.entry(i).or_default().push(seq);
            if let Some(e) = self.segments[i].entries.iter().find(|e| e.seq == seq) {
                per_class[e.class as usize] += 1;
            }
        }
        for (c, n) in per_class.iter().enumerate() {
            self.stats.evicted[c].fetch_add(*n, Ordering::Relaxed);
        }
        tracing::warn!(
            telemetry = per_class[0],
            low = per_class[1],
            medium = per_class[2],
            high = per_class[3],
            max_bytes = max,
            "spool full: oldest records of the lowest classes evicted"
        );
        for (i, seqs) in by_segment.into_iter().rev() {
            self.rewrite(i, &seqs)?;
        }
        Ok(true)
    }

    /// Rewrite segment `i` without the records `drop` and without anything
    /// that is not a live record (acknowledged records, damage); delete it
    /// when nothing is left. Atomic: a temporary file renamed over it.
    fn rewrite(&mut self, i: usize, drop: &[u64]) -> Result<(), AgentError> {
        let is_active = i + 1 == self.segments.len() && self.active.is_some();
        let seg = &mut self.segments[i];
        let keep: Vec<Entry> = seg.entries.iter().filter(|e| !drop.contains(&e.seq)).copied().collect();
        self.total -= seg.size;
        if keep.is_empty() && !is_active {
            let _ = std::fs::remove_file(&seg.path);
            seg.entries.clear();
            seg.size = 0;
            self.segments.remove(i);
            sync_dir(&self.cfg.dir);
            self.publish();
            return Ok(());
        }
        let src = File::open(&seg.path).map_err(io_err("reading a spool segment", &seg.path))?;
        let tmp = seg.path.with_extension("tmp");
        let mut out = File::create(&tmp).map_err(io_err("compacting a spool segment", &tmp))?;
        let mut entries = Vec::with_capacity(keep.len());
        let mut offset = 0u64;
        let mut lost = 0u64;
        for e in keep {
            let mut buf = vec![0u8; e.len as usize];
            if src.read_exact_at(&mut buf, e.offset).is_err() || record::decode(&buf).is_err() {
                lost += 1;
                continue;
            }
            out.write_all(&buf).map_err(io_err("compacting a spool segment", &tmp))?;
            entries.push(Entry { offset, ..e });
            offset += u64::from(e.len);
        }
        out.sync_data().map_err(io_err("compacting a spool segment", &tmp))?;
        std::fs::rename(&tmp, &seg.path).map_err(io_err("compacting a spool segment", &seg.path))?;
        sync_dir(&self.cfg.dir);
        if lost > 0 {
            self.stats.corrupt.fetch_add(lost, Ordering::Relaxed);
        }
        seg.entries = entries;
        seg.size = offset;
        self.total += offset;
        if is_active {
            // The old handle points at the replaced inode.
            let path = seg.path.clone();
            self.active =
                Some(OpenOptions::new().append(true).open(&path).map_err(io_err("reopening a spool segment", &path))?);
        }
        self.publish();
        Ok(())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if self.dirty {
            let _ = self.sync();
        }
    }
}

fn is_segment_name(name: &str) -> bool {
    name.strip_prefix("seg-")
        .and_then(|r| r.strip_suffix(".log"))
        .is_some_and(|d| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The acknowledged position; 0 when absent or unreadable (everything still
/// on disk is then sent again).
fn read_acked(dir: &Path) -> u64 {
    let path = dir.join(ACKED_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => s.trim().parse().unwrap_or_else(|_| {
            tracing::warn!(path = %path.display(), "spool: unreadable acknowledged position; resending what is on disk");
            0
        }),
        Err(_) => 0,
    }
}

fn write_acked(dir: &Path, seq: u64) -> Result<(), AgentError> {
    let path = dir.join(ACKED_FILE);
    let tmp = dir.join("acked.tmp");
    std::fs::write(&tmp, format!("{seq}\n")).map_err(io_err("writing", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err("writing", &path))
}

/// Make a directory's entries (created, renamed, removed files) durable.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
