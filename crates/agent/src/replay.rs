//! Replay a recording (`saker_abi::recording`) through decode → enrich →
//! detect and measure it: `saker bench pipeline`'s engine.
//!
//! All records are read into memory first, so file I/O and decompression are
//! not measured. Enrichment uses the recording's boot-clock offset and never
//! reads this host's `/proc` (the recorded pids name other processes here);
//! executables are not hashed and workload attribution is off, as neither
//! could see the recorded host.
//!
//! **State is kept across loops**: one enricher and one detector see every
//! loop. A long-running agent's process table is warm and its detector has
//! seen most activity before (repeats aggregate into existing findings); the
//! first loop pays the cold start, later loops measure that steady state.
//! The first loop's CPU time is reported separately so the two can be told
//! apart.
//!
//! Stages are timed in batches ([`BATCH`] records decoded, then enriched,
//! then run through detection), with the thread's CPU clock read at each
//! stage boundary — not per event, which would cost more than some stages.

use crate::record::recording_error;
use crate::{AgentError, DetectionConfig};
use saker_abi::recording::Reader;
use saker_abi::{Record, decode};
use saker_detect::Finding;
use saker_enrich::process::BootClock;
use saker_enrich::{EnrichConfig, Enricher};
use saker_model::Event;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Records per stage batch: large enough that reading the CPU clock three
/// times per batch costs nothing measurable, small enough to stay in cache.
pub const BATCH: usize = 1024;

/// What a replay measured. Times are seconds.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayStats {
    /// Records in the recording.
    pub records: u64,
    pub loops: u32,
    /// Records processed in all loops (`records × loops`).
    pub events_in: u64,
    /// Events enrichment produced (internal records such as cgroup creation
    /// and unparseable DNS packets produce none).
    pub events_out: u64,
    pub decode_errors: u64,
    pub findings: u64,
    /// Findings by GuardDuty type name, over all loops (repeats of one
    /// finding aggregate: later loops mostly update).
    pub findings_by_type: BTreeMap<String, u64>,
    /// Events of the first loop by kind name.
    pub events_by_kind: BTreeMap<String, u64>,
    pub wall_seconds: f64,
    /// CPU time of the replaying thread.
    pub cpu_seconds: f64,
    pub first_loop_cpu_seconds: f64,
    pub decode_cpu_seconds: f64,
    pub enrich_cpu_seconds: f64,
    pub detect_cpu_seconds: f64,
    /// Freeing the events once through (the sinks' job in the agent).
    pub drop_cpu_seconds: f64,
    pub detection: bool,
}

impl ReplayStats {
    /// Records per second of the thread's CPU time: the rate per core.
    pub fn events_per_cpu_second(&self) -> f64 {
        rate(self.events_in, self.cpu_seconds)
    }

    pub fn events_per_wall_second(&self) -> f64 {
        rate(self.events_in, self.wall_seconds)
    }

    /// The rate after the first loop (steady state); `None` with one loop.
    pub fn steady_events_per_cpu_second(&self) -> Option<f64> {
        (self.loops > 1)
            .then(|| rate(self.records * u64::from(self.loops - 1), self.cpu_seconds - self.first_loop_cpu_seconds))
    }
}

fn rate(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 { n as f64 / seconds } else { 0.0 }
}

/// Read a whole recording into memory (checking its ABI), with its boot offset.
pub fn load(recording: &Path) -> Result<(Vec<Vec<u8>>, i64), AgentError> {
    let reader = Reader::open(recording).map_err(|e| recording_error(recording, e))?;
    let offset = reader.header().boot_offset_ns;
    let records = reader.collect::<Result<Vec<_>, _>>().map_err(|e| recording_error(recording, e))?;
    Ok((records, offset))
}

/// Replay `recording` `loops` times through decode → enrich → detect
/// (`detection: None` stops after enrich). See the module doc for what is
/// measured and why state is kept across loops.
pub fn replay(recording: &Path, loops: u32, detection: Option<DetectionConfig>) -> Result<ReplayStats, AgentError> {
    let (records, boot_offset_ns) = load(recording)?;
    replay_records(&records, boot_offset_ns, loops, detection)
}

