//! The export policy with an injected clock: new findings at once, updates
//! at most once per interval per finding (coalesced to the latest), archived
//! and suppressed findings never.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{DateTime, Duration, Utc};
use saker_detect::Finding;
use saker_export::sink::{DeliveryReport, Sink, SinkFuture};
use saker_export::{Decision, ExportItem, Exporter, FindingState, ManualClock, UpdateInterval, UpdatePolicy};
use std::sync::{Arc, Mutex};
use support::*;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T14:31:07Z").unwrap().with_timezone(&Utc)
}

fn min(m: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(m)
}

fn counted(base: &Finding, count: u64) -> Finding {
    edit(base, |j| j["service"]["count"] = count.into())
}

fn count_of(item: &ExportItem) -> u64 {
    item.finding.service.count
}

fn sent(d: Decision) -> ExportItem {
    match d {
        Decision::Send(item) => *item,
        other => panic!("expected Send, got {other:?}"),
    }
}

#[test]
fn new_at_once_updates_once_per_interval_with_the_latest_version() {
    let a = reverse_shell_ecs();
    let mut p = UpdatePolicy::new(UpdateInterval::FifteenMinutes);

    let first = sent(p.offer(counted(&a, 1), FindingState::New, min(0)));
    assert_eq!((first.state, count_of(&first)), (FindingState::New, 1));

    assert_eq!(p.offer(counted(&a, 2), FindingState::Updated, min(1)), Decision::Deferred);
    assert_eq!(p.offer(counted(&a, 3), FindingState::Updated, min(5)), Decision::Deferred);
    assert_eq!(p.waiting(), 1, "coalesced: one waiting update");
    assert!(p.due(min(15) - Duration::seconds(1)).is_empty());
    let due = p.due(min(15));
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].state, count_of(&due[0])), (FindingState::Updated, 3), "the latest version goes out");

    // The interval restarts at the last send.
    assert_eq!(p.offer(counted(&a, 4), FindingState::Updated, min(16)), Decision::Deferred);
    assert!(p.due(min(29)).is_empty());
    assert_eq!(count_of(&p.due(min(30))[0]), 4);

    // Quiet for longer than the interval: the next update goes out at once.
    assert!(p.due(min(46)).is_empty());
    let again = sent(p.offer(counted(&a, 5), FindingState::Updated, min(46)));
    assert_eq!((again.state, count_of(&again)), (FindingState::Updated, 5));
}

#[test]
fn archived_and_suppressed_never_go_out() {
    let b = c2_ip_instance();
    let mut p = UpdatePolicy::new(UpdateInterval::FifteenMinutes);
    // Suppressed at ingest: archived from the start.
    assert_eq!(p.offer(b.clone(), FindingState::Archived, min(0)), Decision::Dropped);
    sent(p.offer(counted(&b, 1), FindingState::New, min(1)));
    assert_eq!(p.offer(counted(&b, 2), FindingState::Updated, min(2)), Decision::Deferred);
    // Archived by a user while an update waits: the update is dropped too.
    assert_eq!(p.offer(counted(&b, 3), FindingState::Archived, min(3)), Decision::Dropped);
    assert!(p.due(min(60)).is_empty());
    assert_eq!(p.waiting(), 0);
    // The finding's own archived flag counts as archived.
    let flagged = edit(&b, |j| j["service"]["archived"] = true.into());
    assert_eq!(p.offer(flagged, FindingState::Updated, min(61)), Decision::Dropped);
}

#[test]
fn interval_is_configurable_and_findings_are_independent() {
    let a = reverse_shell_ecs();
    let other_account = edit(&a, |j| j["accountId"] = "999999999999".into());
    let mut p = UpdatePolicy::new(UpdateInterval::OneHour);
    sent(p.offer(counted(&a, 1), FindingState::New, min(0)));
    // Same finding id in another account: its own life.
    sent(p.offer(counted(&other_account, 1), FindingState::New, min(0)));
    assert_eq!(p.offer(counted(&a, 2), FindingState::Updated, min(10)), Decision::Deferred);
    assert!(p.due(min(59)).is_empty());
    assert_eq!(p.due(min(60)).len(), 1);

    p.set_interval(UpdateInterval::SixHours);
    assert_eq!(p.offer(counted(&a, 3), FindingState::Updated, min(61)), Decision::Deferred);
    assert!(p.due(min(60 + 359)).is_empty());
    assert_eq!(p.due(min(60 + 360)).len(), 1);

    // Shutdown delivers what waits, regardless of the interval.
    assert_eq!(p.offer(counted(&a, 4), FindingState::Updated, min(421)), Decision::Deferred);
    assert_eq!(count_of(&p.drain()[0]), 4);
    assert_eq!(UpdateInterval::FifteenMinutes.duration(), Duration::minutes(15));
}

/// A destination that remembers what it got.
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<ExportItem>>,
    closed: Mutex<bool>,
}

impl Sink for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn kind(&self) -> &'static str {
        "test"
    }
    fn deliver<'a>(&'a self, items: &'a [ExportItem]) -> SinkFuture<'a> {
        self.got.lock().unwrap().extend_from_slice(items);
        let mut r = DeliveryReport::new("recorder", "test");
        r.delivered = items.len();
        Box::pin(async move { r })
    }
    fn close(&self) -> SinkFuture<'_> {
        *self.closed.lock().unwrap() = true;
        Box::pin(async { DeliveryReport::new("recorder", "test") })
    }
}

impl Recorder {
    fn counts(&self) -> Vec<(FindingState, u64)> {
        self.got.lock().unwrap().iter().map(|i| (i.state, count_of(i))).collect()
    }
}

