//! Threads and channels: the sensor thread reads the ring buffer and sends
//! batches; the pipeline thread enriches them, runs detection on them, and
//! writes events and findings to the sinks — with a server configured, one
//! of them is the uplink's spool (`uplink/`).

use crate::budget::{BudgetConfig, BudgetHandle, BudgetRun, Governor, HostSize, Hysteresis};
use crate::loss::{LossCounters, LossTracker, UserCounters};
use crate::scope::TaskScope;
use crate::uplink::{SpoolStats, Uplink, UplinkConfig, UplinkContext, UplinkStatus};
use crate::yara::YaraWorker;
use crate::{AgentError, DetectionConfig, KindFilter, Sink};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use saker_abi::{Body, Record};
use saker_detect::{Detector, Finding};
use saker_enrich::{EnrichConfig, Enricher};
use saker_model::{Event, Kind, Payload};
use saker_sensor::{KernelLossCount, Sensor, SensorConfig};
use saker_workload::{Resolver, ResolverConfig, Workload};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Everything the agent needs to run.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub sensor: SensorConfig,
    pub enrich: EnrichConfig,
    pub kinds: KindFilter,
    /// How often loss counters are checked; an `agent.loss` event follows
    /// any check that found loss.
    pub loss_interval: Duration,
    /// An `agent.loss` event is emitted at least this often, even with
    /// nothing lost (the all-clear).
    pub loss_report_every: Duration,
    /// Task-sidecar mode: watch only this task's containers (filtered in
    /// the kernel). `None`: host mode.
    pub scope: Option<TaskScope>,
    /// Attribute events to containers, ECS tasks and Kubernetes pods;
    /// `None` turns attribution off.
    pub workload: Option<ResolverConfig>,
    /// Run the detection engine on every event; `None` turns it off. With
    /// detection on, the kernel reports every kind detection needs, whatever
    /// `kinds` lets through to the event sinks.
    pub detection: Option<DetectionConfig>,
    /// Send findings to a Saker server (`[server]`); `None`: no uplink.
    pub uplink: Option<UplinkConfig>,
    /// Keep the agent within a CPU and memory budget, shedding the least
    /// security-relevant kinds when over it (`[budget]`); `None`: no budget.
    pub budget: Option<BudgetConfig>,
}

/// Cumulative pipeline counters (the uplink's heartbeats report them).
#[derive(Debug, Default)]
pub struct PipelineCounters {
    /// Events enriched.
    pub events: AtomicU64,
    /// Events lost, as reported in `agent.loss`.
    pub lost: AtomicU64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            sensor: SensorConfig::default(),
            enrich: EnrichConfig::default(),
            kinds: KindFilter::all(),
            loss_interval: Duration::from_secs(5),
            loss_report_every: Duration::from_secs(60),
            scope: None,
            workload: Some(ResolverConfig::default()),
            detection: Some(DetectionConfig::default()),
            uplink: None,
            budget: None,
        }
    }
}

enum SensorMsg {
    /// Records with the workload of their cgroup, resolved as they arrive.
    Batch(Vec<(Record, Option<Arc<Workload>>)>),
    /// Cumulative kernel loss, shed and undecodable-record counts.
    Loss { kernel: Vec<KernelLossCount>, shed: Vec<KernelLossCount>, undecodable: u64 },
}

/// A started agent. Dropping it does not stop it: call [`RunningAgent::stop`]
/// (or set the stop flag) and [`RunningAgent::join`].
pub struct RunningAgent {
    stop: Arc<AtomicBool>,
    sensor: Option<JoinHandle<Result<(), AgentError>>>,
    pipeline: Option<JoinHandle<Result<(), AgentError>>>,
    attached: Vec<String>,
    counters: Arc<PipelineCounters>,
    uplink: Option<Uplink>,
    budget: Option<BudgetHandle>,
}

impl RunningAgent {
    /// The resource budget's live state, when a budget is configured.
    pub fn budget(&self) -> Option<&BudgetHandle> {
        self.budget.as_ref()
    }

    /// Names of the BPF programs attached.
    pub fn attached(&self) -> &[String] {
        &self.attached
    }

    /// Ask both threads to finish; the sensor detaches its programs.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn counters(&self) -> Arc<PipelineCounters> {
        self.counters.clone()
    }

    /// The server link, when one is configured.
    pub fn uplink_status(&self) -> Option<UplinkStatus> {
        self.uplink.as_ref().map(Uplink::status)
    }

    /// Wait for both threads, then let the uplink hand over what is spooled
    /// and say goodbye; the first error wins.
    pub fn join(mut self) -> Result<(), AgentError> {
        let s = self.sensor.take().map(join_thread).unwrap_or(Ok(()));
        let p = self.pipeline.take().map(join_thread).unwrap_or(Ok(()));
        if let Some(u) = self.uplink.take() {
            u.shutdown();
        }
        s.and(p)
    }
}

