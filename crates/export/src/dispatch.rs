//! The export policy and the fan-out to destinations, as GuardDuty exports:
//!
//! - a **new** finding goes out at once;
//! - an **update** goes out at most once per update interval per finding
//!   (15 minutes by default; 1 or 6 hours): inside the interval it waits,
//!   and further updates replace it, so the latest version goes out when the
//!   interval has passed;
//! - an **archived** or suppressed finding never goes out, and a waiting
//!   update of it is dropped.
//!
//! [`UpdatePolicy`] is the policy alone (no I/O, time passed in), [`Exporter`]
//! applies it and delivers to every sink, [`Exporter::spawn`] runs it in the
//! background behind a bounded queue so ingest never waits for a webhook.
//! The interval is the administrator's setting and may change while the
//! exporter runs ([`ExportHandle::set_update_interval`]).

use crate::clock::Clock;
use crate::config::{Destination, ExportsConfig, UpdateInterval};
use crate::context::{ExportContext, ExportItem, FindingState};
use crate::error::ExportError;
use crate::s3files::JsonlFiles;
use crate::sink::{DeliveryReport, Sink};
use crate::syslog_sink::SyslogSink;
use crate::webhook::WebhookSink;
use chrono::{DateTime, Utc};
use saker_detect::Finding;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// Findings delivered together by the background exporter, at most.
const MAX_BATCH: usize = 500;

/// What the policy decided for one offered finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Deliver this now.
    Send(Box<ExportItem>),
    /// An update inside the interval: kept (replacing an older waiting one).
    Deferred,
    /// Archived or suppressed: not exported.
    Dropped,
}

struct Entry {
    last_sent: DateTime<Utc>,
    pending: Option<Finding>,
}

/// Per finding: when it last went out and the update waiting, if any.
/// Memory is bounded by the findings exported within one interval: older
/// entries with nothing waiting are forgotten (their next update is due at
/// once anyway).
pub struct UpdatePolicy {
    setting: UpdateInterval,
    interval: chrono::Duration,
    entries: HashMap<(String, String), Entry>,
}

fn key(f: &Finding) -> (String, String) {
    (f.account_id.clone().unwrap_or_default(), f.id.clone())
}

impl UpdatePolicy {
    pub fn new(interval: UpdateInterval) -> Self {
        UpdatePolicy { setting: interval, interval: interval.duration(), entries: HashMap::new() }
    }

    /// Change the interval. Entries keep their last send time, so a waiting
    /// update is due as soon as the new interval has passed since then.
    pub fn set_interval(&mut self, interval: UpdateInterval) {
        self.setting = interval;
        self.interval = interval.duration();
    }

    pub fn interval(&self) -> UpdateInterval {
        self.setting
    }

    pub fn offer(&mut self, finding: Finding, state: FindingState, now: DateTime<Utc>) -> Decision {
        let k = key(&finding);
        if state == FindingState::Archived || finding.service.archived {
            self.entries.remove(&k);
            return Decision::Dropped;
        }
        if state == FindingState::Updated
            && let Some(e) = self.entries.get_mut(&k)
            && now < e.last_sent + self.interval
        {
            e.pending = Some(finding);
            return Decision::Deferred;
        }
        self.entries.insert(k, Entry { last_sent: now, pending: None });
        Decision::Send(Box::new(ExportItem::new(finding, state)))
    }

    /// Waiting updates whose interval has passed (they go out now), and
    /// forgetting entries that no longer matter.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<ExportItem> {
        let interval = self.interval;
        let mut out = Vec::new();
        self.entries.retain(|_, e| {
            if now < e.last_sent + interval {
                return true;
            }
            match e.pending.take() {
                Some(f) => {
                    out.push(ExportItem::new(f, FindingState::Updated));
                    e.last_sent = now;
                    true
                }
                None => false,
            }
        });
        out
    }

    /// Every waiting update, regardless of the interval (shutdown).
    pub fn drain(&mut self) -> Vec<ExportItem> {
        self.entries.drain().filter_map(|(_, e)| e.pending).map(|f| ExportItem::new(f, FindingState::Updated)).collect()
    }

    pub fn waiting(&self) -> usize {
        self.entries.values().filter(|e| e.pending.is_some()).count()
    }
}

