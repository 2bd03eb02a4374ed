//! Watching the API: which triggers are still waiting for their finding, the
//! polls that look for them, and matching a finding back to its trigger.
//!
//! A poll asks `POST /api/v1/findings/search` for findings of the trigger's
//! type created since the oldest trigger still waiting (less a margin),
//! oldest first, following `nextToken` (keyset paging) to the end. With
//! triggers spaced out, the answer holds only the last few findings, so a
//! poll stays cheap however long the run. A finding is matched to its
//! trigger by the victim's pid (`targetProcess.pid`) and the writing
//! process (`process.pid`, this bench).

use super::trigger::{FINDING_TYPE, Fired};
use crate::BenchError;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

/// The server's REST API as far as the bench needs it. The `saker` binary
/// implements it with its HTTP client.
pub trait FindingsApi: Send {
    /// `POST /api/v1/findings/search` with this body; the answer's JSON.
    fn search(&mut self, body: &Value) -> Result<Value, BenchError>;
}

/// Findings created this long before the oldest waiting trigger are still
/// asked for: the agent stamps `createdAt` after the syscall, on the same
/// clock, so this only absorbs the store's millisecond rounding.
const WINDOW_MARGIN: Duration = Duration::from_secs(2);
/// The most a search returns per page.
const PAGE: u32 = 500;

/// One trigger's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    /// 0-based, in firing order (warm-up triggers not counted).
    pub seq: usize,
    pub victim_pid: u32,
    /// The finding's `eventFirstSeen`: the syscall's kernel timestamp
    /// (boot clock converted to UTC by the agent). `None`: never seen.
    pub event_time: Option<DateTime<Utc>>,
    /// Kernel timestamp → the poll answer that first held the finding.
    pub kernel_to_api_ms: Option<f64>,
    /// The bench's call (just before the syscall) → that same answer,
    /// on the bench's monotonic clock.
    pub call_to_api_ms: Option<f64>,
    /// Kernel timestamp − the bench's wall clock just before the call: a
    /// check that both clocks agree (small and positive when they do).
    pub event_after_call_ms: Option<f64>,
    /// Kernel timestamp → the finding made (its `createdAt`, stamped by the
    /// agent's detector): the agent's share — ring buffer, decode, enrich,
    /// detect.
    pub kernel_to_detected_ms: Option<f64>,
    /// The finding made → in the API answer: spool, gRPC, the server's
    /// ingest commit, the poll.
    pub detected_to_api_ms: Option<f64>,
}

struct Waiting {
    seq: usize,
    fired: Fired,
    /// Warm-up triggers prove the pipeline works; they are not measured.
    warmup: bool,
}

/// Triggers waiting for their finding, and what became of the others.
#[derive(Default)]
pub struct Book {
    waiting: HashMap<u32, Waiting>,
    samples: Vec<Sample>,
    warmups_seen: usize,
}

impl Book {
    pub fn fired(&mut self, seq: usize, fired: Fired, warmup: bool) {
        self.waiting.insert(fired.victim, Waiting { seq, fired, warmup });
    }

    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    pub fn warmups_seen(&self) -> usize {
        self.warmups_seen
    }

    /// Forget the warm-up triggers still waiting (fired before the agent
    /// was watching).
    pub fn drop_warmups(&mut self) {
        self.waiting.retain(|_, w| !w.warmup);
    }

    /// The oldest waiting trigger's call, if any.
    fn oldest(&self) -> Option<SystemTime> {
        self.waiting.values().map(|w| w.fired.call).min()
    }

    /// The finding for `victim` was in an answer received at
    /// `received`/`received_instant`.
    fn seen(&mut self, s: Sighting, received: SystemTime, received_instant: Instant) {
        let Sighting { victim, event_time, created_at } = s;
        let Some(w) = self.waiting.remove(&victim) else { return };
        if w.warmup {
            self.warmups_seen += 1;
            return;
        }
        let received_utc = DateTime::<Utc>::from(received);
        let call_utc = DateTime::<Utc>::from(w.fired.call);
        self.samples.push(Sample {
            seq: w.seq,
            victim_pid: victim,
            event_time: Some(event_time),
            kernel_to_api_ms: Some(ms(received_utc - event_time)),
            call_to_api_ms: Some(received_instant.saturating_duration_since(w.fired.call_instant).as_secs_f64() * 1e3),
            event_after_call_ms: Some(ms(event_time - call_utc)),
            kernel_to_detected_ms: created_at.map(|c| ms(c - event_time)),
            detected_to_api_ms: created_at.map(|c| ms(received_utc - c)),
        });
    }

