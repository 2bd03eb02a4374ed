//! `saker bench latency` (docs/performance.md, "Detection latency"): syscall
//! → finding visible through the server's REST API, with a real `saker
//! server` and a real `saker agent` on this machine. The engine is
//! `saker_bench::latency`; this file parses the flags, gives it the HTTP
//! client it polls the API with, and prints the report.

use anyhow::{Context, Result};
use saker_bench::BenchError;
use saker_bench::latency::{self, FindingsApi, Options};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct LatencyArgs {
    /// 50 triggers instead of 1,000: a smoke run for CI.
    #[arg(long)]
    pub quick: bool,
    /// Print the report as JSON (with every trigger's sample) instead of a markdown table.
    #[arg(long)]
    pub json: bool,
    /// Measured triggers (default 1,000; 50 with --quick).
    #[arg(long, value_name = "N")]
    pub triggers: Option<usize>,
    /// Triggers per second: spaced out, so the run measures latency, not queueing.
    #[arg(long, value_name = "PER_S", default_value_t = 25.0)]
    pub rate: f64,
    /// How often the API is asked for new findings, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10)]
    pub poll_ms: u64,
    /// A trigger whose finding is not visible this many seconds after it fired is counted as missed.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout_secs: u64,
}

pub fn run(args: LatencyArgs) -> Result<()> {
    crate::bench_cmd::require_root();
    // Ctrl-C or SIGTERM: stop firing, stop the agent and the server.
    let interrupted = crate::bench_cmd::interrupt_flag()?;
    let opts = Options {
        exe: std::env::current_exe().context("finding the saker binary to run as server and agent")?,
        quick: args.quick,
        triggers: args.triggers.unwrap_or(if args.quick { latency::QUICK_TRIGGERS } else { latency::DEFAULT_TRIGGERS }),
        rate_per_s: args.rate,
        poll_interval: Duration::from_millis(args.poll_ms),
        timeout: Duration::from_secs(args.timeout_secs),
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        interrupted,
    };
    let report = latency::run(&opts, &Api::connect)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.markdown());
    }
    Ok(())
}

/// The API over one kept-alive HTTP connection.
struct Api {
    http: reqwest::blocking::Client,
    search_url: String,
    token: String,
}

impl Api {
    fn connect(url: &str, token: &str) -> Result<Box<dyn FindingsApi>, BenchError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| BenchError::Server(format!("an HTTP client: {e}")))?;
        Ok(Box::new(Api {
            http,
            search_url: format!("{}/api/v1/findings/search", url.trim_end_matches('/')),
            token: token.to_owned(),
        }))
    }
}

impl FindingsApi for Api {
    fn search(&mut self, body: &Value) -> Result<Value, BenchError> {
        let fail = |what: String| BenchError::Server(format!("POST {}: {what}", self.search_url));
        let resp = self
            .http
            .post(&self.search_url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .map_err(|e| fail(e.to_string()))?;
        let status = resp.status();
        let answer: Value = resp.json().map_err(|e| fail(format!("{status}, not JSON: {e}")))?;
        if !status.is_success() {
            return Err(fail(format!("{status}: {}", answer["error"]["message"])));
        }
        Ok(answer)
    }
}