#[tokio::test]
async fn exporter_applies_the_policy_in_front_of_every_sink() {
    let clock = ManualClock::new(t0());
    let (r1, r2) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let sinks: Vec<Arc<dyn Sink>> = vec![r1.clone(), r2.clone()];
    let ex = Exporter::new(sinks, UpdateInterval::FifteenMinutes, Arc::new(clock.clone()));
    let a = reverse_shell_ecs();

    let reports = ex.submit(counted(&a, 1), FindingState::New).await;
    assert_eq!(reports.iter().map(|r| r.delivered).sum::<usize>(), 2, "one per sink");
    clock.advance(Duration::minutes(2));
    assert!(ex.submit(counted(&a, 2), FindingState::Updated).await.is_empty());
    assert!(ex.submit(c2_ip_instance(), FindingState::Archived).await.is_empty());
    clock.advance(Duration::minutes(2));
    assert!(ex.submit(counted(&a, 3), FindingState::Updated).await.is_empty());
    assert!(ex.tick().await.is_empty());
    assert_eq!(ex.waiting(), 1);

    clock.advance(Duration::minutes(11));
    ex.tick().await;
    assert_eq!(r1.counts(), [(FindingState::New, 1), (FindingState::Updated, 3)]);
    assert_eq!(r2.counts(), r1.counts());

    clock.advance(Duration::minutes(1));
    ex.submit(counted(&a, 4), FindingState::Updated).await;
    ex.shutdown().await;
    assert_eq!(r1.counts().last(), Some(&(FindingState::Updated, 4)), "shutdown flushes waiting updates");
    assert!(*r1.closed.lock().unwrap());
}

#[tokio::test]
async fn background_exporter_queues_ticks_and_flushes_on_shutdown() {
    let clock = ManualClock::new(t0());
    let rec = Arc::new(Recorder::default());
    let ex = Exporter::new(vec![rec.clone() as Arc<dyn Sink>], UpdateInterval::FifteenMinutes, Arc::new(clock.clone()));
    let reports = Arc::new(Mutex::new(Vec::<DeliveryReport>::new()));
    let log = Arc::clone(&reports);
    let handle = ex.spawn(100, std::time::Duration::from_millis(5), move |r| log.lock().unwrap().push(r.clone()));
    let a = reverse_shell_ecs();

    handle.offer(counted(&a, 1), FindingState::New).unwrap();
    handle.offer(counted(&a, 2), FindingState::Updated).unwrap();
    handle.offer(malicious_file_eks(), FindingState::New).unwrap();
    wait_for(|| rec.counts().len() == 2).await;
    assert_eq!(rec.counts(), [(FindingState::New, 1), (FindingState::New, 1)]);

    // The timer runs on its own; the injected clock decides what is due.
    clock.advance(Duration::minutes(15));
    wait_for(|| rec.counts().len() == 3).await;
    assert_eq!(rec.counts()[2], (FindingState::Updated, 2));

    handle.set_update_interval(UpdateInterval::SixHours);
    handle.offer(counted(&a, 3), FindingState::Updated).unwrap();
    clock.advance(Duration::minutes(30));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(rec.counts().len(), 3, "six hours now");
    handle.shutdown().await;
    assert_eq!(rec.counts()[3], (FindingState::Updated, 3));
    let delivered: usize = reports.lock().unwrap().iter().map(|r| r.delivered).sum();
    assert_eq!(delivered, 4, "every delivery was reported");
}

/// The administrator changes the interval while the exporter runs: it
/// applies at once, to the update already waiting too — not at the next
/// start, and not at the next timer tick (the timer here is an hour away).
#[tokio::test]
async fn a_new_interval_applies_to_the_running_exporter_at_once() {
    let clock = ManualClock::new(t0());
    let rec = Arc::new(Recorder::default());
    let ex = Exporter::new(vec![rec.clone() as Arc<dyn Sink>], UpdateInterval::SixHours, Arc::new(clock.clone()));
    let handle = ex.spawn(100, std::time::Duration::from_secs(3600), |_| {});
    assert_eq!(handle.update_interval(), UpdateInterval::SixHours);
    let a = reverse_shell_ecs();

    handle.offer(counted(&a, 1), FindingState::New).unwrap();
    handle.offer(counted(&a, 2), FindingState::Updated).unwrap();
    wait_for(|| rec.counts().len() == 1).await;
    clock.advance(Duration::minutes(20));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(rec.counts(), [(FindingState::New, 1)], "six hours: the update waits");

    // Shorter: 20 minutes have passed since the finding went out, so the
    // waiting update is due under 15 minutes and goes out now.
    handle.set_update_interval(UpdateInterval::FifteenMinutes);
    assert_eq!(handle.update_interval(), UpdateInterval::FifteenMinutes);
    wait_for(|| rec.counts().len() == 2).await;
    assert_eq!(rec.counts()[1], (FindingState::Updated, 2));

    // Longer: each change runs the policy at once, and 20 minutes after the
    // last send an update waits under one hour or six.
    handle.set_update_interval(UpdateInterval::OneHour);
    handle.offer(counted(&a, 3), FindingState::Updated).unwrap();
    clock.advance(Duration::minutes(20));
    handle.set_update_interval(UpdateInterval::SixHours);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(rec.counts().len(), 2, "longer intervals keep the update waiting");
    handle.set_update_interval(UpdateInterval::FifteenMinutes);
    wait_for(|| rec.counts().len() == 3).await;
    assert_eq!(rec.counts()[2], (FindingState::Updated, 3));
    handle.shutdown().await;
}

async fn wait_for(cond: impl Fn() -> bool) {
    for _ in 0..400 {
        if cond() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("condition not met within 2 s");
}