fn join_thread(h: JoinHandle<Result<(), AgentError>>) -> Result<(), AgentError> {
    h.join().unwrap_or(Err(AgentError::SensorThreadDied))
}

/// Load the sensor and start the pipeline. Returns once the BPF programs are
/// attached (or with the load error). `stop` ends the agent when set.
pub fn start(
    mut cfg: AgentConfig,
    mut sinks: Vec<Box<dyn Sink>>,
    stop: Arc<AtomicBool>,
) -> Result<RunningAgent, AgentError> {
    // Lists load before the sensor does: a bad list is a start-up error.
    let detector = cfg.detection.as_ref().map(DetectionConfig::detector).transpose()?;
    let yara = match &cfg.detection {
        Some(d) => d.yara()?,
        None => None,
    };
    cfg.sensor.kind_mask =
        if detector.is_some() { crate::abi_kind_mask(&KindFilter::all()) } else { crate::abi_kind_mask(&cfg.kinds) };
    if let Some(scope) = &cfg.scope {
        cfg.sensor.scope = Some(scope.filter()?);
        tracing::info!(task = %scope.task_cgroup.display(), "task-sidecar mode: watching one task");
    }
    // Seed the process table before the sensor starts so no early event lacks lineage.
    let enricher = Enricher::new(&cfg.enrich)?;
    // The spool opens before the sensor loads: a bad spool is a start-up error.
    let opened_embedded = cfg.uplink.as_ref().is_some_and(|u| u.embedded);
    let uplink = cfg.uplink.clone().map(Uplink::open).transpose()?;

    let host = HostSize { cpus: crate::budget::host_cpus() };
    let budget = cfg.budget.as_ref().map(|b| {
        let governor = Governor::new(b.resolve(host), Hysteresis::default(), b.min_shed_level);
        // The floor's mask is in the kernel from the first record on.
        cfg.sensor.shed_mask = governor.mask();
        let handle = BudgetHandle::new(governor.level(), governor.mask());
        let limits = governor.budget();
        tracing::info!(
            cpu_percent = limits.cpu_percent,
            cpu_cores = limits.cpu_cores(host),
            memory_mib = limits.memory_bytes >> 20,
            min_shed_level = b.min_shed_level,
            "resource budget"
        );
        (governor, handle)
    });
    let sensor_budget = budget.as_ref().map(|(_, h)| h.clone());

    let (tx, rx) = bounded::<SensorMsg>(256);
    let (ready_tx, ready_rx) = bounded::<Result<Vec<String>, AgentError>>(1);
    let sensor_cfg = cfg.sensor.clone();
    let sensor_stop = Arc::clone(&stop);
    let loss_interval = cfg.loss_interval;
    let mut workloads = cfg.workload.clone().map(Resolver::new).transpose()?;
    let sensor = std::thread::Builder::new()
        .name("saker-sensor".into())
        .spawn(move || {
            let budget = sensor_budget.as_ref();
            sensor_thread(&sensor_cfg, workloads.as_mut(), loss_interval, budget, &tx, &ready_tx, &sensor_stop)
        })
        .map_err(|source| AgentError::Thread { name: "saker-sensor", source })?;

    let attached = match ready_rx.recv() {
        Ok(Ok(names)) => names,
        Ok(Err(e)) => {
            let _ = sensor.join();
            return Err(e);
        }
        Err(_) => {
            let _ = sensor.join();
            return Err(AgentError::SensorThreadDied);
        }
    };

    // After the sensor loaded: its maps are charged to the cgroup the agent
    // started in, so the limits below govern only what the agent does next.
    if let Some(b) = cfg.budget.as_ref().filter(|b| b.place_in_cgroup) {
        crate::budget::place_in_cgroup(b, host, u64::from(cfg.sensor.ring_bytes));
    }

    let counters = Arc::new(PipelineCounters::default());
    let mut spool_stats = None;
    let uplink = match uplink {
        Some(opened) => {
            spool_stats = Some(opened.spool_stats());
            let ctx = UplinkContext {
                mode: match (&cfg.scope, opened_embedded) {
                    (_, true) => "embedded",
                    (Some(_), false) => "sidecar",
                    (None, false) => "host",
                },
                attached: attached.clone(),
                counters: counters.clone(),
                detection: cfg.detection.clone(),
                ecs_metadata_uri: cfg.workload.as_ref().and_then(|w| w.own_metadata_uri.clone()),
            };
            match opened.start(ctx) {
                Ok(u) => {
                    sinks.push(Box::new(u.sink()));
                    Some(u)
                }
                Err(e) => {
                    stop.store(true, Ordering::SeqCst);
                    drop(rx);
                    let _ = sensor.join();
                    return Err(e);
                }
            }
        }
        None => None,
    };

    let kinds = cfg.kinds.clone();
    let report_every = cfg.loss_report_every;
    let pipeline_counters = counters.clone();
    let handle = budget.as_ref().map(|(_, h)| h.clone());
    let mut governor = budget.map(|(governor, handle)| BudgetRun::new(governor, handle, host));
    let pipeline = std::thread::Builder::new()
        .name("saker-pipeline".into())
        .spawn(move || {
            let mut stage = Stage { enricher, detector, yara, kinds, findings: Vec::new() };
            let counts = Counts { pipeline: &pipeline_counters, spool: spool_stats.as_deref() };
            pipeline_thread(&mut stage, report_every, &mut sinks, &rx, &counts, governor.as_mut())
        })
        .map_err(|source| AgentError::Thread { name: "saker-pipeline", source })?;

    Ok(RunningAgent {
        stop,
        sensor: Some(sensor),
        pipeline: Some(pipeline),
        attached,
        counters,
        uplink,
        budget: handle,
    })
}

