//! `saker up`: the whole product on one machine — the server on the
//! embedded store, the console, and a local agent enrolled into the
//! administrator's account, in this one process. Prints the console URL
//! and an administrator token.
//!
//! The local agent hands findings to the server in-process (through the
//! server's intake, the same path remote agents' gRPC batches take) and
//! heartbeats like any agent, so coverage shows this host.

use crate::agent_cmd::{Tuning, agent_config, open_append};
use anyhow::{Context, Result};
use saker_agent::{FindingFnSink, FnSink, NdjsonSink, Sink};
use saker_model::{Kind, Payload};
use saker_server::{ServerConfig, intake};
use saker_store::{Heartbeat, TokenKind};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(clap::Args)]
pub struct UpArgs {
    /// Where Saker keeps its data (store, certificate, event and finding files).
    #[arg(long, default_value = "/var/lib/saker")]
    data_dir: PathBuf,
    /// Console and API address.
    #[arg(long, default_value = "127.0.0.1:8650")]
    listen: SocketAddr,
    /// gRPC address for remote agents.
    #[arg(long, default_value = "127.0.0.1:8651")]
    grpc_listen: SocketAddr,
    #[command(flatten)]
    tuning: Tuning,
}

/// What the heartbeat reports, counted by the event sink.
#[derive(Default)]
struct Counters {
    events: AtomicU64,
    lost: AtomicU64,
}

