//! The spool's guarantees, each as a test: acknowledged records go, unacked
//! ones survive a crash, a full spool evicts in class order and counts it,
//! damage is skipped and counted without losing what follows.

use super::*;
use std::collections::BTreeSet;

const RUN: &str = "run";

fn cfg(dir: &Path, max_bytes: u64, segment_bytes: u64) -> SpoolConfig {
    SpoolConfig { dir: dir.to_owned(), max_bytes, segment_bytes: Some(segment_bytes), sync_interval: Duration::ZERO }
}

fn body(n: u64) -> Vec<u8> {
    format!("{{\"n\":{n:>4}}}").into_bytes()
}

/// A record of `body(n)` on disk: header + fixed fields + run id + body.
const RECORD: u64 = (12 + 11 + RUN.len() + 10) as u64;

fn finding(s: &mut Spool, n: u64, class: Class) -> Option<u64> {
    s.append(RecordKind::Finding, class, RUN, &body(n)).unwrap()
}

/// Every pending body's `n`, in order.
fn pending_ns(s: &mut Spool) -> Vec<u64> {
    let mut out = Vec::new();
    let mut after = s.acked();
    while let Some(b) = s.next_batch(after, 1000, 1 << 20) {
        after = b.last_seq;
        for body in b.bodies {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            out.push(v["n"].as_u64().unwrap());
        }
    }
    out
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// A crash: no `Drop`, nothing synced or cleaned up beyond what was written.
fn crash(s: Spool) {
    std::mem::forget(s);
}

#[test]
fn batches_acks_and_a_crash_keep_exactly_the_unacknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(cfg(dir.path(), 1 << 20, 4096)).unwrap();
    for n in 1..=10 {
        assert_eq!(finding(&mut s, n, Class::Medium), Some(n), "sequence numbers count from 1");
    }
    let b = s.next_batch(0, 4, 1 << 20).unwrap();
    assert_eq!((b.kind, b.run_id.as_str(), b.last_seq, b.bodies.len()), (RecordKind::Finding, RUN, 4, 4));
    s.ack(4).unwrap();
    assert_eq!(s.pending(), 6);
    assert_eq!(s.stats().pending.load(Ordering::Relaxed), 6);
    crash(s);

    let mut s = Spool::open(cfg(dir.path(), 1 << 20, 4096)).unwrap();
    assert_eq!(s.acked(), 4, "the acknowledged position survives");
    assert_eq!(pending_ns(&mut s), (5..=10).collect::<Vec<_>>());
    assert_eq!(finding(&mut s, 11, Class::Low), Some(11), "numbering goes on after a restart");
    s.ack(11).unwrap();
    assert_eq!((s.pending(), s.bytes()), (0, 0));
    assert!(segments(dir.path()).is_empty(), "fully acknowledged segments are deleted");
    assert!(s.next_batch(0, 10, 1 << 20).is_none());
    drop(s);
    let mut s = Spool::open(cfg(dir.path(), 1 << 20, 4096)).unwrap();
    assert_eq!(finding(&mut s, 12, Class::Low), Some(12), "an empty spool still numbers on");
}

#[test]
fn batches_split_by_kind_run_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(cfg(dir.path(), 1 << 20, 1 << 20)).unwrap();
    s.append(RecordKind::Finding, Class::Low, "old-run", &body(1)).unwrap();
    s.append(RecordKind::Finding, Class::Low, "old-run", &body(2)).unwrap();
    s.append(RecordKind::Finding, Class::Low, RUN, &body(3)).unwrap();
    s.append(RecordKind::Telemetry, Class::Telemetry, RUN, &body(4)).unwrap();
    s.append(RecordKind::Finding, Class::Low, RUN, &body(5)).unwrap();
    s.append(RecordKind::Finding, Class::Low, RUN, &body(6)).unwrap();
    // 25 bytes: two 10-byte bodies fit, three do not.
    let shapes: Vec<(RecordKind, String, u64, usize)> = std::iter::successors(s.next_batch(0, 10, 25), |b| {
        let after = b.last_seq;
        s.next_batch(after, 10, 25)
    })
    .map(|b| (b.kind, b.run_id.clone(), b.last_seq, b.bodies.len()))
    .collect();
    assert_eq!(
        shapes,
        vec![
            (RecordKind::Finding, "old-run".into(), 2, 2),
            (RecordKind::Finding, RUN.into(), 3, 1),
            (RecordKind::Telemetry, RUN.into(), 4, 1),
            (RecordKind::Finding, RUN.into(), 6, 2),
        ]
    );
}