    /// Triggers waiting longer than `timeout` are missed (measured ones get
    /// an empty sample; warm-ups are forgotten).
    pub fn expire(&mut self, timeout: Duration, now: Instant) {
        let expired: Vec<u32> = self
            .waiting
            .iter()
            .filter(|(_, w)| now.saturating_duration_since(w.fired.call_instant) > timeout)
            .map(|(pid, _)| *pid)
            .collect();
        for pid in expired {
            let Some(w) = self.waiting.remove(&pid) else { continue };
            if !w.warmup {
                tracing::warn!(seq = w.seq, victim = pid, ?timeout, "trigger's finding not seen in time");
                self.samples.push(Sample {
                    seq: w.seq,
                    victim_pid: pid,
                    event_time: None,
                    kernel_to_api_ms: None,
                    call_to_api_ms: None,
                    event_after_call_ms: None,
                    kernel_to_detected_ms: None,
                    detected_to_api_ms: None,
                });
            }
        }
    }

    /// Every measured trigger's sample, in firing order; any still waiting
    /// count as missed.
    pub fn finish(mut self) -> Vec<Sample> {
        self.expire(Duration::ZERO, Instant::now() + Duration::from_secs(1));
        self.samples.sort_by_key(|s| s.seq);
        self.samples
    }
}

fn ms(d: chrono::TimeDelta) -> f64 {
    d.num_nanoseconds().map_or(f64::MAX, |n| n as f64 / 1e6)
}

/// The search body: findings of the trigger's type created at or after
/// `since`, oldest first.
pub fn query(since: SystemTime, next_token: Option<&str>) -> Value {
    let since_ms = DateTime::<Utc>::from(since).timestamp_millis();
    let mut q = json!({
        "findingCriteria": {"criterion": {
            "type": {"eq": [FINDING_TYPE]},
            "createdAt": {"gte": since_ms},
        }},
        "sortCriteria": {"attributeName": "createdAt", "orderBy": "ASC"},
        "maxResults": PAGE,
    });
    if let Some(t) = next_token {
        q["nextToken"] = json!(t);
    }
    q
}

/// A finding of one of our triggers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sighting {
    /// `targetProcess.pid`.
    pub victim: u32,
    /// `eventFirstSeen`.
    pub event_time: DateTime<Utc>,
    /// `createdAt`.
    pub created_at: Option<DateTime<Utc>>,
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    Some(DateTime::parse_from_rfc3339(v.as_str()?).ok()?.with_timezone(&Utc))
}

/// A finding of one of our triggers: written by this process.
pub fn sighting(f: &Value, own_pid: u32) -> Option<Sighting> {
    if f["type"] != FINDING_TYPE {
        return None;
    }
    let details = &f["service"]["runtimeDetails"];
    if details["process"]["pid"].as_u64() != Some(u64::from(own_pid)) {
        return None;
    }
    let victim = u32::try_from(details["context"]["targetProcess"]["pid"].as_u64()?).ok()?;
    Some(Sighting { victim, event_time: time(&f["service"]["eventFirstSeen"])?, created_at: time(&f["createdAt"]) })
}

