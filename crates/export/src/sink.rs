//! What every destination implements, and what it reports back. Sinks never
//! fail the caller: each delivery ends in a [`DeliveryReport`] the server
//! turns into counters (`metrics` is the server's dependency, not this
//! crate's).

use crate::context::ExportItem;
use std::future::Future;
use std::pin::Pin;

pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = DeliveryReport> + Send + 'a>>;

pub trait Sink: Send + Sync {
    /// The configured name (bounded: fit for a metric label).
    fn name(&self) -> &str;
    /// `webhook`, `files` or `syslog`.
    fn kind(&self) -> &'static str;
    /// Deliver these exports (already past the update policy).
    fn deliver<'a>(&'a self, items: &'a [ExportItem]) -> SinkFuture<'a>;
    /// Periodic housekeeping, e.g. closing files past their age.
    fn tick(&self) -> SinkFuture<'_> {
        let report = DeliveryReport::new(self.name(), self.kind());
        Box::pin(async move { report })
    }
    /// Flush and release everything before the server stops.
    fn close(&self) -> SinkFuture<'_> {
        self.tick()
    }
}

/// The outcome of one delivery (or housekeeping step) at one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub destination: String,
    pub kind: &'static str,
    /// Findings the destination accepted.
    pub delivered: usize,
    /// Findings given up on (after retries where the sink retries).
    pub failed: usize,
    /// Attempts beyond the first, over the whole delivery.
    pub retries: u32,
    /// The last error seen, for the log.
    pub last_error: Option<String>,
}

impl DeliveryReport {
    pub fn new(destination: &str, kind: &'static str) -> Self {
        DeliveryReport {
            destination: destination.to_owned(),
            kind,
            delivered: 0,
            failed: 0,
            retries: 0,
            last_error: None,
        }
    }

    /// Nothing happened: no finding, no error.
    pub fn is_empty(&self) -> bool {
        self.delivered == 0 && self.failed == 0 && self.retries == 0 && self.last_error.is_none()
    }
}