pub fn run(args: UpArgs) -> Result<()> {
    saker_sensor::preflight().context("saker up runs the agent, which needs root")?;
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let server_cfg = ServerConfig {
        data_dir: args.data_dir.join("server"),
        listen: args.listen,
        grpc_listen: args.grpc_listen,
        ..ServerConfig::default()
    };
    let running = rt.block_on(saker_server::start(server_cfg)).context("starting the server")?;
    let app = running.app.clone();
    let admin_token = rt.block_on(running.fresh_admin_token(TokenKind::Api, "saker-up"))?;
    let account = app.admin_account_id().to_owned();
    let run_id = uuid::Uuid::new_v4().to_string();

    // Findings: pipeline thread → channel → the server's intake, in batches.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<saker_detect::Finding>(10_000);
    let intake_app = app.clone();
    let (acct, source) = (account.clone(), run_id.clone());
    let intake_task = rt.spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < 256
                && let Ok(f) = rx.try_recv()
            {
                batch.push(f);
            }
            if let Err(e) = intake::findings(&intake_app, &acct, &source, &batch).await {
                tracing::error!(error = %e, findings = batch.len(), "storing findings");
            }
        }
    });

    let cfg = agent_config(&args.tuning, None)?;
    let counters = Arc::new(Counters::default());
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    let events_path = args.data_dir.join("events.ndjson");
    sinks.push(Box::new(NdjsonSink::new(events_path.display().to_string(), open_append(&events_path)?)));
    let findings_path = args.data_dir.join("findings.ndjson");
    sinks.push(Box::new(NdjsonSink::findings(findings_path.display().to_string(), open_append(&findings_path)?)));
    let c = counters.clone();
    sinks.push(Box::new(FnSink(move |e: &saker_model::Event| {
        c.events.fetch_add(1, Ordering::Relaxed);
        if e.kind == Kind::AgentLoss
            && let Payload::Loss(l) = &e.payload
        {
            c.lost.fetch_add(l.total, Ordering::Relaxed);
        }
    })));
    sinks.push(Box::new(FindingFnSink(move |f: &saker_detect::Finding| {
        // Blocks the pipeline rather than dropping when the store lags.
        if tx.blocking_send(f.clone()).is_err() {
            tracing::warn!("the server stopped; finding not stored");
        }
    })));

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing signal handlers")?;
    }
    let agent = saker_agent::start(cfg, sinks, Arc::clone(&stop)).context("starting the agent")?;
    let beat = HeartbeatSource::new(&args.data_dir, run_id, agent.attached().to_vec(), counters)?;
    let hb_app = app.clone();
    let hb_acct = account.clone();
    let hb_stop = stop.clone();
    let every = std::time::Duration::from_secs(running_heartbeat_secs());
    let mut beat_task = beat;
    let heartbeat_task = rt.spawn(async move {
        loop {
            let hb = beat_task.next(false);
            if let Err(e) = intake::heartbeat(&hb_app, &hb_acct, &hb).await {
                tracing::warn!(error = %e, "heartbeat");
            }
            for _ in 0..every.as_millis() / 100 {
                if hb_stop.load(Ordering::SeqCst) {
                    let last = beat_task.next(true);
                    let _ = intake::heartbeat(&hb_app, &hb_acct, &last).await;
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    });

    let console = format!("{}/#token={admin_token}", running.http_url);
    println!("Saker is up. Ctrl-C stops it.");
    println!("  console:  {console}");
    println!("  token:    {admin_token}   (an administrator API token; a new one each start)");
    println!("  agent:    watching this host ({} BPF programs attached)", agent.attached().len());
    println!("  data:     {} (events.ndjson, findings.ndjson, server/)", args.data_dir.display());
    println!("Try it:     sudo saker simulate    then    SAKER_TOKEN={admin_token} saker findings list");

    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tracing::info!("stopping: detaching programs");
    let joined = agent.join();
    rt.block_on(async {
        let _ = heartbeat_task.await;
        let _ = intake_task.await; // the sender was dropped with the pipeline
        running.shutdown().await;
    });
    joined.context("agent stopped with an error")
}

fn running_heartbeat_secs() -> u64 {
    ServerConfig::default().heartbeat_secs
}

/// The facts a heartbeat carries, read from the agent and /proc/self.
struct HeartbeatSource {
    agent_id: String,
    run_id: String,
    hostname: String,
    kernel: String,
    attached: Vec<String>,
    counters: Arc<Counters>,
    started_at: chrono::DateTime<chrono::Utc>,
    last_cpu: Option<(std::time::Instant, u64)>,
}

impl HeartbeatSource {
    fn new(data_dir: &Path, run_id: String, attached: Vec<String>, counters: Arc<Counters>) -> Result<Self> {
        let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_owned()).unwrap_or_default();
        Ok(HeartbeatSource {
            agent_id: agent_id(data_dir)?,
            run_id,
            hostname: read("/proc/sys/kernel/hostname"),
            kernel: read("/proc/sys/kernel/osrelease"),
            attached,
            counters,
            started_at: chrono::Utc::now(),
            last_cpu: None,
        })
    }

    fn next(&mut self, stopping: bool) -> Heartbeat {
        let now = std::time::Instant::now();
        let ticks = self_cpu_ticks();
        // CPU share since the previous beat, in percent of one CPU.
        let cpu_percent = match (self.last_cpu, ticks) {
            (Some((t0, c0)), Some(c1)) => {
                let secs = now.duration_since(t0).as_secs_f64().max(0.001);
                (c1.saturating_sub(c0) as f64 / 100.0) / secs * 100.0
            }
            _ => 0.0,
        };
        if let Some(c) = ticks {
            self.last_cpu = Some((now, c));
        }
        Heartbeat {
            agent_id: self.agent_id.clone(),
            run_id: self.run_id.clone(),
            hostname: self.hostname.clone(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            kernel: self.kernel.clone(),
            mode: "host".into(),
            ecs_cluster: None,
            ecs_task_arn: None,
            attached_programs: self.attached.clone(),
            events_total: self.counters.events.load(Ordering::Relaxed),
            events_lost: self.counters.lost.load(Ordering::Relaxed),
            cpu_percent,
            rss_bytes: self_rss_bytes(),
            started_at: self.started_at,
            sent_at: chrono::Utc::now(),
            stopping,
        }
    }
}

/// This machine's agent id: a uuid kept in the data directory.
fn agent_id(data_dir: &Path) -> Result<String> {
    let path = data_dir.join("agent-id");
    if let Ok(id) = std::fs::read_to_string(&path)
        && uuid::Uuid::parse_str(id.trim()).is_ok()
    {
        return Ok(id.trim().to_owned());
    }
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// utime + stime of this process, in clock ticks (USER_HZ, 100 on Linux).
fn self_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised comm: state is field 3; utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn self_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
