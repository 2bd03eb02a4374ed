//! Aggregation: repeats of the same activity (same finding id: type,
//! resource, key context) update one finding — count, last seen, updated at —
//! instead of creating new ones. Updates go out at most once per interval;
//! new findings at once. Bounded: the least recently updated finding is
//! forgotten first (a later repeat then starts a new count).

use crate::finding::Finding;
use chrono::{DateTime, Utc};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::time::Duration;

/// Event ids kept per finding: the first, then the most recent.
const MAX_EVENT_IDS: usize = 8;

struct Entry {
    finding: Finding,
    /// Changed since it last went out.
    dirty: bool,
    last_emit: DateTime<Utc>,
}

pub struct Aggregator {
    findings: LruCache<String, Entry>,
    interval: chrono::Duration,
}

impl Aggregator {
    pub fn new(capacity: usize, interval: Duration) -> Self {
        Aggregator {
            findings: LruCache::new(NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN)),
            interval: chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX),
        }
    }

    /// Count a repeat of finding `id`. `None`: not known (a new finding);
    /// `Some(None)`: counted, update not due yet; `Some(Some(f))`: due now.
    pub fn repeat(
        &mut self,
        id: &str,
        event_time: DateTime<Utc>,
        now: DateTime<Utc>,
        event_id: &str,
    ) -> Option<Option<Finding>> {
        let e = self.findings.get_mut(id)?;
        let s = &mut e.finding.service;
        s.count += 1;
        s.event_last_seen = s.event_last_seen.max(event_time);
        s.event_first_seen = s.event_first_seen.min(event_time);
        if s.event_ids.len() >= MAX_EVENT_IDS {
            s.event_ids.remove(1);
        }
        s.event_ids.push(event_id.to_owned());
        e.finding.updated_at = now;
        e.dirty = true;
        if now - e.last_emit >= self.interval {
            e.dirty = false;
            e.last_emit = now;
            return Some(Some(e.finding.clone()));
        }
        Some(None)
    }

    pub fn insert(&mut self, f: Finding, now: DateTime<Utc>) {
        self.findings.put(f.id.clone(), Entry { finding: f, dirty: false, last_emit: now });
    }

    /// Updates whose interval has passed.
    pub fn due(&mut self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        for (_, e) in self.findings.iter_mut() {
            if e.dirty && now - e.last_emit >= self.interval {
                e.dirty = false;
                e.last_emit = now;
                out.push(e.finding.clone());
            }
        }
    }

    /// Every pending update, due or not.
    pub fn flush(&mut self, out: &mut Vec<Finding>) {
        for (_, e) in self.findings.iter_mut() {
            if e.dirty {
                e.dirty = false;
                out.push(e.finding.clone());
            }
        }
    }

    pub fn len(&self) -> usize {
        self.findings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }
}
