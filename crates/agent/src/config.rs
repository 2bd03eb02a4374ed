//! The agent's configuration file: *what* to watch. (Flags say *how* the
//! process runs: output, buffer sizes, logging.)
//!
//! Raw (serde, unknown fields rejected) → validated → applied onto an
//! [`AgentConfig`]. The sample shipped in `config/agent.toml` documents every
//! field and is parsed by a test.

use crate::budget::{BudgetConfig, Limit};
use crate::uplink::{ServerSection, UplinkConfig};
use crate::{AgentConfig, DetectionConfig, KindFilter};
use saker_detect::FindingType;
use saker_detect::intel::{Format, ListSpec, ThreatCategory};
use saker_model::Kind;
use saker_sensor::{PathInterest, default_path_interest};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Why a configuration file was refused. Nothing is applied then.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    /// Event kinds to report (`process.exec`, `dns.query`, ...). Empty or
    /// absent: every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub files: FilesSection,
    #[serde(default)]
    pub detect: DetectSection,
    /// Send findings to a Saker server (absent: no uplink).
    #[serde(default)]
    pub server: Option<ServerSection>,
    /// The agent's own CPU and memory budget (absent: the defaults).
    #[serde(default)]
    pub budget: Option<BudgetSection>,
}

/// The agent's resource budget (`budget.rs`): limits, and what is shed,
/// least security-relevant first, when the agent stays over them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSection {
    /// Enforce the budget. Off: no shedding, no cgroup.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Percent of all the host's CPUs, or "auto" (scaled by host size).
    #[serde(default)]
    pub cpu_percent: Option<LimitValue>,
    /// MiB of memory the agent itself allocates, or "auto".
    #[serde(default)]
    pub memory_mb: Option<LimitValue>,
    /// Put the agent in a cgroup with hard limits (twice the budget).
    #[serde(default)]
    pub place_in_cgroup: bool,
    /// Always shed at least this many levels (0 to 4).
    #[serde(default)]
    pub min_shed_level: usize,
}

/// A number, or the string "auto".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LimitValue {
    Number(f64),
    Text(String),
}

impl LimitValue {
    fn parse(&self, key: &str) -> Result<Limit<f64>, String> {
        match self {
            LimitValue::Number(n) => Ok(Limit::Value(*n)),
            LimitValue::Text(t) if t == "auto" => Ok(Limit::Auto),
            LimitValue::Text(t) => Err(format!("budget.{key}: {t:?} is neither a number nor \"auto\"")),
        }
    }
}

/// `--budget-cpu-percent` / `--budget-memory-mb` and the file's values:
/// a number or `auto`.
pub fn parse_limit(text: &str) -> Result<Limit<f64>, String> {
    match text.trim() {
        "auto" => Ok(Limit::Auto),
        t => t.parse::<f64>().map(Limit::Value).map_err(|_| format!("{t:?} is neither a number nor \"auto\"")),
    }
}

/// MiB as configured → bytes.
pub fn memory_limit(mb: Limit<f64>) -> Result<Limit<u64>, String> {
    match mb {
        Limit::Auto => Ok(Limit::Auto),
        Limit::Value(v) if v.is_finite() && v >= 0.0 => Ok(Limit::Value((v * f64::from(1u32 << 20)) as u64)),
        Limit::Value(v) => Err(format!("budget.memory_mb {v} is not a size")),
    }
}

fn apply_budget(b: &BudgetSection, cfg: &mut AgentConfig) -> Result<(), String> {
    if !b.enabled {
        cfg.budget = None;
        return Ok(());
    }
    let budget = cfg.budget.get_or_insert_with(BudgetConfig::default);
    if let Some(v) = &b.cpu_percent {
        budget.cpu_percent = v.parse("cpu_percent")?;
    }
    if let Some(v) = &b.memory_mb {
        budget.memory_bytes = memory_limit(v.parse("memory_mb")?)?;
    }
    budget.place_in_cgroup = b.place_in_cgroup;
    budget.min_shed_level = b.min_shed_level;
    budget.validate()
}

