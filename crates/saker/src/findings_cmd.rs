//! `saker findings types|categories`: the catalog, for people and scripts;
//! `saker findings list|show|archive|unarchive`: a server's findings.

use crate::client::{Client, ClientOpts, printable};
use anyhow::{Result, bail};
use saker_detect::FindingType;
use saker_detect::intel::ThreatCategory;
use saker_detect::rules::types_for_category;
use serde_json::{Value, json};

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
    /// Findings on a server, newest first.
    List {
        #[command(flatten)]
        client: ClientOpts,
        /// Lowest severity: low, medium or high.
        #[arg(long)]
        severity: Option<String>,
        /// Type, with `*` wildcards (e.g. `Execution:*`).
        #[arg(long = "type", value_name = "PATTERN")]
        finding_type: Option<String>,
        /// Archived findings instead of current ones.
        #[arg(long)]
        archived: bool,
        #[arg(long, default_value_t = 50)]
        max: u32,
        /// The API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One finding, as JSON.
    Show {
        #[command(flatten)]
        client: ClientOpts,
        id: String,
    },
    /// Archive findings.
    Archive {
        #[command(flatten)]
        client: ClientOpts,
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Unarchive findings.
    Unarchive {
        #[command(flatten)]
        client: ClientOpts,
        #[arg(required = true)]
        ids: Vec<String>,
    },
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
        FindingsCommand::List { client, severity, finding_type, archived, max, json } => {
            list(&Client::new(&client)?, severity.as_deref(), finding_type.as_deref(), archived, max, json)
        }
        FindingsCommand::Show { client, id } => {
            let f = Client::new(&client)?.get(&format!("/api/v1/findings/{}", url_segment(&id)))?;
            println!("{}", serde_json::to_string_pretty(&f)?);
            Ok(())
        }
        FindingsCommand::Archive { client, ids } => archive(&Client::new(&client)?, ids, true),
        FindingsCommand::Unarchive { client, ids } => archive(&Client::new(&client)?, ids, false),
    }
}

/// A path segment with everything but unreserved characters percent-encoded.
pub fn url_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn list(c: &Client, severity: Option<&str>, ty: Option<&str>, archived: bool, max: u32, as_json: bool) -> Result<()> {
    let mut criterion = serde_json::Map::new();
    criterion.insert("service.archived".into(), json!({ "eq": [archived] }));
    if let Some(s) = severity {
        let min = match s.to_ascii_lowercase().as_str() {
            "low" => 1.0,
            "medium" => 4.0,
            "high" => 7.0,
            other => bail!("--severity {other:?}: use low, medium or high"),
        };
        criterion.insert("severity".into(), json!({ "gte": min }));
    }
    if let Some(t) = ty {
        criterion.insert("type".into(), json!({ "matches": [t] }));
    }
    let body = json!({ "findingCriteria": { "criterion": criterion }, "maxResults": max.clamp(1, 500) });
    let page = c.post("/api/v1/findings/search", &body)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(());
    }
    let findings = page["findings"].as_array().cloned().unwrap_or_default();
    println!("{:<6}  {:<55}  {:<40}  {:>5}  {:<20}  ID", "SEV", "TYPE", "RESOURCE", "COUNT", "LAST SEEN");
    for f in &findings {
        println!(
            "{:<6}  {:<55}  {:<40}  {:>5}  {:<20}  {}",
            printable(f["severityLabel"].as_str().unwrap_or("")),
            printable(f["type"].as_str().unwrap_or("")),
            printable(&resource_label(f)),
            f["service"]["count"].as_u64().unwrap_or(0),
            printable(f["updatedAt"].as_str().unwrap_or("").get(..19).unwrap_or("")),
            printable(f["id"].as_str().unwrap_or("")),
        );
    }
    println!(
        "\n{} findings{}",
        findings.len(),
        if page["nextToken"].is_string() { " (more: raise --max)" } else { "" }
    );
    Ok(())
}

/// What a finding is about, in a few words.
fn resource_label(f: &Value) -> String {
    let r = &f["resource"];
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let label = s(&r["ecsClusterDetails"]["name"])
        .map(|c| format!("ecs:{c}"))
        .or_else(|| s(&r["containerDetails"]["image"]).map(|i| format!("container:{i}")))
        .or_else(|| s(&r["kubernetesDetails"]["kubernetesWorkloadDetails"]["name"]).map(|w| format!("k8s:{w}")))
        .or_else(|| s(&r["instanceDetails"]["hostname"]))
        .unwrap_or_default();
    label.chars().take(40).collect()
}

fn archive(c: &Client, ids: Vec<String>, archived: bool) -> Result<()> {
    let path = if archived { "/api/v1/findings/archive" } else { "/api/v1/findings/unarchive" };
    let r = c.post(path, &json!({ "findingIds": ids }))?;
    println!("{} updated", r["updated"].as_u64().unwrap_or(0));
    Ok(())
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