/// The policy in front of a set of destinations.
pub struct Exporter {
    sinks: Vec<Arc<dyn Sink>>,
    policy: Mutex<UpdatePolicy>,
    clock: Arc<dyn Clock>,
}

impl Exporter {
    pub fn new(sinks: Vec<Arc<dyn Sink>>, interval: UpdateInterval, clock: Arc<dyn Clock>) -> Self {
        Exporter { sinks, policy: Mutex::new(UpdatePolicy::new(interval)), clock }
    }

    /// Build every configured destination. Relative `files` roots are under
    /// `data_dir`.
    pub fn from_config(
        cfg: &ExportsConfig,
        ctx: &ExportContext,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ExportError> {
        cfg.validate()?;
        let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
        for d in &cfg.destinations {
            sinks.push(match d {
                Destination::Webhook(w) => Arc::new(WebhookSink::new(w, ctx.clone(), Arc::clone(&clock))?),
                Destination::Files(f) => {
                    let root = if f.root.is_absolute() { f.root.clone() } else { data_dir.join(&f.root) };
                    Arc::new(JsonlFiles::new(f, &root, ctx.clone(), Arc::clone(&clock))?)
                }
                Destination::Syslog(s) => Arc::new(SyslogSink::new(s, ctx.clone())),
            });
        }
        Ok(Exporter::new(sinks, cfg.update_interval, clock))
    }

    pub fn set_update_interval(&self, interval: UpdateInterval) {
        self.policy().set_interval(interval);
    }

    pub fn update_interval(&self) -> UpdateInterval {
        self.policy().interval()
    }

    fn policy(&self) -> std::sync::MutexGuard<'_, UpdatePolicy> {
        self.policy.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Apply the policy to one finding and deliver what it lets through now.
    /// Returns one report per destination when something was delivered.
    pub async fn submit(&self, finding: Finding, state: FindingState) -> Vec<DeliveryReport> {
        self.submit_all(vec![(finding, state)]).await
    }

    /// As [`submit`](Self::submit), for an ingest batch: one delivery per
    /// destination for everything the policy lets through.
    pub async fn submit_all(&self, findings: Vec<(Finding, FindingState)>) -> Vec<DeliveryReport> {
        let now = self.clock.now();
        let send: Vec<ExportItem> = {
            let mut policy = self.policy();
            findings
                .into_iter()
                .filter_map(|(f, s)| match policy.offer(f, s, now) {
                    Decision::Send(item) => Some(*item),
                    Decision::Deferred | Decision::Dropped => None,
                })
                .collect()
        };
        self.deliver(send).await
    }

    /// Deliver the updates whose interval has passed, and let sinks do their
    /// housekeeping. Call it every few seconds.
    pub async fn tick(&self) -> Vec<DeliveryReport> {
        let due = self.policy().due(self.clock.now());
        let mut reports = self.deliver(due).await;
        for sink in &self.sinks {
            let r = sink.tick().await;
            if !r.is_empty() {
                reports.push(r);
            }
        }
        reports
    }

    /// Deliver every waiting update now and close the destinations.
    pub async fn shutdown(&self) -> Vec<DeliveryReport> {
        let waiting = self.policy().drain();
        let mut reports = self.deliver(waiting).await;
        for sink in &self.sinks {
            let r = sink.close().await;
            if !r.is_empty() {
                reports.push(r);
            }
        }
        reports
    }

    /// Updates waiting for their interval.
    pub fn waiting(&self) -> usize {
        self.policy().waiting()
    }

    /// All destinations at once, so a retrying webhook does not hold up the
    /// others.
    async fn deliver(&self, items: Vec<ExportItem>) -> Vec<DeliveryReport> {
        if items.is_empty() {
            return Vec::new();
        }
        let items: Arc<[ExportItem]> = items.into();
        let mut set = JoinSet::new();
        for sink in &self.sinks {
            let (sink, items) = (Arc::clone(sink), Arc::clone(&items));
            set.spawn(async move { sink.deliver(&items).await });
        }
        let mut reports = Vec::with_capacity(self.sinks.len());
        while let Some(r) = set.join_next().await {
            match r {
                Ok(report) => reports.push(report),
                Err(e) => tracing::error!(error = %e, "an export sink task failed"),
            }
        }
        reports
    }

    /// Run in the background: exports are queued (at most `capacity`), the
    /// policy's timer runs every `tick_every`, and every non-empty report is
    /// handed to `on_report` (the server's counters and logs). A new update
    /// interval bypasses the queue (a full queue must not delay the
    /// administrator's setting) and is followed by a tick at once, so a
    /// shorter interval releases the updates it makes due without waiting
    /// for the timer.
    pub fn spawn(
        self,
        capacity: usize,
        tick_every: std::time::Duration,
        on_report: impl Fn(&DeliveryReport) + Send + Sync + 'static,
    ) -> ExportHandle {
        let (tx, mut rx) = mpsc::channel::<Msg>(capacity.max(1));
        let (interval_tx, mut interval_rx) = watch::channel(self.update_interval());
        let task = tokio::spawn(async move {
            let mut timer = tokio::time::interval(tick_every);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Cleared when the handle is gone: `changed()` would then return
            // at once, forever.
            let mut interval_open = true;
            loop {
                tokio::select! {
                    // A new interval first: it applies to whatever is still
                    // queued. The timer before the queue, so a busy queue
                    // cannot hold back due updates.
                    biased;
                    changed = interval_rx.changed(), if interval_open => match changed {
                        Ok(()) => {
                            let interval = *interval_rx.borrow_and_update();
                            self.set_update_interval(interval);
                            tracing::info!(?interval, "export update interval changed");
                            report_all(&self.tick().await, &on_report);
                        }
                        Err(_) => interval_open = false,
                    },
                    _ = timer.tick() => report_all(&self.tick().await, &on_report),
                    msg = rx.recv() => match msg {
                        Some(Msg::Offer(f, s)) => {
                            // Take what else is queued (up to the next
                            // non-offer): one delivery per batch.
                            let mut batch = vec![(*f, s)];
                            let mut next = None;
                            while batch.len() < MAX_BATCH {
                                match rx.try_recv() {
                                    Ok(Msg::Offer(f, s)) => batch.push((*f, s)),
                                    Ok(other) => { next = Some(other); break; }
                                    Err(_) => break,
                                }
                            }
                            report_all(&self.submit_all(batch).await, &on_report);
                            if matches!(next, Some(Msg::Shutdown)) {
                                break;
                            }
                        }
                        Some(Msg::Shutdown) | None => break,
                    },
                }
            }
            report_all(&self.shutdown().await, &on_report);
        });
        ExportHandle { tx, interval: interval_tx, task }
    }
}

fn report_all(reports: &[DeliveryReport], on_report: &impl Fn(&DeliveryReport)) {
    for r in reports.iter().filter(|r| !r.is_empty()) {
        on_report(r);
    }
}

enum Msg {
    Offer(Box<Finding>, FindingState),
    Shutdown,
}

/// The server's side of a background [`Exporter`].
pub struct ExportHandle {
    tx: mpsc::Sender<Msg>,
    interval: watch::Sender<UpdateInterval>,
    task: tokio::task::JoinHandle<()>,
}

impl ExportHandle {
    /// Queue a finding without waiting. A full queue is an error for the
    /// caller to count (the finding stays in the store; its next update goes
    /// out again).
    pub fn offer(&self, finding: Finding, state: FindingState) -> Result<(), ExportError> {
        self.tx.try_send(Msg::Offer(Box::new(finding), state)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ExportError::Queue("is full"),
            mpsc::error::TrySendError::Closed(_) => ExportError::Queue("has stopped"),
        })
    }

    /// Change the update interval of the running exporter (the
    /// administrator's setting): it applies at once, to updates already
    /// waiting too. Never waits; setting the current interval does nothing.
    pub fn set_update_interval(&self, interval: UpdateInterval) {
        self.interval.send_if_modified(|current| {
            let changed = *current != interval;
            *current = interval;
            changed
        });
    }

    /// The update interval the exporter applies (or is about to).
    pub fn update_interval(&self) -> UpdateInterval {
        *self.interval.borrow()
    }

    /// Deliver what is queued and waiting, close the destinations, and wait
    /// for the exporter to finish.
    pub async fn shutdown(self) {
        let _ = self.tx.send(Msg::Shutdown).await;
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the exporter task failed");
        }
    }
}