fn sensor_thread(
    cfg: &SensorConfig,
    mut workloads: Option<&mut Resolver>,
    loss_interval: Duration,
    budget: Option<&BudgetHandle>,
    tx: &Sender<SensorMsg>,
    ready: &Sender<Result<Vec<String>, AgentError>>,
    stop: &AtomicBool,
) -> Result<(), AgentError> {
    let mut sensor = match Sensor::load(cfg) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return Ok(());
        }
    };
    tracing::info!(programs = sensor.attached().len(), "sensor attached");
    let _ = ready.send(Ok(sensor.attached().to_vec()));

    let mut undecodable = 0u64;
    let mut last_loss_check = std::time::Instant::now();
    let mut applied = cfg.shed_mask;
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        // The governor runs on the pipeline thread; the sensor is not Send,
        // so its decisions reach the kernel from here.
        if let Some(b) = budget {
            let wanted = b.wanted_mask();
            if wanted != applied {
                sensor.set_shed_mask(wanted, cfg)?;
                applied = wanted;
                b.applied(wanted);
            }
        }
        let (records, errors) = sensor.poll()?;
        undecodable += errors;
        // Attribution happens here, as records arrive, not behind the
        // pipeline's backlog: a short-lived container's runtime state is
        // only on disk for milliseconds.
        let batch: Vec<_> = records
            .into_iter()
            .map(|rec| {
                let workload = workloads.as_deref_mut().and_then(|r| attribute(r, &rec));
                (rec, workload)
            })
            .collect();
        if !batch.is_empty() && tx.send(SensorMsg::Batch(batch)).is_err() {
            break; // pipeline gone
        }
        if stopping || last_loss_check.elapsed() >= loss_interval {
            last_loss_check = std::time::Instant::now();
            let kernel = sensor.kernel_loss()?;
            let shed = sensor.shed_counts()?;
            if tx.send(SensorMsg::Loss { kernel, shed, undecodable }).is_err() {
                break;
            }
        }
        if stopping {
            break; // one last drain happened above; dropping the sensor detaches
        }
    }
    Ok(())
}

/// The workload of a record's cgroup. An exec also tells the resolver the
/// ECS metadata URI its environment carried (read in the kernel at exec).
fn attribute(resolver: &mut Resolver, rec: &Record) -> Option<Arc<Workload>> {
    let h = &rec.header;
    match &rec.body {
        Body::Exec { ecs_metadata_uri, .. } if !ecs_metadata_uri.is_empty() => {
            resolver.note_metadata_uri(h.cgroup_id, String::from_utf8_lossy(ecs_metadata_uri).into_owned());
        }
        Body::CgroupMkdir { raw, path } => {
            resolver.note_cgroup(raw.cgroup_id, String::from_utf8_lossy(path).into_owned());
            return None;
        }
        _ => {}
    }
    resolver.resolve(h.cgroup_id, h.pid, h.kind == saker_abi::raw::kind::PROCESS_EXEC)
}

/// The pipeline thread's stages.
struct Stage {
    enricher: Enricher,
    detector: Option<Detector>,
    yara: Option<YaraWorker>,
    kinds: KindFilter,
    /// Reused per event: findings are rare, the vector is not reallocated.
    findings: Vec<Finding>,
}

