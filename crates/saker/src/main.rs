//! `saker`: a thin command-line layer over the workspace crates. Parses
//! arguments, builds the parts, runs them, maps errors to exit codes.

// mimalloc instead of glibc's malloc: the pipeline allocates and frees a
// process snapshot per event, and glibc's allocator was over half of its
// cycles (docs/performance.md, "Pipeline throughput": 0.36 → 0.67 M events/s
// per core on the replay benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc v2's `mi_option_purge_delay` (mimalloc.h; the -sys crate has no
/// constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Return freed memory to the OS at once rather than after 10 ms: under an
/// event storm the delayed pages made the agent's peak RSS ~40 % higher
/// (78.8 → 55.4 MiB on `saker bench`'s open/close loop) for no measurable speed.
fn tune_allocator() {
    // SAFETY: sets a process-wide mimalloc option; no memory is involved.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

mod agent_cmd;
mod bench_cmd;
mod bench_latency_cmd;
mod bench_pipeline_cmd;
mod bench_soak_cmd;
mod client;
mod coverage_cmd;
mod findings_cmd;
mod lists_cmd;
mod logging;
mod record_cmd;
mod server_cmd;
mod simulate_cmd;
mod up_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "saker", version, about = "Runtime threat detection for Linux hosts and containers")]
struct Cli {
    /// Log format for the agent's own logs (stderr).
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
    /// Log filter, e.g. `info`, `saker_sensor=debug` (also RUST_LOG).
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent: watch this host and write events.
    Agent(agent_cmd::AgentArgs),
    /// Set up and run Saker on this machine: the server with its console on
    /// the embedded store, and an agent watching this host. Prints the
    /// console URL and an administrator token.
    Up(up_cmd::UpArgs),
    /// The finding catalog.
    #[command(subcommand)]
    Findings(findings_cmd::FindingsCommand),
    /// Run the server (agents' findings, API, console); or, on its machine,
    /// enroll an agent, issue a token, add an account.
    Server(server_cmd::ServerArgs),
    /// Which hosts and ECS clusters a server sees as protected.
    Coverage(coverage_cmd::CoverageArgs),
    /// A server's threat and trusted lists.
    #[command(subcommand)]
    Lists(lists_cmd::ListsCommand),
    /// Run a few harmless techniques so the agent reports findings.
    Simulate(simulate_cmd::SimulateArgs),
    /// Measure the agent's overhead: workloads bare, under Saker, under
    /// auditd and under a count-only BPF probe (docs/performance.md).
    Bench(bench_cmd::BenchArgs),
    /// Record the sensor's raw records to a file (`saker bench pipeline`
    /// replays it).
    Record(record_cmd::RecordArgs),
    /// Internal: the agent and workloads `saker bench` re-executes.
    #[command(hide = true)]
    BenchChild(bench_cmd::ChildArgs),
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    logging::init(cli.log_format, &cli.log_level);
    let result = match cli.command {
        Command::Agent(args) => agent_cmd::run_agent(args),
        Command::Up(args) => up_cmd::run(args),
        Command::Findings(cmd) => findings_cmd::run(cmd),
        Command::Server(args) => server_cmd::run(args),
        Command::Coverage(args) => coverage_cmd::run(args),
        Command::Lists(cmd) => lists_cmd::run(cmd),
        Command::Simulate(args) => simulate_cmd::run(args),
        Command::Bench(args) => bench_cmd::run(args),
        Command::Record(args) => record_cmd::run(args),
        Command::BenchChild(args) => bench_cmd::run_child(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("saker: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