/// The detection engine: on or off, threat and trusted lists, types to mute.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectSection {
    /// Run detection (findings). Off: events only.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Include GuardDuty's published test domains (c2.guarddutyc2activityb.com, ...).
    #[serde(default = "yes")]
    pub builtin_test_domains: bool,
    /// Seconds between updates of a repeating finding (count, last seen).
    #[serde(default)]
    pub update_interval_secs: Option<u64>,
    /// Finding types not to report, by GuardDuty name.
    #[serde(default)]
    pub disabled_types: Vec<String>,
    #[serde(default)]
    pub threat_lists: Vec<ThreatListEntry>,
    /// Trusted lists: IPs, CIDRs and domains never reported.
    #[serde(default)]
    pub trusted_lists: Vec<PathBuf>,
    /// YARA rule files: new executables are scanned with them.
    #[serde(default)]
    pub yara_rules: Vec<PathBuf>,
    /// Written into every finding; by default taken from the ECS task's ARN
    /// when there is one.
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

impl Default for DetectSection {
    fn default() -> Self {
        DetectSection {
            enabled: true,
            builtin_test_domains: true,
            update_interval_secs: None,
            disabled_types: Vec::new(),
            threat_lists: Vec::new(),
            trusted_lists: Vec::new(),
            yara_rules: Vec::new(),
            account_id: None,
            region: None,
        }
    }
}

/// One threat list: `--threat-list NAME=CATEGORY:PATH` as a table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreatListEntry {
    pub name: String,
    pub category: String,
    pub path: PathBuf,
    /// `auto` (default), `plain`, `csv`, `tor-exit`, `stix`.
    #[serde(default)]
    pub format: Option<String>,
}

/// Which paths produce `file.*` events.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSection {
    /// Keep Saker's default interest set (system config, credentials,
    /// persistence locations, binaries, runtime sockets...).
    #[serde(default = "yes")]
    pub default_paths: bool,
    /// More paths: a prefix string, or a table with `prefix` and optionally
    /// `basename` (only files of that name) or `dot_files_only`.
    #[serde(default)]
    pub watch: Vec<WatchEntry>,
}