/// One poll: page through the findings since the oldest waiting trigger and
/// match them. The lock is held only to read the window and to record.
pub fn poll(api: &mut dyn FindingsApi, book: &std::sync::Mutex<Book>, own_pid: u32) -> Result<(), BenchError> {
    let Some(oldest) = lock(book).oldest() else { return Ok(()) };
    let since = oldest.checked_sub(WINDOW_MARGIN).unwrap_or(oldest);
    let mut token: Option<String> = None;
    loop {
        let answer = api.search(&query(since, token.as_deref()))?;
        let (received, received_instant) = (SystemTime::now(), Instant::now());
        let Some(findings) = answer["findings"].as_array() else {
            return Err(BenchError::Server(format!("a search answer without findings: {answer}")));
        };
        {
            let mut b = lock(book);
            for sighting in findings.iter().filter_map(|f| sighting(f, own_pid)) {
                b.seen(sighting, received, received_instant);
            }
        }
        token = answer["nextToken"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
        if token.is_none() || findings.is_empty() {
            return Ok(());
        }
    }
}

/// The book's lock; a poisoned lock (a panicked thread) still holds a
/// consistent book: every update is a single insert or remove.
pub fn lock(book: &std::sync::Mutex<Book>) -> std::sync::MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(victim: u32, by: u32, first_seen: &str) -> Value {
        json!({
            "type": FINDING_TYPE,
            "createdAt": "2026-11-29T04:00:00.200Z",
            "service": {
                "eventFirstSeen": first_seen,
                "runtimeDetails": {"process": {"pid": by}, "context": {"targetProcess": {"pid": victim}}},
            },
        })
    }

    fn fired(victim: u32, call: SystemTime, call_instant: Instant) -> Fired {
        Fired { victim, call, call_instant }
    }

    #[test]
    fn a_finding_is_matched_by_victim_and_writer() {
        let f = finding(42, 7, "2026-11-29T04:00:00.123456789Z");
        let s = sighting(&f, 7).expect("ours");
        assert_eq!(s.victim, 42);
        assert_eq!(s.event_time.timestamp_subsec_nanos(), 123_456_789);
        assert_eq!(s.created_at.map(|c| c.timestamp_subsec_millis()), Some(200));
        assert!(sighting(&f, 8).is_none(), "another process's injection is not ours");
        let mut other = f.clone();
        other["type"] = json!("DefenseEvasion:Runtime/ProcessInjection.Ptrace");
        assert!(sighting(&other, 7).is_none());
        assert!(sighting(&json!({"type": FINDING_TYPE}), 7).is_none());
    }

    #[test]
    fn the_query_asks_for_the_type_since_a_time_oldest_first() {
        let since = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let q = query(since, Some("tok"));
        assert_eq!(q["findingCriteria"]["criterion"]["createdAt"]["gte"], 1_700_000_000_123_i64);
        assert_eq!(q["findingCriteria"]["criterion"]["type"]["eq"][0], FINDING_TYPE);
        assert_eq!(q["sortCriteria"]["orderBy"], "ASC");
        assert_eq!(q["nextToken"], "tok");
        assert!(query(since, None).get("nextToken").is_none());
    }

    #[test]
    fn latencies_are_measured_from_the_event_time_and_the_call() {
        let call = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let call_instant = Instant::now();
        let mut b = Book::default();
        b.fired(0, fired(100, call, call_instant), false);
        b.fired(0, fired(99, call, call_instant), true);
        b.fired(1, fired(101, call, call_instant), false);
        let event = DateTime::<Utc>::from(call + Duration::from_micros(50));
        let created_at = Some(DateTime::<Utc>::from(call + Duration::from_micros(20_050)));
        let seen = |victim| Sighting { victim, event_time: event, created_at };
        let received = call + Duration::from_millis(80);
        b.seen(seen(100), received, call_instant + Duration::from_millis(80));
        b.seen(seen(99), received, call_instant);
        b.seen(seen(100), received, call_instant); // a repeat answer changes nothing
        assert_eq!(b.warmups_seen(), 1);
        assert_eq!(b.waiting(), 1);
        let samples = b.finish();
        assert_eq!(samples.len(), 2, "the warm-up is not a sample");
        let s = &samples[0];
        assert!((s.kernel_to_api_ms.unwrap() - 79.95).abs() < 1e-6, "{s:?}");
        assert!((s.call_to_api_ms.unwrap() - 80.0).abs() < 1e-6, "{s:?}");
        assert!((s.event_after_call_ms.unwrap() - 0.05).abs() < 1e-6, "{s:?}");
        assert!((s.kernel_to_detected_ms.unwrap() - 20.0).abs() < 1e-6, "{s:?}");
        assert!((s.detected_to_api_ms.unwrap() - 59.95).abs() < 1e-6, "{s:?}");
        assert_eq!(samples[1].seq, 1);
        assert!(samples[1].kernel_to_api_ms.is_none(), "never seen: missed");
    }
}
