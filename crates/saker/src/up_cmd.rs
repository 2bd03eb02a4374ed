//! `saker up`: the whole product on one machine — the server on the
//! embedded store, the console, and a local agent enrolled into the
//! administrator's account, in this one process. Prints the console URL
//! and an administrator token.
//!
//! The local agent is an agent like any other: it gets an agent token, pins
//! the server's self-signed certificate, spools findings on disk and streams
//! them with heartbeats over gRPC to the server's ingest.

use crate::agent_cmd::{Tuning, agent_config, open_append};
use anyhow::{Context, Result, anyhow};
use saker_agent::uplink::UplinkConfig;
use saker_agent::{NdjsonSink, Sink};
use saker_server::ServerConfig;
use saker_store::TokenKind;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(clap::Args)]
pub struct UpArgs {
    /// Where Saker keeps its data (store, certificate, spool, event and finding files).
    #[arg(long, default_value = "/var/lib/saker")]
    data_dir: PathBuf,
    /// Console and API address.
    #[arg(long, default_value = "127.0.0.1:8650")]
    listen: SocketAddr,
    /// gRPC address for agents (this host's and remote ones).
    #[arg(long, default_value = "127.0.0.1:8651")]
    grpc_listen: SocketAddr,
    #[command(flatten)]
    tuning: Tuning,
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
    let admin_token = rt.block_on(running.fresh_admin_token(TokenKind::Api, "saker-up"))?;
    // Enrolment: tokens are stored hashed, so each start issues a new one
    // (and revokes the previous start's).
    let agent_token = rt.block_on(running.fresh_admin_token(TokenKind::Agent, "saker-up-agent"))?;

    let mut cfg = agent_config(&args.tuning, None)?;
    // The agent shares this process with the server: the CPU and memory the
    // budget governor would measure are not the agent's own, and shedding
    // events cannot shrink the server. Run the agent as a service
    // (`saker agent`) to have it keep to a budget.
    cfg.budget = None;
    let url = format!("https://{}", running.grpc_addr);
    let mut uplink =
        UplinkConfig::new(&url, &agent_token, Some(running.cert_pem.as_bytes()), args.data_dir.join("agent"))
            .map_err(|e| anyhow!("the local agent's uplink: {e}"))?;
    uplink.heartbeat = std::time::Duration::from_secs(ServerConfig::default().heartbeat_secs);
    uplink.embedded = true;
    cfg.uplink = Some(uplink);
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    let events_path = args.data_dir.join("events.ndjson");
    sinks.push(Box::new(NdjsonSink::new(events_path.display().to_string(), open_append(&events_path)?)));
    let findings_path = args.data_dir.join("findings.ndjson");
    sinks.push(Box::new(NdjsonSink::findings(findings_path.display().to_string(), open_append(&findings_path)?)));

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing signal handlers")?;
    }
    let agent = saker_agent::start(cfg, sinks, Arc::clone(&stop)).context("starting the agent")?;

    let console = format!("{}/#token={admin_token}", running.http_url);
    println!("Saker is up. Ctrl-C stops it.");
    println!("  console:  {console}");
    println!("  token:    {admin_token}   (an administrator API token; a new one each start)");
    println!("  agent:    watching this host ({} BPF programs attached), streaming to {url}", agent.attached().len());
    println!("  data:     {} (events.ndjson, findings.ndjson, agent/, server/)", args.data_dir.display());
    println!("Try it:     sudo saker simulate    then    SAKER_TOKEN={admin_token} saker findings list");

    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tracing::info!("stopping: detaching programs, handing over what is spooled");
    // The agent first: its uplink delivers what it spooled to the server,
    // which is still up.
    let joined = agent.join();
    rt.block_on(running.shutdown());
    joined.context("agent stopped with an error")
}
