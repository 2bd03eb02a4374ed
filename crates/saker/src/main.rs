//! `saker`: a thin command-line layer over the workspace crates. Parses
//! arguments, builds the parts, runs them, maps errors to exit codes.

// mimalloc instead of glibc's malloc: the pipeline allocates and frees each
// event's strings at up to a million events a second, and glibc's allocator
// was over half of its cycles (docs/performance.md, "Pipeline throughput").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc v2's option numbers (`mi_option_t` in its mimalloc.h; the -sys
/// crate has no constants for them).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 37;

/// Our settings for the allocator, unless `MIMALLOC_PURGE_DELAY` /
/// `MIMALLOC_ALLOW_THP` in the environment say otherwise (mimalloc reads those
/// before `main`; setting an option here would override them).
/// - Return freed memory to the OS at once rather than after 10 ms: under an
///   event storm the delayed pages made the agent's peak RSS ~40 % higher
///   (78.8 → 55.4 MiB on `saker bench`'s open/close loop).
/// - No transparent huge pages (mimalloc asks for them with `madvise`, which is
///   what Debian's default THP mode `madvise` acts on): each purged 2 MiB
///   region came back as a freshly zeroed huge page — `clear_page_erms` was
///   ~9 % of the pipeline's cycles — and a huge page counts 2 MiB of RSS for a
///   few live objects. Pipeline replay: ~0.95 → ~1.06 M events/s per core.
fn tune_allocator() {
    let unset = |name: &str| std::env::var_os(name).is_none();
    // SAFETY: sets process-wide mimalloc options; no memory is involved.
    unsafe {
        if unset("MIMALLOC_PURGE_DELAY") {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
        if unset("MIMALLOC_ALLOW_THP") {
            libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0);
        }
    }
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
