//! `saker lists`: a server's threat and trusted lists — show them, upload
//! one (agents pick it up without restarting).

use crate::client::{Client, ClientOpts, printable};
use anyhow::{Context, Result};
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum ListsCommand {
    /// The server's lists.
    Show {
        #[command(flatten)]
        client: ClientOpts,
        #[arg(long)]
        json: bool,
    },
    /// Upload a list file.
    Upload {
        #[command(flatten)]
        client: ClientOpts,
        /// The list's name (shown in findings' evidence).
        #[arg(long)]
        name: String,
        /// `threat` or `trusted`.
        #[arg(long, default_value = "threat")]
        kind: String,
        /// For a threat list: what its entries are (`saker findings categories`).
        #[arg(long)]
        category: Option<String>,
        /// auto, plain, csv, tor-exit or stix.
        #[arg(long)]
        format: Option<String>,
        file: PathBuf,
    },
}

pub fn run(cmd: ListsCommand) -> Result<()> {
    match cmd {
        ListsCommand::Show { client, json } => {
            let l = Client::new(&client)?.get("/api/v1/lists")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&l)?);
                return Ok(());
            }
            println!("{:<24}  {:<8}  {:<20}  {:<6}  ID", "NAME", "KIND", "CATEGORY", "ACTIVE");
            for x in l["lists"].as_array().into_iter().flatten() {
                println!(
                    "{:<24}  {:<8}  {:<20}  {:<6}  {}",
                    printable(x["name"].as_str().unwrap_or("")),
                    printable(x["kind"].as_str().unwrap_or("")),
                    printable(x["category"].as_str().unwrap_or("-")),
                    x["active"].as_bool().unwrap_or(false),
                    printable(x["id"].as_str().unwrap_or("")),
                );
            }
            Ok(())
        }
        ListsCommand::Upload { client, name, kind, category, format, file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let content = String::from_utf8_lossy(&bytes);
            let body =
                json!({ "name": name, "kind": kind, "category": category, "format": format, "content": content });
            let info = Client::new(&client)?.post("/api/v1/lists", &body)?;
            println!("{}", serde_json::to_string_pretty(&info)?);
            Ok(())
        }
    }
}
