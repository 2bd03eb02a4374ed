//! `saker`: a thin command-line layer over the workspace crates. Parses
//! arguments, builds the parts, runs them, maps errors to exit codes.

mod agent_cmd;
mod findings_cmd;
mod logging;

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
    /// Set up and run Saker on this machine. Today: the agent, writing events
    /// under the data directory (the server and console arrive next).
    Up(agent_cmd::UpArgs),
    /// The finding catalog.
    #[command(subcommand)]
    Findings(findings_cmd::FindingsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format, &cli.log_level);
    let result = match cli.command {
        Command::Agent(args) => agent_cmd::run_agent(args),
        Command::Up(args) => agent_cmd::run_up(args),
        Command::Findings(cmd) => findings_cmd::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("saker: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