#[test]
fn acknowledged_segments_go_and_partly_acknowledged_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(cfg(dir.path(), 1 << 20, RECORD * 3)).unwrap();
    for n in 1..=9 {
        finding(&mut s, n, Class::High);
    }
    assert_eq!(segments(dir.path()).len(), 3, "three records per segment");
    s.ack(4).unwrap();
    assert_eq!(segments(dir.path()).len(), 2);
    assert_eq!(std::fs::read_to_string(dir.path().join("acked")).unwrap().trim(), "4");
    assert_eq!(pending_ns(&mut s), (5..=9).collect::<Vec<_>>());
    s.ack(100).unwrap(); // beyond what exists: everything
    assert_eq!(s.acked(), 9);
    assert!(segments(dir.path()).is_empty());
}

#[test]
fn a_full_spool_evicts_telemetry_then_low_then_medium_then_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let max = RECORD * 20;
    let mut s = Spool::open(cfg(dir.path(), max, RECORD * 6)).unwrap();
    // Interleaved, so class order and age order differ.
    let classes = [Class::Telemetry, Class::Low, Class::Medium, Class::High];
    let mut class_of = std::collections::BTreeMap::new();
    for n in 1..=20u64 {
        let c = classes[(n as usize - 1) % 4];
        let kind = if c == Class::Telemetry { RecordKind::Telemetry } else { RecordKind::Finding };
        assert!(s.append(kind, c, RUN, &body(n)).unwrap().is_some());
        class_of.insert(n, c);
    }
    assert_eq!(s.bytes(), max, "exactly full");
    for n in 21..=40u64 {
        assert!(finding(&mut s, n, Class::High).is_some(), "a high finding always finds room");
        class_of.insert(n, Class::High);
        assert!(s.bytes() <= max);
        let remaining: BTreeSet<u64> = pending_ns(&mut s).into_iter().collect();
        let evicted: Vec<u64> = (1..=n).filter(|x| !remaining.contains(x)).collect();
        // Priority order: by class, then age.
        let mut priority: Vec<u64> = (1..=n).collect();
        priority.sort_by_key(|n| (class_of[n], *n));
        let mut expected = priority[..evicted.len()].to_vec();
        expected.sort_unstable();
        assert_eq!(evicted, expected, "after appending {n}: evictions follow class, then age");
    }
    let stats = s.stats();
    let remaining = pending_ns(&mut s);
    let gone = 40 - remaining.len() as u64;
    assert!(gone >= 20, "room for 20 more was made");
    let evicted: Vec<u64> = stats.evicted.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    assert_eq!(evicted, vec![5, 5, 5, gone - 15], "every eviction counted, per class");
    assert_eq!(remaining, (gone + 1..=40).collect::<Vec<_>>(), "the newest survive");
    let losses = stats.losses();
    assert_eq!(losses[0], ("spool full: telemetry event dropped", 5));
    assert_eq!(losses[1], ("spool full: low-severity finding dropped", 5));
}

#[test]
fn a_newcomer_never_evicts_a_higher_class() {
    let dir = tempfile::tempdir().unwrap();
    let max = RECORD * 10;
    let mut s = Spool::open(cfg(dir.path(), max, max)).unwrap();
    for n in 1..=10 {
        finding(&mut s, n, Class::Medium);
    }
    assert_eq!(finding(&mut s, 11, Class::Low), None, "the low newcomer is the one dropped");
    assert_eq!(s.append(RecordKind::Telemetry, Class::Telemetry, RUN, &body(12)).unwrap(), None);
    assert_eq!(pending_ns(&mut s), (1..=10).collect::<Vec<_>>());
    let st = s.stats();
    assert_eq!(st.evicted[Class::Low as usize].load(Ordering::Relaxed), 1);
    assert_eq!(st.evicted[Class::Telemetry as usize].load(Ordering::Relaxed), 1);
    assert!(finding(&mut s, 13, Class::Medium).is_some(), "a medium one evicts the oldest mediums");
    assert_eq!(pending_ns(&mut s)[..2], [3, 4], "down to the low-water mark: two went");
}

