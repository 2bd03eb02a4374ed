//! Replay a recording through decode → enrich → detect and print the rates:
//! the library half of `saker bench pipeline`, runnable without the CLI.
//!
//! ```text
//! cargo run --release -p saker-agent --example replay -- [RECORDING] [LOOPS] [--no-detect]
//! ```

// The allocator the `saker` binary uses, so the numbers match `saker bench pipeline`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use saker_agent::DetectionConfig;
use saker_agent::replay::replay;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let detect = !args.iter().any(|a| a == "--no-detect");
    let mut positional = args.iter().filter(|a| !a.starts_with("--"));
    let path = positional.next().map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/assets/mixed.sakerrec.gz")),
        PathBuf::from,
    );
    let loops: u32 = positional.next().map(|s| s.parse()).transpose()?.unwrap_or(20);
    let stats = replay(&path, loops, detect.then(DetectionConfig::default))?;
    println!("{}", serde_json::to_string_pretty(&stats)?);
    println!(
        "{} records x {} loops: {:.0} events/s per core (CPU), {:.0} events/s wall, steady {:.0}/s; \
         decode {:.1}% enrich {:.1}% detect {:.1}% drop {:.1}%",
        stats.records,
        stats.loops,
        stats.events_per_cpu_second(),
        stats.events_per_wall_second(),
        stats.steady_events_per_cpu_second().unwrap_or(0.0),
        100.0 * stats.decode_cpu_seconds / stats.cpu_seconds,
        100.0 * stats.enrich_cpu_seconds / stats.cpu_seconds,
        100.0 * stats.detect_cpu_seconds / stats.cpu_seconds,
        100.0 * stats.drop_cpu_seconds / stats.cpu_seconds,
    );
    Ok(())
}
