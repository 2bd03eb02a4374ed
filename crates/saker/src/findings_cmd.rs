//! `saker findings types|categories`: the catalog, for people and scripts.

use anyhow::Result;
use saker_detect::FindingType;
use saker_detect::intel::ThreatCategory;
use saker_detect::rules::types_for_category;

#[derive(clap::Subcommand)]
pub enum FindingsCommand {
    /// Every finding type Saker reports, with its default severity.
    Types {
        /// One JSON object per type instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Threat-list categories and the finding types they lead to.
    Categories,
}

pub fn run(cmd: FindingsCommand) -> Result<()> {
    match cmd {
        FindingsCommand::Types { json } => types(json),
        FindingsCommand::Categories => {
            let width = ThreatCategory::ALL.iter().map(|(_, n)| n.len()).max().unwrap_or(0);
            println!("{:<width$}  FINDING TYPES (by address, by domain, by file hash)", "CATEGORY");
            for (category, name) in ThreatCategory::ALL {
                let types: Vec<&str> = types_for_category(*category).iter().map(|t| t.name()).collect();
                println!("{name:<width$}  {}", types.join(", "));
            }
            Ok(())
        }
    }
}

fn types(json: bool) -> Result<()> {
    let width = FindingType::ALL.iter().map(|t| t.name().len()).max().unwrap_or(0);
    if !json {
        println!("{:<width$}  {:<8}  {:>8}  TITLE", "TYPE", "SEVERITY", "DEFAULT");
    }
    for t in FindingType::ALL {
        let info = t.info();
        if json {
            let v = serde_json::json!({
                "type": info.name,
                "severity": info.severity,
                "severityLabel": info.label().as_str(),
                "variableSeverity": info.variable_severity,
                "title": info.title,
                "description": info.description,
                "contextFields": info.context_fields,
            });
            println!("{v}");
        } else {
            let sev = if info.variable_severity { "variable" } else { info.label().as_str() };
            println!("{:<width$}  {:<8}  {:>8.1}  {}", info.name, sev, info.severity, info.title);
        }
    }
    if !json {
        println!("\n{} types", FindingType::ALL.len());
    }
    Ok(())
}
