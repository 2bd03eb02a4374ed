//! Record the real sensor's raw ring-buffer records to a file
//! (`saker_abi::recording`), for `saker bench pipeline` to replay.
//!
//! Every kind is enabled, as the agent enables them with detection on: the
//! replay then sees what a detecting agent would. The agent's own process is
//! excluded in the kernel as always (`SensorConfig::agent_tgid`).

use crate::AgentError;
use saker_abi::recording::{FileSink, RecordingError, RecordingHeader, Writer};
use saker_enrich::process::BootClock;
use saker_sensor::{Sensor, SensorConfig};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// When a recording stops (whichever comes first), and how it is stored.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub duration: Duration,
    pub max_records: u64,
    /// gzip-compress the file (the committed assets are).
    pub gzip: bool,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions { duration: Duration::from_secs(10), max_records: u64::MAX, gzip: true }
    }
}

/// What a recording holds.
#[derive(Debug, Clone, Default)]
pub struct RecordStats {
    pub records: u64,
    /// Raw record bytes (before the length prefixes and compression).
    pub bytes: u64,
    /// Records written, per ABI kind number.
    pub by_kind: BTreeMap<u16, u64>,
    /// Records the sensor could not decode (recorded all the same).
    pub undecodable: u64,
    /// Records the kernel lost while recording (not in the file).
    pub kernel_lost: u64,
    pub elapsed: Duration,
}

/// A recording error as the agent's error: the file is the agent's state here.
pub(crate) fn recording_error(path: &Path, e: RecordingError) -> AgentError {
    AgentError::State { what: "recording", path: path.to_owned(), source: std::io::Error::other(e) }
}

/// Load the sensor, record until `opts` says stop (or `stop` is set), and
/// write the recording to `out`. `ready` is called once the sensor is
/// attached, so a caller can start the activity it wants recorded.
pub fn record(
    cfg: &SensorConfig,
    out: &Path,
    opts: &RecordOptions,
    stop: &AtomicBool,
    ready: &mut dyn FnMut(),
) -> Result<RecordStats, AgentError> {
    let mut cfg = cfg.clone();
    cfg.kind_mask = crate::abi_kind_mask(&crate::KindFilter::all());
    let header = RecordingHeader::current(BootClock::now().offset_ns());
    let writer = Writer::create(out, &header, opts.gzip).map_err(|e| recording_error(out, e))?;
    let mut sensor = Sensor::load(&cfg)?;
    tracing::info!(programs = sensor.attached().len(), out = %out.display(), "recording");

    // The tap runs inside the ring-buffer callback, which cannot fail: it
    // keeps the first write error for the loop below to return.
    struct Tap {
        writer: Writer<FileSink>,
        max: u64,
        bytes: u64,
        by_kind: BTreeMap<u16, u64>,
        error: Option<RecordingError>,
    }
    let tap = Rc::new(RefCell::new(Some(Tap {
        writer,
        max: opts.max_records,
        bytes: 0,
        by_kind: BTreeMap::new(),
        error: None,
    })));
    let sink = Rc::clone(&tap);
    sensor.set_raw_tap(Some(Box::new(move |bytes: &[u8]| {
        let mut guard = sink.borrow_mut();
        let Some(t) = guard.as_mut() else { return };
        if t.error.is_some() || t.writer.records() >= t.max {
            return;
        }
        match t.writer.write_record(bytes) {
            Ok(()) => {
                t.bytes += bytes.len() as u64;
                let kind = saker_abi::raw::read::<saker_abi::raw::Header>(bytes).map_or(0, |h| h.kind);
                *t.by_kind.entry(kind).or_default() += 1;
            }
            Err(e) => t.error = Some(e),
        }
    })));
    let lost_before = total_loss(&sensor)?;
    ready();

    let start = Instant::now();
    let mut undecodable = 0;
    loop {
        let (_, errors) = sensor.poll()?;
        undecodable += errors;
        let written = match tap.borrow_mut().as_mut() {
            Some(t) => match t.error.take() {
                Some(e) => return Err(recording_error(out, e)),
                None => t.writer.records(),
            },
            None => 0,
        };
        if written >= opts.max_records || start.elapsed() >= opts.duration || stop.load(Ordering::SeqCst) {
            break;
        }
    }
    let elapsed = start.elapsed();
    let kernel_lost = total_loss(&sensor)?.saturating_sub(lost_before);
    sensor.set_raw_tap(None);
    drop(sensor);
    let Some(t) = tap.borrow_mut().take() else {
        return Err(recording_error(out, RecordingError::BadHeader("recording state lost")));
    };
    let records = t.writer.finish().map_err(|e| recording_error(out, e))?;
    Ok(RecordStats { records, bytes: t.bytes, by_kind: t.by_kind, undecodable, kernel_lost, elapsed })
}

fn total_loss(sensor: &Sensor) -> Result<u64, AgentError> {
    Ok(sensor.kernel_loss()?.iter().map(|l| l.count).sum())
}
