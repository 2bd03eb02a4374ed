//! `saker agent`, and the agent options `saker up` shares.

use anyhow::{Context, Result, bail};
use saker_agent::scope::TaskScope;
use saker_agent::{AgentConfig, KindFilter, NdjsonSink, Sink};
use saker_detect::intel::ListSpec;
use saker_model::Kind;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(clap::Args)]
pub struct AgentArgs {
    /// Write events as NDJSON to this file, or `-` for stdout. At least one
    /// of --events-out, --findings-out or a `[server]` in --config is needed.
    #[arg(long, value_name = "-|PATH")]
    events_out: Option<String>,
    /// Write findings (GuardDuty-shaped JSON, one per line) to this file, or
    /// `-` for stdout.
    #[arg(long, value_name = "-|PATH")]
    findings_out: Option<String>,
    /// Only these kinds, comma-separated (e.g. `process.exec,net.connect`).
    #[arg(long, value_delimiter = ',')]
    kinds: Vec<String>,
    /// `host`: every process on the host. `task`: sidecar in one task (the
    /// Fargate pattern) — only the other containers of this task, filtered
    /// in the kernel, never the agent's own container.
    #[arg(long, value_enum, default_value_t = Scope::Host)]
    scope: Scope,
    /// With `--scope task`: the task's cgroup directory, when the agent does
    /// not run inside the task itself.
    #[arg(long, value_name = "DIR")]
    task_cgroup: Option<PathBuf>,
    #[command(flatten)]
    tuning: Tuning,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scope {
    Host,
    Task,
}

#[derive(clap::Args)]
pub struct Tuning {
    /// Configuration file: what to watch (see config/agent.toml).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Kernel ring buffer size in MiB (a power of two).
    #[arg(long, default_value_t = 8)]
    ring_buffer_mib: u32,
    /// Remembered processes (least recently used are evicted past this).
    #[arg(long, default_value_t = 32768)]
    max_processes: usize,
    /// Do not hash executables.
    #[arg(long)]
    no_hash: bool,
    /// A threat list: NAME=CATEGORY:PATH (repeatable). Formats (detected):
    /// plain text, CSV (Feodo Tracker, OTX), Tor exit lists, STIX 2.1.
    /// `saker findings categories` lists the categories.
    #[arg(long, value_name = "NAME=CATEGORY:PATH")]
    threat_list: Vec<String>,
    /// A trusted list (IPs, CIDRs, domains) that wins over threat lists.
    #[arg(long, value_name = "PATH")]
    trusted_list: Vec<PathBuf>,
    /// YARA rules (repeatable): executables that are new — written in a
    /// container after it started, or run from /tmp, /dev/shm, memfd — are
    /// scanned in the background; a match is
    /// `Execution:Runtime/MaliciousFileExecuted.Custom`.
    #[arg(long, value_name = "PATH")]
    yara: Vec<PathBuf>,
    /// Run without the detection engine (events only).
    #[arg(long)]
    no_detect: bool,
    /// CPU budget in percent of all host CPUs, or `auto` (overrides
    /// `[budget] cpu_percent`; default 5).
    #[arg(long, value_name = "PERCENT|auto")]
    budget_cpu_percent: Option<String>,
    /// Memory budget in MiB, or `auto` (overrides `[budget] memory_mb`;
    /// default 64).
    #[arg(long, value_name = "MIB|auto")]
    budget_memory_mb: Option<String>,
}

/// `--kinds`, when given.
fn parse_kinds(names: &[String]) -> Result<Option<KindFilter>> {
    if names.is_empty() {
        return Ok(None);
    }
    let kinds = names.iter().map(|n| n.trim().parse::<Kind>()).collect::<Result<Vec<_>, _>>()?;
    Ok(Some(KindFilter::only(kinds)))
}

/// Defaults, then the config file, then flags.
pub fn agent_config(tuning: &Tuning, kinds: Option<KindFilter>) -> Result<AgentConfig> {
    // The agent keeps to its resource budget unless `[budget] enabled = false`.
    let mut cfg = AgentConfig { budget: Some(saker_agent::budget::BudgetConfig::default()), ..AgentConfig::default() };
    if let Some(path) = &tuning.config {
        saker_agent::config::apply_file(path, &mut cfg)?;
    }
    if let Some(b) = &mut cfg.budget {
        use saker_agent::config::{memory_limit, parse_limit};
        if let Some(v) = &tuning.budget_cpu_percent {
            b.cpu_percent = parse_limit(v).map_err(|e| anyhow::anyhow!("--budget-cpu-percent: {e}"))?;
        }
        if let Some(v) = &tuning.budget_memory_mb {
            let mb = parse_limit(v).map_err(|e| anyhow::anyhow!("--budget-memory-mb: {e}"))?;
            b.memory_bytes = memory_limit(mb).map_err(|e| anyhow::anyhow!("--budget-memory-mb: {e}"))?;
        }
        b.validate().map_err(|e| anyhow::anyhow!(e))?;
    }
    if let Some(kinds) = kinds {
        cfg.kinds = kinds;
    }
    let Some(ring) = tuning.ring_buffer_mib.checked_mul(1 << 20).filter(|b| b.is_power_of_two()) else {
        bail!("--ring-buffer-mib {} must be a power of two of at most 2048", tuning.ring_buffer_mib);
    };
    cfg.sensor.ring_bytes = ring;
    cfg.sensor.wakeup_bytes = ring / 4;
    cfg.enrich.max_processes = tuning.max_processes;
    cfg.enrich.hash_executables = !tuning.no_hash;
    if tuning.no_detect {
        cfg.detection = None;
    } else if let Some(d) = &mut cfg.detection {
        for spec in &tuning.threat_list {
            d.threat_lists.push(ListSpec::parse(spec).with_context(|| format!("--threat-list {spec}"))?);
        }
        d.trusted_lists.extend(tuning.trusted_list.iter().cloned());
        d.yara_rules.extend(tuning.yara.iter().cloned());
    }
    Ok(cfg)
}

/// Run until SIGINT/SIGTERM; on either, detach and flush. `on_started`
/// runs once the programs are attached.
fn run(cfg: AgentConfig, sinks: Vec<Box<dyn Sink>>, on_started: impl FnOnce(&saker_agent::RunningAgent)) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing signal handlers")?;
    }
    let agent = saker_agent::start(cfg, sinks, Arc::clone(&stop)).context("starting the agent")?;
    tracing::info!(programs = agent.attached().len(), "agent running; Ctrl-C to stop");
    on_started(&agent);
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tracing::info!("stopping: detaching programs");
    agent.join().context("agent stopped with an error")
}