/// [`replay`] of records already in memory.
pub fn replay_records(
    records: &[Vec<u8>],
    boot_offset_ns: i64,
    loops: u32,
    detection: Option<DetectionConfig>,
) -> Result<ReplayStats, AgentError> {
    let cfg = EnrichConfig {
        procfs: false,
        hash_executables: false,
        ec2_instance_id: false,
        clock: Some(BootClock::from_offset_ns(boot_offset_ns)),
        ..EnrichConfig::default()
    };
    let mut enricher = Enricher::new(&cfg)?;
    let mut detector = detection.as_ref().map(DetectionConfig::detector).transpose()?;

    let mut stats =
        ReplayStats { records: records.len() as u64, loops, detection: detector.is_some(), ..ReplayStats::default() };
    let mut decoded: Vec<Record> = Vec::with_capacity(BATCH);
    let mut events: Vec<Event> = Vec::with_capacity(BATCH);
    let mut findings: Vec<Finding> = Vec::new();
    let (mut decode_ns, mut enrich_ns, mut detect_ns, mut drop_ns) = (0u64, 0u64, 0u64, 0u64);

    let wall = Instant::now();
    let cpu_start = thread_cpu_ns();
    for lap in 0..loops {
        for chunk in records.chunks(BATCH) {
            let t0 = thread_cpu_ns();
            for raw in chunk {
                match decode(raw) {
                    Ok(r) => decoded.push(r),
                    Err(_) => stats.decode_errors += 1,
                }
            }
            let t1 = thread_cpu_ns();
            events.extend(decoded.drain(..).filter_map(|r| enricher.enrich(r, None)));
            let t2 = thread_cpu_ns();
            if let Some(d) = &mut detector {
                for ev in &events {
                    d.process(ev, &mut findings);
                }
            }
            let t3 = thread_cpu_ns();
            decode_ns += t1.saturating_sub(t0);
            enrich_ns += t2.saturating_sub(t1);
            detect_ns += t3.saturating_sub(t2);
            stats.events_out += events.len() as u64;
            if lap == 0 {
                for ev in &events {
                    *stats.events_by_kind.entry(ev.kind.as_str().to_owned()).or_default() += 1;
                }
            }
            events.clear();
            let t4 = thread_cpu_ns();
            drop_ns += t4.saturating_sub(t3);
            count_findings(&mut stats, &mut findings);
        }
        if lap == 0 {
            stats.first_loop_cpu_seconds = seconds(thread_cpu_ns().saturating_sub(cpu_start));
        }
        // Due updates of aggregated findings go out between loops, as the
        // pipeline's tick does between batches.
        if let Some(d) = &mut detector {
            d.tick(chrono::Utc::now(), &mut findings);
        }
    }
    if let Some(d) = &mut detector {
        d.flush(&mut findings);
    }
    count_findings(&mut stats, &mut findings);
    stats.cpu_seconds = seconds(thread_cpu_ns().saturating_sub(cpu_start));
    stats.wall_seconds = wall.elapsed().as_secs_f64();
    stats.events_in = stats.records * u64::from(loops);
    stats.decode_cpu_seconds = seconds(decode_ns);
    stats.enrich_cpu_seconds = seconds(enrich_ns);
    stats.detect_cpu_seconds = seconds(detect_ns);
    stats.drop_cpu_seconds = seconds(drop_ns);
    Ok(stats)
}

fn count_findings(stats: &mut ReplayStats, findings: &mut Vec<Finding>) {
    for f in findings.drain(..) {
        stats.findings += 1;
        *stats.findings_by_type.entry(f.finding_type.name().to_owned()).or_default() += 1;
    }
}

fn seconds(ns: u64) -> f64 {
    Duration::from_nanos(ns).as_secs_f64()
}

/// CPU time of the calling thread, in ns (monotonic for the thread).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime writes only it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0; // the clock exists on every Linux since 2.6.12
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}
