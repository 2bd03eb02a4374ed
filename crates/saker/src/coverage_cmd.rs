//! `saker coverage`: which hosts and ECS clusters a server sees as protected.

use crate::client::{Client, ClientOpts, printable};
use anyhow::Result;
use serde_json::Value;

#[derive(clap::Args)]
pub struct CoverageArgs {
    #[command(flatten)]
    client: ClientOpts,
    /// The API's JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: CoverageArgs) -> Result<()> {
    let c = Client::new(&args.client)?.get("/api/v1/coverage")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(());
    }
    let text = |v: &Value| printable(v.as_str().unwrap_or("-"));
    let clusters = c["clusters"].as_array().cloned().unwrap_or_default();
    if !clusters.is_empty() {
        println!("{:<32}  {:>9}  {:>7}  {:<10}  ISSUE", "ECS CLUSTER", "COVERAGE", "HEALTHY", "HEALTH");
        for k in &clusters {
            println!(
                "{:<32}  {:>8.1}%  {:>3}/{:<3}  {:<10}  {}",
                text(&k["name"]),
                k["coveragePercent"].as_f64().unwrap_or(0.0),
                k["healthy"].as_u64().unwrap_or(0),
                k["total"].as_u64().unwrap_or(0),
                text(&k["health"]),
                text(&k["issue"]),
            );
        }
        println!();
    }
    println!("{:<28}  {:<8}  {:<20}  {:<10}  {:<28}  LAST SEEN", "HOST", "MODE", "ECS CLUSTER", "HEALTH", "ISSUE");
    for r in c["resources"].as_array().into_iter().flatten() {
        println!(
            "{:<28}  {:<8}  {:<20}  {:<10}  {:<28}  {}",
            text(&r["hostname"]),
            text(&r["mode"]),
            text(&r["ecsClusterName"]),
            text(&r["health"]),
            text(&r["issue"]),
            text(&r["lastSeen"]),
        );
    }
    Ok(())
}