pub fn run_agent(args: AgentArgs) -> Result<()> {
    let mut cfg = agent_config(&args.tuning, parse_kinds(&args.kinds)?)?;
    if args.task_cgroup.is_some() && args.scope != Scope::Task {
        bail!("--task-cgroup only applies with --scope task");
    }
    if args.scope == Scope::Task {
        // Inside an ECS task the agent's own environment names the task's
        // metadata endpoint: it identifies every container of the task.
        if let Some(w) = &mut cfg.workload {
            w.own_metadata_uri = std::env::var("ECS_CONTAINER_METADATA_URI_V4").ok();
        }
        let root = saker_sensor::cgroup2_root()?;
        cfg.scope = Some(match args.task_cgroup {
            Some(dir) => TaskScope::explicit(root, dir),
            None => TaskScope::detect(std::path::Path::new("/proc"), &root)?,
        });
    }
    if args.events_out.is_none() && args.findings_out.is_none() && cfg.uplink.is_none() {
        bail!(
            "nowhere to send events or findings: give --events-out, --findings-out, or a [server] section in --config"
        );
    }
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(out) = &args.events_out {
        sinks.push(match open_out(out, "--events-out")? {
            Out::Stdout => Box::new(NdjsonSink::new("stdout", std::io::stdout())),
            Out::File(name, f) => Box::new(NdjsonSink::new(name, f)),
        });
    }
    if let Some(out) = &args.findings_out {
        if cfg.detection.is_none() {
            bail!("--findings-out needs detection; drop --no-detect");
        }
        sinks.push(match open_out(out, "--findings-out")? {
            Out::Stdout => Box::new(NdjsonSink::findings("stdout", std::io::stdout())),
            Out::File(name, f) => Box::new(NdjsonSink::findings(name, f)),
        });
    }
    run(cfg, sinks, |_| {})
}

enum Out {
    Stdout,
    File(String, std::fs::File),
}

/// `-` or a file opened for appending.
fn open_out(out: &str, flag: &str) -> Result<Out> {
    if out == "-" {
        return Ok(Out::Stdout);
    }
    let path = PathBuf::from(out);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {flag} {}", path.display()))?;
    Ok(Out::File(path.display().to_string(), file))
}

/// A file opened for appending (created if missing).
pub fn open_append(path: &std::path::Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}