impl Default for FilesSection {
    fn default() -> Self {
        FilesSection { default_paths: true, watch: Vec::new() }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum WatchEntry {
    Prefix(String),
    Detailed {
        prefix: String,
        #[serde(default)]
        basename: Option<String>,
        #[serde(default)]
        dot_files_only: bool,
    },
}

impl WatchEntry {
    fn interest(&self) -> PathInterest {
        match self {
            WatchEntry::Prefix(p) => PathInterest::prefix(p),
            WatchEntry::Detailed { prefix, basename, dot_files_only } => {
                PathInterest { prefix: prefix.clone(), dot_component: *dot_files_only, basename: basename.clone() }
            }
        }
    }
}

/// Read, validate and apply a configuration file onto `cfg`.
pub fn apply_file(path: &Path, cfg: &mut AgentConfig) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
    apply_str(path, &text, cfg)
}

/// As [`apply_file`], from text (`origin` names it in errors).
pub fn apply_str(origin: &Path, text: &str, cfg: &mut AgentConfig) -> Result<(), ConfigError> {
    let file: AgentFile =
        toml::from_str(text).map_err(|e| ConfigError::Parse { path: origin.into(), message: e.to_string() })?;
    let invalid = |message: String| ConfigError::Invalid { path: origin.into(), message };

    let kinds = file
        .kinds
        .iter()
        .map(|k| k.parse::<Kind>().map_err(|e| invalid(format!("kinds: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut paths = if file.files.default_paths { default_path_interest() } else { Vec::new() };
    for entry in &file.files.watch {
        let p = entry.interest();
        p.validate().map_err(|e| invalid(format!("files.watch: {e}")))?;
        if !p.prefix.starts_with('/') {
            return Err(invalid(format!("files.watch: {:?} is not an absolute path", p.prefix)));
        }
        paths.push(p);
    }
    if paths.is_empty() && kinds.iter().any(|k| k.as_str().starts_with("file.")) {
        return Err(invalid("file.* kinds are enabled but no path is watched".into()));
    }

    if !kinds.is_empty() {
        cfg.kinds = KindFilter::only(kinds);
    }
    cfg.sensor.paths = paths;
    if let Some(server) = &file.server {
        cfg.uplink = Some(UplinkConfig::from_section(server).map_err(invalid)?);
    }
    if let Some(budget) = &file.budget {
        apply_budget(budget, cfg).map_err(invalid)?;
    }
    apply_detect(&file.detect, cfg).map_err(invalid)
}

fn apply_detect(d: &DetectSection, cfg: &mut AgentConfig) -> Result<(), String> {
    if !d.enabled {
        cfg.detection = None;
        return Ok(());
    }
    let det = cfg.detection.get_or_insert_with(DetectionConfig::default);
    det.builtin_test_domains = d.builtin_test_domains;
    if let Some(secs) = d.update_interval_secs {
        det.detect.update_interval = std::time::Duration::from_secs(secs);
    }
    for name in &d.disabled_types {
        let t = name.parse::<FindingType>().map_err(|e| format!("detect.disabled_types: {e}"))?;
        det.detect.disabled.insert(t);
    }
    for l in &d.threat_lists {
        let category =
            l.category.parse::<ThreatCategory>().map_err(|e| format!("detect.threat_lists {:?}: {e}", l.name))?;
        let format = match &l.format {
            Some(f) => f.parse::<Format>().map_err(|e| format!("detect.threat_lists {:?}: {e}", l.name))?,
            None => Format::Auto,
        };
        det.threat_lists.push(ListSpec { name: l.name.clone(), category, path: l.path.clone(), format });
    }
    det.trusted_lists.extend(d.trusted_lists.iter().cloned());
    det.yara_rules.extend(d.yara_rules.iter().cloned());
    if d.account_id.is_some() {
        det.detect.account_id.clone_from(&d.account_id);
    }
    if d.region.is_some() {
        det.detect.region.clone_from(&d.region);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str) -> Result<AgentConfig, ConfigError> {
        let mut cfg = AgentConfig::default();
        apply_str(Path::new("test.toml"), text, &mut cfg).map(|()| cfg)
    }

    #[test]
    fn the_shipped_sample_parses() {
        let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/agent.toml");
        let mut cfg = AgentConfig::default();
        apply_file(Path::new(sample), &mut cfg).unwrap();
        assert!(cfg.sensor.paths.iter().any(|p| p.prefix == "/opt/app/config/"));
        assert!(cfg.sensor.paths.len() > default_path_interest().len());
        let det = cfg.detection.unwrap();
        assert!(det.builtin_test_domains && det.detect.disabled.is_empty());
        assert_eq!(det.detect.update_interval.as_secs(), 10);
        let budget = cfg.budget.unwrap();
        assert_eq!(budget, crate::budget::BudgetConfig::default(), "the sample documents the defaults");
    }

    #[test]
    fn detect_section_applies_and_refuses_bad_input() {
        let cfg = apply(
            r#"
            [detect]
            disabled_types = ["Execution:Runtime/SuspiciousTool"]
            update_interval_secs = 60
            threat_lists = [{ name = "feodo", category = "c2", path = "/x.csv", format = "csv" }]
            "#,
        )
        .unwrap();
        let det = cfg.detection.unwrap();
        assert!(det.detect.disabled.contains(&FindingType::SuspiciousTool));
        assert_eq!(det.detect.update_interval.as_secs(), 60);
        assert_eq!(det.threat_lists[0].category, ThreatCategory::CommandAndControl);
        assert!(apply("[detect]\nenabled = false").unwrap().detection.is_none());
        let err = apply("[detect]\ndisabled_types = [\"Nope:Runtime/X\"]").unwrap_err().to_string();
        assert!(err.contains("Nope:Runtime/X"), "{err}");
        let err = apply("[detect]\nthreat_lists = [{ name = \"a\", category = \"evil\", path = \"/a\" }]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("evil") && err.contains("c2"), "{err}");
    }

    #[test]
    fn server_section_configures_the_uplink() {
        assert!(apply("").unwrap().uplink.is_none());
        let cfg = apply(
            r#"
            [server]
            url = "http://127.0.0.1:8651"
            token = "sk_agent_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
            data_dir = "/tmp/saker-agent"
            spool_max_bytes = 16777216
            send_telemetry = true
            "#,
        )
        .unwrap();
        let u = cfg.uplink.unwrap();
        assert_eq!(u.spool.dir, PathBuf::from("/tmp/saker-agent/spool"));
        assert!(u.send_telemetry && u.spool.max_bytes == 16 << 20);
        let err = apply("[server]\nurl = \"http://203.0.113.5:8651\"\ntoken = \"sk_agent_x\"").unwrap_err().to_string();
        assert!(err.contains("test.toml") && err.contains("loopback"), "{err}");
        let err = apply("[server]\nurl = \"https://h\"\ntokn = \"x\"").unwrap_err().to_string();
        assert!(err.contains("tokn"), "{err}");
    }

    #[test]
    fn budget_section_applies_and_refuses_bad_input() {
        assert!(apply("").unwrap().budget.is_none(), "absent: whatever the caller chose");
        let cfg =
            apply("[budget]\ncpu_percent = 2.5\nmemory_mb = 128\nplace_in_cgroup = true\nmin_shed_level = 1").unwrap();
        let b = cfg.budget.unwrap();
        assert_eq!(b.cpu_percent, Limit::Value(2.5));
        assert_eq!(b.memory_bytes, Limit::Value(128 << 20));
        assert!(b.place_in_cgroup && b.min_shed_level == 1);
        let b = apply("[budget]\ncpu_percent = \"auto\"\nmemory_mb = \"auto\"").unwrap().budget.unwrap();
        assert_eq!((b.cpu_percent, b.memory_bytes), (Limit::Auto, Limit::Auto));
        let b = apply("[budget]\ncpu_percent = 5").unwrap().budget.unwrap();
        assert_eq!(b, BudgetConfig::default(), "an integer is a number too; the rest defaults");
        let mut cfg = AgentConfig { budget: Some(BudgetConfig::default()), ..AgentConfig::default() };
        apply_str(Path::new("t.toml"), "[budget]\nenabled = false", &mut cfg).unwrap();
        assert!(cfg.budget.is_none());
        let err = apply("[budget]\ncpu_percent = \"lots\"").unwrap_err().to_string();
        assert!(err.contains("test.toml") && err.contains("lots"), "{err}");
        let err = apply("[budget]\ncpu_percent = 0").unwrap_err().to_string();
        assert!(err.contains("cpu_percent"), "{err}");
        let err = apply("[budget]\nmin_shed_level = 9").unwrap_err().to_string();
        assert!(err.contains("min_shed_level"), "{err}");
        let err = apply("[budget]\ncpu = 3").unwrap_err().to_string();
        assert!(err.contains("cpu"), "{err}");
        assert_eq!(parse_limit(" auto "), Ok(Limit::Auto));
        assert_eq!(parse_limit("7.5"), Ok(Limit::Value(7.5)));
        assert!(parse_limit("x").is_err());
    }

    #[test]
    fn empty_file_keeps_defaults() {
        let cfg = apply("").unwrap();
        assert_eq!(cfg.sensor.paths, default_path_interest());
        assert!(cfg.kinds.allows(Kind::Mount));
    }

    #[test]
    fn entries_and_kinds_apply() {
        let cfg = apply(
            r#"
            kinds = ["process.exec", "file.write"]
            [files]
            default_paths = false
            watch = ["/srv/", { prefix = "/var/www/", basename = ".htaccess" }]
            "#,
        )
        .unwrap();
        assert_eq!(cfg.sensor.paths.len(), 2);
        assert_eq!(cfg.sensor.paths[1].basename.as_deref(), Some(".htaccess"));
        assert!(cfg.kinds.allows(Kind::FileWrite) && !cfg.kinds.allows(Kind::Mount));
    }

    #[test]
    fn bad_input_is_refused_with_a_clear_error() {
        let err = apply("kinds = [\"process.nope\"]").unwrap_err().to_string();
        assert!(err.contains("test.toml") && err.contains("process.nope"), "{err}");
        let err = apply("[files]\nwatchh = []").unwrap_err().to_string();
        assert!(err.contains("watchh"), "unknown field named: {err}");
        let err = apply("[files]\nwatch = [\"relative/\"]").unwrap_err().to_string();
        assert!(err.contains("not an absolute path"), "{err}");
        let long = format!("[files]\nwatch = [\"/{}\"]", "x".repeat(80));
        assert!(apply(&long).unwrap_err().to_string().contains("files.watch"));
        let err = apply("[files]\ndefault_paths = false\nwatch = []\nkinds = 3").unwrap_err().to_string();
        assert!(err.contains("test.toml"), "{err}");
    }
}