#[test]
fn acknowledged_bytes_are_reclaimed_before_anything_is_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let max = RECORD * 10;
    let mut s = Spool::open(cfg(dir.path(), max, max)).unwrap();
    for n in 1..=10 {
        finding(&mut s, n, Class::Low);
    }
    s.ack(3).unwrap(); // one segment: its file still holds 1..=3
    assert_eq!(s.bytes(), max);
    assert!(finding(&mut s, 11, Class::Low).is_some());
    assert_eq!(s.stats().evicted.iter().map(|c| c.load(Ordering::Relaxed)).sum::<u64>(), 0);
    assert_eq!(pending_ns(&mut s), (4..=11).collect::<Vec<_>>());
    crash(s);
    let mut s = Spool::open(cfg(dir.path(), max, max)).unwrap();
    assert_eq!(pending_ns(&mut s), (4..=11).collect::<Vec<_>>(), "compaction is durable");
}

#[test]
fn oversized_records_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(cfg(dir.path(), 1 << 20, 1 << 20)).unwrap();
    let huge = vec![b'x'; (1 << 20) + 1];
    assert_eq!(s.append(RecordKind::Finding, Class::High, RUN, &huge).unwrap(), None);
    assert_eq!(s.stats().too_large.load(Ordering::Relaxed), 1);
    assert_eq!(finding(&mut s, 1, Class::High), Some(1), "no sequence number was used up");
}

#[test]
fn corrupt_truncated_and_garbage_records_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), 1 << 20, RECORD * 3);
    let mut s = Spool::open(c.clone()).unwrap();
    for n in 1..=9 {
        finding(&mut s, n, Class::Low);
    }
    crash(s);
    let segs = segments(dir.path());
    assert_eq!(segs.len(), 3);
    // Segment 1: a bit flip in the second record's body.
    let mut d = std::fs::read(&segs[0]).unwrap();
    d[(RECORD + RECORD - 3) as usize] ^= 0x10;
    std::fs::write(&segs[0], d).unwrap();
    // Segment 2: garbage over the second record's header.
    let mut d = std::fs::read(&segs[1]).unwrap();
    d[RECORD as usize..RECORD as usize + 8].copy_from_slice(b"garbage!");
    std::fs::write(&segs[1], d).unwrap();
    // Segment 3: cut mid-way through its last record (a crash mid-write),
    // and more garbage after it.
    let mut d = std::fs::read(&segs[2]).unwrap();
    d.truncate((RECORD * 2 + 7) as usize);
    std::fs::write(&segs[2], d).unwrap();

    let mut s = Spool::open(c.clone()).unwrap();
    assert_eq!(pending_ns(&mut s), vec![1, 3, 4, 6, 7, 8], "everything intact survives, in order");
    assert_eq!(s.stats().corrupt.load(Ordering::Relaxed), 3);
    let seq = finding(&mut s, 10, Class::Low).expect("appends go on after damage");
    assert!(seq > 8);
    s.ack(seq).unwrap();
    assert!(segments(dir.path()).is_empty(), "damaged segments go when their records are acknowledged");

    // A file of pure garbage, and one with garbage appended.
    std::fs::write(dir.path().join(format!("seg-{:020}.log", 11)), b"\x00\xF5SKR\x01\x02junk").unwrap();
    crash(s);
    let mut s = Spool::open(c).unwrap();
    assert_eq!(s.pending(), 0);
    assert!(s.stats().corrupt.load(Ordering::Relaxed) >= 1);
    assert!(finding(&mut s, 11, Class::Low).is_some());
}

#[test]
fn damage_after_writing_is_caught_when_reading() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(cfg(dir.path(), 1 << 20, 1 << 20)).unwrap();
    for n in 1..=3 {
        finding(&mut s, n, Class::Low);
    }
    let seg = segments(dir.path()).remove(0);
    let mut d = std::fs::read(&seg).unwrap();
    d[(RECORD + 20) as usize] ^= 1;
    std::fs::write(&seg, d).unwrap();
    assert_eq!(pending_ns(&mut s), vec![1, 3]);
    assert_eq!(s.stats().corrupt.load(Ordering::Relaxed), 1);
    assert_eq!(s.pending(), 2, "the damaged record left the index");
}

#[test]
fn an_unreadable_position_means_resending_not_losing() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), 1 << 20, RECORD * 2);
    let mut s = Spool::open(c.clone()).unwrap();
    for n in 1..=4 {
        finding(&mut s, n, Class::Low);
    }
    s.ack(1).unwrap();
    crash(s);
    std::fs::write(dir.path().join("acked"), b"\xff\xfe").unwrap();
    let mut s = Spool::open(c).unwrap();
    assert_eq!(s.acked(), 0);
    assert_eq!(pending_ns(&mut s), vec![1, 2, 3, 4], "a bounded resend: what is still on disk");
    assert_eq!(finding(&mut s, 5, Class::Low), Some(5), "numbering continues past what is on disk");
}