/// How often the pipeline looks for finished hashes and due finding updates
/// when no records arrive.
const TICK: Duration = Duration::from_millis(200);

/// What the pipeline thread counts, and the spool's counters it reports.
struct Counts<'a> {
    pipeline: &'a PipelineCounters,
    spool: Option<&'a SpoolStats>,
}

fn pipeline_thread(
    stage: &mut Stage,
    report_every: Duration,
    sinks: &mut [Box<dyn Sink>],
    rx: &Receiver<SensorMsg>,
    counts: &Counts<'_>,
    mut budget: Option<&mut BudgetRun>,
) -> Result<(), AgentError> {
    let mut tracker = LossTracker::new();
    let mut last_report = std::time::Instant::now();
    loop {
        let msg = match rx.recv_timeout(TICK) {
            Ok(msg) => Some(msg),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match msg {
            Some(SensorMsg::Batch(records)) => {
                for (rec, workload) in records {
                    let Some(ev) = stage.enricher.enrich(rec, workload.as_deref()) else { continue };
                    counts.pipeline.events.fetch_add(1, Ordering::Relaxed);
                    if let Some(d) = &mut stage.detector {
                        d.process(&ev, &mut stage.findings);
                    }
                    if stage.kinds.allows(ev.kind) {
                        emit(sinks, &ev)?;
                    }
                    emit_findings(sinks, &mut stage.findings)?;
                }
            }
            Some(SensorMsg::Loss { kernel, shed, undecodable }) => {
                let enricher = &stage.enricher;
                let stats = enricher.stats();
                let mut user = UserCounters::new();
                user.insert(("sensor", "undecodable record"), undecodable);
                user.insert(("enrich", "malformed DNS message"), stats.dns_parse_errors);
                if let Some(y) = &stage.yara {
                    user.insert(("yara", "scan queue full"), y.dropped);
                }
                if let Some(spool) = counts.spool {
                    for (reason, n) in spool.losses() {
                        user.insert(("spool", reason), n);
                    }
                }
                let report_zero = last_report.elapsed() >= report_every;
                let counters = LossCounters { kernel: &kernel, shed: &shed, user: &user };
                if let Some(info) = tracker.delta(&counters, report_zero) {
                    last_report = std::time::Instant::now();
                    if info.total > 0 {
                        tracing::warn!(total = info.total, "events lost");
                    }
                    counts.pipeline.lost.fetch_add(info.total, Ordering::Relaxed);
                    let ev = Event {
                        kind: Kind::AgentLoss,
                        time: enricher.clock().to_utc(saker_enrich::process::BootClock::boot_ns_now()),
                        result: None,
                        process: None,
                        lineage: Default::default(),
                        container: None,
                        ecs: None,
                        kubernetes: None,
                        host: None,
                        task: None,
                        payload: Payload::Loss(info),
                    };
                    emit(sinks, &ev)?;
                }
            }
            None => {}
        }
        if let Some(b) = budget.as_deref_mut() {
            b.tick();
        }
        stage.after_batch();
        emit_findings(sinks, &mut stage.findings)?;
        for s in sinks.iter_mut() {
            s.flush()?;
        }
    }
    if let Some(d) = &mut stage.detector {
        d.flush(&mut stage.findings);
    }
    emit_findings(sinks, &mut stage.findings)?;
    for s in sinks.iter_mut() {
        s.flush()?;
    }
    Ok(())
}

impl Stage {
    /// Hashes that finished since the exec went out, and due updates of
    /// aggregated findings.
    fn after_batch(&mut self) {
        let Some(d) = &mut self.detector else { return };
        for done in self.enricher.take_hashed() {
            d.on_hash(done.pid, &done.sha256, &mut self.findings);
        }
        if let Some(y) = &mut self.yara {
            for req in d.take_scan_requests() {
                y.submit(req);
            }
            for (req, rules) in y.results() {
                d.on_scan_match(&req, &y.source, &rules, &mut self.findings);
            }
        }
        d.tick(chrono::Utc::now(), &mut self.findings);
    }
}

fn emit_findings(sinks: &mut [Box<dyn Sink>], findings: &mut Vec<Finding>) -> Result<(), AgentError> {
    for f in findings.drain(..) {
        tracing::info!(r#type = %f.finding_type, severity = f.severity, id = %f.id, count = f.service.count, "finding");
        for s in sinks.iter_mut() {
            s.write_finding(&f)?;
        }
    }
    Ok(())
}

fn emit(sinks: &mut [Box<dyn Sink>], ev: &Event) -> Result<(), AgentError> {
    for s in sinks.iter_mut() {
        s.write(ev)?;
    }
    Ok(())
}
